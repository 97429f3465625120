//! Where each Argo environment is now. Its host name is resolved at start and again every
//! `upstream.dns_refresh_interval_s`; every address it gives is used in turn (round robin); an
//! address whose connection failed is avoided for `upstream.address_retry_after_ms`, and every
//! address gets a TCP connect check that often, so a dead one stays out until it answers again.
//! When every address is out they are tried anyway: a try beats a certain failure. A name that
//! does not resolve keeps its last addresses; one that never resolved has none, and requests to
//! its environment get 502 `upstream_unresolved` until it does.
//!
//! Built on `pingora-load-balancing`: a `ServiceDiscovery` of our own (the crate has none for
//! DNS) feeds a round-robin `LoadBalancer` whose `TcpHealthCheck` re-probes each address. The
//! crate's health changes only by those probes, so the connect failures that requests meet are
//! kept beside it (`avoided`) and consulted when an address is chosen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use pingora_core::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_error::{Error, ErrorType, Result};
use pingora_load_balancing::discovery::ServiceDiscovery;
use pingora_load_balancing::health_check::{HealthCheck, TcpHealthCheck};
use pingora_load_balancing::selection::RoundRobin;
use pingora_load_balancing::{Backend, Backends, Extensions, LoadBalancer};

use crate::config::{resolve_host, ArgoEnv, UpstreamConfig};
use crate::observe::metrics;

/// Turns a host name into addresses; tests put their own in place of the system's.
#[async_trait]
pub trait Resolve: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system's resolver ([`resolve_host`], on tokio's blocking pool). It does not tell the
/// records' TTLs, hence the refresh interval.
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let host = host.to_string();
        tokio::task::spawn_blocking(move || resolve_host(&host, port))
            .await
            .map_err(std::io::Error::other)?
    }
}

/// The addresses of every configured environment, shared by all of the process's Argo clients.
pub struct AddressBook {
    environments: BTreeMap<String, Arc<Environment>>,
    dns_refresh_interval: Duration,
    check_interval: Duration,
}

impl AddressBook {
    /// Knows no address yet: see [`AddressBook::resolve_at_start`] and [`AddressBook::refresh`].
    pub fn new(
        environments: &BTreeMap<String, ArgoEnv>,
        config: &UpstreamConfig,
        resolver: Arc<dyn Resolve>,
    ) -> Arc<Self> {
        let environments = environments
            .iter()
            .map(|(name, env)| {
                let place = Environment::new(name, env, config, Arc::clone(&resolver));
                (name.clone(), Arc::new(place))
            })
            .collect();
        Arc::new(AddressBook {
            environments,
            dns_refresh_interval: config.dns_refresh_interval(),
            check_interval: config.address_retry_after(),
        })
    }

    pub fn get(&self, env: &str) -> Option<&Environment> {
        self.environments.get(env).map(Arc::as_ref)
    }

    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.values().map(Arc::as_ref)
    }

    /// Resolves every host once before serving (a name that does not resolve is logged, and
    /// picked up by a later refresh).
    pub fn resolve_at_start(&self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.refresh());
        Ok(())
    }

    /// Resolves every host again, all at once.
    pub async fn refresh(&self) {
        join_all(self.environments().map(Environment::refresh)).await;
    }

    /// One TCP connect check of every address.
    pub async fn check(&self) {
        let checks = self
            .environments()
            .map(|place| place.balancer.backends().run_health_check(true));
        join_all(checks).await;
    }
}

/// Keeps the book current while the gateway serves: resolves and checks on their intervals.
pub struct AddressKeeper(pub Arc<AddressBook>);

