//! CORS for browser clients, off unless origins are configured. A downstream module adds the
//! allow headers to every response, whoever wrote it; the gateway answers preflights.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::modules::http::{HttpModule, HttpModuleBuilder, Module};
use pingora_http::{RequestHeader, ResponseHeader};

/// The configured allow-list; `*` allows any origin.
#[derive(Debug, Clone)]
pub struct AllowList(Arc<Vec<String>>);

impl AllowList {
    pub fn new(origins: &[String]) -> Self {
        AllowList(Arc::new(origins.to_vec()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }
}

impl HttpModuleBuilder for AllowList {
    fn init(&self) -> Module {
        Box::new(CorsModule {
            allow_list: self.clone(),
            origin: None,
        })
    }
}

struct CorsModule {
    allow_list: AllowList,
    /// The request's origin, when allowed.
    origin: Option<String>,
}

#[async_trait]
impl HttpModule for CorsModule {
    async fn request_header_filter(
        &mut self,
        request: &mut RequestHeader,
    ) -> pingora_error::Result<()> {
        self.origin = request
            .headers
            .get("origin")
            .and_then(|value| value.to_str().ok())
            .filter(|origin| self.allow_list.allows(origin))
            .map(str::to_string);
        Ok(())
    }

    async fn response_header_filter(
        &mut self,
        response: &mut ResponseHeader,
        _end: bool,
    ) -> pingora_error::Result<()> {
        if let Some(origin) = &self.origin {
            response.insert_header("access-control-allow-origin", origin.as_str())?;
            response.insert_header("vary", "Origin")?;
            response.insert_header(
                "access-control-expose-headers",
                "x-request-id, x-argo-bridge-overhead-ms, retry-after",
            )?;
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Headers of a preflight answer (the module adds the origin itself).
pub fn preflight_headers(requested_headers: Option<&str>) -> Vec<(&'static str, String)> {
    vec![
        (
            "access-control-allow-methods",
            "GET, POST, OPTIONS".to_string(),
        ),
        (
            "access-control-allow-headers",
            requested_headers
                .unwrap_or("authorization, content-type")
                .to_string(),
        ),
        ("access-control-max-age", "600".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_exact_origins_or_star() {
        let list = AllowList::new(&["https://notebook.anl.gov".to_string()]);
        assert!(list.allows("https://notebook.anl.gov"));
        assert!(!list.allows("https://evil.example"));
        assert!(AllowList::new(&["*".to_string()]).allows("https://anything.example"));
        assert!(AllowList::new(&[]).is_empty());
    }
}
