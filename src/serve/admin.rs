//! The optional admin listener (`admin.listen`): `/metrics`, `/health` and `/ready` on their own
//! port, for scrapers and probes that should not reach the API port, and `POST /models/refresh`,
//! which needs the admin token (`admin.token`), as do the accounts' keys under `/admin/keys`
//! (`admin_keys`). Also who may read `/metrics`, on either listener. The listener has the API's front door (head deadline and size, per-address cap)
//! with a connection cap of its own, `admin.max_connections`.

use std::sync::Arc;

use argo_filters::ApiError;
use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use pingora_core::services::listening::Service;

use crate::accounts::Accounts;
use crate::config::{AdminConfig, Settings};
use crate::edge::auth;
use crate::edge::front_door::FrontDoor;
use crate::lifecycle::readiness::Readiness;
use crate::observe::metrics;
use crate::serve::admin_keys;
use crate::serve::routes::{self, Handler, Listener};
use crate::upstream::catalog::Catalog;
use crate::upstream::Upstream;

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Whether `/metrics` may be served on this port to a request with this `Authorization`
/// header: with an admin listener only there (404 on the API port, in the OpenAI error
/// envelope), and only with `admin.metrics_token` (or `admin.token`) as bearer token when one
/// is set (401, the token compared in constant time).
pub fn metrics_access(
    admin: &AdminConfig,
    on_admin_port: bool,
    authorization: Option<&[u8]>,
) -> Result<(), ApiError> {
    if !on_admin_port && !admin.listen.is_empty() {
        return Err(ApiError::not_found("Unknown path /metrics"));
    }
    if admin.metrics_token.is_empty() {
        return Ok(());
    }
    match bears(authorization, &admin.metrics_token) || bears(authorization, &admin.token) {
        true => Ok(()),
        false => Err(ApiError::unauthorized(
            "/metrics needs `Authorization: Bearer <metrics token>`",
        )),
    }
}

/// Whether a call that changes something (`POST /models/refresh`) may run: only with
/// `admin.token` as bearer token (401 otherwise), and never while no admin token is set (403).
pub fn mutation_access(admin: &AdminConfig, authorization: Option<&[u8]>) -> Result<(), ApiError> {
    if admin.token.is_empty() {
        return Err(ApiError::new(
            403,
            "invalid_request_error",
            "Admin calls that change the gateway are disabled: set admin.token \
             (ARGO_BRIDGE_ADMIN_TOKEN) to allow them",
        ));
    }
    match bears(authorization, &admin.token) {
        true => Ok(()),
        false => Err(ApiError::unauthorized(
            "This admin call needs `Authorization: Bearer <admin token>`",
        )),
    }
}

/// Whether `authorization` carries `token` (non-empty) as bearer token, compared in constant
/// time.
fn bears(authorization: Option<&[u8]>, token: &str) -> bool {
    !token.is_empty()
        && authorization
            .and_then(auth::bearer_token)
            .is_some_and(|given| auth::constant_time_eq(given, token.as_bytes()))
}

pub struct AdminApp {
    settings: Arc<Settings>,
    catalog: Arc<Catalog>,
    readiness: Arc<Readiness>,
    /// Its own connections to Argo, for refreshing the model list on request.
    upstream: Upstream,
    accounts: Option<Arc<Accounts>>,
}

impl AdminApp {
    pub fn new(
        settings: Arc<Settings>,
        catalog: Arc<Catalog>,
        readiness: Arc<Readiness>,
        upstream: Upstream,
        accounts: Option<Arc<Accounts>>,
    ) -> Self {
        AdminApp {
            settings,
            catalog,
            readiness,
            upstream,
            accounts,
        }
    }

    /// `/admin/keys`: only with the admin token, and only with an accounts store.
    async fn keys(
        &self,
        session: &mut ServerSession,
        handler: Handler,
        id: Option<&str>,
        authorization: Option<&[u8]>,
    ) -> (u16, Vec<u8>) {
        let answer = async {
            mutation_access(&self.settings.admin, authorization)?;
            let accounts = admin_keys::configured(self.accounts.as_ref())?;
            match handler {
                Handler::CreateKey => {
                    let body = read_body(session, admin_keys::MAX_BODY).await?;
                    admin_keys::create(accounts, &body).await
                }
                Handler::RevokeKey => admin_keys::revoke(accounts, id.unwrap_or_default()).await,
                _ => admin_keys::list(accounts, session.req_header().uri.query()).await,
            }
        };
        answer
            .await
            .unwrap_or_else(|error| (error.status, error.to_json()))
    }

    /// `POST /models/refresh`: Argo's model lists as read by a refresh that started after this
    /// call (shared with other callers, see [`Catalog::refresh`]).
    async fn refresh_models(&self, authorization: Option<&[u8]>) -> (u16, Vec<u8>) {
        if let Err(error) = mutation_access(&self.settings.admin, authorization) {
            return (error.status, error.to_json());
        }
        let refreshed = self.catalog.refresh(&self.upstream, &self.settings).await;
        let body = serde_json::json!({"models": refreshed.models, "failed": refreshed.failed});
        (200, body.to_string().into_bytes())
    }
}

