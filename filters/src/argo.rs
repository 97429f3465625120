//! Argo's resource API shapes (`/api/v1/resource/{chat,streamchat,embed}/`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::hub::Part;
use crate::models::{ModelSpec, Params};
use crate::openai::OpenAiCall;
use crate::upstream::anthropic::Block;

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

/// An OpenAI-shaped chat message, as the resource API and Argo's native OpenAI endpoint take it.
/// It has no participant `name`: Argo may read it as who speaks, and only the gateway says who
/// the user is.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub role: &'static str,
    pub content: MessageContent<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    pub fn text(role: &'static str, text: impl Into<Cow<'a, str>>) -> Self {
        Message {
            role,
            content: MessageContent::Text(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MessageContent<'a> {
    Text(Cow<'a, str>),
    Parts(Parts<'a>),
    Blocks(Vec<Block<'a>>),
    Null,
}

/// Text and image parts as OpenAI's content parts; other parts are not content.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a>(pub &'a [Part]);

impl Serialize for Parts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Wire<'a> {
            Text { text: &'a str },
            ImageUrl { image_url: ImageUrl<'a> },
        }
        #[derive(Serialize)]
        struct ImageUrl<'a> {
            url: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        serializer.collect_seq(self.0.iter().filter_map(|part| match part {
            Part::Text(text) => Some(Wire::Text { text }),
            Part::Image { url, detail } => Some(Wire::ImageUrl {
                image_url: ImageUrl {
                    url,
                    detail: detail.as_deref(),
                },
            }),
            _ => None,
        }))
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
