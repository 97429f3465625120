//! Server-sent events to the client: live translation of Argo's `streamchat`, or a stream
//! synthesized from a buffered answer when Argo cannot stream the request.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use argo_filters::error::ErrorCode;
use argo_filters::translate::StreamTranslation;
use argo_filters::ApiError;
use bytes::Bytes;
use http::header::HeaderValue;
use pingora_proxy::Session;

use crate::edge::http::response_head;
use crate::observe::metrics;
use crate::observe::timing::{Timing, OVERHEAD_HEADER};
use crate::upstream::{Call, Exchange, Upstream};

/// Why a live stream ended.
pub enum Ending {
    /// Argo finished and the client got `[DONE]`.
    Complete,
    /// Argo failed after the stream started; the client got an error event.
    UpstreamFailed(ApiError),
    /// The client went away; the Argo request was dropped.
    ClientGone,
    /// The client stopped reading: a write to it could not go on within the client write
    /// timeout. The stream and its Argo request were dropped.
    ClientStalled,
}

/// Why events did not reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsent {
    /// The client is gone.
    Gone,
    /// The write timed out: the client does not read.
    Stalled,
}

impl From<Unsent> for Ending {
    fn from(unsent: Unsent) -> Self {
        match unsent {
            Unsent::Gone => Ending::ClientGone,
            Unsent::Stalled => Ending::ClientStalled,
        }
    }
}

pub async fn write_stream_header(
    session: &mut Session,
    request_id: &str,
    overhead_ms: &str,
    content_type: &'static str,
) -> Result<(), ApiError> {
    let result = async {
        let mut header = response_head(200, 6)?;
        header.insert_header("content-type", HeaderValue::from_static(content_type))?;
        header.insert_header("cache-control", HeaderValue::from_static("no-cache"))?;
        header.insert_header("transfer-encoding", HeaderValue::from_static("chunked"))?;
        header.insert_header("x-accel-buffering", HeaderValue::from_static("no"))?;
        header.insert_header("x-request-id", request_id)?;
        header.insert_header(OVERHEAD_HEADER, overhead_ms)?;
        session.write_response_header(Box::new(header), false).await
    }
    .await;
    result.map_err(|e| ApiError::internal(format!("could not start the event stream: {e}")))
}

/// Writes SSE bytes, within the session's write timeout when it has one.
async fn send(session: &mut Session, events: Vec<u8>, end: bool) -> Result<(), Unsent> {
    if events.is_empty() && !end {
        return Ok(());
    }
    match session
        .write_response_body(Some(Bytes::from(events)), end)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.etype() == &pingora_error::ErrorType::WriteTimedout => Err(Unsent::Stalled),
        Err(_) => Err(Unsent::Gone),
    }
}

