//! The command line, on clap: `run` (the default), `demo`, `mock-argo` and `check-config`, each
//! with `--help`; every option that a variable can also give names it in its help.

use clap::{Args, Parser, Subcommand};

use crate::accounts::commands::{KeysAction, OutputFormat};
use crate::accounts::store::Grouping;

/// An OpenAI-, Anthropic- and Google-compatible gateway in front of Argonne's Argo LLM service
#[derive(Parser, Debug)]
#[command(
    name = "argo-bridge",
    version,
    override_usage = "argo-bridge [run] [OPTIONS]\n       argo-bridge <COMMAND> [OPTIONS]",
    after_help = "With no command, argo-bridge runs `run`: `argo-bridge --port 8080` is \
                  `argo-bridge run --port 8080`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command `args` (the program's name first) ask for, or clap's error (which names the
    /// bad option). With no command named, `run` is meant: the original bridge took its flags
    /// alone.
    pub fn try_command<I: IntoIterator<Item = std::ffi::OsString>>(
        args: I,
    ) -> Result<Command, clap::Error> {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
        if !names_a_command(args.get(1).and_then(|arg| arg.to_str())) {
            args.insert(args.len().min(1), "run".into());
        }
        Cli::try_parse_from(args).map(|cli| cli.command)
    }
}

