//! The mock Argo on its own, without the gateway: `mock-argo --listen ADDR`. The gateway's
//! `argo-bridge mock-argo` runs the same server with the same flags.

use clap::Parser;

/// A mock of Argonne's Argo LLM service, for argo-bridge's tests, benchmarks and demo
#[derive(Parser)]
#[command(name = "mock-argo", version)]
struct Cli {
    #[command(flatten)]
    mock: mock_argo::MockArgs,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if let Err(message) = Cli::parse().mock.serve() {
        eprintln!("mock-argo: {message}");
        std::process::exit(2);
    }
}
