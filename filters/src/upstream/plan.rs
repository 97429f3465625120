//! Which of Argo's endpoints serves a request, the body it is sent, and how its answer is read:
//! the one place that reads a model row's `upstream` API and family ([`upstream`]). Sans-IO:
//! the gateway's handlers call these functions and match on the plans they return only to make
//! the calls.
//!
//! A chat request goes one of two ways. A pass-through ([`PassThrough`]) sends the client's own
//! body, rewritten, to the Argo endpoint of its dialect and relays the answer ([`Relay`]); the
//! hub reads the request into a [`Conversation`], which [`conversation`] plans for the row's
//! upstream ([`Exchange`]). [`chat`], [`messages`] and [`responses`] pick the way for each
//! client dialect; Google's clients and `/v1/completions` (one conversation per prompt,
//! [`resource::completions::conversation`]) always take the hub. Embeddings have their own
//! pair of endpoints ([`Embeddings`]).

use crate::client::openai_responses::{self, ClientTools};
use crate::embeddings::{self, Output};
use crate::error::ApiError;
use crate::hub::{Answer, Conversation, Usage};
use crate::models::{Family, ModelSpec, UpstreamApi};
use crate::openai::{EmbeddingRequest, EncodingFormat, ResponseMeta};
use crate::tools::namespaces::Namespaces;
use crate::translate::{self, Decoder, StreamTranslation};
use crate::upstream::resource::prompt_tools::ToolScanner;
use crate::upstream::resource::{self, embed, Endpoint, TextDecoder, ToolReplies};
use crate::upstream::{
    anthropic, messages_passthrough, openai_native, passthrough, responses_passthrough,
};

/// The upstream a chat model's row picks: Argo's native Anthropic endpoint for Claude on the
/// native API, its native OpenAI endpoint for the other models on it, or the legacy resource
/// API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    AnthropicMessages,
    OpenAiChat,
    Resource,
}

/// Which upstream serves `model`'s chat: the one decision every plan follows.
pub fn upstream(model: &ModelSpec) -> Upstream {
    match (model.api(), model.family) {
        (UpstreamApi::Native, Family::Anthropic) => Upstream::AnthropicMessages,
        (UpstreamApi::Native, _) => Upstream::OpenAiChat,
        (UpstreamApi::Resource, _) => Upstream::Resource,
    }
}

/// One of Argo's endpoints a plan calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `/v1/messages`.
    AnthropicMessages { stream: bool },
    /// `/v1/chat/completions`.
    OpenAiChat { stream: bool },
    /// `/v1/responses`.
    Responses { stream: bool },
    /// `/v1/embeddings`.
    Embeddings,
    /// The legacy `/api/v1/resource/{chat,streamchat,embed}/`.
    Resource(Endpoint),
}

/// A request in a client dialect that has a pass-through, with what of it decides the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialed {
    /// OpenAI chat; Gemini takes a history's parallel tool calls one at a time, which only the
    /// hub writes.
    Chat { parallel_tool_calls: bool },
    /// Anthropic Messages.
    Messages,
    /// OpenAI Responses; Argo's `/v1/responses` refuses long custom tools.
    Responses { long_custom_tool: bool },
}

/// Whether a request of `dialed` for `model` passes through to the Argo endpoint of its own
/// dialect, rather than going through the hub.
pub fn passes_through(dialed: Dialed, model: &ModelSpec) -> bool {
    match (dialed, upstream(model)) {
        (
            Dialed::Chat {
                parallel_tool_calls,
            },
            Upstream::OpenAiChat,
        ) => !(parallel_tool_calls && model.family == Family::Google),
        (Dialed::Messages, Upstream::AnthropicMessages) => true,
        (Dialed::Responses { long_custom_tool }, Upstream::OpenAiChat) => {
            responses_passthrough::serves(model) && !long_custom_tool
        }
        _ => false,
    }
}

/// The way a request of a dialect with a pass-through goes: through the hub with what it read
/// (`H`), or passed through.
pub enum Plan<H> {
    Hub(H),
    PassThrough(PassThrough),
}

/// The client's body, rewritten for Argo's endpoint of its dialect.
pub struct PassThrough {
    pub target: Target,
    pub body: Vec<u8>,
    pub relay: Relay,
}

/// How a pass-through's answer goes back to the client.
#[derive(Debug)]
pub enum Relay {
    /// OpenAI chat ([`passthrough`]).
    Chat { stream: bool, include_usage: bool },
    /// Anthropic Messages ([`messages_passthrough`]); Argo's answer is always a stream, which
    /// is collected for a client that asked for one answer.
    Messages { stream: bool },
    /// OpenAI Responses ([`responses_passthrough`]), with the way back to the namespaced tools
    /// the client declared, which the model was offered flat.
    Responses {
        stream: bool,
        namespaces: Namespaces,
    },
}

impl Relay {
    /// Whether the client asked for a stream.
    pub fn streams(&self) -> bool {
        match self {
            Relay::Chat { stream, .. }
            | Relay::Messages { stream }
            | Relay::Responses { stream, .. } => *stream,
        }
    }

