//! The Argo client: Pingora's pooled connector, explicit timeouts, and errors mapped to what a
//! client can act on (502 unreachable or broken, 504 too slow).

use std::collections::BTreeMap;
use std::time::Duration;

use argo_filters::argo::Endpoint;
use argo_filters::error::from_argo_status;
use argo_filters::ApiError;
use bytes::Bytes;
use pingora_core::connectors::http::Connector;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::protocols::http::client::HttpSession;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType};
use pingora_http::RequestHeader;

use crate::config::{ArgoEnv, UpstreamConfig};

/// Ceiling on a buffered (non-streaming) Argo answer: large embedding batches are big.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

pub struct Upstream {
    connector: Connector,
    config: UpstreamConfig,
    environments: BTreeMap<String, ArgoEnv>,
}

/// One request in flight to Argo, response header already read.
pub struct Exchange {
    session: HttpSession,
    peer: HttpPeer,
    pub env: String,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, environments: &BTreeMap<String, ArgoEnv>) -> Self {
        let mut options = ConnectorOptions::new(config.pool_size);
        if !config.ca_file.is_empty() {
            options.ca_file = Some(config.ca_file.clone());
        }
        Upstream {
            connector: Connector::new(Some(options)),
            config: config.clone(),
            environments: environments.clone(),
        }
    }

    fn peer(&self, env: &ArgoEnv) -> HttpPeer {
        let mut peer = HttpPeer::new(env.addr, env.tls, env.host.clone());
        let options = &mut peer.options;
        options.connection_timeout = Some(self.config.connect_timeout());
        options.total_connection_timeout = Some(self.config.connect_timeout() * 2);
        options.read_timeout = Some(self.config.read_timeout());
        options.write_timeout = Some(self.config.write_timeout());
        options.idle_timeout = Some(self.config.idle_timeout());
        peer
    }

    /// Sends `body` to `endpoint` of the model's environment and reads the response header.
    /// A pooled connection that turns out to be dead is retried once on a fresh one: nothing
    /// reached Argo, so the retry is safe.
    pub async fn send(
        &self,
        env_name: &str,
        endpoint: Endpoint,
        body: Bytes,
    ) -> Result<Exchange, ApiError> {
        let env = self.environments.get(env_name).ok_or_else(|| {
            ApiError::internal(format!("model environment `{env_name}` is not configured"))
        })?;
        let peer = self.peer(env);
        let path = format!("{}{}", env.base_path, endpoint.path());
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let (mut session, reused) = self
                .connector
                .get_http_session(&peer)
                .await
                .map_err(|e| self.map_error(&e, env_name))?;
            // The connector leaves per-read timeouts to the caller.
            session.set_read_timeout(Some(self.config.read_timeout()));
            session.set_write_timeout(Some(self.config.write_timeout()));
            match exchange(&mut session, &path, &env.host, body.clone()).await {
                Ok(()) => {
                    return Ok(Exchange {
                        session,
                        peer,
                        env: env_name.to_string(),
                    })
                }
                Err(e) if reused && attempts_left > 0 && is_stale_connection(&e) => {
                    log::debug!("pooled connection to Argo {env_name} was stale, retrying: {e}");
                }
                Err(e) => return Err(self.map_error(&e, env_name)),
            }
        }
    }

    /// One buffered round trip: the 2xx body, or the error the client should see.
    pub async fn buffered(
        &self,
        env: &str,
        endpoint: Endpoint,
        body: Bytes,
    ) -> Result<Vec<u8>, ApiError> {
        let mut exchange = self.send(env, endpoint, body).await?;
        if !exchange.is_success() {
            return Err(self.reject(exchange).await);
        }
        let answer = exchange.read_to_end(self).await;
        self.release(exchange).await;
        answer
    }

    /// Reads a non-2xx answer and maps it to the client's error (429 keeps its Retry-After).
    pub async fn reject(&self, mut exchange: Exchange) -> ApiError {
        let status = exchange.status();
        let retry_after = exchange.header("retry-after").map(str::to_string);
        let answer = exchange.read_to_end(self).await;
        self.release(exchange).await;
        match answer {
            Ok(body) => from_argo_status(status, &body, retry_after.as_deref()),
            Err(error) => error,
        }
    }

    /// Returns a fully read connection to the pool; anything else is closed.
    pub async fn release(&self, mut exchange: Exchange) {
        if exchange.session.response_done() {
            self.connector
                .release_http_session(
                    exchange.session,
                    &exchange.peer,
                    Some(self.config.idle_timeout()),
                )
                .await;
        } else {
            exchange.session.shutdown().await;
        }
    }

    pub fn map_error(&self, error: &Error, env: &str) -> ApiError {
        let seconds = |d: Duration| d.as_secs_f64();
        match error.etype() {
            ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => ApiError::gateway_timeout(format!(
                "Argo ({env}) did not accept a connection within {:.1}s; try again later",
                seconds(self.config.connect_timeout())
            )),
            ErrorType::ReadTimedout => ApiError::gateway_timeout(format!(
                "Argo ({env}) sent nothing for {:.0}s; the model may be overloaded, try again or shorten the request",
                seconds(self.config.read_timeout())
            )),
            ErrorType::WriteTimedout => {
                ApiError::gateway_timeout(format!("Argo ({env}) stopped accepting the request body; try again later"))
            }
            ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
                ApiError::bad_gateway(format!("Could not connect to Argo ({env}); it may be down, try again later"))
            }
            ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert | ErrorType::HandshakeError => {
                ApiError::bad_gateway(format!("TLS with Argo ({env}) failed; ask the gateway operator to check its CA bundle"))
            }
            _ => ApiError::bad_gateway(format!("The connection to Argo ({env}) failed mid-request; try again")),
        }
    }
}

async fn exchange(
    session: &mut HttpSession,
    path: &str,
    host: &str,
    body: Bytes,
) -> pingora_error::Result<()> {
    let mut request = RequestHeader::build("POST", path.as_bytes(), Some(4))?;
    request.insert_header("Host", host)?;
    request.insert_header("Content-Type", "application/json")?;
    request.insert_header("Accept", "application/json, text/plain")?;
    request.insert_header("Content-Length", body.len().to_string())?;
    request.insert_header(
        "User-Agent",
        concat!("argo-bridge/", env!("CARGO_PKG_VERSION")),
    )?;
    session.write_request_header(Box::new(request)).await?;
    session.write_request_body(body, true).await?;
    session.finish_request_body().await?;
    session.read_response_header().await
}

fn is_stale_connection(error: &Error) -> bool {
    matches!(
        error.etype(),
        ErrorType::ConnectionClosed
            | ErrorType::ReadError
            | ErrorType::WriteError
            | ErrorType::H1Error
    )
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status())
    }

    pub fn status(&self) -> u16 {
        self.session
            .response_header()
            .map(|header| header.status.as_u16())
            .unwrap_or(502)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.session
            .response_header()?
            .headers
            .get(name)?
            .to_str()
            .ok()
    }

    /// The next piece of the body; `None` at the end.
    pub async fn next_chunk(&mut self, upstream: &Upstream) -> Result<Option<Bytes>, ApiError> {
        self.session
            .read_response_body()
            .await
            .map_err(|e| upstream.map_error(&e, &self.env))
    }

    /// The whole body, bounded.
    pub async fn read_to_end(&mut self, upstream: &Upstream) -> Result<Vec<u8>, ApiError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk(upstream).await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ApiError::bad_gateway(
                    "Argo's answer is larger than the gateway accepts",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
