//! The baseline: a bare Pingora pass-through with no body work. Every request goes, unchanged
//! (path, headers and body), to one upstream over Pingora's pooled connections, and the answer
//! comes back unchanged. What argo-bridge adds on top of this is its overhead.
//!
//! usage: bare-proxy --listen ADDR --upstream ADDR [--threads N] [--l4-read-buffer BYTES]
//!                   [--answer-locally]
//!
//! `--l4-read-buffer` overrides Pingora's 64 KiB per-connection read buffer (for experiments;
//! the baseline keeps Pingora's default). `--answer-locally` makes it Pingora alone: no upstream,
//! every request answered in `request_filter` with an endless stream of one marked token a
//! second, the floor for the memory a Pingora service needs per open stream.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::ResponseHeader;
use pingora_proxy::{ProxyHttp, Session};

struct BareProxy {
    upstream: SocketAddr,
    answer_locally: bool,
}

/// Streams `Tq00001 `, `Tq00002 `, ... one a second until the client goes away.
async fn stream_tokens_forever(session: &mut Session) -> pingora_error::Result<()> {
    let mut header = ResponseHeader::build(200, Some(2))?;
    header.insert_header("Content-Type", "text/plain")?;
    header.insert_header("Transfer-Encoding", "chunked")?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    for token in 1u32.. {
        let text = format!("Tq{token:05} ");
        session
            .write_response_body(Some(Bytes::from(text)), false)
            .await?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = session.downstream_session.read_body_or_idle(true) => return Ok(()),
        }
    }
    Ok(())
}

#[async_trait]
impl ProxyHttp for BareProxy {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_error::Result<bool> {
        if !self.answer_locally {
            return Ok(false);
        }
        // Drain the request body so the connection state is the same as a proxied request's.
        while session.read_request_body().await?.is_some() {}
        stream_tokens_forever(session).await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_error::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

struct Args {
    listen: String,
    upstream: SocketAddr,
    threads: usize,
    l4_read_buffer: Option<usize>,
    answer_locally: bool,
}

fn parse_args() -> Result<Args, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let listen = value("--listen").ok_or("--listen ADDR is required")?;
    let upstream = value("--upstream")
        .ok_or("--upstream ADDR is required")?
        .parse()
        .map_err(|e| format!("--upstream: {e}"))?;
    let threads = match value("--threads") {
        Some(n) => n.parse().map_err(|e| format!("--threads: {e}"))?,
        None => 1,
    };
    let l4_read_buffer = value("--l4-read-buffer")
        .map(|n| n.parse().map_err(|e| format!("--l4-read-buffer: {e}")))
        .transpose()?;
    Ok(Args {
        listen,
        upstream,
        threads,
        l4_read_buffer,
        answer_locally: args.iter().any(|arg| arg == "--answer-locally"),
    })
}

pub fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("bare-proxy: {message}\nusage: bare-proxy --listen ADDR --upstream ADDR [--threads N] [--l4-read-buffer BYTES] [--answer-locally]");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads: args.threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(
        &server.configuration,
        BareProxy {
            upstream: args.upstream,
            answer_locally: args.answer_locally,
        },
    );
    let mut listener = ListenerConfig::tcp(args.listen.as_str());
    if let Some(bytes) = args.l4_read_buffer {
        listener = listener.l4_buffer(L4BufferSettings::default().read(bytes));
    }
    proxy.add_listener(listener);
    server.add_service(proxy);
    server.run_forever()
}
