//! The front door: every connection to the API or admin listener passes here before Pingora
//! parses a request.
//!
//! Pingora bounds each read of a request head, not the whole head, and answers malformed heads
//! with an empty 400; a client sending one byte a second could hold a connection and its buffer
//! forever. So the gateway reads each request head itself, within a deadline and a size limit,
//! checks it, and answers what it refuses in the OpenAI error envelope. A head that passes is
//! handed to Pingora as already-read bytes (`set_pipelined_prefix`), which parses it without
//! another read. It also caps the connections each client address holds open without having
//! made an authenticated request, taking the address a trusted load balancer reports, and the
//! connections the listener holds in all, below the process's descriptor limit (the counts are
//! in `connections`).

use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argo_filters::error::ErrorCode;
use argo_filters::ApiError;
use async_trait::async_trait;
use bytes::BytesMut;
use futures::FutureExt;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::{Stream, ALPN};
use pingora_core::server::ShutdownWatch;
use pingora_timeout::fast_timeout::fast_timeout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{IpNet, Limits, Settings};
use crate::edge::connections::{AddressCounts, AddressTicket, ConnectionCap};
use crate::edge::proxy_protocol;
use crate::limits::lock::lock;
use crate::observe::metrics;
use crate::observe::request_id::new_id;

/// Headers beyond this many are refused (431).
const MAX_HEADERS: usize = 128;
const READ_CHUNK: usize = 4 * 1024;

/// The front door of one listener, in front of the Pingora application `A` that answers the
/// requests it lets through (the gateway's proxy, or the admin endpoints).
pub struct FrontDoor<A> {
    app: Arc<A>,
    rules: Rules,
    unauthenticated: Arc<AddressCounts>,
    connections: Arc<ConnectionCap>,
}

/// What the front door enforces, from the settings.
struct Rules {
    head_timeout: Duration,
    keepalive_timeout: Duration,
    max_head_bytes: usize,
    max_uri_bytes: usize,
    trusted_proxies: Vec<IpNet>,
    proxy_protocol: bool,
}

