//! Serving the mock: as one more Pingora service in the gateway's server (`argo-bridge demo`),
//! or alone in a server of its own (`argo-bridge mock-argo`, this crate's `mock-argo` binary).

use std::time::Duration;

use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::listening::Service;

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

/// The mock as a plain-TCP Pingora service on `listen`, to add to a server.
pub fn service(listen: &str, options: MockOptions) -> Service<MockArgo> {
    let mut service = Service::new("mock-argo".to_string(), MockArgo::new(options));
    service.add_tcp(listen);
    service
}

/// Runs the mock alone on `listen` (TLS with a PEM certificate and key when given) until the
/// process is stopped: one worker thread, a second's grace on shutdown, otherwise the
/// gateway's default shutdown settings (`conf/argo-bridge.yaml`, `shutdown:`).
pub fn serve(listen: &str, options: MockOptions, tls: Option<(&str, &str)>) -> Result<(), String> {
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
    let service = match tls {
        None => service(listen, options),
        Some((cert, key)) => {
            let mut service = Service::new("mock-argo".to_string(), MockArgo::new(options));
            service
                .add_tls(listen, cert, key)
                .map_err(|e| format!("cannot serve TLS on {listen}: {e}"))?;
            service
        }
    };
    server.add_service(service);
    log::info!("mock Argo listening on {listen}");
    server.run_forever()
}
