//! One HTTP/1.1 exchange with Argo over a pooled Pingora stream: the request goes out in a
//! single write, the answer is read through a small buffer that grows only while Argo sends
//! faster than it is read. Errors carry Pingora error types, so that callers can tell timeouts,
//! broken connections and invalid answers apart.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use pingora_core::protocols::Stream;
use pingora_error::{Error, ErrorType, Result};
use pingora_timeout::fast_timeout::fast_timeout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::wire::{parse_head, BodyDecoder, Decoded, ResponseHead, WireError};

/// First read size: a whole Argo response head, or a stream fragment, fits.
const FIRST_READ_BYTES: usize = 4 * 1024;
/// Reads double up to this size while each one fills the buffer (large buffered answers).
const MAX_READ_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy)]
pub struct Timeouts {
    pub read: Duration,
    pub write: Duration,
}

/// A request sent and its response head read; the body is read with [`Connection::next_chunk`].
pub struct Connection {
    stream: Stream,
    head: ResponseHead,
    buf: BytesMut,
    body: BodyDecoder,
    read_timeout: Duration,
    read_size: usize,
}

impl Connection {
    /// Writes `request` and reads the response head, skipping informational (1xx) heads.
    pub async fn exchange(mut stream: Stream, request: &[u8], timeouts: Timeouts) -> Result<Self> {
        write_all(&mut stream, request, timeouts.write).await?;
        let mut buf = BytesMut::new();
        loop {
            if let Some((head, length)) = parse_head(&buf).map_err(invalid_answer)? {
                buf.advance(length);
                if head.is_informational() {
                    continue;
                }
                return Ok(Connection {
                    stream,
                    body: BodyDecoder::new(head.framing),
                    head,
                    buf,
                    read_timeout: timeouts.read,
                    read_size: FIRST_READ_BYTES,
                });
            }
            let read = read(&mut stream, &mut buf, FIRST_READ_BYTES, timeouts.read).await?;
            if read == 0 {
                return Error::e_explain(
                    ErrorType::ConnectionClosed,
                    "Argo closed the connection before answering",
                );
            }
        }
    }

    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The next piece of the body; `None` at its end. Cancel-safe: dropping a pending call loses
    /// nothing, so it can be raced against the client going away.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            match self.body.decode(&mut self.buf).map_err(invalid_answer)? {
                Decoded::Data(data) => return Ok(Some(data)),
                Decoded::Done => return Ok(None),
                Decoded::NeedMore => {}
            }
            // A large answer of known length is read in big steps from the start.
            let expected = self.body.expected_bytes().unwrap_or(0);
            let size = usize::try_from(expected)
                .unwrap_or(MAX_READ_BYTES)
                .clamp(self.read_size, MAX_READ_BYTES);
            let read = read(&mut self.stream, &mut self.buf, size, self.read_timeout).await?;
            if read == 0 {
                self.body
                    .end_of_input()
                    .map_err(|e| Error::explain(ErrorType::ConnectionClosed, e.to_string()))?;
            } else if read >= self.read_size {
                self.read_size = (self.read_size * 2).min(MAX_READ_BYTES);
            }
        }
    }

    /// Whether the connection can carry another request: the whole body was read, nothing
    /// more arrived, and Argo did not ask to close it.
    pub fn is_reusable(&self) -> bool {
        self.body.is_done() && self.buf.is_empty() && self.head.keep_alive
    }

    pub fn into_stream(self) -> Stream {
        self.stream
    }
}

async fn write_all(stream: &mut Stream, bytes: &[u8], limit: Duration) -> Result<()> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match fast_timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Error::e_because(ErrorType::WriteError, "sending the request to Argo", e),
        Err(_) => Error::e_explain(ErrorType::WriteTimedout, "sending the request to Argo"),
    }
}

async fn read(
    stream: &mut Stream,
    buf: &mut BytesMut,
    size: usize,
    limit: Duration,
) -> Result<usize> {
    buf.reserve(size);
    match fast_timeout(limit, stream.read_buf(buf)).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(e)) => Error::e_because(ErrorType::ReadError, "reading Argo's answer", e),
        Err(_) => Error::e_explain(ErrorType::ReadTimedout, "waiting for Argo's answer"),
    }
}

fn invalid_answer(error: WireError) -> Box<Error> {
    Error::explain(ErrorType::InvalidHTTPHeader, error.0)
}