impl<A: HttpServerApp + Send + Sync + 'static> FrontDoor<A> {
    /// The API listener's front door: at most `limits.max_connections` connections.
    pub fn new(app: A, settings: &Settings) -> Self {
        Self::with_cap(app, settings, "api", settings.limits.max_connections)
    }

    /// The admin listener's: the API's rules, and a cap of its own (`admin.max_connections`).
    pub fn admin(app: A, settings: &Settings) -> Self {
        Self::with_cap(app, settings, "admin", settings.admin.max_connections)
    }

    fn with_cap(app: A, settings: &Settings, listener: &str, cap: usize) -> Self {
        let limits: &Limits = &settings.limits;
        FrontDoor {
            app: Arc::new(app),
            rules: Rules {
                head_timeout: Duration::from_millis(limits.request_head_timeout_ms),
                keepalive_timeout: Duration::from_secs(limits.keepalive_timeout_s),
                max_head_bytes: limits.max_request_head_bytes,
                max_uri_bytes: limits.max_uri_bytes,
                trusted_proxies: settings.trusted_proxies.clone(),
                proxy_protocol: settings.proxy_protocol,
            },
            unauthenticated: Arc::new(AddressCounts::new(
                limits.max_unauthenticated_connections_per_address,
            )),
            connections: Arc::new(ConnectionCap::new(
                cap,
                metrics::CONNECTIONS_OPEN.with_label_values(&[listener]),
            )),
        }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.rules
            .trusted_proxies
            .iter()
            .any(|net| net.contains(address))
    }

    /// The connection's own ticket: the peer's address, or the one a trusted balancer sent in a
    /// PROXY protocol header. `None` for a trusted balancer without it: its clients are counted
    /// per request, by `X-Forwarded-For`.
    async fn connection_ticket(
        &self,
        stream: &mut Stream,
        buf: &mut BytesMut,
        peer: Option<IpAddr>,
        deadline: Instant,
    ) -> Result<Option<AddressTicket>, Refusal> {
        let Some(peer) = peer else {
            return Ok(None);
        };
        let client = if !self.is_trusted(peer) {
            peer
        } else if self.rules.proxy_protocol {
            read_proxy_header(stream, buf, deadline)
                .await?
                .unwrap_or(peer)
        } else {
            return Ok(None);
        };
        self.unauthenticated
            .admit(client)
            .map(Some)
            .ok_or_else(Refusal::too_many_connections)
    }

    /// Behind a trusted balancer without the PROXY protocol: the client is the last address
    /// in `X-Forwarded-For` that is not itself a trusted proxy.
    fn forwarded_client(&self, head: &Head) -> Option<IpAddr> {
        head.forwarded_for
            .iter()
            .rev()
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .find(|address| !self.is_trusted(*address))
    }

    /// Serves one connection: a request head read and checked here, then Pingora answers it;
    /// again for each request the connection carries.
    async fn serve(&self, mut stream: Stream, peer: Option<IpAddr>, shutdown: &ShutdownWatch) {
        let opened = Instant::now();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let slot = Arc::new(Mutex::new(None));
        match self
            .connection_ticket(
                &mut stream,
                &mut buf,
                peer,
                opened + self.rules.head_timeout,
            )
            .await
        {
            Ok(ticket) => *lock(&slot) = ticket,
            Err(refusal) => return refuse(stream, refusal).await,
        }
        let connection_trusted = peer.is_some_and(|peer| self.is_trusted(peer));
        // Per request after the first: what Pingora hands over with the kept-alive connection.
        let mut reused: Option<Option<HttpPersistentSettings>> = None;
        loop {
            let head = match self
                .next_head(&mut stream, &mut buf, reused.is_none(), opened, shutdown)
                .await
            {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(refusal) => return refuse(stream, refusal).await,
            };
            if connection_trusted && !self.rules.proxy_protocol {
                let client = self.forwarded_client(&head);
                match client.map(|client| self.unauthenticated.admit(client)) {
                    Some(None) => return refuse(stream, Refusal::too_many_connections()).await,
                    Some(ticket) => *lock(&slot) = ticket,
                    None => {}
                }
            }
            if head.expects_continue && buf.len() == head.length {
                if let Err(e) = send_continue(&mut stream).await {
                    log::debug!("client left before 100 Continue: {e}");
                    return;
                }
            }
            let mut session = ServerSession::new_http1(stream);
            match reused.take() {
                Some(Some(settings)) => settings.apply_to_session(&mut session),
                _ => session.set_keepalive(Some(self.rules.keepalive_timeout.as_secs())),
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            session.set_pipelined_prefix(std::mem::take(&mut buf));
            let answered = UNAUTHENTICATED
                .scope(slot.clone(), self.app.process_new_http(session, shutdown))
                .await;
            let Some(next) = answered else { return };
            let (next_stream, settings) = next.consume();
            stream = next_stream;
            reused = Some(settings);
        }
    }

    /// The next request head, read whole within the deadline and checked. `None` when the
    /// client closed an idle connection or the keep-alive time ran out.
    async fn next_head(
        &self,
        stream: &mut Stream,
        buf: &mut BytesMut,
        first: bool,
        opened: Instant,
        shutdown: &ShutdownWatch,
    ) -> Result<Option<Head>, Refusal> {
        let deadline = if first {
            opened + self.rules.head_timeout
        } else if buf.is_empty() {
            match wait_for_request(stream, buf, self.rules.keepalive_timeout, shutdown).await {
                true => Instant::now() + self.rules.head_timeout,
                false => return Ok(None),
            }
        } else {
            Instant::now() + self.rules.head_timeout
        };
        let mut scanned = 0;
        let limit = self.rules.max_head_bytes;
        loop {
            match head_end(buf, &mut scanned) {
                Some(end) if end <= limit => {
                    return Head::parse(&buf[..end], &self.rules).map(Some)
                }
                Some(_) => return Err(Refusal::head_too_large(limit)),
                // A head within the limit would have ended in its first `limit` bytes.
                None if buf.len() >= limit => return Err(Refusal::head_too_large(limit)),
                None => {}
            }
            // Never more than the limit: the bytes read past a head's end are its body's.
            match read_until(stream, buf, deadline, limit - buf.len()).await {
                Ok(0) if buf.is_empty() => return Ok(None),
                Ok(0) => return Err(Refusal::silent()),
                Ok(_) => {}
                Err(ReadFailure::TimedOut) => return Err(Refusal::head_timeout()),
                Err(ReadFailure::Broken) => return Err(Refusal::silent()),
            }
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for FrontDoor<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = peer_address(&stream);
        // A trusted balancer carries many clients on its connections: it is not held to a
        // share of the cap.
        let share_held = !peer.is_some_and(|peer| self.is_trusted(peer));
        let Some(_open) = self.connections.admit(peer, share_held) else {
            refuse_over_cap(stream).await;
            return None;
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 frames its own requests; Pingora's HTTP/2 server bounds them.
            return ServerApp::process_new(&self.app, stream, shutdown).await;
        }
        self.serve(stream, peer, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

tokio::task_local! {
    /// The running connection's place in its client address's count of unauthenticated
    /// connections, for `authenticated` to give up.
    static UNAUTHENTICATED: Arc<Mutex<Option<AddressTicket>>>;
}

/// Called once a request on this connection has presented a valid token: the connection no
/// longer counts against its address's cap.
pub fn authenticated() {
    let _ = UNAUTHENTICATED.try_with(|slot| lock(slot).take());
}

/// Turns away a connection over the cap, cheaply: what the client already sent is read without
/// waiting (closing on unread bytes would reset the connection before the answer is read), a
/// 503 is written (plain HTTP/1 only) and the connection closed.
async fn refuse_over_cap(mut stream: Stream) {
    if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
        metrics::REFUSED_CONNECTIONS
            .with_label_values(&[OVER_CAP])
            .inc();
        return;
    }
    let mut sent = [0u8; READ_CHUNK];
    let _ = stream.read(&mut sent).now_or_never();
    let mut refusal = Refusal::new(
        503,
        ErrorCode::ServerBusy,
        "The gateway holds as many connections as it may; retry in a moment".into(),
    );
    refusal.reason = Some(OVER_CAP);
    if let Some(error) = refusal.error.as_mut() {
        error.retry_after = Some("1".into());
    }
    refuse(stream, refusal).await;
}

/// The `reason` of connections refused over the connection cap.
const OVER_CAP: &str = "connection_cap";

fn peer_address(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    let address = digest.peer_addr()?.as_inet()?.ip();
    Some(match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    })
}

/// The facts of a checked request head that the front door acts on.
struct Head {
    length: usize,
    expects_continue: bool,
    forwarded_for: Vec<String>,
}

impl Head {
    fn parse(bytes: &[u8], rules: &Rules) -> Result<Head, Refusal> {
        // Left uninitialised: httparse fills what it parses (see `wire::parse_head`).
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut []);
        let length = match request.parse_with_uninit_headers(bytes, &mut headers) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => {
                return Err(Refusal::malformed("the request head is incomplete"))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Refusal::new(
                    431,
                    ErrorCode::RequestHeaderFieldsTooLarge,
                    format!("The request has more than {MAX_HEADERS} headers"),
                ))
            }
            Err(e) => return Err(Refusal::malformed(&format!("{e}"))),
        };
        let method = request.method.unwrap_or("");
        if method.eq_ignore_ascii_case("CONNECT") {
            return Err(Refusal::new(
                405,
                ErrorCode::MethodNotAllowed,
                "CONNECT is not supported: this is an API gateway, not a forward proxy".into(),
            ));
        }
        let target = request.path.unwrap_or("");
        if !target.starts_with('/') {
            return Err(Refusal::malformed(
                "the request target must be a path such as /v1/chat/completions, not a full URL \
                 or `*`: this gateway is not a forward proxy",
            ));
        }
        if target.len() > rules.max_uri_bytes {
            return Err(Refusal::new(
                414,
                ErrorCode::UriTooLong,
                format!(
                    "The request target is longer than {} bytes",
                    rules.max_uri_bytes
                ),
            ));
        }
        check_framing(request.headers, request.version)?;
        if named(request.headers, "host").count() > 1 {
            return Err(Refusal::malformed(
                "the request has more than one Host header",
            ));
        }
        let expects_continue = request.version == Some(1)
            && named(request.headers, "expect")
                .any(|value| value.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
        let forwarded_for = named(request.headers, "x-forwarded-for")
            .flat_map(|value| {
                String::from_utf8_lossy(value)
                    .split(',')
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Head {
            length,
            expects_continue,
            forwarded_for,
        })
    }
}

/// Request smuggling hides in disagreeing framing: one Content-Length of digits, or
/// `Transfer-Encoding: chunked` alone (and only in HTTP/1.1), nothing else.
fn check_framing(headers: &[httparse::Header], version: Option<u8>) -> Result<(), Refusal> {
    let lengths: Vec<&[u8]> = named(headers, "content-length").collect();
    let valid_length = |value: &&[u8]| {
        let value = value.trim_ascii();
        !value.is_empty() && value.len() <= 18 && value.iter().all(u8::is_ascii_digit)
    };
    if !lengths.iter().all(valid_length)
        || lengths
            .windows(2)
            .any(|pair| pair[0].trim_ascii() != pair[1].trim_ascii())
    {
        return Err(Refusal::malformed(
            "Content-Length must be one whole number",
        ));
    }
    let encodings: Vec<&[u8]> = named(headers, "transfer-encoding").collect();
    if encodings.is_empty() {
        return Ok(());
    }
    if !lengths.is_empty() {
        return Err(Refusal::malformed(
            "send either Content-Length or Transfer-Encoding, not both",
        ));
    }
    if version == Some(0) {
        return Err(Refusal::malformed(
            "HTTP/1.0 has no Transfer-Encoding: send Content-Length, or use HTTP/1.1",
        ));
    }
    if encodings.len() > 1 || !encodings[0].trim_ascii().eq_ignore_ascii_case(b"chunked") {
        return Err(Refusal::malformed(
            "the only Transfer-Encoding accepted is `chunked`",
        ));
    }
    Ok(())
}

/// The values of the headers called `name`.
fn named<'h>(
    headers: &'h [httparse::Header<'h>],
    name: &'static str,
) -> impl Iterator<Item = &'h [u8]> {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// Where the head ends (past its blank line), scanning only bytes not scanned before.
fn head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let from = scanned.saturating_sub(3);
    let found = buf[from..]
        .windows(2)
        .enumerate()
        .find_map(|(offset, pair)| {
            let at = from + offset;
            match pair {
                b"\n\n" => Some(at + 2),
                b"\n\r" if buf.get(at + 2) == Some(&b'\n') => Some(at + 3),
                _ => None,
            }
        });
    *scanned = buf.len();
    found
}

