//! A minimal HTTP/1.1 client for keep-alive load: requests are pre-rendered bytes, responses are
//! parsed incrementally by [`ResponseParser`] (sans-IO, unit-tested) so that the arrival time of
//! every streamed token can be recorded.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fully rendered request, sent as is on every round trip. Its parts are kept for other
/// clients (wrk) that render it themselves.
#[derive(Debug, Clone)]
pub struct Request {
    bytes: Vec<u8>,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request::render("POST", path, headers, body)
    }

    pub fn get(path: &str) -> Request {
        Request::render("GET", path, &[], b"")
    }

    fn render(method: &'static str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Request {
            bytes,
            method,
            path: path.to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn method(&self) -> &str {
        self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The headers beyond Host, Content-Type and Content-Length.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailer,
    Done,
}

/// What a finished response looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    pub keep_alive: bool,
    pub markers: usize,
}

/// Incremental HTTP/1.1 response parser that counts occurrences of `marker` in the body (across
/// read and chunk boundaries), so the caller can timestamp each token as it arrives.
#[derive(Debug)]
pub struct ResponseParser {
    marker: &'static [u8],
    state: State,
    status: u16,
    keep_alive: bool,
    markers: usize,
    /// The body's last `marker.len() - 1` bytes, for markers split across reads.
    carry: Vec<u8>,
    /// The whole body (de-chunked), when asked to keep it.
    body: Option<Vec<u8>>,
}

impl ResponseParser {
    pub fn new(marker: &'static [u8]) -> Self {
        ResponseParser {
            marker,
            state: State::Head,
            status: 0,
            keep_alive: true,
            markers: 0,
            carry: Vec::new(),
            body: None,
        }
    }

    /// A parser that also keeps the body, for [`ResponseParser::take_body`].
    pub fn keeping_body(marker: &'static [u8]) -> Self {
        ResponseParser {
            body: Some(Vec::new()),
            ..ResponseParser::new(marker)
        }
    }

    /// The body read so far (empty unless made with [`ResponseParser::keeping_body`]).
    pub fn take_body(&mut self) -> Vec<u8> {
        self.body.take().unwrap_or_default()
    }

    pub fn markers(&self) -> usize {
        self.markers
    }