/// Sends `body` to Argo as `call` (a streaming one) and relays each piece, translated, as it
/// arrives. Errors before the stream is known to be an answer (Argo's refusal, its notice for
/// an unknown username, a failure before the first event) are returned for a normal error
/// response; after that they end the stream with an error event. The body is dropped once
/// sent: a stream may run for hours, and keeps only what it needs to translate.
#[expect(
    clippy::too_many_arguments,
    reason = "each is a distinct piece of the request's state"
)]
pub async fn relay(
    upstream: &Upstream,
    session: &mut Session,
    request_id: &str,
    timing: &mut Timing,
    env: &str,
    call: &Call<'_>,
    body: Vec<u8>,
    translator: &mut StreamTranslation,
    labels: [&str; 2],
) -> Result<Ending, ApiError> {
    let started = Instant::now();
    // Boxed, as the rejection below: connecting (a TLS handshake) takes far more future state
    // than relaying, and a future is as large as its largest state for as long as it lives,
    // which for a held stream is hours.
    let sending = Box::pin(upstream.send_adapting(env, call, &body, None));
    let sent = unless_client_leaves(session, sending).await;
    drop(body);
    let mut exchange = sent?;
    if !exchange.is_success() {
        timing.add_upstream(started.elapsed());
        return Err(Box::pin(upstream.reject_for(exchange, call.user)).await);
    }
    let opening = read_opening(session, upstream, &mut exchange, translator).await;
    // Waiting for the opening is Argo's time, not the gateway's overhead.
    timing.add_upstream(started.elapsed());
    let (opening, ended) = opening?;
    let first_token = started.elapsed().as_secs_f64();
    metrics::time(&metrics::TIME_TO_FIRST_TOKEN, &labels, first_token);
    let content_type = translator.content_type();
    write_stream_header(session, request_id, &timing.response_head(), content_type).await?;
    if ended {
        upstream.release(exchange);
        return Ok(finished(send(session, opening, true).await, translator));
    }
    if let Err(unsent) = send(session, opening, false).await {
        return Ok(unsent.into());
    }
    loop {
        // However fast Argo sends, other requests on this thread get their turn.
        tokio::task::consume_budget().await;
        let next = tokio::select! {
            chunk = exchange.next_chunk(upstream) => chunk,
            _ = session.downstream_session.read_body_or_idle(true) => {
                // The client closed its side; if it only half-closed, it still reads: end
                // the stream properly. Dropping the exchange closes the Argo connection.
                let _ = send(session, translator.fail(&client_closed()), true).await;
                return Ok(Ending::ClientGone);
            }
        };
        match next {
            Ok(Some(fragment)) => {
                let mut events = Vec::new();
                // After the opening, a translation error is an event in `events`, not an `Err`.
                let _ = translator.feed_into(&mut events, &fragment);
                let after = coalesce_ready(&mut exchange, upstream, translator, &mut events);
                if translator.failure().is_some() {
                    let failure = translator.failure().cloned();
                    if let Err(unsent) = send(session, events, true).await {
                        return Ok(unsent.into());
                    }
                    return Ok(failure.map_or(Ending::Complete, Ending::UpstreamFailed));
                }
                if let Err(unsent) = send(session, events, false).await {
                    return Ok(unsent.into());
                }
                if let Some(after) = after {
                    return end(session, upstream, exchange, translator, after).await;
                }
            }
            other => return end(session, upstream, exchange, translator, other).await,
        }
    }
}

/// The stream's end: Argo finished (`Ok(None)`) or failed.
async fn end(
    session: &mut Session,
    upstream: &Upstream,
    exchange: Exchange,
    translator: &mut StreamTranslation,
    outcome: Result<Option<Bytes>, ApiError>,
) -> Result<Ending, ApiError> {
    match outcome {
        Ok(_) => {
            upstream.release(exchange);
            let closing = translator.finish().unwrap_or_default();
            Ok(finished(send(session, closing, true).await, translator))
        }
        Err(error) => match send(session, translator.fail(&error), true).await {
            Err(Unsent::Stalled) => Ok(Ending::ClientStalled),
            _ => Ok(Ending::UpstreamFailed(error)),
        },
    }
}

/// How a stream whose closing events were written ended.
fn finished(delivered: Result<(), Unsent>, translator: &StreamTranslation) -> Ending {
    match (delivered, translator.failure()) {
        (Err(unsent), _) => unsent.into(),
        (Ok(()), Some(failure)) => Ending::UpstreamFailed(failure.clone()),
        (Ok(()), None) => Ending::Complete,
    }
}

/// Reads and translates the stream's first pieces until the translation knows they are an
/// answer and not Argo's notice for a username it does not know: held back until then, so that
/// nothing of a notice reaches the client as content. Returns the events to send first and
/// whether the stream already ended.
async fn read_opening(
    session: &mut Session,
    upstream: &Upstream,
    exchange: &mut Exchange,
    translator: &mut StreamTranslation,
) -> Result<(Vec<u8>, bool), ApiError> {
    let mut out = translator.start();
    loop {
        match unless_client_leaves(session, exchange.next_chunk(upstream)).await? {
            Some(chunk) => translator.feed_into(&mut out, &chunk)?,
            None => {
                out.extend(translator.finish()?);
                return Ok((out, true));
            }
        }
        if translator.decided() {
            return Ok((out, false));
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
    .with_code(ErrorCode::ClientClosed)
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
    translator: &mut StreamTranslation,
    events: &mut Vec<u8>,
) -> Option<Result<Option<Bytes>, ApiError>> {
    while events.len() < COALESCE_BYTES && translator.failure().is_none() {
        match poll_once(exchange.next_chunk(upstream))? {
            Ok(Some(fragment)) => {
                let _ = translator.feed_into(events, &fragment);
            }
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
    content_type: &'static str,
) -> Result<(), ApiError> {
    write_stream_header(session, request_id, overhead_ms, content_type).await?;
    let _ = send(session, events, true).await;
    Ok(())
}
