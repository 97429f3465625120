//! The way up: the client's body read and written for Argo (model, user, `stream`, the
//! model table's rules).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::client::anthropic_messages;
use crate::error::ApiError;
use crate::hub::Conversation;
use crate::json::parse_request;
use crate::models::ModelSpec;
use crate::stream::json_string;
use crate::upstream::passthrough::{key_name, member, walk_object};

use super::head::Head;
use super::history::repaired_messages;
use super::thinking::{fit_thinking, output_config, Sampling, ThinkingFit};

/// A client's Messages (or count_tokens) body, with what the pass-through reads of it.
#[derive(Debug)]
pub struct ClientRequest<'a> {
    body: &'a [u8],
    head: Head,
}

/// Reads a Messages body: `model`, `messages` and `max_tokens` are required, as Anthropic
/// requires them; 400s name the offending field. The rest is Argo's to judge.
pub fn read_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    let request = read_count_tokens_request(body)?;
    if request.head.max_tokens.is_none() {
        return Err(ApiError::invalid(
            "max_tokens",
            "max_tokens: Field required",
        ));
    }
    Ok(request)
}

/// Reads a `count_tokens` body: a Messages body without `max_tokens`.
pub fn read_count_tokens_request(body: &[u8]) -> Result<ClientRequest<'_>, ApiError> {
    Ok(ClientRequest {
        body,
        head: parse_request(body)?,
    })
}

/// Which of Argo's Anthropic routes a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Messages,
    CountTokens,
}

/// The members Anthropic's `count_tokens` takes (the `anthropic` SDK's
/// `MessageCountTokensParams`, and the beta's `mcp_servers` and `context_management`); the
/// rest of a Messages body is left out.
const COUNTED: [&[u8]; 11] = [
    b"model",
    b"messages",
    b"system",
    b"tools",
    b"tool_choice",
    b"thinking",
    b"output_config",
    b"cache_control",
    b"speed",
    b"mcp_servers",
    b"context_management",
];

impl ClientRequest<'_> {
    /// The model the client asked for.
    pub fn model(&self) -> &str {
        &self.head.model
    }

    pub fn stream(&self) -> bool {
        self.head.stream == Some(true)
    }

    /// The request as a conversation, for a model the pass-through does not serve.
    pub fn into_conversation(self) -> Result<Conversation, ApiError> {
        anthropic_messages::read_request(self.body).map(|(conversation, _)| conversation)
    }

    /// The request to count as a conversation, for the gateway's own estimate.
    pub fn count_tokens_conversation(&self) -> Result<Conversation, ApiError> {
        anthropic_messages::read_count_tokens_request(self.body)
            .map(|(conversation, _)| conversation)
    }

    /// Argo's `/v1/messages` request, always streamed (see the module's documentation).
    pub fn request_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        self.rewrite(model, user, Route::Messages)
    }

    /// Argo's `/v1/messages/count_tokens` request: rewritten as for `/v1/messages`, with only
    /// the members count_tokens takes (and `user`, which says who asks).
    pub fn count_tokens_body(&self, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
        self.rewrite(model, user, Route::CountTokens)
    }

    fn rewrite(&self, model: &ModelSpec, user: &str, route: Route) -> Result<Vec<u8>, ApiError> {
        let head = &self.head;
        let max_tokens = head.max_tokens.filter(|_| route == Route::Messages);
        let effort = head
            .output_config
            .as_ref()
            .and_then(|config| config.get("effort"))
            .and_then(Value::as_str);
        let thinking = fit_thinking(head.thinking.as_ref(), effort, model.thinking, max_tokens);
        let thinks = thinking.thinks();
        let sampling = Sampling::fitted(head, model, thinks);
        let mut out = Vec::with_capacity(self.body.len() + 160);
        out.push(b'{');
        let mut metadata = None;
        let mut valid = true;
        let walked = walk_object(self.body, |key, span| {
            let raw = &self.body[span];
            let Some(name) = key_name(key) else {
                valid = false;
                return;
            };
            let name = name.as_ref();
            if route == Route::CountTokens && !COUNTED.contains(&name) {
                return;
            }
            let kept: Option<Cow<[u8]>> = match name {
                b"model" | b"user" | b"safety_identifier" | b"stream" => None,
                b"metadata" => {
                    metadata = Some(raw);
                    None
                }
                b"temperature" if !sampling.temperature => None,
                b"top_p" if !sampling.top_p => None,
                b"top_k" if !model.top_k || thinks => None,
                b"thinking" => match thinking {
                    ThinkingFit::AsWritten { .. } => Some(Cow::Borrowed(raw)),
                    ThinkingFit::Dropped | ThinkingFit::Replaced(_) => None,
                },
                b"output_config" => output_config(head, model, &thinking, raw),
                b"messages" => {
                    let repaired = repaired_messages(raw);
                    valid &= repaired.is_some();
                    repaired
                }
                _ => Some(Cow::Borrowed(raw)),
            };
            if let Some(value) = kept {
                member(&mut out, key, &value);
            }
        });
        if !walked || !valid {
            return Err(ApiError::invalid("body", "Invalid JSON body"));
        }
        member(&mut out, b"model", json_string(&model.argo_id).as_bytes());
        member(&mut out, b"user", json_string(user).as_bytes());
        if let ThinkingFit::Replaced(value) = &thinking {
            member(&mut out, b"thinking", value.to_string().as_bytes());
        }
        if route == Route::Messages {
            member(
                &mut out,
                b"metadata",
                users_metadata(metadata, user).as_bytes(),
            );
            member(&mut out, b"stream", b"true");
        }
        out.push(b'}');
        Ok(out)
    }
}

/// The client's `metadata` (when an object) with `user_id` the gateway's user; Argo reads the
/// user there too (argo-api.md §A).
fn users_metadata(raw: Option<&[u8]>, user: &str) -> String {
    let mut metadata: Map<String, Value> = raw
        .and_then(|raw| serde_json::from_slice(raw).ok())
        .unwrap_or_default();
    metadata.insert("user_id".into(), Value::String(user.into()));
    Value::Object(metadata).to_string()
}
