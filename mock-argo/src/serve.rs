//! Serving the mock: as one more Pingora service in the gateway's server (`argo-bridge demo`),
//! or alone in a server of its own (`argo-bridge mock-argo`, this crate's `mock-argo` binary).

use std::time::Duration;

use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::listening::Service;

pub use listen_port::Reservation;

use crate::{MockArgo, MockOptions};

/// The mock's own options on a command line (`mock-argo`, `argo-bridge mock-argo` and
/// `argo-bridge demo`): how its answers are cut into fragments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Fragments {
    /// Pause between the fragments of an answer, in milliseconds
    #[arg(long, value_name = "MS")]
    pub fragment_delay_ms: Option<u64>,
    /// Size of each fragment of an answer, in bytes
    #[arg(long, value_name = "BYTES")]
    pub fragment_bytes: Option<usize>,
}

impl Fragments {
    /// The mock's options: each default where no flag was given.
    pub fn options(&self) -> MockOptions {
        let mut options = MockOptions::default();
        if let Some(ms) = self.fragment_delay_ms {
            options.fragment_delay = Duration::from_millis(ms);
        }
        if let Some(bytes) = self.fragment_bytes {
            options.fragment_bytes = bytes;
        }
        options
    }
}

/// The mock alone: `mock-argo --listen ADDR`, and the same flags after `argo-bridge mock-argo`.
#[derive(clap::Args, Debug, Clone)]
pub struct MockArgs {
    /// host:port to listen on; port 0 takes a free port, which --ports-file gives
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Once the mock listens, write `listen ADDR` to this file (whole, by a rename)
    #[arg(long, value_name = "PATH")]
    pub ports_file: Option<String>,
    /// Serve TLS with this PEM certificate (with --tls-key)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// The PEM key of --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<String>,
    #[command(flatten)]
    pub fragments: Fragments,
}

impl MockArgs {
    /// Serves the mock alone until the process is stopped.
    pub fn serve(&self) -> Result<(), String> {
        let serving = Serving {
            listen: &self.listen,
            tls: self.tls_cert.as_deref().zip(self.tls_key.as_deref()),
            ports_file: self.ports_file.as_deref(),
        };
        serve(serving, self.fragments.options())
    }
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