    /// The translation of Argo's stream for a client that asked for one.
    pub fn stream(self, meta: &ResponseMeta) -> StreamTranslation {
        match self {
            Relay::Chat { include_usage, .. } => passthrough::stream(meta, include_usage),
            Relay::Messages { .. } => messages_passthrough::stream(meta),
            Relay::Responses { namespaces, .. } => responses_passthrough::stream(meta, namespaces),
        }
    }

    /// The client's answer from Argo's whole answer, and the usage Argo reported.
    pub fn answer(
        &self,
        body: &[u8],
        meta: &ResponseMeta,
    ) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
        match self {
            Relay::Chat { .. } => passthrough::relay_answer(body, meta),
            Relay::Messages { .. } => messages_passthrough::collect_answer(body, meta)
                .map(|(json, usage)| (json, Some(usage))),
            Relay::Responses { namespaces, .. } => {
                responses_passthrough::relay_answer(body, meta, namespaces)
            }
        }
    }
}

/// An OpenAI chat request (`/v1/chat/completions`): passed through to Argo's native OpenAI
/// endpoint, or the conversation for the hub (Claude, the resource API, and Gemini with
/// parallel tool calls in its history).
pub fn chat(
    client: passthrough::ClientRequest<'_>,
    model: &ModelSpec,
    user: &str,
) -> Result<Plan<Box<Conversation>>, ApiError> {
    let dialed = Dialed::Chat {
        parallel_tool_calls: client.has_parallel_tool_calls(),
    };
    if !passes_through(dialed, model) {
        return Ok(Plan::Hub(Box::new(client.into_conversation()?)));
    }
    let stream = client.stream();
    Ok(Plan::PassThrough(PassThrough {
        target: Target::OpenAiChat { stream },
        body: client.request_body(model, user)?,
        relay: Relay::Chat {
            stream,
            include_usage: client.include_usage(),
        },
    }))
}

/// An Anthropic Messages request (`/v1/messages`): Claude on the native API passed through to
/// Argo's `/v1/messages`, always streamed upstream (Argo refuses unstreamed Claude, argo-api.md
/// §C); any other model or API through the hub.
pub fn messages(
    client: messages_passthrough::ClientRequest<'_>,
    model: &ModelSpec,
    user: &str,
) -> Result<Plan<Box<Conversation>>, ApiError> {
    if !passes_through(Dialed::Messages, model) {
        return Ok(Plan::Hub(Box::new(client.into_conversation()?)));
    }
    Ok(Plan::PassThrough(PassThrough {
        target: Target::AnthropicMessages { stream: true },
        body: client.request_body(model, user)?,
        relay: Relay::Messages {
            stream: client.stream(),
        },
    }))
}

/// Whether a Messages count_tokens request for `model` is counted by Argo's own
/// `/v1/messages/count_tokens`: where its Messages requests pass through.
pub fn counts_at_argo(model: &ModelSpec) -> bool {
    passes_through(Dialed::Messages, model)
}

/// An OpenAI Responses request (`/v1/responses`, its body `body`): a GPT model on the native
/// API passed through to Argo's `/v1/responses`; the rest through the hub, with the request's
/// custom tools.
pub fn responses(
    body: &[u8],
    client: responses_passthrough::ClientRequest<'_>,
    model: &ModelSpec,
    user: &str,
) -> Result<Plan<(Box<Conversation>, ClientTools)>, ApiError> {
    let dialed = Dialed::Responses {
        long_custom_tool: client.has_long_custom_tool(),
    };
    if !passes_through(dialed, model) {
        let (conversation, _, custom_tools) = openai_responses::read_request(body)?;
        return Ok(Plan::Hub((Box::new(conversation), custom_tools)));
    }
    let stream = client.stream();
    let (body, namespaces) = client.request_body(model, user)?;
    Ok(Plan::PassThrough(PassThrough {
        target: Target::Responses { stream },
        body,
        relay: Relay::Responses { stream, namespaces },
    }))
}

/// A hub conversation's call to Argo and how its answer is read.
pub struct Exchange {
    pub target: Target,
    pub body: Vec<u8>,
    pub reading: Reading,
    pub usage: UpstreamUsage,
    /// Bytes of the request the reading keeps for as long as the answer runs (the tool names a
    /// prompt-mode scanner looks for).
    pub held: usize,
}

/// How an answer is read.
pub enum Reading {
    /// Translated for the client as it arrives.
    Stream(Box<dyn Decoder>),
    /// Read whole into one answer.
    Whole(Box<ReadAnswer>),
}

pub type ReadAnswer = dyn FnOnce(&[u8]) -> Result<Answer, ApiError> + Send;

/// Whether an upstream's answer carries its own count of the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamUsage {
    Reported,
    None,
}

