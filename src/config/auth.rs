//! The `auth` section: how a bearer token becomes a lab user.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::fields::{err, set_text, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Tokens,
    TokenIsUsername,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// Opt-in: requests with no token, or the token `noop`, are served as this lab user (the
    /// original bridge's `--username`). Empty: every request needs a valid token.
    #[serde(default)]
    pub default_user: String,
}

impl AuthConfig {
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        set_text(env, "ARGO_BRIDGE_DEFAULT_USER", &mut self.default_user);
        if let Some(mode) = env("ARGO_BRIDGE_AUTH_MODE") {
            self.mode = match mode.as_str() {
                "tokens" => AuthMode::Tokens,
                "token_is_username" => AuthMode::TokenIsUsername,
                _ => {
                    return Err(err(
                        "ARGO_BRIDGE_AUTH_MODE",
                        "must be `tokens` or `token_is_username`",
                    ))
                }
            };
        }
        if let Some(tokens) = env("ARGO_BRIDGE_TOKENS") {
            for pair in tokens
                .split(',')
                .map(str::trim)
                .filter(|pair| !pair.is_empty())
            {
                let (token, user) = pair.split_once('=').ok_or_else(|| {
                    err(
                        "ARGO_BRIDGE_TOKENS",
                        "entries must look like token=username",
                    )
                })?;
                self.tokens
                    .insert(token.trim().to_string(), user.trim().to_string());
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (token, user) in &self.tokens {
            if token.len() < 8 || !is_username(user) {
                return Err(err(
                    "auth.tokens",
                    "tokens need at least 8 characters and map to a plain username",
                ));
            }
        }
        if !self.default_user.is_empty() {
            if !is_username(&self.default_user) {
                return Err(err("auth.default_user", "must be a plain lab username"));
            }
            log::warn!(
                "auth.default_user is set: requests with no token (or the token `noop`) are served \
                 as the configured default user; use this only where every client may act as that user"
            );
        }
        if self.mode == AuthMode::Tokens && self.tokens.is_empty() && self.default_user.is_empty() {
            log::warn!(
                "auth.tokens is empty: every request will be refused until tokens are configured"
            );
        }
        Ok(())
    }
}

/// Lab usernames: short, and nothing that could smuggle JSON or headers.
pub fn is_username(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}