#[async_trait]
impl BackgroundService for AddressKeeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let book = &self.0;
        // The start resolved once already.
        let mut resolve = ticker(book.dns_refresh_interval);
        let mut check = ticker(book.check_interval);
        loop {
            tokio::select! {
                _ = resolve.tick() => book.refresh().await,
                _ = check.tick() => book.check().await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

fn ticker(every: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// One environment's addresses.
pub struct Environment {
    name: String,
    env: ArgoEnv,
    balancer: LoadBalancer<RoundRobin>,
    /// Counts picks, for taking the addresses in turn.
    turn: AtomicUsize,
    /// Addresses whose connection failed, avoided until the instant given.
    avoided: RwLock<HashMap<SocketAddr, Instant>>,
    retry_after: Duration,
    /// Whether the last resolution failed (logged once per run of failures).
    unresolved: AtomicBool,
}

/// The address chosen for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// Every address was out (failed or unhealthy): this one is tried anyway.
    pub despite_failures: bool,
}

impl Environment {
    fn new(name: &str, env: &ArgoEnv, config: &UpstreamConfig, resolver: Arc<dyn Resolve>) -> Self {
        let discovery = Dns {
            host: env.host.clone(),
            port: env.port,
            resolver,
        };
        let mut balancer = LoadBalancer::from_backends(Backends::new(Box::new(discovery)));
        balancer.set_health_check(Box::new(ConnectCheck::new(name, config)));
        metrics::UPSTREAM_ADDRESSES
            .with_label_values(&[name])
            .set(0);
        metrics::UPSTREAM_ADDRESS_FAILURES.with_label_values(&[name]);
        metrics::UPSTREAM_DNS_FAILURES.with_label_values(&[name]);
        Environment {
            name: name.to_string(),
            env: env.clone(),
            balancer,
            turn: AtomicUsize::new(0),
            avoided: RwLock::new(HashMap::new()),
            retry_after: config.address_retry_after(),
            unresolved: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn env(&self) -> &ArgoEnv {
        &self.env
    }

    /// The addresses known now, in order.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        let backends = self.balancer.backends().get_backend();
        backends.iter().filter_map(address).collect()
    }

    /// The next address to try: the next usable one in turn, else (all out) the next one.
    /// `None` while the host has never resolved. The turn is kept here rather than asked of
    /// Pingora's `select_with`, which builds a hash set for every pick.
    pub fn pick(&self) -> Option<Target> {
        let backends = self.balancer.backends();
        let all = backends.get_backend();
        let count = all.len();
        if count == 0 {
            return None;
        }
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % count;
        let in_turn = || all.iter().cycle().skip(start).take(count);
        let avoided = read(&self.avoided);
        let now = (!avoided.is_empty()).then(Instant::now);
        let usable = |backend: &&Backend| {
            backends.ready(backend)
                && address(backend)
                    .is_none_or(|addr| now.is_none_or(|now| !is_avoided(&avoided, addr, now)))
        };
        if let Some(addr) = in_turn().find(usable).and_then(address) {
            return Some(Target {
                addr,
                despite_failures: false,
            });
        }
        in_turn().find_map(address).map(|addr| Target {
            addr,
            despite_failures: true,
        })
    }

    /// Whether an address other than those out (failed or unhealthy) is left.
    pub fn has_usable(&self) -> bool {
        let now = Instant::now();
        let avoided = read(&self.avoided);
        let backends = self.balancer.backends();
        backends.get_backend().iter().any(|backend| {
            backends.ready(backend)
                && address(backend).is_some_and(|addr| !is_avoided(&avoided, addr, now))
        })
    }

    /// A connection to `addr` failed: it is avoided for `upstream.address_retry_after_ms`.
    pub fn connect_failed(&self, addr: SocketAddr) {
        metrics::UPSTREAM_ADDRESS_FAILURES
            .with_label_values(&[&self.name])
            .inc();
        let now = Instant::now();
        let mut avoided = match self.avoided.write() {
            Ok(avoided) => avoided,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !is_avoided(&avoided, addr, now) {
            log::warn!(
                "Argo {}: connecting to {addr} failed; other addresses first for {} ms",
                self.name,
                self.retry_after.as_millis()
            );
        }
        avoided.insert(addr, now + self.retry_after);
    }

    async fn refresh(&self) {
        let before = self.addresses();
        match self.balancer.update().await {
            Ok(()) => self.resolved(&before),
            Err(error) => self.not_resolved(&error, before.len()),
        }
    }

    fn resolved(&self, before: &[SocketAddr]) {
        let host = &self.env.host;
        if self.unresolved.swap(false, Ordering::Relaxed) {
            log::info!("Argo {}: host `{host}` resolves again", self.name);
        }
        let now = self.addresses();
        if now == before {
            return;
        }
        let list: Vec<String> = now.iter().map(ToString::to_string).collect();
        log::info!(
            "Argo {}: host `{host}` is at {}",
            self.name,
            list.join(", ")
        );
        metrics::UPSTREAM_ADDRESSES
            .with_label_values(&[&self.name])
            .set(now.len() as i64);
        let mut avoided = match self.avoided.write() {
            Ok(avoided) => avoided,
            Err(poisoned) => poisoned.into_inner(),
        };
        avoided.retain(|addr, _| now.contains(addr));
    }

    fn not_resolved(&self, error: &Error, known: usize) {
        metrics::UPSTREAM_DNS_FAILURES
            .with_label_values(&[&self.name])
            .inc();
        if self.unresolved.swap(true, Ordering::Relaxed) {
            return;
        }
        let host = &self.env.host;
        match known {
            0 => log::warn!(
                "Argo {}: host `{host}` does not resolve ({error}); requests to {} get 502 until it does",
                self.name,
                self.name
            ),
            _ => log::warn!(
                "Argo {}: host `{host}` does not resolve ({error}); keeping its {known} last addresses",
                self.name
            ),
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_avoided(avoided: &HashMap<SocketAddr, Instant>, addr: SocketAddr, now: Instant) -> bool {
    avoided.get(&addr).is_some_and(|until| *until > now)
}

fn address(backend: &Backend) -> Option<SocketAddr> {
    backend.addr.as_inet().copied()
}

/// The crate's discovery for a DNS name: every address the name has now.
struct Dns {
    host: String,
    port: u16,
    resolver: Arc<dyn Resolve>,
}

#[async_trait]
impl ServiceDiscovery for Dns {
    async fn discover(&self) -> Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let resolved = self.resolver.resolve(&self.host, self.port).await;
        let addresses = resolved
            .map_err(|e| Error::because(ErrorType::ConnectNoRoute, "resolving Argo's host", e))?;
        if addresses.is_empty() {
            return Error::e_explain(ErrorType::ConnectNoRoute, "the host has no addresses");
        }
        let backends = addresses
            .into_iter()
            .map(|addr| Backend {
                addr: PeerAddr::Inet(addr),
                weight: 1,
                ext: Extensions::new(),
            })
            .collect();
        Ok((backends, HashMap::new()))
    }
}

/// The crate's TCP check, with the connect timeout of the config and log lines that name the
/// environment.
struct ConnectCheck {
    env: String,
    tcp: Box<TcpHealthCheck>,
}

impl ConnectCheck {
    fn new(env: &str, config: &UpstreamConfig) -> Self {
        let mut tcp = TcpHealthCheck::new();
        tcp.peer_template.options.connection_timeout = Some(config.connect_timeout());
        ConnectCheck {
            env: env.to_string(),
            tcp,
        }
    }
}

#[async_trait]
impl HealthCheck for ConnectCheck {
    async fn check(&self, target: &Backend) -> Result<()> {
        self.tcp.check(target).await
    }

    fn health_threshold(&self, success: bool) -> usize {
        self.tcp.health_threshold(success)
    }

    fn backend_summary(&self, target: &Backend) -> String {
        format!("Argo {} address {}", self.env, target.addr)
    }
}

/// A resolver whose names the test sets and changes.
#[cfg(test)]
#[derive(Default)]
pub struct Names(std::sync::Mutex<HashMap<String, Vec<SocketAddr>>>);

#[cfg(test)]
impl Names {
    pub fn set(&self, host: &str, addresses: &[SocketAddr]) {
        let mut names = self.0.lock().unwrap();
        names.insert(host.to_string(), addresses.to_vec());
    }

    pub fn forget(&self, host: &str) {
        self.0.lock().unwrap().remove(host);
    }
}

#[cfg(test)]
#[async_trait]
impl Resolve for Names {
    async fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
        // Test code, but clippy's test exemption does not reach into this #[async_trait] impl.
        let names = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = names.get(host).cloned();
        found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "argo.test";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn book(names: &Arc<Names>, retry_after_ms: u64) -> Arc<AddressBook> {
        let yaml = format!(
            "{{environments: {{prod: 'https://{HOST}/argoapi'}}, address_retry_after_ms: {retry_after_ms}, connect_timeout_ms: 500}}"
        );
        let config: UpstreamConfig = yaml_serde::from_str(&yaml).unwrap();
        let env = ArgoEnv {
            tls: true,
            host: HOST.into(),
            port: 443,
            base_path: "/argoapi".into(),
        };
        let environments = BTreeMap::from([("prod".to_string(), env)]);
        AddressBook::new(
            &environments,
            &config,
            Arc::clone(names) as Arc<dyn Resolve>,
        )
    }

    /// The addresses of `count` picks, counted by address.
    fn picks(book: &AddressBook, count: usize) -> BTreeMap<SocketAddr, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..count {
            let target = book.get("prod").unwrap().pick().unwrap();
            assert!(!target.despite_failures);
            *seen.entry(target.addr).or_default() += 1;
        }
        seen
    }

    #[tokio::test]
    async fn every_address_of_the_name_is_used_in_turn() {
        let names = Arc::new(Names::default());
        let (a, b) = (addr("127.0.0.2:443"), addr("127.0.0.3:443"));
        names.set(HOST, &[a, b]);
        let book = book(&names, 10_000);
        book.refresh().await;
        assert_eq!(picks(&book, 6), BTreeMap::from([(a, 3), (b, 3)]));
    }

    #[tokio::test]
    async fn a_failed_address_is_avoided_until_its_retry_time() {
        let names = Arc::new(Names::default());
        let (a, b) = (addr("127.0.0.2:443"), addr("127.0.0.3:443"));
        names.set(HOST, &[a, b]);
        let book = book(&names, 200);
        book.refresh().await;
        let prod = book.get("prod").unwrap();
        prod.connect_failed(a);
        assert!(prod.has_usable());
        assert_eq!(picks(&book, 4), BTreeMap::from([(b, 4)]));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(picks(&book, 4), BTreeMap::from([(a, 2), (b, 2)]));
    }

    #[tokio::test]
    async fn when_every_address_failed_they_are_tried_anyway() {
        let names = Arc::new(Names::default());
        let (a, b) = (addr("127.0.0.2:443"), addr("127.0.0.3:443"));
        names.set(HOST, &[a, b]);
        let book = book(&names, 10_000);
        book.refresh().await;
        let prod = book.get("prod").unwrap();
        prod.connect_failed(a);
        prod.connect_failed(b);
        assert!(!prod.has_usable());
        let tried: BTreeSet<SocketAddr> = (0..4)
            .map(|_| prod.pick().unwrap())
            .inspect(|target| assert!(target.despite_failures))
            .map(|target| target.addr)
            .collect();
        assert_eq!(tried, BTreeSet::from([a, b]));
    }

    #[tokio::test]
    async fn the_addresses_follow_the_name_while_running() {
        let names = Arc::new(Names::default());
        let (a, b, c) = (
            addr("127.0.0.2:443"),
            addr("127.0.0.3:443"),
            addr("[::1]:443"),
        );
        names.set(HOST, &[a, b]);
        let book = book(&names, 10_000);
        book.refresh().await;
        names.set(HOST, &[c]);
        assert_eq!(picks(&book, 2), BTreeMap::from([(a, 1), (b, 1)]));
        book.refresh().await;
        assert_eq!(book.get("prod").unwrap().addresses(), vec![c]);
        assert_eq!(picks(&book, 3), BTreeMap::from([(c, 3)]));
    }

    #[tokio::test]
    async fn a_name_that_stops_resolving_keeps_its_last_addresses() {
        let names = Arc::new(Names::default());
        let a = addr("127.0.0.2:443");
        names.set(HOST, &[a]);
        let book = book(&names, 10_000);
        book.refresh().await;
        names.forget(HOST);
        let failures = metrics::UPSTREAM_DNS_FAILURES.with_label_values(&["prod"]);
        let before = failures.get();
        book.refresh().await;
        assert_eq!(failures.get(), before + 1);
        assert_eq!(picks(&book, 2), BTreeMap::from([(a, 2)]));
    }

    #[tokio::test]
    async fn a_name_that_resolves_late_is_picked_up() {
        let names = Arc::new(Names::default());
        let book = book(&names, 10_000);
        book.refresh().await;
        assert_eq!(book.get("prod").unwrap().pick(), None);
        let a = addr("127.0.0.2:443");
        names.set(HOST, &[a]);
        book.refresh().await;
        assert_eq!(picks(&book, 2), BTreeMap::from([(a, 2)]));
    }

    #[tokio::test]
    async fn a_dead_address_stays_out_until_it_answers_again() {
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        let (live_addr, dead_addr) = (live.local_addr().unwrap(), dead.local_addr().unwrap());
        drop(dead);
        let names = Arc::new(Names::default());
        names.set(HOST, &[live_addr, dead_addr]);
        // Long enough that only the connect check can take the dead address out or back.
        let book = book(&names, 60_000);
        book.refresh().await;
        book.check().await;
        assert_eq!(picks(&book, 4), BTreeMap::from([(live_addr, 4)]));
        let _revived = std::net::TcpListener::bind(dead_addr).unwrap();
        book.check().await;
        assert_eq!(
            picks(&book, 4),
            BTreeMap::from([(live_addr, 2), (dead_addr, 2)])
        );
    }
}
