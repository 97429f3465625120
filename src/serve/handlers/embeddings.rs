//! `/v1/embeddings`: Argo's native `/v1/embeddings` or the resource `embed`, texts sent in
//! batches at once, the vectors back in order.

use argo_filters::openai::EmbeddingRequest;
use argo_filters::upstream::plan::Embeddings;
use argo_filters::ApiError;
use pingora_proxy::Session;

use argo_filters::hub::Usage;

use crate::serve::gateway::{count_usage, Gateway, RequestCtx};
use crate::upstream::Call;

/// Work that grows with a large request (Argo's requests, the vectors' translation, the
/// count of the inputs) runs on the pool for large work. The model's row picks the endpoint
/// ([`Embeddings::of`]).
pub async fn create(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    let (user, request, size): (String, EmbeddingRequest, usize) =
        gateway.accept(session, ctx).await?;
    let model = gateway.resolve(ctx, &request.model)?;
    let plan = Embeddings::of(&model);
    let batch_size = gateway.state.settings.upstream.embed_batch_size;
    let resolved = model.clone();
    let prepare = move |user: &str| {
        let bodies = plan.bodies(&request, &resolved, user, batch_size);
        (request, bodies)
    };
    let (request, bodies) = gateway.offload(session, &user, size, prepare).await?;
    let call = Call::new(plan.target().into(), &user);
    let answers = gateway
        .call_all(session, ctx, &model.env, call, bodies?)
        .await?;
    let size = size + answers.iter().map(|answer| answer.len()).sum::<usize>();
    let resolved = model.clone();
    let write = move |_: &str| {
        let answers: Vec<&[u8]> = answers.iter().map(|answer| &answer[..]).collect();
        plan.answer(&request, &resolved, &answers)
    };
    let (json, prompt_tokens) = gateway.offload(session, &user, size, write).await??;
    count_usage(ctx, &model.name, &Usage::new(prompt_tokens, 0));
    gateway.reply(session, ctx, 200, json).await
}
