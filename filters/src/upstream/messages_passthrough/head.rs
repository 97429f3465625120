//! The members of a client's Messages body the pass-through reads.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The members the pass-through reads; the rest is copied unread. Each may appear once
/// (serde refuses a duplicate, however its key is spelled).
#[derive(Debug, Deserialize)]
pub(super) struct Head {
    pub(super) model: String,
    #[serde(default)]
    pub(super) max_tokens: Option<u64>,
    #[serde(default)]
    pub(super) stream: Option<bool>,
    #[serde(rename = "messages")]
    _messages: Vec<IgnoredAny>,
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) thinking: Option<Value>,
    #[serde(default)]
    pub(super) output_config: Option<Map<String, Value>>,
}
