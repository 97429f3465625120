//! A conversation in the hub's form, served by the upstream its model picks (its table row,
//! else its environment's default): Argo's native Anthropic endpoint for Claude, its native
//! OpenAI endpoint for the rest, or the legacy resource endpoints. The answer goes back in
//! the client's format, streamed or whole as the client asked.

use argo_filters::argo::Endpoint;
use argo_filters::client::google_genai::{self, Framing};
use argo_filters::client::openai_responses::{self, CustomTools};
use argo_filters::client::{anthropic_messages, openai_chat};
use argo_filters::hub::{Answer, Conversation, Usage};
use argo_filters::models::{Family, UpstreamApi};
use argo_filters::openai::ResponseMeta;
use argo_filters::tools::prompt::ToolScanner;
use argo_filters::translate::{self, Decoder, Encoder, StreamTranslation};
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::upstream::{anthropic, openai_native};
use argo_filters::usage::Tokenizer;
use argo_filters::ApiError;
use pingora_proxy::Session;

use crate::gateway::{count_tokens, response_meta, Gateway, RequestCtx, Resolved};
use crate::streaming;
use crate::upstream::{Api, Call};

/// The client format an answer is written in.
pub(crate) enum Client {
    OpenAiChat {
        include_usage: bool,
    },
    Anthropic,
    /// The request's `custom` tools are offered as functions; their calls go back as custom
    /// tool calls.
    Responses(CustomTools),
    Google(Framing),
}

impl Client {
    /// The prefix of the ids the gateway gives answers.
    fn id_prefix(&self) -> &'static str {
        match self {
            Client::OpenAiChat { .. } => "chatcmpl",
            Client::Anthropic => "msg",
            Client::Responses(_) | Client::Google(_) => "resp",
        }
    }

    fn encoder(&self, meta: &ResponseMeta) -> Box<dyn Encoder> {
        match self {
            Client::OpenAiChat { include_usage } => {
                Box::new(openai_chat::encoder(meta, *include_usage))
            }
            Client::Anthropic => Box::new(anthropic_messages::encoder(meta)),
            Client::Responses(custom) => Box::new(openai_responses::encoder(meta, custom)),
            Client::Google(framing) => Box::new(google_genai::encoder(meta, *framing)),
        }
    }

    fn answer_json(&self, answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
        match self {
            Client::OpenAiChat { .. } => openai_chat::answer_json(answer, meta, usage),
            Client::Anthropic => anthropic_messages::answer_json(answer, meta, usage),
            Client::Responses(custom) => openai_responses::answer_json(answer, meta, usage, custom),
            Client::Google(_) => google_genai::answer_json(answer, meta, usage),
        }
    }
}

/// One request to serve: who asks, of which model, what, and how the answer is written.
pub(crate) struct Turn<'a> {
    pub user: &'a str,
    pub model: Resolved,
    pub conversation: Conversation,
    pub client: Client,
    pub meta: ResponseMeta,
}

impl Turn<'_> {
    fn prompt_tokens(&self) -> u64 {
        self.conversation.prompt_tokens(self.model.tokenizer())
    }

    /// A stream translation from `decoder` into the client's format, counting tokens for
    /// when the upstream reports none. Argo's native endpoints report usage, so for their
    /// streams the generated text is only estimated in passing, for a stream cut short.
    fn translation(self, decoder: Box<dyn Decoder>, usage: UpstreamUsage) -> StreamTranslation {
        let tokenizer = self.model.tokenizer();
        let completion = match usage {
            UpstreamUsage::Reported => Tokenizer::Estimate,
            UpstreamUsage::None => tokenizer,
        };
        let conversation = self.conversation;
        StreamTranslation::new(decoder, self.client.encoder(&self.meta))
            .counting(move || conversation.prompt_tokens(tokenizer), completion)
    }
}

/// Whether an upstream's stream ends with its own count of the tokens.
#[derive(Clone, Copy)]
enum UpstreamUsage {
    Reported,
    None,
}

/// One call to Argo and how its answer is read.
struct Exchange<'a> {
    call: Call<'a>,
    body: Vec<u8>,
    reading: Reading,
}

enum Reading {
    /// Translated for the client as it arrives.
    Stream(Box<dyn Decoder>, UpstreamUsage),
    /// Read whole into one answer.
    Whole(Box<ReadAnswer>),
}

type ReadAnswer = dyn FnOnce(&[u8]) -> Result<Answer, ApiError> + Send;

