//! argo-bridge: an OpenAI-compatible gateway in front of Argonne's Argo LLM service.

mod access_log;
mod admin;
mod auth;
mod budget;
mod catalog;
mod config;
mod cors;
mod drain;
mod front_door;
mod gateway;
mod handlers;
mod http;
mod limits;
mod log_writer;
mod metrics;
mod proxy_protocol;
mod readiness;
mod routes;
mod startup_check;
mod streaming;
mod timing;
mod upstream;

use std::sync::Arc;

use argo_filters::usage::Tokenizer;

use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_core::services::ServiceWithDependents;

use crate::access_log::Format;
use crate::config::{Settings, ShutdownConfig};
use crate::front_door::FrontDoor;
use crate::gateway::{Gateway, State};

const USAGE: &str = "usage:
  argo-bridge [run] [--config PATH] [--port N] [--username U] [--upgrade]
                                          serve (config: PATH, $ARGO_BRIDGE_CONFIG or conf/argo-bridge.yaml);
                                          --port N: listen on port N; --username U: serve requests
                                          with no token (or `noop`) as lab user U (auth.default_user);
                                          --upgrade takes the listeners over from a running
                                          instance once it gets SIGQUIT (shutdown.upgrade_sock)
  argo-bridge demo [--port P] [--mock-port M] [--config PATH]
                                          serve with the built-in mock Argo on loopback
                                          (builds with the default feature `mock` only)
  argo-bridge mock-argo --listen ADDR [--fragment-delay-ms N] [--fragment-bytes N] [--tls-cert PEM --tls-key PEM]
                                          run only the mock Argo (feature `mock` too)
  argo-bridge check-config [--config PATH]  validate the configuration and exit";

