//! One HTTP/1.1 exchange with Argo over a pooled Pingora stream: the request goes out in a
//! single write, the answer is read through a small buffer that grows only while Argo sends
//! faster than it is read. Errors carry Pingora error types, so that callers can tell timeouts,
//! broken connections and invalid answers apart.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use pingora_core::protocols::Stream;
use pingora_error::{Error, ErrorType, Result};
use pingora_timeout::fast_timeout::fast_timeout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::wire::{parse_head, BodyDecoder, Decoded, Framing, ResponseHead, WireError};

/// First read size: an Argo response head or a stream fragment fits; a buffer this size is
/// held for the life of every open stream, and reads grow it when an answer is larger.
const FIRST_READ_BYTES: usize = 2 * 1024;
/// Reads double up to this size while each one fills the buffer (large buffered answers).
const MAX_READ_BYTES: usize = 64 * 1024;

/// Longest run of informational (1xx) heads accepted before the final one.
const MAX_INTERIM_HEADS: usize = 8;

/// The head phase took longer than `upstream.head_timeout_ms`.
pub const HEAD_TIMEDOUT: ErrorType = ErrorType::Custom("UpstreamHeadTimedout");
/// The whole exchange outlasted its deadline (`upstream.total_timeout_ms`, buffered answers).
pub const TOTAL_TIMEDOUT: ErrorType = ErrorType::Custom("UpstreamTotalTimedout");

#[derive(Clone, Copy)]
pub struct Timeouts {
    /// Longest silence while reading.
    pub read: Duration,
    /// Longest wait, from the end of the request, for the final response head.
    pub head: Duration,
    /// When the whole exchange must be over, if it must.
    pub deadline: Option<Instant>,
}

/// A request sent and its response head read; the body is read with [`Connection::next_chunk`].
pub struct Connection {
    stream: Stream,
    head: ResponseHead,
    buf: BytesMut,
    body: BodyDecoder,
    timeouts: Timeouts,
    read_size: usize,
}

/// Writes the whole request within `limit`, and by `deadline`. An error means Argo cannot have
/// received all of it.
pub async fn send_request(
    stream: &mut Stream,
    request: &[u8],
    limit: Duration,
    deadline: Option<Instant>,
) -> Result<()> {
    let write = async {
        stream.write_all(request).await?;
        stream.flush().await
    };
    let (limit, expiry) = wait_limit(
        limit,
        ErrorType::WriteTimedout,
        &[(deadline, TOTAL_TIMEDOUT)],
    );
    match fast_timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Error::e_because(ErrorType::WriteError, "sending the request to Argo", e),
        Err(_) => Err(timed_out(expiry)),
    }
}

