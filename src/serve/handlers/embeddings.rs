//! `/v1/embeddings`: Argo's native `/v1/embeddings` or the resource `embed`, texts sent in
//! batches at once, the vectors back in order.

use argo_filters::embeddings;
use argo_filters::models::{ModelSpec, UpstreamApi};
use argo_filters::openai::{EmbeddingRequest, EncodingFormat};
use argo_filters::upstream::openai_native;
use argo_filters::upstream::resource::embed;
use argo_filters::upstream::resource::Endpoint;
use argo_filters::ApiError;
use pingora_proxy::Session;

use crate::serve::gateway::{count_usage, resource_call, Gateway, RequestCtx};
use crate::upstream::{Api, BufferedAnswer, Call};

/// Work that grows with a large request (Argo's requests, the vectors' translation, the
/// count of the inputs) runs on the pool for large work.
pub async fn create(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, request, size): (String, EmbeddingRequest, usize) =
        gateway.accept(session, ctx).await?;
    let model = gateway.resolve(ctx, &request.model)?;
    let batch_size = gateway.state.settings.upstream.embed_batch_size;
    let resolved = model.clone();
    let prepare = move |user: &str| {
        let bodies = argo_requests(&request, &resolved, user, batch_size);
        (request, bodies)
    };
    let (request, bodies) = gateway.offload(session, &user, size, prepare).await?;
    let call = match model.api() {
        UpstreamApi::Native => Call::new(Api::Embeddings, &user),
        UpstreamApi::Resource => resource_call(Endpoint::Embed, &user),
    };
    let answers = gateway
        .call_all(session, ctx, &model.env, call, bodies?)
        .await?;
    let size = size + answers.iter().map(|answer| answer.len()).sum::<usize>();
    let resolved = model.clone();
    let write = move |_: &str| write_vectors(&request, &resolved, &answers);
    let (json, prompt_tokens) = gateway.offload(session, &user, size, write).await??;
    count_usage(&model.name, prompt_tokens, 0);
    gateway.reply(session, ctx, 200, json).await
}

/// Argo's requests: the texts in batches.
fn argo_requests(
    request: &EmbeddingRequest,
    model: &ModelSpec,
    user: &str,
    batch_size: usize,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let native = model.api() == UpstreamApi::Native;
    embeddings::inputs(request, model)?
        .chunks(batch_size)
        .map(|batch| match native {
            true => openai_native::embeddings_request(batch, model, user),
            false => embed::to_argo(batch, model, user),
        })
        .collect()
}

/// The client's answer from Argo's, and the inputs' tokens.
fn write_vectors(
    request: &EmbeddingRequest,
    model: &ModelSpec,
    answers: &[BufferedAnswer],
) -> Result<(Vec<u8>, u64), ApiError> {
    let texts = embeddings::inputs(request, model)?;
    let mut output = embeddings::Output {
        model: &request.model,
        format: request.encoding_format.unwrap_or(EncodingFormat::Float),
        dimensions: request.dimensions,
        expected_vectors: texts.len(),
        prompt_tokens: 0,
    };
    let answers: Vec<&[u8]> = answers.iter().map(|answer| &answer[..]).collect();
    let count_inputs = || embeddings::count_input_tokens(texts, model);
    match model.api() {
        UpstreamApi::Native => openai_native::read_embeddings(&answers, &output, count_inputs),
        UpstreamApi::Resource => {
            output.prompt_tokens = count_inputs();
            let json = embed::translate_batches(&answers, &output)?;
            Ok((json, output.prompt_tokens))
        }
    }
}
