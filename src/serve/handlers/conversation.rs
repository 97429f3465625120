//! A conversation in the hub's form, served by the upstream its model's row picks
//! ([`plan::conversation`]): Argo's native Anthropic endpoint for Claude, its native OpenAI
//! endpoint for the rest, or the legacy resource endpoints. The answer goes back in the
//! client's format, streamed or whole as the client asked.

use argo_filters::client::google_genai::{self, Framing};
use argo_filters::client::openai_responses::{self, ClientTools};
use argo_filters::client::{anthropic_messages, openai_chat};
use argo_filters::hub::{Answer, Conversation, Usage};
use argo_filters::openai::ResponseMeta;
use argo_filters::stream::{SseEncoder, StreamKind};
use argo_filters::translate::{self, Decoder, Encoder, StreamTranslation};
use argo_filters::upstream::plan::{self, Exchange, ReadAnswer, Reading, UpstreamUsage};
use argo_filters::upstream::resource::completions;
use argo_filters::usage::Tokenizer;
use argo_filters::ApiError;
use pingora_proxy::Session;

use crate::serve::gateway::{count_usage, response_meta, Gateway, RequestCtx, Resolved};
use crate::serve::streaming;
use crate::upstream::{BufferedAnswer, Call};

/// The client format an answer is written in.
pub(crate) enum Client {
    OpenAiChat {
        include_usage: bool,
    },
    Anthropic,
    /// The request's `custom` tools are offered as functions; their calls go back as custom
    /// tool calls.
    Responses(ClientTools),
    Google(Framing),
    /// A legacy completion (`/v1/completions`) of one prompt.
    Completion {
        include_usage: bool,
    },
}

impl Client {
    /// The prefix of the ids the gateway gives answers.
    fn id_prefix(&self) -> &'static str {
        match self {
            Client::OpenAiChat { .. } => "chatcmpl",
            Client::Completion { .. } => "cmpl",
            Client::Anthropic => "msg",
            Client::Responses(_) | Client::Google(_) => "resp",
        }
    }

    /// The prompt's tokens: a chat's turns with their framing, a completion's prompt alone.
    fn prompt_tokens(&self, conversation: &Conversation, tokenizer: Tokenizer) -> u64 {
        match self {
            Client::Completion { .. } => conversation
                .messages
                .iter()
                .flat_map(|message| message.texts())
                .map(|text| tokenizer.count(text))
                .sum(),
            _ => conversation.prompt_tokens(tokenizer),
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
            Client::Completion { include_usage } => Box::new(SseEncoder::new(
                StreamKind::Completion,
                meta,
                *include_usage,
            )),
        }
    }

    fn answer_json(&self, answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
        match self {
            Client::OpenAiChat { .. } => openai_chat::answer_json(answer, meta, usage),
            Client::Anthropic => anthropic_messages::answer_json(answer, meta, usage),
            Client::Responses(custom) => openai_responses::answer_json(answer, meta, usage, custom),
            Client::Google(_) => google_genai::answer_json(answer, meta, usage),
            Client::Completion { .. } => completions::answer_json(answer, meta, usage),
        }
    }
}

/// One request to serve: who asks, of which model, what, and how the answer is written.
pub(crate) struct Turn {
    pub model: Resolved,
    pub conversation: Conversation,
    pub client: Client,
    pub meta: ResponseMeta,
    /// Bytes of the body it was read from: how large the work on it is.
    pub size: usize,
}

/// What writing the answer needs of a turn once Argo's request is made. The conversation is
/// not among it: a stream may run for hours, and must not keep the request it came from.
struct Reply {
    model: Resolved,
    client: Client,
    meta: ResponseMeta,
    stream: bool,
    /// The prompt's tokens, counted while the conversation was there: by the model's
    /// tokenizer when the upstream reports no usage, else estimated, for an answer that comes
    /// without its report (a stream cut short).
    prompt_tokens: u64,
}

impl Reply {
    /// A stream translation from `decoder` into the client's format, counting tokens for
    /// when the upstream reports none. Argo's native endpoints report usage, so for their
    /// streams the generated text is only estimated in passing, for a stream cut short.
    fn translation(self, decoder: Box<dyn Decoder>, usage: UpstreamUsage) -> StreamTranslation {
        let completion = match usage {
            UpstreamUsage::Reported => Tokenizer::Estimate,
            UpstreamUsage::None => self.model.tokenizer(),
        };
        let prompt_tokens = self.prompt_tokens;
        StreamTranslation::new(decoder, self.client.encoder(&self.meta))
            .counting(move || prompt_tokens, completion)
    }

    /// A whole answer, read by `read`, counted, in the client's format; as a stream when the
    /// client asked for one of an upstream call that could not stream.
    fn write(self, read: Box<ReadAnswer>, body: &[u8]) -> Result<Written, ApiError> {
        let answer = read(body)?;
        let tokenizer = self.model.tokenizer();
        let usage = answer
            .usage
            .unwrap_or_else(|| Usage::new(self.prompt_tokens, answer.completion_tokens(tokenizer)));
        if self.stream {
            let mut encoder = self.client.encoder(&self.meta);
            let events = translate::replay(&mut *encoder, &answer, usage);
            let content_type = Some(encoder.content_type());
            return Ok(Written {
                body: events,
                usage,
                content_type,
            });
        }
        let json = self.client.answer_json(&answer, &self.meta, &usage);
        Ok(Written {
            body: json,
            usage,
            content_type: None,
        })
    }
}

