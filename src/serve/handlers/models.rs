//! `GET /v1/models` and `/v1/models/{id}`: the table served now (configured and live).

use argo_filters::models::{Family, ModelSpec};
use argo_filters::ApiError;
use pingora_proxy::Session;
use serde::Serialize;

use crate::serve::gateway::{Gateway, RequestCtx};

pub async fn list(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), ApiError> {
    gateway.authenticate(session, ctx)?;
    let table = gateway.state.catalog.current();
    let data: Vec<ModelObject> = table.models().iter().map(ModelObject::from).collect();
    let body = serde_json::to_vec(&serde_json::json!({"object": "list", "data": data}));
    gateway.reply_encoded(session, ctx, body).await
}

pub async fn get(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    id: &str,
) -> Result<(), ApiError> {
    gateway.authenticate(session, ctx)?;
    let table = gateway.state.catalog.current();
    let body = serde_json::to_vec(&ModelObject::from(table.lookup(id)?));
    gateway.reply_encoded(session, ctx, body).await
}

impl Gateway {
    async fn reply_encoded(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        body: serde_json::Result<Vec<u8>>,
    ) -> Result<(), ApiError> {
        let body = body.map_err(|e| ApiError::internal(format!("could not encode models: {e}")))?;
        self.reply(session, ctx, 200, body).await
    }
}

/// `/v1/models` entry in OpenAI's shape.
#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

impl<'a> From<&'a ModelSpec> for ModelObject<'a> {
    fn from(model: &'a ModelSpec) -> Self {
        let owned_by = match model.family {
            Family::Openai => "openai",
            Family::Anthropic => "anthropic",
            Family::Google => "google",
        };
        // A fixed date: Argo does not say when a model appeared.
        ModelObject {
            id: &model.name,
            object: "model",
            created: 1_700_000_000,
            owned_by,
        }
    }
}