/// mimalloc rather than glibc's malloc: a request makes about eighty allocations, and glibc's
/// share of a short chat's instructions was a sixth (about 20k of 115k; mimalloc's: about 7k).
/// It holds about 3 KiB more per open stream, which the 2 KiB first read of an Argo answer
/// (`upstream::connection`) gives back (`bench/run.sh`, memory table).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let format = Format::from_env(std::env::var("ARGO_BRIDGE_LOG_FORMAT").ok().as_deref())
        .unwrap_or_else(|message| {
            eprintln!("argo-bridge: {message}");
            std::process::exit(2);
        });
    access_log::init_logger(format);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(message) = run(&args) {
        eprintln!("argo-bridge: {message}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = match args.first().map(String::as_str) {
        Some(command) if !command.starts_with('-') => (command, &args[1..]),
        _ => ("run", args),
    };
    let flags = Flags::parse(rest)?;
    match command {
        "run" => serve(
            load(&flags, &|key| {
                flags.env_override(key).or_else(|| std::env::var(key).ok())
            })?,
            Vec::new(),
            flags.is_set("upgrade"),
        ),
        "check-config" => {
            let settings = load(&flags, &|key| std::env::var(key).ok())?;
            warn_unresolved(&settings);
            println!(
                "configuration ok: {} models, listening on {}",
                settings.models.models().len(),
                settings.listen
            );
            Ok(())
        }
        "demo" | "mock-argo" => mock::run(command, &flags),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

/// A host that does not resolve here (off the lab network, say) is no error: the gateway starts
/// anyway and picks its addresses up once the name resolves.
fn warn_unresolved(settings: &Settings) {
    for (name, env) in &settings.environments {
        if let Err(error) = env.resolve_now() {
            eprintln!(
                "warning: upstream.environments.{name}: host `{}` does not resolve here ({error}); \
                 the gateway starts anyway and answers 502 for {name} until it does",
                env.host
            );
        }
    }
}

fn load(flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    config::load(flags.value("config"), env).map_err(|e| e.to_string())
}

fn server_conf(threads: usize, shutdown: &ShutdownConfig) -> ServerConf {
    ServerConf {
        threads,
        grace_period_seconds: Some(shutdown.grace_period_s),
        graceful_shutdown_timeout_seconds: Some(shutdown.graceful_shutdown_timeout_s),
        upgrade_sock: shutdown.upgrade_sock.clone(),
        pid_file: shutdown.pid_file.clone(),
        ..ServerConf::default()
    }
}

/// Serves the gateway, and `beside` it in the same server any other services (the demo's mock).
fn serve(
    settings: Settings,
    beside: Vec<Box<dyn ServiceWithDependents>>,
    upgrade: bool,
) -> Result<(), String> {
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let conf = server_conf(settings.threads, &settings.shutdown);
    if !upgrade {
        // Pingora binds in its service threads, where a failure only panics that thread and
        // leaves the process up without an API: fail the start here instead.
        check_bindable(&settings.listen, "listen")?;
        check_bindable(&settings.admin.listen, "admin.listen")?;
    }
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With --upgrade this blocks until the running instance hands its listeners over.
    server.bootstrap();
    write_pid_file(&settings.shutdown.pid_file)?;
    metrics::init();
    // The tokenizers' tables take a moment to build: done now, not on the first request.
    let tokenizers = settings.models.tokenizers();
    std::thread::spawn(move || tokenizers.into_iter().for_each(Tokenizer::load));
    let listen = settings.listen.clone();
    let shared_settings = Arc::new(settings.clone());
    let catalog = Arc::new(catalog::Catalog::new(settings.models.clone()));
    // The model list has connections of its own and no retries: a failed read waits for the
    // next refresh, and the retry metrics stay about requests.
    let list_reads = config::UpstreamConfig {
        retries: 0,
        ..settings.upstream.clone()
    };
    let addresses = upstream::AddressBook::new(
        &settings.environments,
        &settings.upstream,
        Arc::new(upstream::SystemResolver),
    );
    addresses
        .resolve_at_start()
        .map_err(|e| format!("cannot resolve Argo's hosts: {e}"))?;
    server.add_service(background_service(
        "Argo addresses",
        upstream::AddressKeeper(Arc::clone(&addresses)),
    ));
    let own_upstream = || upstream::Upstream::new(&list_reads, Arc::clone(&addresses));
    let readiness = readiness::Readiness::new(&settings);
    if !settings.admin.listen.is_empty() {
        let admin = admin::AdminApp::new(
            Arc::clone(&shared_settings),
            Arc::clone(&catalog),
            Arc::clone(&readiness),
            own_upstream(),
        );
        server.add_service(admin::service(&settings.admin.listen, admin));
        log::info!("admin endpoints on {}", settings.admin.listen);
    }
    let refresher = catalog::Refresher {
        catalog: Arc::clone(&catalog),
        upstream: own_upstream(),
        settings: Arc::clone(&shared_settings),
    };
    server.add_service(background_service("model list", refresher));
    // Probes get connections of their own too, and give up within the probe timeout.
    let probes = readiness::probe_config(&settings);
    let prober = readiness::Prober {
        readiness: Arc::clone(&readiness),
        upstream: upstream::Upstream::new(&probes, Arc::clone(&addresses)),
        settings: shared_settings,
    };
    server.add_service(background_service("readiness probes", prober));
    server.add_service(background_service("drain", drain::DrainWatcher));
    let tls = settings.tls.clone();
    let front_settings = settings.clone();
    let limits = limits::UserLimits::new(&settings.limits);
    if let Some(upkeep) = limits.upkeep() {
        server.add_service(background_service("shared limits", upkeep));
    }
    let state = State {
        auth: auth::Auth::new(&settings.auth),
        upstream: upstream::Upstream::new(&settings.upstream, Arc::clone(&addresses)),
        limits,
        cors: cors::AllowList::new(&settings.cors.allowed_origins),
        bodies: budget::MemoryBudget::new(
            settings.limits.max_buffered_request_bytes_total,
            metrics::BUFFERED_REQUEST_BYTES.clone(),
        ),
        catalog,
        readiness,
        settings,
    };
    let front_door = FrontDoor::new(
        pingora_proxy::http_proxy(&server.configuration, Gateway::new(Arc::new(state))),
        &front_settings,
    );
    let mut gateway = Service::new("argo-bridge".to_string(), front_door);
    let mut endpoint = listener(&listen);
    if !tls.cert_file.is_empty() {
        let settings = TlsSettings::intermediate(&tls.cert_file, &tls.key_file)
            .map_err(|e| format!("cannot serve TLS on {listen}: {e}"))?;
        endpoint = endpoint.tls(settings);
    }
    gateway.add_listener(endpoint);
    server.add_service(gateway);
    server.add_services(beside);
    startup_check::start(&addresses);
    log::info!("argo-bridge listening on {listen}");
    server.run_forever()
}

/// The gateway's listener without Pingora's per-connection 64 KiB read buffer: requests are read
/// into header and body buffers of their own, so that buffer only added a copy per request and,
/// zero-filled, up to 64 KiB of resident memory per open connection (per open stream).
fn listener(listen: &str) -> ListenerConfig {
    ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().read(0))
}

/// Binds `address` once and lets it go, so that a taken port fails the start with its reason.
fn check_bindable(address: &str, field: &str) -> Result<(), String> {
    if address.is_empty() {
        return Ok(());
    }
    std::net::TcpListener::bind(address)
        .map(drop)
        .map_err(|e| format!("cannot listen on {address} ({field}): {e}"))
}

fn write_pid_file(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::write(path, format!("{}\n", std::process::id()))
        .map_err(|e| format!("cannot write pid file {path}: {e}"))
}

/// The two subcommands that serve the mock Argo (the `mock-argo` crate). The gateway depends on
/// that crate for them alone: the demo is one command on a fresh machine (the README's first
/// line) and the tests start the mock as `argo-bridge mock-argo`; no request the gateway serves
/// touches it. Without the default feature `mock` (the container image) both are refused.
#[cfg(feature = "mock")]
mod mock {
    use super::{load, serve, Flags};

    pub(crate) fn run(command: &str, flags: &Flags) -> Result<(), String> {
        match command {
            "demo" => demo(flags),
            _ => {
                let listen = flags
                    .value("listen")
                    .ok_or("mock-argo needs --listen ADDR")?;
                let tls = flags.value("tls-cert").zip(flags.value("tls-key"));
                mock_argo::serve(listen, options(flags)?, tls)
            }
        }
    }

    /// Demo mode: the mock Argo on loopback serves every environment; one demo token is accepted.
    fn demo(flags: &Flags) -> Result<(), String> {
        let port = flags.value("port").unwrap_or("8080");
        let mock_port = flags.value("mock-port").unwrap_or("8081");
        let mock_listen = format!("127.0.0.1:{mock_port}");
        let env = |key: &str| -> Option<String> {
            match key {
                "ARGO_BRIDGE_LISTEN" => Some(format!("127.0.0.1:{port}")),
                "ARGO_BRIDGE_TOKENS" => Some("demo-token=demo-user".into()),
                "ARGO_BRIDGE_AUTH_MODE" => Some("tokens".into()),
                _ if key.starts_with("ARGO_BRIDGE_ARGO_") => {
                    Some(format!("http://{mock_listen}/argoapi"))
                }
                _ => std::env::var(key).ok(),
            }
        };
        let settings = load(flags, &env)?;
        print_demo_instructions(port);
        let mock = mock_argo::service(&mock_listen, options(flags)?);
        serve(settings, vec![Box::new(mock)], false)
    }

    fn print_demo_instructions(port: &str) {
        println!(
            r#"
argo-bridge demo: the gateway listens on http://127.0.0.1:{port}, in front of a built-in mock Argo.
Token: demo-token  (maps to lab user demo-user)

  curl -s http://127.0.0.1:{port}/v1/chat/completions \
    -H 'Authorization: Bearer demo-token' -H 'Content-Type: application/json' \
    -d '{{"model": "gpt-4o", "messages": [{{"role": "user", "content": "Hello!"}}]}}'

  python3 -c 'from openai import OpenAI
c = OpenAI(base_url="http://127.0.0.1:{port}/v1", api_key="demo-token")
print(c.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "Hello!"}}]).choices[0].message.content)'

