//! argo-bridge: an OpenAI-compatible gateway in front of Argonne's Argo LLM service.

mod accounts;
mod cli;
mod config;
mod edge;
mod lifecycle;
mod limits;
mod observe;
mod serve;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use listen_port::Reservation;

use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::{background_service, BackgroundService};
use pingora_core::services::listening::Service;
use pingora_core::services::ServiceReadyNotifier;
use pingora_core::services::ServiceWithDependents;

use crate::cli::{Cli, Command, ConfigFile, PortsFile};
use crate::config::{Settings, ShutdownConfig};
use crate::edge::front_door::FrontDoor;
use crate::observe::access_log::Format;
use crate::serve::gateway::{Gateway, State};

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
    observe::access_log::init_logger(format);
    let command = Cli::try_command(std::env::args_os()).unwrap_or_else(|error| error.exit());
    if let Err(message) = run(command) {
        eprintln!("argo-bridge: {message}");
        std::process::exit(2);
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Run(args) => serve(
            load(&args.config, &|key| args.variable(key))?,
            Beside::ports_file(&args.ports_file),
            args.upgrade,
        ),
        Command::CheckConfig(config) => {
            let settings = load(&config, &|key| std::env::var(key).ok())?;
            warn_unresolved(&settings);
            println!(
                "configuration ok: {} models, listening on {}",
                settings.models.models().len(),
                settings.listen
            );
            Ok(())
        }
        Command::Demo(args) => mock::demo(&args),
        Command::MockArgo(args) => mock::mock_argo(&args),
        Command::Keys(command) => {
            let (config, action) = command.into_action();
            accounts::commands::keys(config.config.as_deref(), action)
        }
        Command::Usage(args) => accounts::commands::usage(
            args.config.config.as_deref(),
            &args.since,
            args.by,
            args.format,
        ),
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

fn load(file: &ConfigFile, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    config::load(file.config.as_deref(), env).map_err(|e| e.to_string())
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

/// What serves beside the gateway in its server (the demo's mock), and who hears once every
/// listener listens.
#[derive(Default)]
struct Beside {
    services: Vec<Box<dyn ServiceWithDependents>>,
    /// The listen addresses of `services`, reported after the gateway's own.
    listening: Vec<(&'static str, Reservation)>,
    ports_file: Option<PathBuf>,
    /// Called with every listener's address once all of them listen.
    on_listening: Option<OnListening>,
}

/// What hears every listener's address once all of them listen.
type OnListening = Box<dyn FnOnce(&[SocketAddr]) + Send>;

impl Beside {
    /// Nothing beside the gateway; the ports file from `--ports-file` or `$ARGO_BRIDGE_PORTS_FILE`.
    fn ports_file(file: &PortsFile) -> Beside {
        Beside {
            ports_file: file
                .ports_file
                .as_deref()
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            ..Beside::default()
        }
    }
}

/// Serves the gateway, and `beside` it in the same server any other services (the demo's mock).
fn serve(settings: Settings, beside: Beside, upgrade: bool) -> Result<(), String> {
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let conf = server_conf(settings.threads, &settings.shutdown);
    // An upgrade takes its listeners over from the running instance: nothing to check or hold.
    let api = reserve(&settings.listen, "listen", !upgrade)?;
    let admin_listen = match settings.admin.listen.is_empty() {
        true => None,
        false => Some(reserve(&settings.admin.listen, "admin.listen", !upgrade)?),
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With --upgrade this blocks until the running instance hands its listeners over.
    server.bootstrap();
    write_pid_file(&settings.shutdown.pid_file)?;
    observe::metrics::init();
    let listen = settings.listen.clone();
    let shared_settings = Arc::new(settings.clone());
    let catalog = Arc::new(upstream::catalog::Catalog::new(settings.models.clone()));
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
    let accounts = accounts::Accounts::new(&settings.accounts)?;
    if let Some(accounts) = &accounts {
        server.add_service(background_service(
            "accounts",
            accounts::AccountsService(Arc::clone(accounts)),
        ));
    }
    let readiness =
        lifecycle::readiness::Readiness::new(&settings, Arc::clone(&catalog), accounts.clone());
    let mut listening = vec![("listen", api)];
    if let Some(admin_listen) = admin_listen {
        let admin = serve::admin::AdminApp::new(
            Arc::clone(&shared_settings),
            Arc::clone(&catalog),
            Arc::clone(&readiness),
            own_upstream(),
            accounts.clone(),
        );
        server.add_service(serve::admin::service(&admin_listen, admin));
        listening.push(("admin", admin_listen));
    }
    let refresher = upstream::catalog::Refresher {
        catalog: Arc::clone(&catalog),
        upstream: own_upstream(),
        settings: Arc::clone(&shared_settings),
    };
    let model_list = server.add_service(background_service("model list", refresher));
    // Probes get connections of their own too, and give up within the probe timeout.
    let probes = lifecycle::readiness::probe_config(&settings);
    let prober = lifecycle::readiness::Prober {
        readiness: Arc::clone(&readiness),
        upstream: upstream::Upstream::new(&probes, Arc::clone(&addresses)),
        settings: shared_settings,
    };
    let probes = server.add_service(background_service("readiness probes", prober));
    // What the gateway reaches Argo on at start waits for the services beside it (the demo's
    // mock) to listen: probes of a mock that is not there yet would only warn.
    for (_, beside) in &beside.listening {
        let waiting = server.add_service(background_service(
            "listening beside",
            Listening(beside.address()),
        ));
        model_list.add_dependency(&waiting);
        probes.add_dependency(&waiting);
    }
    server.add_service(background_service(
        "drain",
        lifecycle::drain::DrainWatcher(accounts.clone()),
    ));
    let tls = settings.tls.clone();
    let front_settings = settings.clone();
    let limits = limits::UserLimits::new(&settings.limits);
    if let Some(upkeep) = limits.upkeep() {
        server.add_service(background_service("shared limits", upkeep));
    }
    let state = State {
        auth: edge::auth::Auth::new(&settings.auth, accounts.clone()),
        upstream: upstream::Upstream::new(&settings.upstream, Arc::clone(&addresses)),
        limits,
        cors: edge::cors::AllowList::new(&settings.cors.allowed_origins),
        bodies: limits::budget::MemoryBudget::new(
            settings.limits.max_buffered_request_bytes_total,
            observe::metrics::BUFFERED_REQUEST_BYTES.clone(),
        ),
        catalog,
        readiness,
        settings,
        accounts,
    };
    let front_door = FrontDoor::new(
        pingora_proxy::http_proxy(&server.configuration, Gateway::new(Arc::new(state))),
        &front_settings,
    );
    let mut gateway = Service::new("argo-bridge".to_string(), front_door);
    let mut endpoint = listener(&listening[0].1);
    if !tls.cert_file.is_empty() {
        let settings = TlsSettings::intermediate(&tls.cert_file, &tls.key_file)
            .map_err(|e| format!("cannot serve TLS on {listen}: {e}"))?;
        endpoint = endpoint.tls(settings);
    }
    gateway.add_listener(endpoint);
    server.add_service(gateway);
    server.add_services(beside.services);
    listening.extend(beside.listening);
    let (ports_file, on_listening) = (beside.ports_file, beside.on_listening);
    report_when_listening(listening, move |bound| {
        if let Some(path) = ports_file {
            if let Err(e) = listen_port::write_file_whole(&path, &ports_lines(bound)) {
                log::error!("cannot write the ports file {}: {e}", path.display());
            }
        }
        // After the demo's mock listens too, so that its check finds the mock there.
        lifecycle::startup_check::start(&addresses);
        if let Some(on_listening) = on_listening {
            let addresses: Vec<SocketAddr> = bound.iter().map(|(_, address)| *address).collect();
            on_listening(&addresses);
        }
    });
    server.run_forever()
}

/// Ready once something listens on its address: the services that depend on it start then.
struct Listening(SocketAddr);

#[async_trait::async_trait]
impl BackgroundService for Listening {
    async fn start_with_ready_notifier(&self, _: ShutdownWatch, ready: ServiceReadyNotifier) {
        while !listen_port::listening(self.0) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        ready.notify_ready();
    }
}

/// Logs each listener's address once all of them listen, then calls `then` with them.
fn report_when_listening(
    listening: Vec<(&'static str, Reservation)>,
    then: impl FnOnce(&[(&'static str, SocketAddr)]) + Send + 'static,
) {
    let (labels, reservations): (Vec<&'static str>, Vec<Reservation>) =
        listening.into_iter().unzip();
    listen_port::report_when_listening(reservations, move |addresses| {
        let bound: Vec<(&'static str, SocketAddr)> =
            labels.into_iter().zip(addresses.iter().copied()).collect();
        for (label, address) in &bound {
            match *label {
                "listen" => log::info!("argo-bridge listening on {address}"),
                "admin" => log::info!("admin endpoints on {address}"),
                _ => log::info!("{label} listening on {address}"),
            }
        }
        then(&bound);
    });
}

/// The ports file: a `label address` line per listener.
fn ports_lines(bound: &[(&str, SocketAddr)]) -> String {
    bound
        .iter()
        .map(|(label, address)| format!("{label} {address}\n"))
        .collect()
}

/// The gateway's listener without Pingora's per-connection 64 KiB read buffer: requests are read
/// into header and body buffers of their own, so that buffer only added a copy per request and,
/// zero-filled, up to 64 KiB of resident memory per open connection (per open stream).
fn listener(listen: &Reservation) -> ListenerConfig {
    ListenerConfig::tcp(listen.address().to_string())
        .l4_buffer(L4BufferSettings::default().read(0))
        .tcp_socket_options(listen.tcp_options())
}

/// `address` with port 0 resolved to a reserved free port. With `check`, a given port is bound
/// once and let go, so that a taken port fails the start with its reason: Pingora binds in its
/// service threads, where a failure only panics that thread and leaves the process up without
/// an API.
fn reserve(address: &str, field: &str, check: bool) -> Result<Reservation, String> {
    let cannot = |e: std::io::Error| format!("cannot listen on {address} ({field}): {e}");
    let reservation = Reservation::new(address).map_err(cannot)?;
    if check && !reservation.shares_port() {
        std::net::TcpListener::bind(reservation.address())
            .map(drop)
            .map_err(cannot)?;
    }
    Ok(reservation)
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
    use std::net::SocketAddr;

    use super::{load, serve, Beside};
    use crate::cli::{DemoArgs, MockArgs};

    pub(crate) fn mock_argo(args: &MockArgs) -> Result<(), String> {
        args.serve()
    }

    /// Demo mode: the mock Argo on loopback serves every environment; one demo token is accepted.
    /// The instructions are printed once both listen, with the ports they got (port 0 takes a
    /// free one).
    pub(crate) fn demo(args: &DemoArgs) -> Result<(), String> {
        let (port, mock_port) = (args.port, args.mock_port);
        let mock_listen = mock_argo::Reservation::new(&format!("127.0.0.1:{mock_port}"))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{mock_port} (--mock-port): {e}"))?;
        let mock_address = mock_listen.address();
        let env = |key: &str| -> Option<String> {
            match key {
                "ARGO_BRIDGE_LISTEN" => Some(format!("127.0.0.1:{port}")),
                "ARGO_BRIDGE_TOKENS" => Some("demo-token=demo-user".into()),
                "ARGO_BRIDGE_AUTH_MODE" => Some("tokens".into()),
                _ if key.starts_with("ARGO_BRIDGE_ARGO_") => {
                    Some(format!("http://{mock_address}/argoapi"))
                }
                _ => std::env::var(key).ok(),
            }
        };
        let settings = load(&args.config, &env)?;
        let mock = mock_argo::service(&mock_listen, args.fragments.options());
        let beside = Beside {
            services: vec![Box::new(mock)],
            listening: vec![("mock", mock_listen)],
            on_listening: Some(Box::new(|addresses: &[SocketAddr]| {
                print_demo_instructions(addresses[0].port());
            })),
            ..Beside::ports_file(&args.ports_file)
        };
        serve(settings, beside, false)
    }

    fn print_demo_instructions(port: u16) {
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
}

#[cfg(not(feature = "mock"))]
mod mock {
    use crate::cli::{DemoArgs, MockArgs};

    pub(crate) fn mock_argo(_: &MockArgs) -> Result<(), String> {
        Err(left_out("mock-argo"))
    }

    pub(crate) fn demo(_: &DemoArgs) -> Result<(), String> {
        Err(left_out("demo"))
    }

    fn left_out(command: &str) -> String {
        format!(
            "`{command}` serves the mock Argo, which this build leaves out (built without the default feature `mock`)"
        )
    }
}
