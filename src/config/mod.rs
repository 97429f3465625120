//! Configuration: `conf/argo-bridge.yaml`, then environment-variable overrides, then validation.
//! Every error names the field that is wrong. One file per section of the YAML, each with its
//! defaults, its environment overrides and its checks; this one reads the file and puts the
//! sections together.
//!
//! Imports nothing of the crate (the `argo_filters` model table only); every folder may import
//! it.

mod accounts;
mod admin;
mod auth;
mod fields;
mod limits;
mod server;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use argo_filters::model_rules::{ModelRule, ModelRules};
use argo_filters::models::{ModelSpec, ModelTable, RetiredModel};
use serde::Deserialize;

pub use accounts::AccountsConfig;
pub use admin::{AdminConfig, ReadinessConfig};
pub use auth::{is_username, AuthConfig, AuthMode};
pub use fields::ConfigError;
use fields::{err, set_number, set_text};
pub use limits::Limits;
pub use server::{
    derived_max_connections, CorsConfig, IpNet, ShutdownConfig, TlsConfig, TrustedProxies,
};
use server::{open_files_limit, with_port};
pub use upstream::{resolve_host, ArgoEnv, UpstreamConfig};

pub const DEFAULT_PATH: &str = "conf/argo-bridge.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    #[serde(default)]
    pub threads: usize,
    pub upstream: UpstreamConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub readiness: ReadinessConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
    #[serde(default)]
    pub accounts: AccountsConfig,
    pub models: Vec<ModelSpec>,
    /// Rules for the models Argo lists that no row of `models` knows: the first that matches a
    /// new model's Argo id gives it its parameter columns.
    #[serde(default)]
    pub model_rules: Vec<ModelRule>,
    #[serde(default)]
    pub retired_models: Vec<RetiredModel>,
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub threads: usize,
    pub upstream: UpstreamConfig,
    pub environments: BTreeMap<String, ArgoEnv>,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub cors: CorsConfig,
    pub tls: TlsConfig,
    pub admin: AdminConfig,
    pub readiness: ReadinessConfig,
    pub shutdown: ShutdownConfig,
    pub trusted_proxies: Vec<IpNet>,
    pub proxy_protocol: bool,
    pub accounts: AccountsConfig,
    pub models: ModelTable,
    /// What a model only Argo's live list knows gets (`model_rules`).
    pub model_rules: ModelRules,
}

/// Loads the file named by `path` (or `ARGO_BRIDGE_CONFIG`, or the default), applies the
/// environment, and validates.
pub fn load(
    path: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let path = path
        .map(str::to_string)
        .or_else(|| env("ARGO_BRIDGE_CONFIG"))
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("cannot read config file {path}: {e}")))?;
    let mut config = parse(&text)?;
    apply_env(&mut config, env)?;
    validate(config)
}

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let deserializer = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        err(&field, inner)
    })
}

pub fn apply_env(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    set_text(env, "ARGO_BRIDGE_LISTEN", &mut config.listen);
    if let Some(port) = env("ARGO_BRIDGE_PORT") {
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| err("ARGO_BRIDGE_PORT", "must be a port number"))?;
        config.listen = with_port(&config.listen, port);
    }
    config.admin.apply_env(env)?;
    config.readiness.apply_env(env)?;
    config.shutdown.apply_env(env)?;
    config.tls.apply_env(env);
    set_number(env, "ARGO_BRIDGE_THREADS", &mut config.threads)?;
    config.upstream.apply_env(env)?;
    config.limits.apply_env(env)?;
    config.trusted_proxies.apply_env(env);
    config.cors.apply_env(env);
    config.accounts.apply_env(env)?;
    config.auth.apply_env(env)
}

pub fn validate(mut config: Config) -> Result<Settings, ConfigError> {
    check_listeners(&config)?;
    check_connection_caps(&mut config)?;
    let environments = config.upstream.validate()?;
    config.readiness.validate()?;
    let (models, model_rules) = model_table(&mut config, &environments)?;
    config.auth.validate()?;
    config.accounts.validate()?;
    config.tls.validate()?;
    config.limits.validate()?;
    let trusted_proxies = config.trusted_proxies.networks()?;
    let threads = if config.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        config.threads
    };
    Ok(Settings {
        listen: config.listen,
        threads,
        upstream: config.upstream,
        environments,
        auth: config.auth,
        limits: config.limits,
        cors: config.cors,
        tls: config.tls,
        admin: config.admin,
        readiness: config.readiness,
        shutdown: config.shutdown,
        trusted_proxies,
        proxy_protocol: config.trusted_proxies.proxy_protocol,
        accounts: config.accounts,
        models,
        model_rules,
    })
}

/// `listen` and `admin.listen` are addresses, and not the same one.
fn check_listeners(config: &Config) -> Result<(), ConfigError> {
    if config.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "listen",
            format!("`{}` is not an address like 0.0.0.0:8080", config.listen),
        ));
    }
    if !config.admin.listen.is_empty() && config.admin.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "admin.listen",
            format!(
                "`{}` is not an address like 0.0.0.0:9090",
                config.admin.listen
            ),
        ));
    }
    // Two `:0` addresses are two free ports, not one.
    let takes_a_free_port = config.listen.ends_with(":0");
    if config.admin.listen == config.listen && !takes_a_free_port {
        return Err(err("admin.listen", "must differ from `listen`"));
    }
    Ok(())
}

/// The model table and the rules for models only Argo's lists know. A row that names no API
/// gets its environment's `upstream.default_api`; every row's environment must be configured.
fn model_table(
    config: &mut Config,
    environments: &BTreeMap<String, ArgoEnv>,
) -> Result<(ModelTable, ModelRules), ConfigError> {
    for model in &mut config.models {
        if model.upstream.is_none() {
            let default = config.upstream.default_api.get(&model.env).copied();
            model.upstream = Some(default.unwrap_or_default());
        }
    }
    for (index, model) in config.models.iter().enumerate() {
        if !environments.contains_key(&model.env) {
            return Err(err(
                &format!("models[{index}].env"),
                format!(
                    "`{}` (model {}) is not one of upstream.environments",
                    model.env, model.name
                ),
            ));
        }
    }
    let models = ModelTable::new(std::mem::take(&mut config.models))
        .and_then(|table| table.with_retired(std::mem::take(&mut config.retired_models)))
        .map_err(|e| ConfigError(format!("config field {e}")))?;
    let model_rules = ModelRules::new(std::mem::take(&mut config.model_rules))
        .map_err(|e| ConfigError(format!("config field {e}")))?;
    Ok((models, model_rules))
}

/// Fills in `limits.max_connections` when it is 0, and checks both connection caps.
fn check_connection_caps(config: &mut Config) -> Result<(), ConfigError> {
    let admin = match config.admin.listen.is_empty() {
        true => 0,
        false => config.admin.max_connections,
    };
    if !config.admin.listen.is_empty() && admin == 0 {
        return Err(err("admin.max_connections", "must be greater than 0"));
    }
    if config.limits.max_connections == 0 {
        config.limits.max_connections = derived_max_connections(open_files_limit(), admin);
    }
    Ok(())
}