Press Ctrl-C to stop.
"#
        );
    }

    fn options(flags: &Flags) -> Result<mock_argo::MockOptions, String> {
        mock_argo::options(
            flags.value("fragment-delay-ms"),
            flags.value("fragment-bytes"),
        )
    }
}

#[cfg(not(feature = "mock"))]
mod mock {
    use super::Flags;

    pub(crate) fn run(command: &str, _: &Flags) -> Result<(), String> {
        Err(format!(
            "`{command}` serves the mock Argo, which this build leaves out (built without the default feature `mock`)"
        ))
    }
}

/// Flags that take no value.
const SWITCHES: &[&str] = &["upgrade"];

/// `--name value` pairs, and `--switch` alone.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument `{arg}`\n{USAGE}"))?;
            if SWITCHES.contains(&name) {
                pairs.push((name.to_string(), String::new()));
                continue;
            }
            let value = iter
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name.to_string(), value.clone()));
        }
        Ok(Flags(pairs))
    }

    /// The original bridge's short forms: `--port N` and `--username U` stand for the
    /// environment variables `ARGO_BRIDGE_PORT` and `ARGO_BRIDGE_DEFAULT_USER`.
    fn env_override(&self, key: &str) -> Option<String> {
        let flag = match key {
            "ARGO_BRIDGE_PORT" => "port",
            "ARGO_BRIDGE_DEFAULT_USER" => "username",
            _ => return None,
        };
        self.value(flag).map(str::to_string)
    }

    fn is_set(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
