//! The OpenAI-shaped chat message Argo's native OpenAI endpoint and its resource API both take.

use std::borrow::Cow;

use serde::{Serialize, Serializer};

use crate::hub::Part;
use crate::openai::OpenAiCall;
use crate::upstream::anthropic::Block;

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
