//! A conversation in the hub's form, served by the upstream its model picks (its table row,
//! else its environment's default): Argo's native Anthropic endpoint for Claude, its native
//! OpenAI endpoint for the rest, or the legacy resource endpoints. The answer goes back in
//! the client's format, streamed or whole as the client asked.

use argo_filters::argo::Endpoint;
use argo_filters::chat;
use argo_filters::client::google_genai::{self, Framing};
use argo_filters::client::openai_responses::{self, CustomTools};
use argo_filters::client::{anthropic_messages, openai_chat};
use argo_filters::hub::{Answer, Conversation, Usage};
use argo_filters::models::{Family, UpstreamApi};
use argo_filters::openai::ResponseMeta;
use argo_filters::tools::prompt::ToolScanner;
use argo_filters::translate::{self, Encoder, StreamTranslation};
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::upstream::{anthropic, openai_native};
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
    /// when the upstream reports none.
    fn translation(&self, decoder: impl translate::Decoder + 'static) -> StreamTranslation {
        StreamTranslation::new(decoder, self.client.encoder(&self.meta))
            .counting(self.prompt_tokens(), self.model.tokenizer())
    }
}

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
        chat::require_chat_model(&model)?;
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

    pub(crate) async fn converse(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: Turn<'_>,
    ) -> Result<(), ApiError> {
        match (turn.model.api(), turn.model.family) {
            (UpstreamApi::Native, Family::Anthropic) => {
                self.converse_anthropic(session, ctx, turn).await
            }
            (UpstreamApi::Native, _) => self.converse_openai(session, ctx, turn).await,
            (UpstreamApi::Resource, _) => self.converse_resource(session, ctx, turn).await,
        }
    }

    /// Claude over `/v1/messages`, always streamed upstream: Argo refuses long Claude answers
    /// unless streamed, so a client that wants one answer gets the stream collected.
    async fn converse_anthropic(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: Turn<'_>,
    ) -> Result<(), ApiError> {
        let argo_body = anthropic::request_body(&turn.conversation, &turn.model, turn.user, true)?;
        let call = Call::new(Api::AnthropicMessages { stream: true }, turn.user);
        if turn.conversation.stream {
            let translator = turn.translation(anthropic::SseDecoder::new());
            return self
                .relay(session, ctx, &turn.model.env, call, argo_body, translator)
                .await;
        }
        let events = self
            .call(session, ctx, &turn.model.env, call, argo_body)
            .await?;
        let answer = translate::collect(anthropic::SseDecoder::new(), [&events[..]])?;
        self.send_answer(session, ctx, &turn, answer).await
    }

    /// Any other model over Argo's native `/v1/chat/completions`.
    async fn converse_openai(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: Turn<'_>,
    ) -> Result<(), ApiError> {
        let argo_body = openai_native::request_body(&turn.conversation, &turn.model, turn.user)?;
        let stream = turn.conversation.stream;
        let call = Call::new(Api::OpenAiChat { stream }, turn.user);
        if stream {
            let translator = turn.translation(openai_native::SseDecoder::new());
            return self
                .relay(session, ctx, &turn.model.env, call, argo_body, translator)
                .await;
        }
        let body = self
            .call(session, ctx, &turn.model.env, call, argo_body)
            .await?;
        let answer = openai_native::read_answer(&body)?;
        self.send_answer(session, ctx, &turn, answer).await
    }

    /// The legacy resource endpoints: `streamchat` for streams it can carry, else `chat`.
    async fn converse_resource(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        turn: Turn<'_>,
    ) -> Result<(), ApiError> {
        let endpoint = resource::endpoint(&turn.conversation, &turn.model);
        let argo_body =
            resource::request_body(&turn.conversation, &turn.model, turn.user, endpoint)?;
        let replies = ToolReplies::for_conversation(&turn.conversation, &turn.model);
        let call = Call::new(Api::Resource(endpoint), turn.user);
        if endpoint == Endpoint::StreamChat {
            let decoder = match replies {
                ToolReplies::Prompt { names } => TextDecoder::with_tool_scanner(
                    ToolScanner::new(names, &turn.meta.id)
                        .with_max_block_bytes(self.state.settings.limits.max_tool_block_bytes),
                ),
                _ => TextDecoder::new(),
            };
            let translator = turn.translation(decoder);
            return self
                .relay(session, ctx, &turn.model.env, call, argo_body, translator)
                .await;
        }
        let body = self
            .call(session, ctx, &turn.model.env, call, argo_body)
            .await?;
        let answer = resource::read_answer(&body, &replies, &turn.meta.id)?;
        self.send_answer(session, ctx, &turn, answer).await
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
