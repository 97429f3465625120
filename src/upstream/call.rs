//! What one request to Argo is: which of its APIs, as which lab user. The path, method and
//! headers follow from it (`../shared/argo-api.md`, sections A and B).

use argo_filters::upstream::plan::Target;
use argo_filters::upstream::resource::Endpoint;

use crate::config::UpstreamConfig;

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
    /// `/v1/responses`, OpenAI's Responses API: the GPT models (argo-api.md §C).
    Responses { stream: bool },
    /// `GET /v1/models`: the live model list.
    Models,
}

impl From<Target> for Api {
    /// The endpoint a plan ([`argo_filters::upstream::plan`]) calls.
    fn from(target: Target) -> Self {
        match target {
            Target::AnthropicMessages { stream } => Api::AnthropicMessages { stream },
            Target::OpenAiChat { stream } => Api::OpenAiChat { stream },
            Target::Responses { stream } => Api::Responses { stream },
            Target::Embeddings => Api::Embeddings,
            Target::Resource(endpoint) => Api::Resource(endpoint),
        }
    }
}

/// The Anthropic API version Argo's `/v1/messages` expects.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub api: Api,
    /// The lab username the request is made for (always the one the token maps to).
    pub user: &'a str,
    /// The client program's `User-Agent`, cleaned ([`client_agent`]), named after the gateway's
    /// own in Argo's: none for the gateway's own calls or a client that sent none.
    pub client_agent: Option<&'a str>,
    /// Argo's id of the model called, when the call is a model's: what Argo refused for it
    /// is learned ([`super::learned`]).
    pub model: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn new(api: Api, user: &'a str) -> Self {
        Call {
            api,
            user,
            client_agent: None,
            model: None,
        }
    }

    /// The call of Argo's model `model` made on behalf of the client program `agent` (a
    /// [`client_agent`]).
    pub fn for_client<'b>(self, agent: Option<&'b str>, model: Option<&'b str>) -> Call<'b>
    where
        'a: 'b,
    {
        Call {
            client_agent: agent,
            model,
            ..self
        }
    }

    /// Whether a refused parameter is left out and the call made again ([`super::learned`]):
    /// Argo's native chat endpoints and its Responses endpoint, which refuse parameters with a
    /// 400 before generating anything.
    pub fn learns_refusals(&self) -> bool {
        matches!(
            self.api,
            Api::OpenAiChat { .. } | Api::AnthropicMessages { .. } | Api::Responses { .. }
        )
    }

    /// Path below the environment's base URL.
    pub fn path(&self) -> &'static str {
        match self.api {
            Api::Resource(endpoint) => endpoint.path(),
            Api::OpenAiChat { .. } => "/v1/chat/completions",
            Api::AnthropicMessages { .. } => "/v1/messages",
            Api::AnthropicCountTokens => "/v1/messages/count_tokens",
            Api::Embeddings => "/v1/embeddings",
            Api::Responses { .. } => "/v1/responses",
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
                | Api::Responses { stream: true }
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

/// Longest part of a client's `User-Agent` passed on to Argo.
pub const MAX_CLIENT_AGENT_BYTES: usize = 256;

/// A client's `User-Agent` as it may go inside the parentheses of the gateway's own: printable
/// ASCII only (no CR, LF or other control bytes, nothing outside ASCII), no parentheses or
/// backslashes that would break the comment, at most [`MAX_CLIENT_AGENT_BYTES`]; none when
/// nothing is left. Argo's maintainer asks intermediaries to name the originating client
/// there (argo-api.md §C, argo-proxy issue 144).
pub fn client_agent(raw: &[u8]) -> Option<String> {
    let kept: String = raw
        .iter()
        .filter(|byte| matches!(byte, b' '..=b'~') && !matches!(byte, b'(' | b')' | b'\\'))
        .take(MAX_CLIENT_AGENT_BYTES)
        .map(|&byte| char::from(byte))
        .collect();
    let trimmed = kept.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Which environment serves a call: the section's overrides of the model's own.
impl UpstreamConfig {
    /// Where a call to `api` goes for a model of `model_env`. `streaming_env` concerns only the
    /// resource API's `streamchat`: the native endpoints stream in every environment.
    pub fn env_for<'a>(&'a self, api: Api, model_env: &'a str) -> &'a str {
        let routed = match api {
            Api::Resource(Endpoint::StreamChat) => self.streaming_env.as_str(),
            Api::Resource(Endpoint::Embed) | Api::Embeddings => self.embeddings_env.as_str(),
            _ => "",
        };
        if routed.is_empty() {
            model_env
        } else {
            routed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_agent_is_printable_ascii_without_parentheses_and_bounded() {
        assert_eq!(
            client_agent(b"OpenAI/Python 1.99.0").as_deref(),
            Some("OpenAI/Python 1.99.0")
        );
        assert_eq!(
            client_agent(b"codex (linux)\r\nX-Evil: 1\x00\xc3\xa9").as_deref(),
            Some("codex linuxX-Evil: 1")
        );
        assert_eq!(client_agent(b"  ()\r\n "), None);
        assert_eq!(client_agent(b""), None);
        let long = client_agent(&[b'a'; 10_000]).unwrap();
        assert_eq!(long.len(), MAX_CLIENT_AGENT_BYTES);
        let call = Call::new(Api::Models, "svc");
        assert_eq!(call.client_agent, None);
        let made = call.for_client(Some("curl/8"), Some("gpt4o"));
        assert_eq!(
            (made.client_agent, made.model),
            (Some("curl/8"), Some("gpt4o"))
        );
    }

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
        // argo-api.md §C: `/v1/responses` takes the bearer username only (x-api-key refused).
        let responses = Call::new(Api::Responses { stream: true }, "alice");
        assert_eq!(responses.path(), "/v1/responses");
        let headers = responses.headers();
        assert!(headers.contains(&("Authorization", "Bearer alice".into())));
        assert!(headers.contains(&("Accept", "text/event-stream".into())));
        assert!(!headers.iter().any(|(name, _)| *name == "x-api-key"));
        assert!(Call::new(Api::Resource(Endpoint::Chat), "alice")
            .headers()
            .is_empty());
    }
}
