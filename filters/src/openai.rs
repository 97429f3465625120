//! The OpenAI request shapes the gateway accepts. Unknown fields are ignored (chat keeps them
//! for Argo's native OpenAI endpoint), as OpenAI's own SDKs send many that Argo's resource API
//! has no use for. [`check_sampling`] checks what serde's types cannot.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::json::{string_or_list, StringOrList};

#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Every other field, for an upstream that speaks OpenAI's dialect.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    #[serde(default)]
    pub content: Content,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// Message content: absent/null, a string, or an array of typed parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Content {
    #[default]
    Empty,
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: Value },
}

impl Content {
    /// The text parts joined with newlines; `None` when a non-text part is present.
    pub fn joined_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Content::Empty => Some("".into()),
            Content::Text(text) => Some(text.as_str().into()),
            Content::Parts(parts) => {
                let mut texts = Vec::with_capacity(parts.len());
                for part in parts {
                    match part {
                        ContentPart::Text { text } => texts.push(text.as_str()),
                        ContentPart::ImageUrl { .. } => return None,
                    }
                }
                Some(texts.join("\n").into())
            }
        }
    }

    /// Every text part, for token estimation.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let (single, parts): (Option<&str>, &[ContentPart]) = match self {
            Content::Empty => (None, &[]),
            Content::Text(text) => (Some(text), &[]),
            Content::Parts(parts) => (None, parts),
        };
        single
            .into_iter()
            .chain(parts.iter().filter_map(|part| match part {
                ContentPart::Text { text } => Some(text.as_str()),
                ContentPart::ImageUrl { .. } => None,
            }))
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expecting = "a string, an array of content parts, or null";
        Ok(match string_or_list(deserializer, expecting)? {
            StringOrList::Null => Content::Empty,
            StringOrList::String(text) => Content::Text(text),
            StringOrList::List(parts) => Content::Parts(parts),
        })
    }
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_list(self) -> Vec<String> {
        match self {
            Stop::One(one) => vec![one],
            Stop::Many(many) => many,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: Prompt,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub echo: Option<bool>,
}

/// The sampling parameters' ranges, as OpenAI takes them, for every OpenAI request format
/// (chat, completions, Responses); `n` only 1.
pub fn check_sampling(
    temperature: Option<f64>,
    top_p: Option<f64>,
    n: Option<u64>,
) -> Result<(), ApiError> {
    if let Some(temperature) = temperature {
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                "temperature",
                "`temperature` must be between 0 and 2",
            ));
        }
    }
    if let Some(top_p) = top_p {
        if !(0.0..=1.0).contains(&top_p) {
            return Err(ApiError::invalid(
                "top_p",
                "`top_p` must be between 0 and 1",
            ));
        }
    }
    if n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(
            "n",
            "Only `n: 1` is supported: Argo returns one choice per request",
        ));
    }
    Ok(())
}

/// `prompt` / `input`: text or a list of texts. Token-id arrays are recognised so that the
/// error can say what is unsupported rather than "wrong type".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u64>),
    TokenLists(Vec<Vec<u64>>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Prompt,
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    #[serde(default)]
    pub dimensions: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// Identity of one response, chosen by the caller (ids and clocks are I/O).
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created: u64,
    /// The model name exactly as the client sent it.
    pub model: String,
}

/// A tool call in OpenAI's shape: `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OpenAiCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OpenAiFunction<'a>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct OpenAiFunction<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

impl<'a> OpenAiCall<'a> {
    pub fn new(id: &'a str, name: &'a str, arguments: &'a str) -> Self {
        OpenAiCall {
            id,
            kind: "function",
            function: OpenAiFunction { name, arguments },
        }
    }
}