    /// Consumes what it can from the front of `buf`; `Some` once the response is complete.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Outcome>> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            let used = match self.state {
                State::Done => break,
                State::Head => match find(rest, b"\r\n\r\n") {
                    Some(end) => {
                        self.parse_head(&rest[..end])?;
                        end + 4
                    }
                    None => 0,
                },
                State::Length(remaining) => {
                    let take = remaining.min(rest.len());
                    let data = rest[..take].to_vec();
                    self.scan(&data);
                    self.state = if take == remaining {
                        State::Done
                    } else {
                        State::Length(remaining - take)
                    };
                    take
                }
                State::ChunkSize => match find(rest, b"\r\n") {
                    Some(end) => {
                        let size = parse_chunk_size(&rest[..end])?;
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::ChunkData(size)
                        };
                        end + 2
                    }
                    None => 0,
                },
                State::ChunkData(remaining) => {
                    let take = remaining.min(rest.len());
                    let data = rest[..take].to_vec();
                    self.scan(&data);
                    self.state = if take == remaining {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(remaining - take)
                    };
                    take
                }
                State::ChunkEnd | State::Trailer => match find(rest, b"\r\n") {
                    Some(end) => {
                        // A trailer section ends at its first empty line.
                        if self.state == State::ChunkEnd || end == 0 {
                            self.state = match self.state {
                                State::ChunkEnd => State::ChunkSize,
                                _ => State::Done,
                            };
                        }
                        end + 2
                    }
                    None => 0,
                },
            };
            if used == 0 {
                break;
            }
            at += used;
        }
        buf.drain(..at);
        Ok((self.state == State::Done).then_some(Outcome {
            status: self.status,
            keep_alive: self.keep_alive,
            markers: self.markers,
        }))
    }

    fn parse_head(&mut self, head: &[u8]) -> io::Result<()> {
        let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        self.status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        let mut framing = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let length = value.parse().map_err(|_| invalid("bad content-length"))?;
                framing.get_or_insert(State::Length(length));
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                framing = Some(State::ChunkSize);
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                self.keep_alive = false;
            }
        }
        self.state = match framing {
            Some(State::Length(0)) => State::Done,
            Some(framing) => framing,
            None => return Err(invalid("response has no length and is not chunked")),
        };
        Ok(())
    }

    fn scan(&mut self, data: &[u8]) {
        if let Some(body) = &mut self.body {
            body.extend_from_slice(data);
        }
        let keep = self.marker.len().saturating_sub(1);
        self.carry.extend_from_slice(data);
        self.markers += count(&self.carry, self.marker);
        let cut = self.carry.len().saturating_sub(keep);
        self.carry.drain(..cut);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

fn parse_chunk_size(line: &[u8]) -> io::Result<usize> {
    let text = std::str::from_utf8(line).map_err(|_| invalid("bad chunk size"))?;
    let hex = text.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(hex, 16).map_err(|_| invalid("bad chunk size"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    pub async fn send(&mut self, request: &Request) -> io::Result<()> {
        self.stream.write_all(request.bytes()).await
    }

    /// Reads one response. Each time the count of `marker` in the body grows, the arrival time of
    /// the read that brought it is pushed to `arrivals`, once per new marker.
    pub async fn read_response(
        &mut self,
        marker: &'static [u8],
        arrivals: &mut Vec<Instant>,
    ) -> io::Result<Outcome> {
        let mut parser = ResponseParser::new(marker);
        loop {
            if let Some(outcome) = self.advance(&mut parser, arrivals).await? {
                return Ok(outcome);
            }
        }
    }

    /// Sends `request` and reads the whole answer, body included, counting `marker` (for small
    /// answers: probes and the mock's counters).
    pub async fn fetch(
        &mut self,
        request: &Request,
        marker: &'static [u8],
    ) -> io::Result<(Outcome, Vec<u8>)> {
        self.send(request).await?;
        let mut parser = ResponseParser::keeping_body(marker);
        let mut arrivals = Vec::new();
        loop {
            if let Some(outcome) = self.advance(&mut parser, &mut arrivals).await? {
                return Ok((outcome, parser.take_body()));
            }
        }
    }

    /// One read and what it completes; `Some` once the response is whole.
    pub async fn advance(
        &mut self,
        parser: &mut ResponseParser,
        arrivals: &mut Vec<Instant>,
    ) -> io::Result<Option<Outcome>> {
        self.buf.reserve(16 * 1024);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-response",
            ));
        }
        let now = Instant::now();
        let before = parser.markers();
        let done = parser.feed(&mut self.buf)?;
        arrivals.extend(std::iter::repeat_n(now, parser.markers() - before));
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(response: &[u8], piece: usize) -> (Option<Outcome>, Vec<u8>) {
        let mut parser = ResponseParser::new(b"Tq");
        let mut buf = Vec::new();
        let mut outcome = None;
        for bytes in response.chunks(piece) {
            buf.extend_from_slice(bytes);
            outcome = parser.feed(&mut buf).unwrap();
        }
        (outcome, buf)
    }

    #[test]
    fn content_length_body_is_read_and_markers_counted_across_reads() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nTq1 Tq2 Tq3 ";
        for piece in 1..response.len() {
            let (outcome, rest) = parse_in_pieces(response, piece);
            assert_eq!(
                outcome,
                Some(Outcome {
                    status: 200,
                    keep_alive: true,
                    markers: 3
                }),
                "piece {piece}"
            );
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn chunked_body_with_extension_and_trailer_ends_at_terminal_chunk() {
        let response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n4;x=1\r\nTq1 \r\n3\r\nTq2\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1";
        for piece in 1..response.len() {
            let (outcome, rest) = parse_in_pieces(response, piece);
            let outcome = outcome.expect("complete");
            assert_eq!(
                (outcome.status, outcome.keep_alive, outcome.markers),
                (200, false, 2)
            );
            assert!(
                b"HTTP/1.1".starts_with(&rest),
                "the next response's bytes are left: {rest:?}"
            );
        }
    }

    #[test]
    fn incomplete_and_malformed_responses() {
        let (outcome, _) = parse_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 4);
        assert_eq!(outcome, None);
        let mut parser = ResponseParser::new(b"Tq");
        let mut buf = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        assert!(parser.feed(&mut buf).is_err(), "no framing");
        let mut parser = ResponseParser::new(b"Tq");
        let mut buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec();
        assert!(parser.feed(&mut buf).is_err(), "bad chunk size");
    }

    #[test]
    fn rendered_request_has_length_and_headers() {
        let request = Request::post("/p", &[("Authorization", "Bearer t")], b"{}");
        let text = String::from_utf8(request.bytes().to_vec()).unwrap();
        assert!(text.starts_with("POST /p HTTP/1.1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Authorization: Bearer t\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        assert_eq!(request.path(), "/p");
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.headers(),
            [("Authorization".into(), "Bearer t".into())]
        );
        assert_eq!(request.body(), b"{}");
        let get = String::from_utf8(Request::get("/s").bytes().to_vec()).unwrap();
        assert_eq!(get, "GET /s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    }

    #[test]
    fn a_kept_body_is_de_chunked() {
        let response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nTq1 \r\n3\r\n{x}\r\n0\r\n\r\n";
        let mut parser = ResponseParser::keeping_body(b"Tq");
        let mut buf = response.to_vec();
        let outcome = parser.feed(&mut buf).unwrap().expect("complete");
        assert_eq!(outcome.markers, 1);
        assert_eq!(parser.take_body(), b"Tq1 {x}");
    }
}