/// The Argo call for a conversation of `model`, for `user`: Claude over `/v1/messages`, any
/// other model on the native API over `/v1/chat/completions`, or the legacy resource endpoints
/// (`streamchat` for streams it can carry, else `chat`). `response_id` names the tool calls a
/// prompt-mode answer carries; `max_tool_block` bounds the tagged block a stream holds back.
pub fn conversation(
    conversation: &Conversation,
    model: &ModelSpec,
    user: &str,
    response_id: &str,
    max_tool_block: usize,
) -> Result<Exchange, ApiError> {
    let stream = conversation.stream;
    let exchange = match upstream(model) {
        // Always streamed upstream: Argo refuses long Claude answers unless streamed, so a
        // client that wants one answer gets the stream collected.
        Upstream::AnthropicMessages => Exchange {
            target: Target::AnthropicMessages { stream: true },
            body: anthropic::request_body(conversation, model, user, true)?,
            reading: match stream {
                true => Reading::Stream(Box::new(anthropic::SseDecoder::new())),
                false => Reading::Whole(Box::new(|events| {
                    translate::collect(anthropic::SseDecoder::new(), [events])
                })),
            },
            usage: UpstreamUsage::Reported,
            held: 0,
        },
        Upstream::OpenAiChat => Exchange {
            target: Target::OpenAiChat { stream },
            body: openai_native::request_body(conversation, model, user)?,
            reading: match stream {
                true => Reading::Stream(Box::new(openai_native::SseDecoder::new())),
                false => Reading::Whole(Box::new(openai_native::read_answer)),
            },
            usage: UpstreamUsage::Reported,
            held: 0,
        },
        Upstream::Resource => {
            let endpoint = resource::endpoint(conversation, model);
            let replies = ToolReplies::for_conversation(conversation, model);
            let (reading, held) = resource_reading(endpoint, replies, response_id, max_tool_block);
            Exchange {
                target: Target::Resource(endpoint),
                body: resource::request_body(conversation, model, user, endpoint)?,
                reading,
                usage: UpstreamUsage::None,
                held,
            }
        }
    };
    Ok(exchange)
}

/// How a resource endpoint's answer is read, and the bytes of the request the reading holds:
/// `streamchat`'s text decoded as it arrives (scanned for tagged calls with prompt-mode tools),
/// `chat`'s answer whole.
fn resource_reading(
    endpoint: Endpoint,
    replies: ToolReplies,
    response_id: &str,
    max_tool_block: usize,
) -> (Reading, usize) {
    match (endpoint, replies) {
        (Endpoint::StreamChat, ToolReplies::Prompt { names }) => {
            let held = names
                .iter()
                .map(|name| name.len() + std::mem::size_of::<String>())
                .sum();
            let scanner = ToolScanner::new(names, response_id).with_max_block_bytes(max_tool_block);
            let decoder = TextDecoder::with_tool_scanner(scanner);
            (Reading::Stream(Box::new(decoder)), held)
        }
        (Endpoint::StreamChat, _) => (Reading::Stream(Box::new(TextDecoder::new())), 0),
        (_, replies) => {
            let id = response_id.to_string();
            let read = move |answer: &[u8]| resource::read_answer(answer, &replies, &id);
            (Reading::Whole(Box::new(read)), 0)
        }
    }
}

/// Where an embedding model's texts go: Argo's native `/v1/embeddings`, or the resource
/// `embed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embeddings {
    Native,
    Resource,
}

impl Embeddings {
    pub fn of(model: &ModelSpec) -> Self {
        match upstream(model) {
            Upstream::Resource => Embeddings::Resource,
            Upstream::AnthropicMessages | Upstream::OpenAiChat => Embeddings::Native,
        }
    }

    pub fn target(self) -> Target {
        match self {
            Embeddings::Native => Target::Embeddings,
            Embeddings::Resource => Target::Resource(Endpoint::Embed),
        }
    }

    /// Argo's requests: the texts in batches of at most `batch_size`.
    pub fn bodies(
        self,
        request: &EmbeddingRequest,
        model: &ModelSpec,
        user: &str,
        batch_size: usize,
    ) -> Result<Vec<Vec<u8>>, ApiError> {
        embeddings::inputs(request, model)?
            .chunks(batch_size)
            .map(|batch| match self {
                Embeddings::Native => openai_native::embeddings_request(batch, model, user),
                Embeddings::Resource => embed::to_argo(batch, model, user),
            })
            .collect()
    }

    /// The client's answer from Argo's answers to [`Self::bodies`], and the inputs' tokens.
    pub fn answer(
        self,
        request: &EmbeddingRequest,
        model: &ModelSpec,
        answers: &[&[u8]],
    ) -> Result<(Vec<u8>, u64), ApiError> {
        let texts = embeddings::inputs(request, model)?;
        let mut output = Output {
            model: &request.model,
            format: request.encoding_format.unwrap_or(EncodingFormat::Float),
            dimensions: request.dimensions,
            expected_vectors: texts.len(),
            prompt_tokens: 0,
        };
        let count_inputs = || embeddings::count_input_tokens(texts, model);
        match self {
            Embeddings::Native => openai_native::read_embeddings(answers, &output, count_inputs),
            Embeddings::Resource => {
                output.prompt_tokens = count_inputs();
                let json = embed::translate_batches(answers, &output)?;
                Ok((json, output.prompt_tokens))
            }
        }
    }
}

#[cfg(test)]
mod tests;