/// Whether the first argument is a command, or asks for the help or the version.
fn names_a_command(first: Option<&str>) -> bool {
    use clap::CommandFactory;
    first.is_some_and(|first| {
        ["help", "-h", "--help", "-V", "--version"].contains(&first)
            || Cli::command().find_subcommand(first).is_some()
    })
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the gateway (the default command)
    Run(RunArgs),
    /// Serve the gateway in front of the built-in mock Argo on loopback, and print how to call it
    Demo(DemoArgs),
    /// Serve only the mock Argo, as the tests and benchmarks do
    MockArgo(MockArgs),
    /// Check the configuration and exit
    CheckConfig(ConfigFile),
    /// Issue, list and revoke keys (in the store `accounts` names)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Report the usage ledger: requests and tokens by user, model or day
    Usage(UsageArgs),
}

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// From this long ago (7d, 24h) or this day (2026-12-01) on, UTC
    #[arg(long, value_name = "DURATION|DAY", default_value = "7d")]
    pub since: String,
    /// What to sum by
    #[arg(long, value_enum, default_value_t = Grouping::User)]
    pub by: Grouping,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Issue a key for a lab user: the key is printed this once, only its hash is kept
    Create {
        /// The lab user the key authenticates as
        #[arg(long, value_name = "USER")]
        user: String,
        /// A name to tell the user's keys apart (`laptop`)
        #[arg(long, value_name = "NAME", default_value = "")]
        name: String,
        /// The key stops working after this long: 90d, 12h, 30m or 3600s [default: never]
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// List the keys (id, user, name, created, last used, expires; never a key)
    List {
        /// Only this user's keys
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Revoke a key: every instance refuses it within accounts.refresh_interval_ms
    Revoke {
        /// The key's id (`key_...`, from `keys list`)
        id: String,
        #[command(flatten)]
        config: ConfigFile,
    },
}

#[derive(Args, Debug, Default)]
pub struct ConfigFile {
    /// The configuration file [default: conf/argo-bridge.yaml]
    #[arg(long, value_name = "PATH", env = "ARGO_BRIDGE_CONFIG")]
    pub config: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    /// Listen on this port (the original bridge's flag)
    #[arg(long, value_name = "N", env = "ARGO_BRIDGE_PORT")]
    pub port: Option<u16>,
    /// Serve requests with no token (or `noop`) as this lab user (auth.default_user)
    #[arg(long, value_name = "USER", env = "ARGO_BRIDGE_DEFAULT_USER")]
    pub username: Option<String>,
    /// Take the listeners over from a running instance once it gets SIGQUIT
    /// (shutdown.upgrade_sock)
    #[arg(long)]
    pub upgrade: bool,
    #[command(flatten)]
    pub ports_file: PortsFile,
}

impl RunArgs {
    /// The configuration's variables as this command line sets them: `--port` and `--username`
    /// stand for `ARGO_BRIDGE_PORT` and `ARGO_BRIDGE_DEFAULT_USER`.
    pub fn variable(&self, key: &str) -> Option<String> {
        match key {
            "ARGO_BRIDGE_PORT" => self.port.map(|port| port.to_string()),
            "ARGO_BRIDGE_DEFAULT_USER" => self.username.clone(),
            _ => std::env::var(key).ok(),
        }
    }
}

#[derive(Args, Debug, Default)]
pub struct PortsFile {
    /// Once every listener listens, write a `label ADDR` line for each (`listen`, `admin`,
    /// `mock`) to this file; port 0 in an address takes a free port
    #[arg(long, value_name = "PATH", env = "ARGO_BRIDGE_PORTS_FILE")]
    pub ports_file: Option<String>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The gateway's port on 127.0.0.1
    #[arg(long, value_name = "N", default_value_t = 8080)]
    pub port: u16,
    /// The mock Argo's port on 127.0.0.1
    #[arg(long, value_name = "N", default_value_t = 8081)]
    pub mock_port: u16,
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub ports_file: PortsFile,
    #[command(flatten)]
    pub fragments: Fragments,
}

impl KeysCommand {
    /// The configuration file named, and what to do with the keys.
    pub fn into_action(self) -> (ConfigFile, KeysAction) {
        match self {
            KeysCommand::Create {
                user,
                name,
                expires,
                format,
                config,
            } => (
                config,
                KeysAction::Create {
                    user,
                    name,
                    expires,
                    format,
                },
            ),
            KeysCommand::List {
                user,
                format,
                config,
            } => (config, KeysAction::List { user, format }),
            KeysCommand::Revoke { id, config } => (config, KeysAction::Revoke { id }),
        }
    }
}

/// The mock's options (the `mock-argo` crate's own command line).
#[cfg(feature = "mock")]
pub use mock_argo::{Fragments, MockArgs};

/// Without the default feature `mock` there is no mock: its options are taken whatever they are,
/// so that the command can say why it is refused.
#[cfg(not(feature = "mock"))]
#[derive(Args, Debug)]
pub struct MockArgs {
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub ignored: Vec<String>,
}

#[cfg(not(feature = "mock"))]
pub type Fragments = MockArgs;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_command(
            std::iter::once("argo-bridge")
                .chain(args.iter().copied())
                .map(Into::into),
        )
    }

    #[test]
    fn no_command_is_run_with_its_options() {
        assert!(matches!(parse(&[]), Ok(Command::Run(_))));
        let Ok(Command::Run(run)) = parse(&["--port", "9000", "--upgrade"]) else {
            panic!("run");
        };
        assert_eq!(run.port, Some(9000));
        assert!(run.upgrade);
        assert_eq!(run.variable("ARGO_BRIDGE_PORT").as_deref(), Some("9000"));
    }

    #[test]
    fn a_bad_value_names_its_option() {
        let error = parse(&["run", "--port", "eighty"]).unwrap_err().to_string();
        assert!(error.contains("--port"), "{error}");
        let error = parse(&["check-config", "--bogus"]).unwrap_err().to_string();
        assert!(error.contains("--bogus"), "{error}");
    }

    #[test]
    fn every_variable_an_option_reads_is_in_its_help() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        let help = command
            .find_subcommand_mut("run")
            .map(|run| run.render_long_help().to_string())
            .unwrap_or_default();
        for variable in [
            "ARGO_BRIDGE_CONFIG",
            "ARGO_BRIDGE_PORT",
            "ARGO_BRIDGE_DEFAULT_USER",
            "ARGO_BRIDGE_PORTS_FILE",
        ] {
            assert!(help.contains(variable), "{variable}: {help}");
        }
    }
}
