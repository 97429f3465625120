//! A connection check at start, like the original bridge's `check_argo_connection`: one line per
//! environment and endpoint saying whether Argo is reachable. It never stops the start (Argo
//! may come up later, and a host that does not resolve yet may resolve later) and runs beside
//! it, so a slow network does not delay serving.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use argo_filters::upstream::resource::Endpoint;

use crate::config::ArgoEnv;
use crate::upstream::AddressBook;

const TIMEOUT: Duration = Duration::from_secs(5);
/// Argo's endpoints by the name the log gives them: the resource API's, then the native API's.
const ENDPOINTS: [(&str, &str); 6] = [
    ("chat", Endpoint::Chat.path()),
    ("embed", Endpoint::Embed.path()),
    ("streamchat", Endpoint::StreamChat.path()),
    ("native chat", "/v1/chat/completions"),
    ("native messages", "/v1/messages"),
    ("native embeddings", "/v1/embeddings"),
];

/// Starts the check in its own thread, on the addresses resolved at start; its lines go to
/// the log.
pub fn start(addresses: &AddressBook) {
    let environments: Vec<(String, ArgoEnv, Vec<SocketAddr>)> = addresses
        .environments()
        .map(|place| {
            let name = place.name().to_string();
            (name, place.env().clone(), place.addresses())
        })
        .collect();
    let spawned = std::thread::Builder::new()
        .name("argo-check".into())
        .spawn(move || check(&environments));
    if let Err(e) = spawned {
        log::warn!("cannot start the Argo connection check: {e}");
    }
}

fn check(environments: &[(String, ArgoEnv, Vec<SocketAddr>)]) {
    let mut all_reachable = true;
    for (name, env, addresses) in environments {
        // The endpoints of one environment share its host: one answering address tells for all.
        let reached = reach(addresses);
        for (label, path) in ENDPOINTS {
            let url = url(env, path);
            match &reached {
                Ok(()) => log::info!("Argo {name} {label} endpoint ({url}) reachable"),
                Err(e) => log::warn!("Argo {name} {label} endpoint ({url}) unreachable: {e}"),
            }
        }
        all_reachable &= reached.is_ok();
    }
    if all_reachable {
        log::info!("all Argo environments reachable");
    } else {
        log::warn!(
            "some Argo environments are unreachable: requests to them will fail until they answer"
        );
    }
}

/// `Ok` when one of the addresses accepts a connection, else the last failure.
fn reach(addresses: &[SocketAddr]) -> Result<(), String> {
    let mut failure = "the host does not resolve".to_string();
    for addr in addresses {
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => failure = format!("{addr}: {e}"),
        }
    }
    Err(failure)
}

fn url(env: &ArgoEnv, path: &str) -> String {
    let scheme = if env.tls { "https" } else { "http" };
    format!(
        "{scheme}://{}:{}{}{}",
        env.host, env.port, env.base_path, path
    )
}
