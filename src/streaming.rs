//! Server-sent events to the client: live translation of Argo's `streamchat`, or a stream
//! synthesized from a buffered answer when Argo cannot stream the request.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use argo_filters::notice::{self, StreamStart};
use argo_filters::stream::TextStream;
use argo_filters::ApiError;
use bytes::{Bytes, BytesMut};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::metrics;
use crate::timing::{Timing, OVERHEAD_HEADER};
use crate::upstream::{Call, Exchange, Upstream};

/// Why a live stream ended.
pub enum Ending {
    /// Argo finished and the client got `[DONE]`.
    Complete,
    /// Argo failed after the stream started; the client got an error event.
    UpstreamFailed(ApiError),
    /// The client went away; the Argo request was dropped.
    ClientGone,
}

pub async fn write_sse_header(
    session: &mut Session,
    request_id: &str,
    overhead_ms: &str,
) -> Result<(), ApiError> {
    let result = async {
        let mut header = ResponseHeader::build(200, Some(6))?;
        header.insert_header("Content-Type", "text/event-stream")?;
        header.insert_header("Cache-Control", "no-cache")?;
        header.insert_header("Transfer-Encoding", "chunked")?;
        header.insert_header("X-Accel-Buffering", "no")?;
        header.insert_header("x-request-id", request_id)?;
        header.insert_header(OVERHEAD_HEADER, overhead_ms)?;
        session.write_response_header(Box::new(header), false).await
    }
    .await;
    result.map_err(|e| ApiError::internal(format!("could not start the event stream: {e}")))
}

/// Writes SSE bytes; `false` when the client is gone.
async fn send(session: &mut Session, events: Vec<u8>, end: bool) -> bool {
    if events.is_empty() && !end {
        return true;
    }
    session
        .write_response_body(Some(Bytes::from(events)), end)
        .await
        .is_ok()
}

/// Sends `body` to Argo as `call` (a streaming one) and relays each fragment, translated, as it arrives.
/// Errors before the first byte are returned for a normal error response; after that they
/// end the stream with an error event.
#[allow(clippy::too_many_arguments)] // each is a distinct piece of the request's state
pub async fn relay(
    upstream: &Upstream,
    session: &mut Session,
    request_id: &str,
    timing: &mut Timing,
    env: &str,
    call: &Call<'_>,
    body: Vec<u8>,
    translator: &mut TextStream,
    labels: [&str; 2],
) -> Result<Ending, ApiError> {
    let started = Instant::now();
    let mut exchange = unless_client_leaves(session, upstream.send(env, call, &body)).await?;
    if !exchange.is_success() {
        timing.add_upstream(started.elapsed());
        return Err(upstream.reject(exchange).await);
    }
    let opening = read_opening(session, upstream, &mut exchange).await;
    // Waiting for the opening fragments is Argo's time, not the gateway's overhead.
    timing.add_upstream(started.elapsed());
    let opening = opening?;
    write_sse_header(session, request_id, &timing.response_head()).await?;
    if !send(session, translator.start(), false).await {
        return Ok(Ending::ClientGone);
    }
    let mut first_fragment = true;
    let mut pending = Some(Ok(Some(opening)));
    loop {
        // However fast Argo sends, other requests on this thread get their turn.
        tokio::task::consume_budget().await;
        let next = match pending.take() {
            Some(next) => next,
            None => tokio::select! {
                chunk = exchange.next_chunk(upstream) => chunk,
                _ = session.downstream_session.read_body_or_idle(true) => {
                    // The client closed its side; if it only half-closed, it still reads: end
                    // the stream properly. Dropping the exchange closes the Argo connection.
                    send(session, translator.fail(&client_closed()), true).await;
                    return Ok(Ending::ClientGone);
                }
            },
        };
        match next {
            Ok(Some(fragment)) => {
                if first_fragment {
                    first_fragment = false;
                    metrics::TIME_TO_FIRST_TOKEN
                        .with_label_values(&labels)
                        .observe(started.elapsed().as_secs_f64());
                }
                let mut events = translator.feed(&fragment);
                pending = coalesce_ready(&mut exchange, upstream, translator, &mut events);
                if !send(session, events, false).await {
                    return Ok(Ending::ClientGone);
                }
            }
            Ok(None) => {
                upstream.release(exchange);
                let delivered = send(session, translator.finish(), true).await;
                return Ok(if delivered {
                    Ending::Complete
                } else {
                    Ending::ClientGone
                });
            }
            Err(error) => {
                send(session, translator.fail(&error), true).await;
                return Ok(Ending::UpstreamFailed(error));
            }
        }
    }
}

/// The stream's first bytes, read until they show whether Argo sent its notice for a username
/// it does not know instead of an answer: held back until then, so that nothing of a notice
/// reaches the client as content. An answer starts streaming with its first fragment.
async fn read_opening(
    session: &mut Session,
    upstream: &Upstream,
    exchange: &mut Exchange,
) -> Result<Bytes, ApiError> {
    let mut held = BytesMut::new();
    loop {
        match notice::stream_start(&held) {
            StreamStart::Notice => return Err(notice::unregistered_user()),
            StreamStart::Answer => return Ok(held.freeze()),
            StreamStart::Undecided => {}
        }
        match unless_client_leaves(session, exchange.next_chunk(upstream)).await? {
            Some(chunk) => held.extend_from_slice(&chunk),
            None => return Ok(held.freeze()),
        }
    }
}

/// Runs `work` (a call to Argo) unless the client leaves first: then it is dropped, which
/// closes its Argo connection, and the client gets `client_closed()` (499) should it still read.
pub async fn unless_client_leaves<T>(
    session: &mut Session,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    session.set_abort_on_close(true);
    tokio::select! {
        result = work => result,
        _ = session.downstream_session.read_body_or_idle(true) => Err(client_closed()),
    }
}

/// The client closed its side of the connection before the answer was complete.
pub fn client_closed() -> ApiError {
    ApiError::new(
        499,
        "invalid_request_error",
        "The client closed its side of the connection before the answer was complete",
    )
    .with_code("client_closed")
}

/// Upper bound on the events gathered into one write.
const COALESCE_BYTES: usize = 64 * 1024;

/// Translates the fragments Argo sent in the same burst, already read and buffered, into
/// `events`, so that they reach the client in one write instead of one write (and syscall) each.
/// Never waits: a fragment that has not arrived stays for the next turn of the relay loop. The
/// first outcome that is not a fragment (end of stream, error) is returned for the loop to handle.
fn coalesce_ready(
    exchange: &mut Exchange,
    upstream: &Upstream,
    translator: &mut TextStream,
    events: &mut Vec<u8>,
) -> Option<Result<Option<Bytes>, ApiError>> {
    while events.len() < COALESCE_BYTES {
        match poll_once(exchange.next_chunk(upstream))? {
            Ok(Some(fragment)) => translator.feed_into(events, &fragment),
            other => return Some(other),
        }
    }
    None
}

/// Polls `future` once; `None` if it would have to wait. Reads of Argo's answer keep their state
/// in the connection (`Connection::next_chunk` is cancel-safe), so dropping a pending read loses
/// nothing (the relay already does so in `select!`).
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Sends a complete, already rendered event stream.
pub async fn send_synthesized(
    session: &mut Session,
    request_id: &str,
    overhead_ms: &str,
    events: Vec<u8>,
) -> Result<(), ApiError> {
    write_sse_header(session, request_id, overhead_ms).await?;
    send(session, events, true).await;
    Ok(())
}