impl Connection {
    /// Reads the final response head of a request sent on `stream`, skipping at most
    /// [`MAX_INTERIM_HEADS`] informational (1xx) heads, all within `timeouts.head`.
    pub async fn read_head(mut stream: Stream, timeouts: Timeouts) -> Result<Self> {
        let mut buf = BytesMut::new();
        let head = read_final_head(&mut stream, &mut buf, timeouts).await?;
        Ok(Connection {
            stream,
            body: BodyDecoder::new(head.framing),
            head,
            buf,
            timeouts,
            read_size: FIRST_READ_BYTES,
        })
    }

    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The body's length, if the head announced it.
    pub fn announced_length(&self) -> Option<u64> {
        match self.head.framing {
            Framing::Length(length) => Some(length),
            Framing::Chunked | Framing::UntilClose => None,
        }
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
            let limit = wait_limit(
                self.timeouts.read,
                ErrorType::ReadTimedout,
                &[(self.timeouts.deadline, TOTAL_TIMEDOUT)],
            );
            let read = read(&mut self.stream, &mut self.buf, size, limit).await?;
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

/// The head phase is bounded by `timeouts.head` from its start, by `timeouts.read` from each
/// read, and by the exchange's deadline. Each read waits for whichever ends first, under one
/// timer: a timer per limit was a registration with Pingora's timer wheel each, on every call.
async fn read_final_head(
    stream: &mut Stream,
    buf: &mut BytesMut,
    timeouts: Timeouts,
) -> Result<ResponseHead> {
    let head_deadline = Instant::now() + timeouts.head;
    let deadlines = [
        (Some(head_deadline), HEAD_TIMEDOUT),
        (timeouts.deadline, TOTAL_TIMEDOUT),
    ];
    let mut interim_heads = 0;
    loop {
        if let Some((head, length)) = parse_head(buf).map_err(invalid_answer)? {
            buf.advance(length);
            if !head.is_informational() {
                return Ok(head);
            }
            interim_heads += 1;
            if interim_heads > MAX_INTERIM_HEADS {
                return Error::e_explain(
                    ErrorType::InvalidHTTPHeader,
                    format!("more than {MAX_INTERIM_HEADS} interim (1xx) response heads"),
                );
            }
            continue;
        }
        let limit = wait_limit(timeouts.read, ErrorType::ReadTimedout, &deadlines);
        let read = read(stream, buf, FIRST_READ_BYTES, limit).await?;
        if read == 0 {
            return Error::e_explain(
                ErrorType::ConnectionClosed,
                "Argo closed the connection before answering",
            );
        }
    }
}

/// How long a wait may last and what its end is reported as: `limit` as `expiry`, unless one of
/// `deadlines` comes first, then the time left to it as its own error.
pub fn wait_limit(
    limit: Duration,
    expiry: ErrorType,
    deadlines: &[(Option<Instant>, ErrorType)],
) -> (Duration, ErrorType) {
    let now = Instant::now();
    deadlines
        .iter()
        .filter_map(|(deadline, expiry)| {
            Some((deadline.as_ref()?.saturating_duration_since(now), expiry))
        })
        .filter(|(left, _)| *left < limit)
        .min_by_key(|(left, _)| *left)
        .map_or((limit, expiry), |(left, expiry)| (left, expiry.clone()))
}

/// The error for a wait that ran out, by what bounded it.
pub fn timed_out(expiry: ErrorType) -> Box<Error> {
    let context = if expiry == HEAD_TIMEDOUT {
        "waiting for Argo's response head (upstream.head_timeout_ms)"
    } else if expiry == TOTAL_TIMEDOUT {
        "waiting for the end of Argo's answer (upstream.total_timeout_ms)"
    } else if expiry == ErrorType::WriteTimedout {
        "sending the request to Argo (upstream.write_timeout_ms)"
    } else {
        "waiting for Argo's answer (upstream.read_timeout_ms)"
    };
    Error::explain(expiry, context)
}

async fn read(
    stream: &mut Stream,
    buf: &mut BytesMut,
    size: usize,
    (limit, expiry): (Duration, ErrorType),
) -> Result<usize> {
    buf.reserve(size);
    match fast_timeout(limit, stream.read_buf(buf)).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(e)) => Error::e_because(ErrorType::ReadError, "reading Argo's answer", e),
        Err(_) => Err(timed_out(expiry)),
    }
}

fn invalid_answer(error: WireError) -> Box<Error> {
    Error::explain(ErrorType::InvalidHTTPHeader, error.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_at_its_limit_or_at_the_nearest_deadline_reported_as_that() {
        let read = Duration::from_secs(10);
        let far = Some(Instant::now() + Duration::from_secs(60));
        let near = Some(Instant::now() + Duration::from_secs(2));
        let (limit, expiry) = wait_limit(
            read,
            ErrorType::ReadTimedout,
            &[(far, HEAD_TIMEDOUT), (None, TOTAL_TIMEDOUT)],
        );
        assert_eq!((limit, expiry), (read, ErrorType::ReadTimedout));
        let (limit, expiry) = wait_limit(
            read,
            ErrorType::ReadTimedout,
            &[(far, HEAD_TIMEDOUT), (near, TOTAL_TIMEDOUT)],
        );
        assert!(
            limit <= Duration::from_secs(2) && limit > Duration::from_secs(1),
            "{limit:?}"
        );
        assert_eq!(expiry, TOTAL_TIMEDOUT);
        let passed = Some(Instant::now() - Duration::from_secs(1));
        let (limit, expiry) =
            wait_limit(read, ErrorType::WriteTimedout, &[(passed, TOTAL_TIMEDOUT)]);
        assert_eq!((limit, expiry), (Duration::ZERO, TOTAL_TIMEDOUT));
    }

    #[test]
    fn each_expiry_names_what_ran_out() {
        for (expiry, context) in [
            (HEAD_TIMEDOUT, "response head"),
            (TOTAL_TIMEDOUT, "end of Argo's answer"),
            (ErrorType::WriteTimedout, "sending the request"),
            (ErrorType::ReadTimedout, "waiting for Argo's answer"),
        ] {
            let error = timed_out(expiry.clone());
            assert_eq!(error.etype(), &expiry);
            assert!(error.to_string().contains(context), "{error}");
        }
    }
}