async fn send_continue(stream: &mut Stream) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    stream.flush().await
}

enum ReadFailure {
    TimedOut,
    Broken,
}

/// One read of at most `most` bytes into `buf`, bounded by `deadline`; the number of bytes
/// read.
async fn read_until(
    stream: &mut Stream,
    buf: &mut BytesMut,
    deadline: Instant,
    most: usize,
) -> Result<usize, ReadFailure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadFailure::TimedOut);
    }
    buf.reserve(READ_CHUNK.min(most));
    let most = u64::try_from(most).unwrap_or(u64::MAX);
    match fast_timeout(left, (&mut *stream).take(most).read_buf(buf)).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(_)) => Err(ReadFailure::Broken),
        Err(_) => Err(ReadFailure::TimedOut),
    }
}

/// Waits on an idle keep-alive connection for the first byte of the next request; `false` when
/// the client closed it, the keep-alive time ran out, or the server is shutting down.
async fn wait_for_request(
    stream: &mut Stream,
    buf: &mut BytesMut,
    keepalive: Duration,
    shutdown: &ShutdownWatch,
) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    let mut shutdown = shutdown.clone();
    tokio::select! {
        read = read_until(stream, buf, Instant::now() + keepalive, READ_CHUNK) => matches!(read, Ok(read) if read > 0),
        _ = shutdown.changed() => false,
    }
}

