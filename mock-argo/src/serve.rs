//! Serving the mock: as one more Pingora service in the gateway's server (`argo-bridge demo`),
//! or alone in a server of its own (`argo-bridge mock-argo`, this crate's `mock-argo` binary).

use std::time::Duration;

use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::listening::Service;

pub use listen_port::Reservation;

use crate::{MockArgo, MockOptions};

/// The options the command line gives: `--fragment-delay-ms N` and `--fragment-bytes N`, each
/// the default when absent.
pub fn options(
    fragment_delay_ms: Option<&str>,
    fragment_bytes: Option<&str>,
) -> Result<MockOptions, String> {
    let mut options = MockOptions::default();
    if let Some(ms) = fragment_delay_ms {
        options.fragment_delay = Duration::from_millis(
            ms.parse()
                .map_err(|_| "--fragment-delay-ms takes a number")?,
        );
    }
    if let Some(bytes) = fragment_bytes {
        options.fragment_bytes = bytes
            .parse()
            .map_err(|_| "--fragment-bytes takes a number")?;
    }
    Ok(options)
}

/// The mock as a plain-TCP Pingora service on `listen` (a port reserved for it when it was
/// given as port 0), to add to a server.
pub fn service(listen: &Reservation, options: MockOptions) -> Service<MockArgo> {
    let mut service = Service::new("mock-argo".to_string(), MockArgo::new(options));
    service.add_tcp_with_settings(&listen.address().to_string(), listen.tcp_options());
    service
}

/// Where and how the mock alone is served.
pub struct Serving<'a> {
    /// `host:port`; port 0 takes a free port, which the ports file gives.
    pub listen: &'a str,
    /// A PEM certificate and key, to serve TLS.
    pub tls: Option<(&'a str, &'a str)>,
    /// Written with `listen <address>` once the mock listens.
    pub ports_file: Option<&'a str>,
}

/// Runs the mock alone (one worker thread, a second's grace on shutdown, otherwise the
/// gateway's default shutdown settings, `conf/argo-bridge.yaml`, `shutdown:`) until the process
/// is stopped. A port that cannot be bound ends the process with an error, as the gateway's
/// does: a mock that runs on without its port would let a test talk to somebody else's.
pub fn serve(serving: Serving, options: MockOptions) -> Result<(), String> {
    let listen = Reservation::new(serving.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", serving.listen))?;
    let address = listen.address().to_string();
    if !listen.shares_port() {
        std::net::TcpListener::bind(&address)
            .map(drop)
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    }
    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        upgrade_sock: "/tmp/argo-bridge-upgrade.sock".into(),
        pid_file: String::new(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let service = match serving.tls {
        None => service(&listen, options),
        Some((cert, key)) => {
            let mut service = Service::new("mock-argo".to_string(), MockArgo::new(options));
            let tls = pingora_core::listeners::tls::TlsSettings::intermediate(cert, key)
                .map_err(|e| format!("cannot serve TLS on {address}: {e}"))?;
            service.add_tls_with_settings(&address, Some(listen.tcp_options()), tls);
            service
        }
    };
    server.add_service(service);
    let ports_file = serving.ports_file.map(std::path::PathBuf::from);
    listen_port::report_when_listening(vec![listen], move |bound| {
        log::info!("mock Argo listening on {}", bound[0]);
        if let Some(path) = ports_file {
            let lines = format!("listen {}\n", bound[0]);
            if let Err(e) = listen_port::write_file_whole(&path, &lines) {
                log::error!("cannot write the ports file {}: {e}", path.display());
            }
        }
    });
    server.run_forever()
}
