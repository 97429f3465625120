//! The resource API's wire shapes (`/api/v1/resource/{chat,streamchat,embed}/`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::models::{ModelSpec, Params};
use crate::upstream::chat_message::Message;

/// Which Argo endpoint a translated request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    StreamChat,
    Embed,
}

impl Endpoint {
    /// Path below the environment's base URL.
    pub const fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/api/v1/resource/chat/",
            Endpoint::StreamChat => "/api/v1/resource/streamchat/",
            Endpoint::Embed => "/api/v1/resource/embed/",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    pub user: &'a str,
    pub model: &'a str,
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

impl<'a> ChatRequest<'a> {
    pub fn new(user: &'a str, model: &'a str, messages: Vec<Message<'a>>) -> Self {
        ChatRequest {
            user,
            model,
            messages,
            stop: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            max_completion_tokens: None,
            tools: None,
            tool_choice: None,
        }
    }

    /// The token limit and sampling, already fitted to the model ([`ModelSpec::fit`]).
    /// Reasoning models get the limit as `max_completion_tokens`, the others as `max_tokens`.
    pub fn with_params(mut self, model: &ModelSpec, params: Params) -> Self {
        if model.reasoning {
            self.max_completion_tokens = params.limit;
        } else {
            self.max_tokens = params.limit;
        }
        self.temperature = params.temperature;
        self.top_p = params.top_p;
        self
    }
}

/// Argo's chat answer. `response` is a string, or with native tools an object holding
/// `content` and `tool_calls` (OpenAI shape) or Anthropic content blocks.
#[derive(Debug, Deserialize)]
pub struct ChatResponse {
    pub response: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct EmbedRequest<'a> {
    pub user: &'a str,
    pub model: &'a str,
    pub prompt: &'a [String],
}

/// Vectors are kept as raw JSON so the float path can copy them through untouched.
#[derive(Debug, Deserialize)]
pub struct EmbedResponse<'a> {
    #[serde(borrow)]
    pub embedding: Vec<&'a RawValue>,
}