/// The PROXY protocol header a trusted balancer sends first: the client's address, `None`
/// for a LOCAL (health check) connection.
async fn read_proxy_header(
    stream: &mut Stream,
    buf: &mut BytesMut,
    deadline: Instant,
) -> Result<Option<IpAddr>, Refusal> {
    loop {
        match proxy_protocol::parse(buf) {
            proxy_protocol::Parsed::Done { length, source } => {
                let _ = buf.split_to(length);
                return Ok(source);
            }
            proxy_protocol::Parsed::Invalid(reason) => {
                return Err(Refusal::malformed(&format!(
                    "invalid PROXY protocol header: {reason}"
                )))
            }
            proxy_protocol::Parsed::NeedMore => {}
        }
        match read_until(stream, buf, deadline, READ_CHUNK).await {
            Ok(0) | Err(ReadFailure::Broken) => return Err(Refusal::silent()),
            Ok(_) => {}
            Err(ReadFailure::TimedOut) => return Err(Refusal::head_timeout()),
        }
    }
}

/// A connection the front door turns away: the status and error it gets, or nothing at all
/// when the client is already gone; counted under `reason`, or else the error's code.
struct Refusal {
    error: Option<ApiError>,
    reason: Option<&'static str>,
}

impl Refusal {
    fn new(status: u16, code: ErrorCode, message: String) -> Self {
        Refusal {
            error: Some(ApiError::new(status, "invalid_request_error", message).with_code(code)),
            reason: None,
        }
    }

