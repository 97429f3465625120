//! Server-sent event framing (WHATWG HTML, "event stream interpretation"), sans-IO: fed byte
//! chunks split anywhere, it hands over each complete event's type and data. Lines end in LF,
//! CRLF or CR; `:` lines are comments; `id` and `retry` are ignored.

use crate::bytes::find2;

/// Splits a byte stream into events.
#[derive(Debug, Default, Clone)]
pub struct SseParser {
    /// A line not yet ended by the bytes fed so far.
    line: Vec<u8>,
    /// The `event:` of the event being read.
    event: Vec<u8>,
    /// Its `data:` lines, joined by LF.
    data: Vec<u8>,
    has_data: bool,
    /// The last byte fed ended a line with CR: an LF first in the next chunk belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// Calls `on_event(event type, data)` for each event that `bytes` complete. The type is
    /// empty when the event named none.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(&[u8], &[u8])) {
        let mut rest = bytes;
        // An empty chunk says nothing about the byte after a CR: keep waiting for it.
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let [b'\n', tail @ ..] = rest {
                rest = tail;
            }
        }
        while let Some(end) = find2(rest, b'\n', b'\r') {
            let (segment, tail) = rest.split_at(end);
            rest = match tail {
                [b'\r', b'\n', after @ ..] => after,
                [b'\r'] => {
                    self.after_cr = true;
                    &[]
                }
                [_, after @ ..] => after,
                [] => &[],
            };
            if self.line.is_empty() {
                self.line_done(segment, &mut on_event);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(segment);
                self.line_done(&line, &mut on_event);
                line.clear();
                self.line = line;
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// End of stream: a last line or event left unterminated is taken as complete (servers
    /// often omit the final blank line).
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8], &[u8])) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut on_event);
        }
        self.line_done(b"", &mut on_event);
        self.after_cr = false;
    }

    /// [`SseParser::feed`] with a handler that can fail: once it fails, the events after are
    /// skipped and its error is returned.
    pub fn try_feed<E>(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        self.feed(bytes, |name, data| {
            if result.is_ok() {
                result = on_event(name, data);
            }
        });
        result
    }

    /// [`SseParser::finish`] with a handler that can fail, as [`SseParser::try_feed`].
    pub fn try_finish<E>(
        &mut self,
        mut on_event: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        self.finish(|name, data| {
            if result.is_ok() {
                result = on_event(name, data);
            }
        });
        result
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8], &[u8])) {
        if line.is_empty() {
            if self.has_data {
                on_event(&self.event, &self.data);
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return,
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every event of `stream` fed in the given pieces, then finished, as (type, data) texts.
    pub(crate) fn parse_pieces(pieces: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        let mut collect = |event: &[u8], data: &[u8]| {
            events.push((
                String::from_utf8_lossy(event).into_owned(),
                String::from_utf8_lossy(data).into_owned(),
            ))
        };
        for piece in pieces {
            parser.feed(piece, &mut collect);
        }
        parser.finish(&mut collect);
        events
    }

    const STREAM: &[u8] = b": comment\r\nevent: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\nevent:message_stop\ndata:{}\n\ndata: line one\ndata: line two\rid: 7\rretry: 10\r\rdata: [DONE]\n\n";

    #[test]
    fn events_lines_comments_and_line_endings() {
        assert_eq!(
            parse_pieces(&[STREAM]),
            vec![
                ("ping".into(), "{\"type\":\"ping\"}".into()),
                ("message_stop".into(), "{}".into()),
                (String::new(), "line one\nline two".into()),
                (String::new(), "[DONE]".into()),
            ]
        );
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_does_not_end_the_event() {
        assert_eq!(
            parse_pieces(&[b"data:x\r", b"", b"\ndata:x\n\n"]),
            vec![(String::new(), "x\nx".into())]
        );
    }

    #[test]
    fn a_last_event_without_its_blank_line_still_counts() {
        assert_eq!(
            parse_pieces(&[b"data: a\n\ndata: [DONE]"]),
            vec![
                (String::new(), "a".into()),
                (String::new(), "[DONE]".into())
            ]
        );
        assert!(parse_pieces(&[b"event: x\n\n: only a comment\n"]).is_empty());
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let whole = parse_pieces(&[STREAM]);
        for at in 0..=STREAM.len() {
            assert_eq!(
                parse_pieces(&[&STREAM[..at], &STREAM[at..]]),
                whole,
                "split at {at}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_splits_give_the_same_events(
            lines in prop::collection::vec(prop_oneof![
                Just("data: x".to_string()), Just("event: e".to_string()), Just(": c".to_string()),
                Just(String::new()), "[a-z: ]{0,6}".prop_map(String::from)], 0..12),
            endings in prop::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r")], 12),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let stream: Vec<u8> = lines.iter().zip(&endings).flat_map(|(line, end)| format!("{line}{end}").into_bytes()).collect();
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for point in points.into_iter().chain([stream.len()]) {
                pieces.push(&stream[start..point]);
                start = point;
            }
            prop_assert_eq!(parse_pieces(&pieces), parse_pieces(&[&stream]));
        }
    }
}