impl Gateway {
    /// A chat request of a client format: `read` takes the body to the conversation, the
    /// model name and how the answer is written; [`Self::converse`] serves it.
    pub(crate) async fn chat_turn(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        read: impl FnOnce(&[u8]) -> Result<(Conversation, String, Client), ApiError>,
    ) -> Result<(), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let (conversation, model_name, client) = read(&body)?;
        drop(reservation);
        let model = self.resolve(ctx, &model_name)?;
        model.require_chat()?;
        let meta = response_meta(client.id_prefix(), &model_name);
        let turn = Turn {
            user: &user,
            model,
            conversation,
            client,
            meta,
        };
        self.converse(session, ctx, turn).await
    }

    /// The prompt tokens of a conversation `read` takes from the body (with the model name),
    /// as that model's tokenizer counts them: the count endpoints of Anthropic's and Google's
    /// APIs. Nothing reaches Argo.
    pub(crate) async fn count_prompt_tokens(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        read: impl FnOnce(&[u8]) -> Result<(Conversation, String), ApiError>,
    ) -> Result<u64, ApiError> {
        let (_user, body, _reservation) = self.accept_body(session, ctx).await?;
        let (conversation, model_name) = read(&body)?;
        let model = self.resolve(ctx, &model_name)?;
        Ok(conversation.prompt_tokens(model.tokenizer()))
    }

    /// Sends the turn to the upstream its model picks and answers the client: a stream
    /// translated as it arrives, or a whole answer.
    pub(crate) async fn converse(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: Turn<'_>,
    ) -> Result<(), ApiError> {
        let exchange = self.exchange(&turn)?;
        match exchange.reading {
            Reading::Stream(decoder, usage) => {
                let env = turn.model.env.clone();
                let translator = turn.translation(decoder, usage);
                self.relay(session, ctx, &env, exchange.call, exchange.body, translator)
                    .await
            }
            Reading::Whole(read) => {
                let env = &turn.model.env;
                let body = self
                    .call(session, ctx, env, exchange.call, exchange.body)
                    .await?;
                let answer = read(&body)?;
                self.send_answer(session, ctx, &turn, answer).await
            }
        }
    }

    /// The Argo call for a turn: Claude over `/v1/messages`, any other model over the native
    /// `/v1/chat/completions`, or the legacy resource endpoints (`streamchat` for streams it
    /// can carry, else `chat`).
    fn exchange<'a>(&self, turn: &Turn<'a>) -> Result<Exchange<'a>, ApiError> {
        let (conversation, model, user) = (&turn.conversation, &turn.model, turn.user);
        match (model.api(), model.family) {
            // Always streamed upstream: Argo refuses long Claude answers unless streamed, so a
            // client that wants one answer gets the stream collected.
            (UpstreamApi::Native, Family::Anthropic) => Ok(Exchange {
                call: Call::new(Api::AnthropicMessages { stream: true }, user),
                body: anthropic::request_body(conversation, model, user, true)?,
                reading: match conversation.stream {
                    true => Reading::Stream(
                        Box::new(anthropic::SseDecoder::new()),
                        UpstreamUsage::Reported,
                    ),
                    false => Reading::Whole(Box::new(|events| {
                        translate::collect(anthropic::SseDecoder::new(), [events])
                    })),
                },
            }),
            (UpstreamApi::Native, _) => Ok(Exchange {
                call: Call::new(
                    Api::OpenAiChat {
                        stream: conversation.stream,
                    },
                    user,
                ),
                body: openai_native::request_body(conversation, model, user)?,
                reading: match conversation.stream {
                    true => Reading::Stream(
                        Box::new(openai_native::SseDecoder::new()),
                        UpstreamUsage::Reported,
                    ),
                    false => Reading::Whole(Box::new(openai_native::read_answer)),
                },
            }),
            (UpstreamApi::Resource, _) => self.resource_exchange(turn),
        }
    }

    fn resource_exchange<'a>(&self, turn: &Turn<'a>) -> Result<Exchange<'a>, ApiError> {
        let (conversation, model) = (&turn.conversation, &turn.model);
        let endpoint = resource::endpoint(conversation, model);
        let body = resource::request_body(conversation, model, turn.user, endpoint)?;
        let replies = ToolReplies::for_conversation(conversation, model);
        let reading = match (endpoint, replies) {
            (Endpoint::StreamChat, ToolReplies::Prompt { names }) => {
                let limit = self.state.settings.limits.max_tool_block_bytes;
                let scanner = ToolScanner::new(names, &turn.meta.id).with_max_block_bytes(limit);
                let decoder = TextDecoder::with_tool_scanner(scanner);
                Reading::Stream(Box::new(decoder), UpstreamUsage::None)
            }
            (Endpoint::StreamChat, _) => {
                Reading::Stream(Box::new(TextDecoder::new()), UpstreamUsage::None)
            }
            (_, replies) => {
                let id = turn.meta.id.clone();
                Reading::Whole(Box::new(move |answer| {
                    resource::read_answer(answer, &replies, &id)
                }))
            }
        };
        Ok(Exchange {
            call: Call::new(Api::Resource(endpoint), turn.user),
            body,
            reading,
        })
    }

    /// A whole answer, counted, in the client's format; as a stream when the client asked for
    /// one of an upstream call that could not stream.
    async fn send_answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: &Turn<'_>,
        answer: Answer,
    ) -> Result<(), ApiError> {
        let tokenizer = turn.model.tokenizer();
        let usage = answer.usage.unwrap_or_else(|| {
            Usage::new(turn.prompt_tokens(), answer.completion_tokens(tokenizer))
        });
        count_tokens(&turn.model.name, usage.input_tokens, usage.output_tokens);
        if turn.conversation.stream {
            ctx.stream_outcome = "synthesized";
            let mut encoder = turn.client.encoder(&turn.meta);
            let events = translate::replay(&mut *encoder, &answer, usage);
            return streaming::send_synthesized(
                session,
                &ctx.request_id,
                &ctx.timing.response_head(),
                events,
                encoder.content_type(),
            )
            .await;
        }
        let json = turn.client.answer_json(&answer, &turn.meta, &usage);
        self.reply(session, ctx, 200, json).await
    }
}
