//! The server's own sections: TLS on the listener, CORS, graceful shutdown, the load balancers
//! trusted to name the client (`trusted_proxies`), and the connection cap derived from the
//! open-file limit. (`listen` and `threads`, top-level keys, are read in `config`.)

use std::net::IpAddr;

use serde::Deserialize;

use super::fields::{err, set_number, set_text, split_list, ConfigError};

/// Browser origins allowed to call the API (CORS); empty means CORS is off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl CorsConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(origins) = env("ARGO_BRIDGE_CORS_ORIGINS") {
            self.allowed_origins = split_list(&origins);
        }
    }
}

/// TLS on the listener; both empty means plain HTTP (TLS ends at a load balancer).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

impl TlsConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        set_text(env, "ARGO_BRIDGE_TLS_CERT", &mut self.cert_file);
        set_text(env, "ARGO_BRIDGE_TLS_KEY", &mut self.key_file);
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            return Err(err(
                "tls",
                "set both `cert_file` and `key_file`, or neither",
            ));
        }
        for (field, path) in [
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
        ] {
            if !path.is_empty() && !std::path::Path::new(path).is_file() {
                return Err(err(field, format!("`{path}` is not a readable file")));
            }
        }
        Ok(())
    }
}

/// Graceful shutdown and Pingora's zero-downtime upgrade.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM (or the hand-over of a SIGQUIT upgrade), in-flight requests and open
    /// streams get at most this long to finish; the process exits as soon as none is left.
    #[serde(default = "defaults::grace_period_s")]
    pub grace_period_s: u64,
    /// Then Pingora's runtimes get this long to stop.
    #[serde(default = "defaults::graceful_shutdown_timeout_s")]
    pub graceful_shutdown_timeout_s: u64,
    /// Unix socket through which an old process hands its listeners to a new one (`--upgrade`).
    #[serde(default = "defaults::upgrade_sock")]
    pub upgrade_sock: String,
    /// Where the process id is written at start; empty: nowhere.
    #[serde(default)]
    pub pid_file: String,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period_s: defaults::grace_period_s(),
            graceful_shutdown_timeout_s: defaults::graceful_shutdown_timeout_s(),
            upgrade_sock: defaults::upgrade_sock(),
            pid_file: String::new(),
        }
    }
}

impl ShutdownConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_text(env, "ARGO_BRIDGE_UPGRADE_SOCK", &mut self.upgrade_sock);
        set_text(env, "ARGO_BRIDGE_PID_FILE", &mut self.pid_file);
        set_number(env, "ARGO_BRIDGE_GRACE_PERIOD_S", &mut self.grace_period_s)?;
        Ok(())
    }
}

/// Load balancers in front of the gateway, whose word on the client's address is trusted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedProxies {
    /// Their addresses or networks (`10.0.0.0/8`, `127.0.0.1`). From these, the client
    /// address is the one the balancer reports: the PROXY protocol header when
    /// `proxy_protocol` is on, else the last untrusted `X-Forwarded-For` entry.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Trusted peers open every connection with a PROXY protocol (v1 or v2) header.
    #[serde(default)]
    pub proxy_protocol: bool,
}

impl TrustedProxies {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(addresses) = env("ARGO_BRIDGE_TRUSTED_PROXIES") {
            self.addresses = split_list(&addresses);
        }
        if let Some(on) = env("ARGO_BRIDGE_PROXY_PROTOCOL") {
            self.proxy_protocol = matches!(on.trim(), "1" | "true" | "on" | "yes");
        }
    }

    /// The trusted addresses as networks.
    pub fn networks(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.addresses
            .iter()
            .enumerate()
            .map(|(index, text)| {
                IpNet::parse(text).ok_or_else(|| {
                    err(
                        &format!("trusted_proxies.addresses[{index}]"),
                        format!("`{text}` is not an address or network like 10.0.0.0/8"),
                    )
                })
            })
            .collect()
    }
}

/// An address or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u32,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<IpNet> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(IpNet { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => same_prefix(
                u32::from(net).into(),
                u32::from(addr).into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                same_prefix(u128::from(net), u128::from(addr), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u32, bits: u32) -> bool {
    let shift = bits - prefix;
    shift >= bits || (a >> shift) == (b >> shift)
}

/// Descriptors kept for everything but client and Argo connections: listeners, the runtimes'
/// epoll and event descriptors, log files, Redis, name lookups, the tokenizers' files.
pub const RESERVED_DESCRIPTORS: usize = 64;

/// The API's connection cap when `limits.max_connections` is 0: what the open-file limit
/// leaves after [`RESERVED_DESCRIPTORS`] and the admin listener's cap, halved, because each
/// client connection may hold a connection to Argo while its request runs.
pub fn derived_max_connections(open_files: usize, admin_connections: usize) -> usize {
    let left = open_files.saturating_sub(RESERVED_DESCRIPTORS + admin_connections);
    (left / 2).max(16)
}

/// The process's soft limit on open files (`ulimit -n`, `RLIMIT_NOFILE`), read from
/// `/proc/self/limits`; 1024, the usual default, where that cannot be read.
pub fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| soft_open_files(&limits))
        .unwrap_or(1024)
}

/// The soft `Max open files` of a `/proc/<pid>/limits` text (`None` when unlimited or absent).
pub fn soft_open_files(limits: &str) -> Option<usize> {
    let values = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    values.split_whitespace().next()?.parse().ok()
}

/// `address` (`host:port`) with another port.
pub fn with_port(address: &str, port: u16) -> String {
    match address.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{port}"),
        None => format!("{address}:{port}"),
    }
}

mod defaults {
    pub fn grace_period_s() -> u64 {
        30
    }
    pub fn graceful_shutdown_timeout_s() -> u64 {
        5
    }
    pub fn upgrade_sock() -> String {
        "/tmp/argo-bridge-upgrade.sock".into()
    }
}