/// A whole answer written for the client.
struct Written {
    body: Vec<u8>,
    usage: Usage,
    /// An event stream's content type, when the client asked for a stream.
    content_type: Option<&'static str>,
}

impl Turn {
    /// Argo's request, how its answer is read ([`plan::conversation`]), and what writing the
    /// answer needs: the work that grows with the conversation, which is consumed.
    fn prepare(self, user: &str, max_tool_block: usize) -> Result<(Exchange, Reply), ApiError> {
        let exchange = plan::conversation(
            &self.conversation,
            &self.model,
            user,
            &self.meta.id,
            max_tool_block,
        )?;
        let tokenizer = match exchange.usage {
            UpstreamUsage::Reported => Tokenizer::Estimate,
            UpstreamUsage::None => self.model.tokenizer(),
        };
        let reply = Reply {
            prompt_tokens: self.client.prompt_tokens(&self.conversation, tokenizer),
            stream: self.conversation.stream,
            model: self.model,
            client: self.client,
            meta: self.meta,
        };
        Ok((exchange, reply))
    }
}

impl Gateway {
    /// A chat request of a client format: `read` takes the body to the conversation, the
    /// model name and how the answer is written; [`Self::converse`] serves it. A large body is
    /// read on the pool for large work.
    pub(crate) async fn chat_turn(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        read: impl FnOnce(&[u8]) -> Result<(Conversation, String, Client), ApiError> + Send + 'static,
    ) -> Result<(), ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let size = body.len();
        let table = self.models();
        let parse = move |_: &str| {
            let read = read(&body).and_then(|(conversation, name, client)| {
                let model = Resolved::locate(table, &name)?;
                Ok((conversation, name, client, model))
            });
            drop((body, reservation));
            read
        };
        let (conversation, model_name, client, model) =
            self.offload(session, &user, size, parse).await??;
        self.resolved(ctx, &model);
        model.require_chat()?;
        let meta = response_meta(client.id_prefix(), &model_name);
        let turn = Turn {
            model,
            conversation,
            client,
            meta,
            size,
        };
        self.converse(session, ctx, &user, turn).await
    }

    /// The prompt tokens of a conversation `read` takes from the body (with the model name),
    /// as that model's tokenizer counts them: the count endpoints of Anthropic's and Google's
    /// APIs. Nothing reaches Argo. A large body is counted on the pool for large work.
    pub(crate) async fn count_prompt_tokens(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        read: impl FnOnce(&[u8]) -> Result<(Conversation, String), ApiError> + Send + 'static,
    ) -> Result<u64, ApiError> {
        let (user, body, reservation) = self.accept_body(session, ctx).await?;
        let size = body.len();
        let table = self.models();
        let count = move |_: &str| {
            let (conversation, model_name) = read(&body)?;
            let model = Resolved::locate(table, &model_name)?;
            let tokens = conversation.prompt_tokens(model.tokenizer());
            drop((body, reservation));
            Ok::<_, ApiError>((model, tokens))
        };
        let (model, tokens) = self.offload(session, &user, size, count).await??;
        self.resolved(ctx, &model);
        Ok(tokens)
    }

    /// Sends the turn to the upstream its model picks and answers the client: a stream
    /// translated as it arrives, or a whole answer. The conversation is gone once Argo's
    /// request is made: a stream keeps only its translation (and, counted in the user's share
    /// of the body budget, what that translation needs of the request).
    pub(crate) async fn converse(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        turn: Turn,
    ) -> Result<(), ApiError> {
        let max_tool_block = self.state.settings.limits.max_tool_block_bytes;
        let size = turn.size;
        let prepare = move |user: &str| turn.prepare(user, max_tool_block);
        let (exchange, reply) = self.offload(session, user, size, prepare).await??;
        let call = Call::new(exchange.target.into(), user);
        match exchange.reading {
            Reading::Stream(decoder) => {
                let _held = match exchange.held {
                    0 => None,
                    held => Some(self.reserve_held(session, user, held)?),
                };
                let env = reply.model.env.clone();
                let translator = reply.translation(decoder, exchange.usage);
                self.relay(session, ctx, &env, call, exchange.body, translator)
                    .await
            }
            Reading::Whole(read) => {
                let env = &reply.model.env;
                let answer = self.call(session, ctx, env, call, exchange.body).await?;
                self.send_answer(session, ctx, user, reply, read, answer)
                    .await
            }
        }
    }

    /// A whole answer, translated (on the pool for large work when it is large), counted and
    /// sent.
    async fn send_answer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        user: &str,
        reply: Reply,
        read: Box<ReadAnswer>,
        answer: BufferedAnswer,
    ) -> Result<(), ApiError> {
        let model = reply.model.clone();
        let size = answer.len();
        let write = move |_: &str| reply.write(read, &answer);
        let written = self.offload(session, user, size, write).await??;
        count_usage(ctx, &model.name, &written.usage);
        match written.content_type {
            Some(content_type) => {
                ctx.stream_outcome = "synthesized";
                streaming::send_synthesized(
                    session,
                    &ctx.request_id,
                    &ctx.timing.response_head(),
                    written.body,
                    content_type,
                )
                .await
            }
            None => self.reply(session, ctx, 200, written.body).await,
        }
    }
}
