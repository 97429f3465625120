//! Bearer token -> lab username. The mapped user is the only user Argo ever sees.

use std::sync::Arc;

use argo_filters::ApiError;

use crate::accounts::keys::KEY_PREFIX;
use crate::accounts::{unix_now, Accounts};
use crate::config::{is_username, AuthConfig, AuthMode};

pub struct Auth {
    mode: AuthMode,
    tokens: Vec<(Vec<u8>, String)>,
    /// Serves requests with no token or the token `noop` (the original bridge's `--username`).
    default_user: Option<String>,
    /// Issued keys (`abk-...`), beside the configured tokens, when accounts are configured.
    accounts: Option<Arc<Accounts>>,
}

/// The token the original bridge's clients send when they have none.
const NO_TOKEN: &[u8] = b"noop";

impl Auth {
    pub fn new(config: &AuthConfig, accounts: Option<Arc<Accounts>>) -> Self {
        let tokens = config
            .tokens
            .iter()
            .map(|(token, user)| (token.as_bytes().to_vec(), user.clone()))
            .collect();
        Auth {
            mode: config.mode,
            tokens,
            default_user: Some(config.default_user.clone()).filter(|user| !user.is_empty()),
            accounts,
        }
    }

    /// The username for an `Authorization` header value.
    pub fn user_for(&self, authorization: Option<&[u8]>) -> Result<String, ApiError> {
        self.user_for_token(
            authorization.and_then(bearer_token),
            "Missing bearer token: send `Authorization: Bearer <your token>`",
        )
    }

    /// The user of a token however the client sent it (a bearer token, Anthropic's
    /// `x-api-key`, Google's `x-goog-api-key`); `missing` tells a client without one how to
    /// send it.
    pub fn user_for_token(&self, token: Option<&[u8]>, missing: &str) -> Result<String, ApiError> {
        if let Some(user) = &self.default_user {
            if token.is_none_or(|token| token == NO_TOKEN) {
                return Ok(user.clone());
            }
        }
        let token = token.ok_or_else(|| ApiError::unauthorized(missing))?;
        if let Some(accounts) = &self.accounts {
            // An issued key is only ever a key: never a configured token nor, with
            // `token_is_username`, a username.
            if token.starts_with(KEY_PREFIX.as_bytes()) {
                return match accounts.ring.holder(token, unix_now()) {
                    Some(holder) => Ok(holder.user.to_string()),
                    None => Err(ApiError::unauthorized(
                        "Invalid API key: it is unknown, revoked or expired",
                    )),
                };
            }
        }
        match self.mode {
            AuthMode::TokenIsUsername => std::str::from_utf8(token)
                .ok()
                .filter(|user| is_username(user))
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::unauthorized("The bearer token must be your lab username")
                }),
            AuthMode::Tokens => self
                .lookup(token)
                .map(str::to_string)
                .ok_or_else(|| ApiError::unauthorized("Invalid bearer token")),
        }
    }

    /// Compares against every configured token in constant time per comparison, with no early
    /// exit, so response timing says nothing about how close a guess was.
    fn lookup(&self, token: &[u8]) -> Option<&str> {
        let mut found = None;
        for (candidate, user) in &self.tokens {
            if constant_time_eq(candidate, token) {
                found = Some(user.as_str());
            }
        }
        found
    }
}

pub(crate) fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let scheme = header.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = header[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn auth(mode: AuthMode) -> Auth {
        let tokens = BTreeMap::from([("sk-alice-123456".to_string(), "alice".to_string())]);
        Auth::new(
            &AuthConfig {
                mode,
                tokens,
                default_user: String::new(),
            },
            None,
        )
    }

    #[test]
    fn a_default_user_serves_requests_without_a_token_or_with_noop() {
        let tokens = BTreeMap::from([("sk-alice-123456".to_string(), "alice".to_string())]);
        let auth = Auth::new(
            &AuthConfig {
                mode: AuthMode::Tokens,
                tokens,
                default_user: "labuser".into(),
            },
            None,
        );
        assert_eq!(auth.user_for(None).unwrap(), "labuser");
        assert_eq!(auth.user_for(Some(b"Bearer noop")).unwrap(), "labuser");
        assert_eq!(auth.user_for(Some(b"Basic xyz")).unwrap(), "labuser");
        assert_eq!(
            auth.user_for(Some(b"Bearer sk-alice-123456")).unwrap(),
            "alice"
        );
        assert_eq!(
            auth.user_for(Some(b"Bearer wrong-token-1"))
                .unwrap_err()
                .status,
            401,
            "a wrong token is still refused"
        );
    }

    #[test]
    fn token_table_maps_tokens_to_users() {
        let auth = auth(AuthMode::Tokens);
        assert_eq!(
            auth.user_for(Some(b"Bearer sk-alice-123456")).unwrap(),
            "alice"
        );
        assert_eq!(
            auth.user_for(Some(b"bearer   sk-alice-123456 ")).unwrap(),
            "alice"
        );
        for bad in [
            &b"Bearer sk-alice-12345"[..],
            b"Bearer ",
            b"Basic sk-alice-123456",
            b"sk-alice-123456",
            b"Bearer alice",
        ] {
            assert_eq!(auth.user_for(Some(bad)).unwrap_err().status, 401, "{bad:?}");
        }
        assert_eq!(auth.user_for(None).unwrap_err().status, 401);
    }

    #[test]
    fn token_is_username_mode_accepts_only_plain_usernames() {
        let auth = auth(AuthMode::TokenIsUsername);
        assert_eq!(auth.user_for(Some(b"Bearer jdoe")).unwrap(), "jdoe");
        for bad in [&b"Bearer j\"doe"[..], b"Bearer a b", b"Bearer \xff"] {
            assert_eq!(auth.user_for(Some(bad)).unwrap_err().status, 401);
        }
    }

    #[test]
    fn unauthorized_errors_never_echo_the_token() {
        let err = auth(AuthMode::Tokens)
            .user_for(Some(b"Bearer sk-guess-999999"))
            .unwrap_err();
        assert!(!err.message.contains("sk-guess"));
    }
}
