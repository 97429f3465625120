//! HTTP/1.1 framing of Argo requests and answers, without I/O: the whole request in one buffer
//! (one write, one segment on the wire), the response head parsed, and the body decoded by
//! Content-Length, chunked encoding, or until the connection closes.

use std::fmt;
use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};

/// Longest response head accepted; Argo's are a few hundred bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE_BYTES: usize = 4 * 1024;
const MAX_HEADERS: usize = 64;

/// Argo's answer does not follow HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(message: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(message.into()))
}

/// A request with a JSON body (none for GET), head and body in one buffer. `headers` are the
/// call's own (auth, Accept); values are the gateway's, never a client's.
#[cfg(test)]
pub fn encode_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    encode_request_for(method, path, host, headers, body, None)
}

/// [`encode_request`] made for the client program `client_agent` (already cleaned by
/// [`super::call::client_agent`]): `User-Agent: argo-bridge/<version> (<client_agent>)`.
pub fn encode_request_for(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, String)],
    body: &[u8],
    client_agent: Option<&str>,
) -> Vec<u8> {
    const USER_AGENT: &str = concat!("User-Agent: argo-bridge/", env!("CARGO_PKG_VERSION"));
    let headers_len: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let agent_len = client_agent.map_or(0, |agent| agent.len() + 3);
    let capacity = 256 + path.len() + host.len() + headers_len + agent_len + body.len();
    let mut request = Vec::with_capacity(capacity);
    let mut line = |parts: &[&str]| {
        for part in parts {
            request.extend_from_slice(part.as_bytes());
        }
        request.extend_from_slice(b"\r\n");
    };
    line(&[method, " ", path, " HTTP/1.1"]);
    line(&["Host: ", host]);
    if method != "GET" {
        line(&["Content-Type: application/json"]);
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("accept"))
    {
        line(&["Accept: application/json, text/plain"]);
    }
    for (name, value) in headers {
        line(&[name, ": ", value]);
    }
    if method != "GET" || !body.is_empty() {
        line(&["Content-Length: ", itoa::Buffer::new().format(body.len())]);
    }
    match client_agent {
        Some(agent) => line(&[USER_AGENT, " (", agent, ")"]),
        None => line(&[USER_AGENT]),
    }
    line(&[]);
    request.extend_from_slice(body);
    request
}

/// How the body that follows a response head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub retry_after: Option<String>,
    pub framing: Framing,
    /// The connection may carry another request once this body is read.
    pub keep_alive: bool,
}

impl ResponseHead {
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses a response head at the start of `buf`: the head and its length in bytes, or `None`
/// if more bytes are needed.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, WireError> {
    // Left uninitialised: httparse fills what it parses (zeroing 64 entries first showed in
    // the profile of every call).
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return invalid(format!("response head longer than {MAX_HEAD_BYTES} bytes"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return invalid(format!("malformed response head: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let mut head = ResponseHead {
        status,
        retry_after: None,
        framing: Framing::UntilClose,
        keep_alive: response.version == Some(1),
    };
    let mut content_length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = retry_after_seconds(header.value);
            continue;
        }
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(n) if content_length.is_none_or(|seen| seen == n) => content_length = Some(n),
                _ => return invalid(format!("bad Content-Length `{value}`")),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            head.keep_alive &= !value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"));
        }
    }
    head.framing = if head.is_informational() || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        // Transfer-Encoding wins over Content-Length (RFC 9112, 6.3).
        Framing::Chunked
    } else {
        content_length.map_or(Framing::UntilClose, Framing::Length)
    };
    if head.framing == Framing::UntilClose {
        head.keep_alive = false;
    }
    Ok(Some((head, length)))
}

/// A Retry-After in seconds, passed on to the client; anything else (an HTTP date, text,
/// bytes that are not UTF-8) is dropped.
fn retry_after_seconds(value: &[u8]) -> Option<String> {
    let value = value.trim_ascii();
    let plain_seconds = (1..=10).contains(&value.len()) && value.iter().all(u8::is_ascii_digit);
    plain_seconds.then(|| String::from_utf8_lossy(value).into_owned())
}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Done,
}

/// What the decoder made of the bytes it had.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// Nothing more can be decoded until more bytes arrive.
    NeedMore,
    Done,
}

