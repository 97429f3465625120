//! The baseline: a bare Pingora pass-through with no body work. Every request goes, unchanged
//! (path, headers and body), to one upstream over Pingora's pooled connections, and the answer
//! comes back unchanged. What argo-bridge adds on top of this is its overhead.
//!
//! usage: bare-proxy --listen ADDR --upstream ADDR [--threads N] [--l4-read-buffer BYTES]
//!
//! `--l4-read-buffer` overrides Pingora's 64 KiB per-connection read buffer (for experiments;
//! the baseline keeps Pingora's default).

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};

struct BareProxy {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for BareProxy {
    type CTX = ();

    fn new_ctx(&self) {}

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
    })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("bare-proxy: {message}\nusage: bare-proxy --listen ADDR --upstream ADDR [--threads N] [--l4-read-buffer BYTES]");
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
