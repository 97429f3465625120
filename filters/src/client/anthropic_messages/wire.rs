//! The request's wire types: what serde reads a Messages body into, before it is checked.

use serde::de::{self, Deserializer, Unexpected};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::json::{string_or_list, StringOrList};

/// A Messages request body. Optional here what Anthropic requires, so that a missing field
/// is named in Anthropic's words.
#[derive(Deserialize)]
pub(super) struct Request {
    pub(super) model: String,
    pub(super) messages: Vec<WireMessage>,
    #[serde(default)]
    pub(super) max_tokens: Option<u64>,
    #[serde(default)]
    pub(super) system: Option<Content>,
    #[serde(default)]
    pub(super) stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub(super) stream: Option<bool>,
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) top_k: Option<u64>,
    #[serde(default)]
    pub(super) tools: Option<Vec<WireTool>>,
    #[serde(default)]
    pub(super) tool_choice: Option<WireToolChoice>,
    #[serde(default)]
    pub(super) thinking: Option<ThinkingConfig>,
    #[serde(default)]
    pub(super) output_config: Option<OutputConfig>,
    /// The structured-outputs beta's older spelling of `output_config.format`.
    #[serde(default)]
    pub(super) output_format: Option<Value>,
    #[serde(default)]
    pub(super) mcp_servers: Option<Vec<Value>>,
}

#[derive(Deserialize)]
pub(super) struct WireMessage {
    pub(super) role: WireRole,
    pub(super) content: Content,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireRole {
    User,
    Assistant,
    /// Newer API versions take system messages between the turns.
    System,
}

/// `content`: a string or an array of blocks.
pub(super) enum Content {
    Text(String),
    Blocks(Vec<WireBlock>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expecting = "a string or an array of content blocks";
        match string_or_list(deserializer, expecting)? {
            StringOrList::String(text) => Ok(Content::Text(text)),
            StringOrList::List(blocks) => Ok(Content::Blocks(blocks)),
            StringOrList::Null => Err(de::Error::invalid_type(Unexpected::Unit, &expecting)),
        }
    }
}

/// Any content block, flat: each type's fields, optional, checked when the block is read so
/// that a missing one is named with its path and an unknown type is refused by name.
#[derive(Deserialize)]
pub(super) struct WireBlock {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) text: Option<String>,
    /// An image's or document's source object; a search result's source string.
    #[serde(default)]
    pub(super) source: Option<Value>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) input: Option<Value>,
    #[serde(default)]
    pub(super) tool_use_id: Option<String>,
    #[serde(default)]
    pub(super) content: Option<Content>,
    #[serde(default)]
    pub(super) is_error: Option<bool>,
    #[serde(default)]
    pub(super) thinking: Option<String>,
    #[serde(default)]
    pub(super) signature: Option<String>,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) context: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireTool {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) input_schema: Option<Value>,
    #[serde(default)]
    pub(super) strict: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct WireToolChoice {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct ThinkingConfig {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) budget_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct OutputConfig {
    #[serde(default)]
    pub(super) effort: Option<String>,
    #[serde(default)]
    pub(super) format: Option<Value>,
}

/// The effort levels Anthropic's `output_config.effort` takes.
pub(super) const EFFORTS: [&str; 5] = ["low", "medium", "high", "xhigh", "max"];

/// `value`, or the "Field required" error for `at.field`.
pub(super) fn required<T>(value: Option<T>, at: &str, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| missing(at, field))
}

pub(super) fn missing(at: &str, field: &str) -> ApiError {
    let param = format!("{at}.{field}");
    ApiError::invalid(param.clone(), format!("{param}: Field required"))
}
