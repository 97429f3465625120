//! `/admin/keys` on the admin port, with the admin token: the keys of the accounts store, as
//! `argo-bridge keys` gives them on the command line. `GET` lists them (`?user=U` for one
//! user's; never a key), `POST` with `{"user", "name"?, "expires"?}` issues one (201, the key
//! shown this once), `DELETE /admin/keys/{id}` revokes one. The accounts service does each in
//! turn on the store; a change takes effect on this instance at once and on the others within
//! `accounts.refresh_interval_ms`.

use std::sync::Arc;

use argo_filters::ApiError;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use crate::accounts::{Accounts, RequestError, StoreRequest};

/// The largest body `POST /admin/keys` takes.
pub const MAX_BODY: usize = 16 * 1024;

/// What `POST /admin/keys` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    user: String,
    #[serde(default)]
    name: String,
    expires: Option<String>,
}

/// `GET /admin/keys[?user=U]`.
pub async fn list(accounts: &Accounts, query: Option<&str>) -> Result<(u16, Vec<u8>), ApiError> {
    let user = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("user="))
        .map(str::to_string);
    let keys = ask(accounts, |reply| StoreRequest::ListKeys { user, reply }).await?;
    Ok((200, json!({ "keys": keys }).to_string().into_bytes()))
}

/// `POST /admin/keys`.
pub async fn create(accounts: &Accounts, body: &[u8]) -> Result<(u16, Vec<u8>), ApiError> {
    let new: NewKey = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "The body must be {{\"user\": ..., \"name\": ..., \"expires\": \"90d\"}}: {e}"
        ))
    })?;
    let (key, record) = ask(accounts, |reply| StoreRequest::CreateKey {
        user: new.user,
        name: new.name,
        expires: new.expires,
        reply,
    })
    .await?;
    let body = json!({"key": key, "key_info": record});
    Ok((201, body.to_string().into_bytes()))
}

/// `DELETE /admin/keys/{id}`.
pub async fn revoke(accounts: &Accounts, id: &str) -> Result<(u16, Vec<u8>), ApiError> {
    let id = id.to_string();
    let revoked = ask(accounts, |reply| StoreRequest::RevokeKey {
        id: id.clone(),
        reply,
    })
    .await?;
    match revoked {
        true => Ok((
            200,
            json!({"id": id, "revoked": true}).to_string().into_bytes(),
        )),
        false => Err(ApiError::not_found(
            "No such key that is not revoked already",
        )),
    }
}

/// Accounts must be configured for any of this.
pub fn configured(accounts: Option<&Arc<Accounts>>) -> Result<&Accounts, ApiError> {
    accounts.map(Arc::as_ref).ok_or_else(|| {
        ApiError::not_found(
            "No accounts store is configured: set accounts.path (ARGO_BRIDGE_ACCOUNTS_PATH) or \
             accounts.database_url (ARGO_BRIDGE_DATABASE_URL)",
        )
    })
}

/// Hands a request to the accounts service and waits for its answer.
async fn ask<T>(
    accounts: &Accounts,
    request: impl FnOnce(oneshot::Sender<Result<T, RequestError>>) -> StoreRequest,
) -> Result<T, ApiError> {
    let (reply, answer) = oneshot::channel();
    if !accounts.ask(request(reply)) {
        return Err(store_unavailable(
            "too many admin requests are waiting for it",
        ));
    }
    match answer.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(RequestError::Invalid(message))) => Err(invalid(message)),
        Ok(Err(RequestError::Store(cause))) => {
            log::warn!("admin keys request failed: {cause}");
            Err(store_unavailable("it failed; the gateway's log says why"))
        }
        Err(_) => Err(store_unavailable("the accounts service has stopped")),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message)
}

fn store_unavailable(why: &str) -> ApiError {
    ApiError::new(
        503,
        "service_unavailable",
        format!("The accounts store cannot be used now: {why}"),
    )
}
