//! The mock Argo on its own, without the gateway: `mock-argo --listen ADDR`. The gateway's
//! `argo-bridge mock-argo` runs the same server with the same flags.

const USAGE: &str = "usage:
  mock-argo --listen ADDR [--ports-file PATH] [--fragment-delay-ms N] [--fragment-bytes N] [--tls-cert PEM --tls-key PEM]
      ADDR with port 0 takes a free port; --ports-file gets `listen <address>` once it listens";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(message) = run(&args) {
        eprintln!("mock-argo: {message}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    if args
        .iter()
        .any(|arg| arg == "help" || arg == "--help" || arg == "-h")
    {
        println!("{USAGE}");
        return Ok(());
    }
    let flags = flags(args)?;
    let value = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let listen = value("listen").ok_or("mock-argo needs --listen ADDR")?;
    let options = mock_argo::options(value("fragment-delay-ms"), value("fragment-bytes"))?;
    let serving = mock_argo::Serving {
        listen,
        tls: value("tls-cert").zip(value("tls-key")),
        ports_file: value("ports-file"),
    };
    mock_argo::serve(serving, options)
}

/// `--name value` pairs.
fn flags(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let name = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument `{arg}`\n{USAGE}"))?;
        let value = iter
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        pairs.push((name.to_string(), value.clone()));
    }
    Ok(pairs)
}