    fn malformed(reason: &str) -> Self {
        Self::new(
            400,
            ErrorCode::MalformedRequest,
            format!("The request is not valid HTTP/1.1: {reason}"),
        )
    }

    fn head_too_large(limit: usize) -> Self {
        Self::new(
            431,
            ErrorCode::RequestHeaderFieldsTooLarge,
            format!("The request head is larger than {limit} bytes"),
        )
    }

    fn head_timeout() -> Self {
        Self::new(
            408,
            ErrorCode::RequestTimeout,
            "The request head did not arrive in time".into(),
        )
    }

    fn too_many_connections() -> Self {
        let mut error = ApiError::rate_limited(
            "Too many connections from your address have not yet made an authenticated request; close some and retry",
        )
        .with_code(ErrorCode::TooManyConnections);
        error.retry_after = Some("1".into());
        Refusal {
            error: Some(error),
            reason: None,
        }
    }

    fn silent() -> Self {
        Refusal {
            error: None,
            reason: None,
        }
    }
}

/// Answers a refused connection in the OpenAI error envelope, then closes it.
async fn refuse(mut stream: Stream, refusal: Refusal) {
    let Some(error) = refusal.error else { return };
    let reason = refusal
        .reason
        .unwrap_or_else(|| error.code.map_or("refused", ErrorCode::as_str));
    metrics::REFUSED_CONNECTIONS
        .with_label_values(&[reason])
        .inc();
    let body = error.to_json();
    let reason = http::StatusCode::from_u16(error.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Error");
    let retry_after = error
        .retry_after
        .as_deref()
        .map(|seconds| format!("Retry-After: {seconds}\r\n"))
        .unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nx-request-id: {}\r\n{retry_after}\r\n",
        error.status,
        body.len(),
        new_id("req"),
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let written = async {
        stream.write_all(&response).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    if let Err(e) = fast_timeout(Duration::from_secs(5), written)
        .await
        .unwrap_or(Ok(()))
    {
        log::debug!("refused connection closed before its answer: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            head_timeout: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            max_head_bytes: 1024,
            max_uri_bytes: 64,
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
        }
    }

    fn status_of(head: &str) -> Option<u16> {
        Head::parse(head.as_bytes(), &rules())
            .err()
            .and_then(|refusal| refusal.error)
            .map(|error| error.status)
    }

    #[test]
    fn head_end_is_found_however_the_bytes_arrive() {
        let head = b"POST / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        for split in 0..head.len() {
            let mut buf = head[..split].to_vec();
            let mut scanned = 0;
            let mut found = head_end(&buf, &mut scanned);
            if found.is_none() {
                buf.extend_from_slice(&head[split..]);
                found = head_end(&buf, &mut scanned);
            }
            assert_eq!(found, Some(head.len() - 4), "split at {split}");
        }
        let mut scanned = 0;
        assert_eq!(
            head_end(b"GET / HTTP/1.1\nHost: x\n\n", &mut scanned),
            Some(24)
        );
    }

    #[test]
    fn heads_that_smuggle_or_overflow_are_refused() {
        let ok = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(status_of(ok), None);
        let cases = [
            ("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            (&format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100)), 414),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400),
            ("GET http://x/v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ];
        for (head, status) in cases {
            assert_eq!(status_of(head), Some(status), "{head:?}");
        }
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status_of(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Some(431)
        );
    }
}
