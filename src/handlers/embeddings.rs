//! `/v1/embeddings`: Argo's native `/v1/embeddings` or the resource `embed`, texts sent in
//! batches at once, the vectors back in order.

use argo_filters::argo::Endpoint;
use argo_filters::embeddings;
use argo_filters::models::UpstreamApi;
use argo_filters::openai::{EmbeddingRequest, EncodingFormat};
use argo_filters::upstream::openai_native;
use argo_filters::ApiError;
use pingora_proxy::Session;

use crate::gateway::{count_tokens, resource_call, Gateway, RequestCtx};
use crate::upstream::{Api, Call};

impl Gateway {
    pub(crate) async fn embeddings(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), ApiError> {
        let (user, request): (String, EmbeddingRequest) = self.accept(session, ctx).await?;
        let model = &*self.resolve(ctx, &request.model)?;
        let texts = embeddings::inputs(&request, model)?;
        let batch_size = self.state.settings.upstream.embed_batch_size;
        let native = model.api() == UpstreamApi::Native;
        let bodies = texts
            .chunks(batch_size)
            .map(|batch| match native {
                true => openai_native::embeddings_request(batch, model, &user),
                false => embeddings::to_argo(batch, model, &user),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let call = match native {
            true => Call::new(Api::Embeddings, &user),
            false => resource_call(Endpoint::Embed, &user),
        };
        let answers = self
            .call_all(session, ctx, &model.env, call, bodies)
            .await?;
        let mut output = embeddings::Output {
            model: &request.model,
            format: request.encoding_format.unwrap_or(EncodingFormat::Float),
            dimensions: request.dimensions,
            expected_vectors: texts.len(),
            prompt_tokens: 0,
        };
        let answers: Vec<&[u8]> = answers.iter().map(|answer| &answer[..]).collect();
        let count_inputs = || embeddings::count_input_tokens(texts, model);
        let (json, prompt_tokens) = match native {
            true => openai_native::read_embeddings(&answers, &output, count_inputs)?,
            false => {
                output.prompt_tokens = count_inputs();
                let json = embeddings::translate_batches(&answers, &output)?;
                (json, output.prompt_tokens)
            }
        };
        count_tokens(&model.name, prompt_tokens, 0);
        self.reply(session, ctx, 200, json).await
    }
}
