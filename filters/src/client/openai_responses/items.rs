//! Output items as the answer writer and the stream encoder both write them.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use super::tools::{ClientTools, CUSTOM_INPUT};

/// One output item of a response.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    Message {
        text: String,
    },
    /// `name` is the client's, within `namespace` for a grouped tool.
    Call {
        call_id: String,
        name: String,
        namespace: Option<String>,
        arguments: String,
    },
    /// A call of a custom tool; `arguments` as the model wrote them, wrapping the input.
    CustomCall {
        call_id: String,
        name: String,
        namespace: Option<String>,
        arguments: String,
    },
}

impl Item {
    /// The call of `name` (the tool as the model was offered it): a custom call when it is a
    /// custom tool, named as the client declared it.
    pub(super) fn call(
        client_tools: &ClientTools,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> Self {
        let custom = client_tools.contains(name);
        let (name, namespace) = match client_tools.namespaces.origin(name) {
            Some(origin) => (origin.name.clone(), Some(origin.namespace.clone())),
            None => (name.to_string(), None),
        };
        let (call_id, arguments) = (call_id.into(), arguments.into());
        if custom {
            Item::CustomCall {
                call_id,
                name,
                namespace,
                arguments,
            }
        } else {
            Item::Call {
                call_id,
                name,
                namespace,
                arguments,
            }
        }
    }
}

/// A custom tool's input from the model's JSON arguments: the string `input` they wrap; else
/// (the model wrote something else) the arguments text as it is, so nothing it wrote is lost.
pub(super) fn custom_input(arguments: &str) -> Cow<'_, str> {
    match serde_json::from_str::<Map<String, Value>>(arguments) {
        Ok(mut object) => match object.remove(CUSTOM_INPUT) {
            Some(Value::String(input)) => Cow::Owned(input),
            _ => Cow::Borrowed(arguments),
        },
        Err(_) => Cow::Borrowed(arguments),
    }
}

/// An item with its id, and whether it is done (streams).
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) id: String,
    pub(super) item: Item,
    pub(super) done: bool,
}

impl Slot {
    /// The `position`-th item of response `response_id`: ids unique per response.
    pub(super) fn new(response_id: &str, position: usize, item: Item) -> Self {
        let prefix = match item {
            Item::Reasoning { .. } => "rs",
            Item::Message { .. } => "msg",
            Item::Call { .. } => "fc",
            Item::CustomCall { .. } => "ctc",
        };
        let suffix = response_id
            .strip_prefix("resp")
            .map(|rest| rest.trim_start_matches(['-', '_']))
            .filter(|rest| !rest.is_empty())
            .unwrap_or(response_id);
        Slot {
            id: format!("{prefix}_{suffix}_{position}"),
            item,
            done: false,
        }
    }

    /// The item's JSON: whole, or as just added (no content yet).
    pub(super) fn wire(&self, status: &'static str, whole: bool) -> WireItem<'_> {
        let id = self.id.as_str();
        match &self.item {
            Item::Reasoning { text, signature } => WireItem::Reasoning {
                id,
                summary: (whole && !text.is_empty())
                    .then(|| SummaryText::new(text))
                    .into_iter()
                    .collect(),
                encrypted_content: signature
                    .as_deref()
                    .filter(|signature| whole && !signature.is_empty()),
                status,
            },
            Item::Message { text } => WireItem::Message {
                id,
                role: "assistant",
                status,
                content: whole.then(|| OutputText::new(text)).into_iter().collect(),
            },
            Item::Call {
                call_id,
                name,
                namespace,
                arguments,
            } => WireItem::FunctionCall {
                id,
                call_id,
                name,
                namespace: namespace.as_deref(),
                arguments: if whole { arguments } else { "" },
                status,
            },
            Item::CustomCall {
                call_id,
                name,
                namespace,
                arguments,
            } => WireItem::CustomToolCall {
                id,
                call_id,
                name,
                namespace: namespace.as_deref(),
                input: if whole {
                    custom_input(arguments)
                } else {
                    Cow::Borrowed("")
                },
                status,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireItem<'a> {
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
        status: &'static str,
    },
    Message {
        id: &'a str,
        role: &'static str,
        status: &'static str,
        content: Vec<OutputText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        arguments: &'a str,
        status: &'static str,
    },
    CustomToolCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        input: Cow<'a, str>,
        status: &'static str,
    },
}

#[derive(Serialize)]
pub(super) struct SummaryText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

impl<'a> SummaryText<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

#[derive(Serialize)]
pub(super) struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
}

impl<'a> OutputText<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
        }
    }
}