/// The admin listener on `listen`, behind its front door.
pub fn service(listen: &listen_port::Reservation, app: AdminApp) -> Service<FrontDoor<AdminApp>> {
    let settings = Arc::clone(&app.settings);
    let mut service = Service::new(
        "argo-bridge admin".to_string(),
        FrontDoor::admin(app, &settings),
    );
    service.add_tcp_with_settings(&listen.address().to_string(), listen.tcp_options());
    service
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = session.req_header().method.clone();
        let authorization = session
            .req_header()
            .headers
            .get("authorization")
            .map(|value| value.as_bytes().to_vec());
        let authorization = authorization.as_deref();
        let matched = routes::find(Listener::Admin, &method, &path);
        let id = matched
            .as_ref()
            .ok()
            .and_then(|matched| matched.model.clone());
        let handler = matched.map(|matched| matched.handler);
        let (status, content_type, body) = match handler {
            Ok(Handler::RefreshModels) => {
                let (status, body) = self.refresh_models(authorization).await;
                (status, "application/json", body)
            }
            Ok(keys @ (Handler::ListKeys | Handler::CreateKey | Handler::RevokeKey)) => {
                let (status, body) = self.keys(session, keys, id.as_deref(), authorization).await;
                (status, "application/json", body)
            }
            Ok(Handler::Metrics) => {
                match metrics_access(&self.settings.admin, true, authorization) {
                    Ok(()) => (200, METRICS_CONTENT_TYPE, metrics::render()),
                    Err(error) => (error.status, "application/json", error.to_json()),
                }
            }
            Ok(Handler::Ready) => {
                let answer = self.readiness.answer(&self.settings);
                (answer.status, "application/json", answer.body)
            }
            // `/health`: the one other route of the admin listener.
            Ok(_) => (200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            Err(unmatched) => (
                unmatched.error.status,
                "application/json",
                unmatched.error.to_json(),
            ),
        };
        let length = body.len();
        Response::builder()
            .status(status)
            .header("Content-Type", content_type)
            .header("Content-Length", length)
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

/// A request body of at most `limit` bytes (413 beyond).
async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    loop {
        let chunk = session.read_request_body().await.map_err(|e| {
            ApiError::new(
                400,
                "invalid_request_error",
                "The request body could not be read",
            )
            .with_cause(e.to_string())
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(listen: &str, token: &str) -> AdminConfig {
        AdminConfig {
            listen: listen.into(),
            metrics_token: token.into(),
            ..AdminConfig::default()
        }
    }

    #[test]
    fn metrics_stay_off_the_api_port_when_an_admin_listener_serves_them() {
        let open = admin("", "");
        assert!(metrics_access(&open, false, None).is_ok());
        let separate = admin("127.0.0.1:9090", "");
        assert_eq!(
            metrics_access(&separate, false, None).unwrap_err().status,
            404
        );
        assert!(metrics_access(&separate, true, None).is_ok());
    }

    #[test]
    fn a_metrics_token_is_required_as_bearer_token() {
        let guarded = admin("", "scrape-secret-1");
        for wrong in [
            None,
            Some(&b"Bearer scrape-secret-2"[..]),
            Some(b"Bearer scrape-secret-11"),
            Some(b"Basic scrape-secret-1"),
            Some(b"scrape-secret-1"),
        ] {
            let error = metrics_access(&guarded, false, wrong).unwrap_err();
            assert_eq!(error.status, 401, "{wrong:?}");
            assert!(!error.message.contains("scrape-secret"));
        }
        assert!(metrics_access(&guarded, false, Some(b"Bearer scrape-secret-1")).is_ok());
        assert!(metrics_access(&guarded, false, Some(b"bearer  scrape-secret-1 ")).is_ok());
        let both = AdminConfig {
            token: "admin-secret-1".into(),
            ..guarded
        };
        assert!(metrics_access(&both, false, Some(b"Bearer admin-secret-1")).is_ok());
    }

    #[test]
    fn mutations_need_the_admin_token_and_none_is_no_access() {
        let unset = admin("127.0.0.1:9090", "");
        let error = mutation_access(&unset, Some(b"Bearer anything-at-all")).unwrap_err();
        assert_eq!(error.status, 403);
        assert!(error.message.contains("admin.token"));
        let guarded = AdminConfig {
            token: "admin-secret-1".into(),
            ..admin("127.0.0.1:9090", "scrape-secret-1")
        };
        for wrong in [
            None,
            Some(&b"Bearer admin-secret-2"[..]),
            Some(b"Bearer scrape-secret-1"),
            Some(b"Basic admin-secret-1"),
        ] {
            let error = mutation_access(&guarded, wrong).unwrap_err();
            assert_eq!(error.status, 401, "{wrong:?}");
            assert!(!error.message.contains("secret"));
        }
        assert!(mutation_access(&guarded, Some(b"Bearer admin-secret-1")).is_ok());
    }
}
