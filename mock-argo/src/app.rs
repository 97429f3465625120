//! The mock as a Pingora HTTP app: reads each request, routes it and writes the answer, paced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;

use crate::sse;
use crate::{Answer, Fault, MockArgo, MockRequest};

#[async_trait]
impl HttpServerApp for MockArgo {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !matches!(session.read_request().await, Ok(true)) {
            return None;
        }
        let header = session.req_header();
        let path = header.uri.path().to_string();
        let method = header.method.as_str().to_string();
        let headers: Vec<(String, String)> = header
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_ascii_lowercase(), value.to_string()))
            })
            .collect();
        let mut body = BytesMut::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(_) => return None,
            }
        }
        let (answer, delay) = if path.ends_with("/__mock/stats") {
            (
                Answer::Json {
                    status: 200,
                    body: self.stats.to_json(),
                    retry_after: None,
                },
                Duration::ZERO,
            )
        } else if path.ends_with("/__mock/models") {
            let (status, json) = self.models.hook(&body);
            (
                Answer::Json {
                    status,
                    body: json.to_string().into_bytes(),
                    retry_after: None,
                },
                Duration::ZERO,
            )
        } else {
            self.respond(&MockRequest {
                method,
                path,
                headers,
                body: body.to_vec(),
            })
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let completed = match answer {
            Answer::Json {
                status,
                body,
                retry_after,
            } => write_json(&mut session, status, body, retry_after).await,
            Answer::Faulty { body, fault } => write_faulty(&mut session, body, fault).await,
            Answer::Sse {
                steps,
                pause,
                cut_after,
            } => {
                self.stats.streams_started.fetch_add(1, Ordering::SeqCst);
                let completed = write_sse(
                    &mut session,
                    steps,
                    pause,
                    cut_after,
                    &self.stats.fragments_sent,
                )
                .await;
                self.stats.stream_ended(completed);
                completed
            }
            Answer::Stream {
                fragments,
                pause,
                cut_after,
                forever,
            } => {
                self.stats.streams_started.fetch_add(1, Ordering::SeqCst);
                let fragments = Fragments {
                    listed: fragments,
                    forever,
                };
                let completed = write_stream(
                    &mut session,
                    fragments,
                    pause,
                    cut_after,
                    &self.stats.fragments_sent,
                )
                .await;
                self.stats.stream_ended(completed);
                completed
            }
        };
        if !completed {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        session
            .finish()
            .await
            .ok()
            .flatten()
            .map(|stream| ReusedHttpStream::from_reusable_stream(stream, settings))
    }
}

async fn write_json(
    session: &mut ServerSession,
    status: u16,
    body: Vec<u8>,
    retry_after: Option<String>,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(status, Some(3))?;
        let content_type = if body.first() == Some(&b'{') {
            "application/json"
        } else {
            "text/plain"
        };
        header.insert_header("Content-Type", content_type)?;
        header.insert_header("Content-Length", body.len().to_string())?;
        if let Some(seconds) = retry_after {
            header.insert_header("Retry-After", seconds)?;
        }
        session.write_response_header(Box::new(header)).await?;
        session.write_response_body(Bytes::from(body), true).await
    }
    .await;
    result.is_ok()
}

/// Returns `false`: a faulty answer never leaves the connection reusable.
async fn write_faulty(session: &mut ServerSession, body: Vec<u8>, fault: Fault) -> bool {
    let promised = match fault {
        Fault::Truncate => body.len() * 2,
        Fault::Drip(_) => body.len(),
    };
    let _ = async {
        let mut header = ResponseHeader::build(200, Some(2))?;
        header.insert_header("Content-Type", "application/json")?;
        header.insert_header("Content-Length", promised.to_string())?;
        session.write_response_header(Box::new(header)).await?;
        match fault {
            Fault::Truncate => session.write_response_body(Bytes::from(body), false).await,
            Fault::Drip(pause) => {
                for byte in body {
                    session
                        .write_response_body(Bytes::from(vec![byte]), false)
                        .await?;
                    tokio::time::sleep(pause).await;
                }
                Ok(())
            }
        }
    }
    .await;
    false
}

/// A stream's fragments: the listed ones, then, if set, one fragment repeated without end.
pub(crate) struct Fragments {
    listed: Vec<Bytes>,
    forever: Option<Bytes>,
}

impl Fragments {
    fn into_iter(self) -> impl Iterator<Item = Bytes> {
        let forever = self.forever.into_iter().flat_map(std::iter::repeat);
        self.listed.into_iter().chain(forever)
    }
}

async fn write_stream(
    session: &mut ServerSession,
    fragments: Fragments,
    pause: Duration,
    cut_after: Option<usize>,
    sent: &AtomicU64,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(200, Some(2))?;
        header.insert_header("Content-Type", "text/plain; charset=utf-8")?;
        header.insert_header("Transfer-Encoding", "chunked")?;
        session.write_response_header(Box::new(header)).await?;
        for (index, fragment) in fragments.into_iter().enumerate() {
            if cut_after == Some(index) {
                return Ok(false);
            }
            if index > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            session.write_response_body(fragment, false).await?;
            sent.fetch_add(1, Ordering::SeqCst);
        }
        session.finish_body().await?;
        Ok::<bool, Box<pingora_error::Error>>(true)
    }
    .await;
    matches!(result, Ok(true))
}

/// Writes a native stream: each step one chunk; paced steps after the pause (but the first),
/// counted, and cut by `cut_after`; a `Forever` step repeated until the client goes away.
async fn write_sse(
    session: &mut ServerSession,
    steps: Vec<sse::Step>,
    pause: Duration,
    cut_after: Option<usize>,
    sent: &AtomicU64,
) -> bool {
    let result = async {
        let mut header = ResponseHeader::build(200, Some(3))?;
        header.insert_header("Content-Type", "text/event-stream")?;
        header.insert_header("Cache-Control", "no-cache")?;
        header.insert_header("Transfer-Encoding", "chunked")?;
        session.write_response_header(Box::new(header)).await?;
        let mut paced = 0;
        for step in steps {
            let (bytes, repeat) = match step {
                sse::Step::Now(bytes) => {
                    session.write_response_body(bytes, false).await?;
                    continue;
                }
                sse::Step::Paced(bytes) => (bytes, false),
                sse::Step::Forever(bytes) => (bytes, true),
            };
            loop {
                if cut_after == Some(paced) {
                    return Ok(false);
                }
                if paced > 0 && !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                session.write_response_body(bytes.clone(), false).await?;
                sent.fetch_add(1, Ordering::SeqCst);
                paced += 1;
                if !repeat {
                    break;
                }
            }
        }
        session.finish_body().await?;
        Ok::<bool, Box<pingora_error::Error>>(true)
    }
    .await;
    matches!(result, Ok(true))
}
