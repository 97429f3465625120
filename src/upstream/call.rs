//! What one request to Argo is: which of its APIs, as which lab user. The path, method and
//! headers follow from it (`../shared/argo-api.md`, sections A and B).

use argo_filters::argo::Endpoint;

/// One of Argo's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The legacy `/api/v1/resource/{chat,streamchat,embed}/`: the user is in the body only.
    Resource(Endpoint),
    /// `/v1/chat/completions`, OpenAI-compatible: every chat model but Claude.
    OpenAiChat { stream: bool },
    /// `/v1/messages`, Anthropic-compatible: the Claude family.
    AnthropicMessages { stream: bool },
    /// `/v1/messages/count_tokens`: Anthropic's count of a Messages prompt (argo-api.md §C).
    AnthropicCountTokens,
    /// `/v1/embeddings`, OpenAI-compatible.
    Embeddings,
    /// `GET /v1/models`: the live model list.
    Models,
}

/// The Anthropic API version Argo's `/v1/messages` expects.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub api: Api,
    /// The lab username the request is made for (always the one the token maps to).
    pub user: &'a str,
}

impl<'a> Call<'a> {
    pub fn new(api: Api, user: &'a str) -> Self {
        Call { api, user }
    }

    /// Path below the environment's base URL.
    pub fn path(&self) -> &'static str {
        match self.api {
            Api::Resource(endpoint) => endpoint.path(),
            Api::OpenAiChat { .. } => "/v1/chat/completions",
            Api::AnthropicMessages { .. } => "/v1/messages",
            Api::AnthropicCountTokens => "/v1/messages/count_tokens",
            Api::Embeddings => "/v1/embeddings",
            Api::Models => "/v1/models",
        }
    }

    pub fn method(&self) -> &'static str {
        match self.api {
            Api::Models => "GET",
            _ => "POST",
        }
    }

    /// Whether the answer is an event stream.
    pub fn streams(&self) -> bool {
        matches!(
            self.api,
            Api::Resource(Endpoint::StreamChat)
                | Api::OpenAiChat { stream: true }
                | Api::AnthropicMessages { stream: true }
        )
    }

    /// The headers that say who is asking and what answer is wanted, beyond Host, type and
    /// length. Native endpoints authenticate the username in a header as well as the body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(3);
        match self.api {
            Api::Resource(_) => {}
            // argo-proxy reads the list with no credentials at all.
            Api::Models if self.user.is_empty() => {}
            Api::AnthropicMessages { .. } | Api::AnthropicCountTokens => {
                headers.push(("x-api-key", self.user.to_string()));
                headers.push(("anthropic-version", ANTHROPIC_VERSION.to_string()));
            }
            _ => headers.push(("Authorization", format!("Bearer {}", self.user))),
        }
        // argo-api.md, section A: streams ask for events, uncompressed.
        if self.streams() && !matches!(self.api, Api::Resource(_)) {
            headers.push(("Accept", "text/event-stream".to_string()));
            headers.push(("Accept-Encoding", "identity".to_string()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_calls_carry_the_username_in_their_own_auth_header() {
        let claude = Call::new(Api::AnthropicMessages { stream: true }, "alice");
        assert_eq!(claude.path(), "/v1/messages");
        let headers = claude.headers();
        assert!(headers.contains(&("x-api-key", "alice".into())));
        assert!(headers.contains(&("anthropic-version", "2023-06-01".into())));
        assert!(headers.contains(&("Accept", "text/event-stream".into())));
        let count = Call::new(Api::AnthropicCountTokens, "alice");
        assert_eq!(count.path(), "/v1/messages/count_tokens");
        assert_eq!(
            count.headers(),
            vec![
                ("x-api-key", "alice".into()),
                ("anthropic-version", "2023-06-01".into())
            ]
        );
        let gpt = Call::new(Api::OpenAiChat { stream: false }, "alice");
        assert_eq!(
            gpt.headers(),
            vec![("Authorization", "Bearer alice".into())]
        );
        assert_eq!(Call::new(Api::Models, "svc").method(), "GET");
        assert!(Call::new(Api::Resource(Endpoint::Chat), "alice")
            .headers()
            .is_empty());
    }
}