/// Body decoder fed from a read buffer: consumes framing, hands out payload without copying.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(remaining) => State::Length { remaining },
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes known to be on their way: the rest of a Content-Length body or of the
    /// current chunk.
    pub fn expected_bytes(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } | State::ChunkData { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// The next piece of payload in `buf`, consuming what it decodes.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, WireError> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Length { remaining } | State::ChunkData { remaining } => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = remaining.min(buf.len() as u64);
                    let left = remaining - take;
                    self.state = match self.state {
                        State::Length { .. } if left == 0 => State::Done,
                        State::Length { .. } => State::Length { remaining: left },
                        _ if left == 0 => State::ChunkDataEnd,
                        _ => State::ChunkData { remaining: left },
                    };
                    // `take` is at most buf.len(), a usize.
                    return Ok(Decoded::Data(buf.split_to(take as usize).freeze()));
                }
                State::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                State::ChunkSize => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = parse_chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData { remaining: size }
                    };
                }
                State::ChunkDataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return invalid("chunk data not followed by CRLF");
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// The connection closed: fine at the end of a body, a cut-off answer anywhere else.
    pub fn end_of_input(&mut self) -> Result<(), WireError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => invalid("the connection closed before the end of the answer"),
        }
    }
}

/// Takes one CRLF-terminated line (without the CRLF) off the front of `buf`.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, WireError> {
    match buf.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE_BYTES => invalid("chunk header or trailer line too long"),
        None => Ok(None),
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).unwrap_or("").trim();
    if digits.is_empty() || digits.len() > 15 {
        return invalid("bad chunk size");
    }
    u64::from_str_radix(digits, 16).or_else(|_| invalid("bad chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> ResponseHead {
        let (head, length) = parse_head(text.as_bytes()).unwrap().unwrap();
        assert_eq!(length, text.len());
        head
    }

    /// Decodes `wire` fed in pieces of `step` bytes; the payload, and whether it ended.
    fn decode_in_steps(framing: Framing, wire: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut decoder = BodyDecoder::new(framing);
        let mut buf = BytesMut::new();
        let mut payload = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf).unwrap() {
                    Decoded::Data(data) => payload.extend_from_slice(&data),
                    Decoded::NeedMore => break,
                    Decoded::Done => return (payload, true),
                }
            }
        }
        (payload, decoder.is_done())
    }

    #[test]
    fn the_request_is_one_buffer_with_an_exact_length() {
        let request = encode_request(
            "POST",
            "/api/v1/resource/chat/",
            "argo.example",
            &[],
            b"{\"a\":1}",
        );
        let text = String::from_utf8(request).unwrap();
        assert!(text.starts_with("POST /api/v1/resource/chat/ HTTP/1.1\r\nHost: argo.example\r\n"));
        assert!(text.contains("\r\nContent-Length: 7\r\n"));
        assert!(text.contains("\r\nAccept: application/json, text/plain\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
    }

    #[test]
    fn the_user_agent_names_the_client_program_when_there_is_one() {
        let agent = |client: Option<&str>| {
            let request = encode_request_for("POST", "/", "h", &[], b"{}", client);
            let text = String::from_utf8(request).unwrap();
            let line = text.lines().find(|line| line.starts_with("User-Agent: "));
            line.unwrap().to_string()
        };
        let own = concat!("User-Agent: argo-bridge/", env!("CARGO_PKG_VERSION"));
        assert_eq!(agent(None), own);
        assert_eq!(
            agent(Some("codex_cli_rs/0.50")),
            format!("{own} (codex_cli_rs/0.50)")
        );
    }

    #[test]
    fn native_requests_carry_their_headers_and_gets_have_no_body() {
        let headers = [
            ("Authorization", "Bearer alice".to_string()),
            ("Accept", "text/event-stream".to_string()),
        ];
        let text = String::from_utf8(encode_request(
            "POST",
            "/v1/chat/completions",
            "h",
            &headers,
            b"{}",
        ))
        .unwrap();
        assert!(text.contains("\r\nAuthorization: Bearer alice\r\n"));
        assert!(text.contains("\r\nAccept: text/event-stream\r\n"));
        assert!(!text.contains("application/json, text/plain"));
        let get = String::from_utf8(encode_request("GET", "/v1/models", "h", &[], b"")).unwrap();
        assert!(get.starts_with("GET /v1/models HTTP/1.1\r\n"));
        assert!(!get.contains("Content-Length") && !get.contains("Content-Type"));
    }

    #[test]
    fn heads_give_status_framing_and_reuse() {
        let plain = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(
            (plain.status, plain.framing, plain.keep_alive),
            (200, Framing::Length(12), true)
        );
        let chunked =
            head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(chunked.framing, Framing::Chunked);
        let closing = head("HTTP/1.1 429 Too Many\r\nConnection: close\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            (closing.keep_alive, closing.retry_after.as_deref()),
            (false, Some("7"))
        );
        let until_close = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            (until_close.framing, until_close.keep_alive),
            (Framing::UntilClose, false)
        );
        let old = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!old.keep_alive);
        assert!(head("HTTP/1.1 100 Continue\r\n\r\n").is_informational());
    }

    #[test]
    fn only_a_retry_after_in_seconds_is_kept() {
        let retry_after = |value: &[u8]| {
            let text = [
                b"HTTP/1.1 429 Busy\r\nRetry-After:".as_slice(),
                value,
                b"\r\n\r\n",
            ]
            .concat();
            parse_head(&text).unwrap().unwrap().0.retry_after
        };
        assert_eq!(retry_after(b" 7 ").as_deref(), Some("7"));
        assert_eq!(retry_after(b"3600000000").as_deref(), Some("3600000000"));
        for dropped in [
            b"\xff\xfe".as_slice(),
            b"",
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"-1",
            b"1.5",
            b"12345678901",
        ] {
            assert_eq!(
                retry_after(dropped),
                None,
                "{:?}",
                String::from_utf8_lossy(dropped)
            );
        }
    }

    #[test]
    fn partial_and_broken_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
        assert!(parse_head(b"SMTP ready\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .is_err()
        );
        let endless = [
            b"HTTP/1.1 200 OK\r\n".as_slice(),
            &vec![b'a'; MAX_HEAD_BYTES + 1],
        ]
        .concat();
        assert!(parse_head(&endless).is_err());
    }

    #[test]
    fn chunked_bodies_decode_the_same_however_they_are_split() {
        let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        for step in 1..=wire.len() {
            assert_eq!(
                decode_in_steps(Framing::Chunked, wire, step),
                (b"hello, world".to_vec(), true),
                "step {step}"
            );
        }
    }

    /// `pieces` as a chunked body, each chunk with or without an extension.
    fn chunked(pieces: &[Vec<u8>], extensions: bool) -> Vec<u8> {
        let mut wire = Vec::new();
        for piece in pieces.iter().filter(|piece| !piece.is_empty()) {
            let extension = if extensions { ";name=value" } else { "" };
            wire.extend_from_slice(format!("{:x}{extension}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }

    proptest::proptest! {
        #[test]
        fn any_body_decodes_whole_however_it_is_split(
            pieces in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8),
            step in 1usize..64,
            extensions in proptest::bool::ANY,
        ) {
            let payload = pieces.concat();
            let wire = chunked(&pieces, extensions);
            proptest::prop_assert_eq!(decode_in_steps(Framing::Chunked, &wire, step), (payload.clone(), true));
            let length = Framing::Length(payload.len() as u64);
            proptest::prop_assert_eq!(decode_in_steps(length, &payload, step), (payload.clone(), true));
        }
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let mut buf = BytesMut::from(&b"abcdefNEXT"[..]);
        let mut decoder = BodyDecoder::new(Framing::Length(6));
        assert_eq!(decoder.expected_bytes(), Some(6));
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"abcdef"))
        );
        assert_eq!(decoder.expected_bytes(), None);
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::Done);
        assert_eq!(&buf[..], b"NEXT");
        assert!(BodyDecoder::new(Framing::Length(0)).is_done());
    }

    #[test]
    fn an_early_close_is_a_cut_off_except_for_close_delimited_bodies() {
        let (payload, done) = decode_in_steps(Framing::Chunked, b"5\r\nhel", 3);
        assert_eq!((payload.as_slice(), done), (b"hel".as_slice(), false));
        assert!(BodyDecoder::new(Framing::Length(10))
            .end_of_input()
            .is_err());
        assert!(BodyDecoder::new(Framing::Chunked).end_of_input().is_err());
        let mut until_close = BodyDecoder::new(Framing::UntilClose);
        assert!(until_close.end_of_input().is_ok());
        assert!(until_close.is_done());
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for wire in [
            &b"zz\r\n"[..],
            b"5\r\nhelloXX",
            b"\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            let mut buf = BytesMut::from(wire);
            let mut decoder = BodyDecoder::new(Framing::Chunked);
            let outcome = (0..4).try_for_each(|_| decoder.decode(&mut buf).map(drop));
            assert!(outcome.is_err(), "{:?}", String::from_utf8_lossy(wire));
        }
        let long_line = vec![b'1'; MAX_LINE_BYTES + 1];
        let mut buf = BytesMut::from(long_line.as_slice());
        assert!(BodyDecoder::new(Framing::Chunked).decode(&mut buf).is_err());
    }
}
