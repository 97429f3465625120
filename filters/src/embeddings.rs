//! `/v1/embeddings`: text inputs -> Argo `embed`; vectors -> OpenAI list, as floats or base64.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::models::{Kind, ModelSpec};
use crate::openai::{EmbeddingRequest, EncodingFormat, Prompt};

/// OpenAI's own limit on inputs per request.
pub const MAX_INPUTS: usize = 2048;

/// Validates the request against the model and returns the texts to embed.
pub fn inputs<'r>(
    request: &'r EmbeddingRequest,
    model: &ModelSpec,
) -> Result<&'r [String], ApiError> {
    if model.kind != Kind::Embedding {
        return Err(ApiError::invalid(
            "model",
            format!(
                "`{}` is a chat model; use an embedding model such as text-embedding-3-small",
                model.name
            ),
        ));
    }
    let texts: &[String] = match &request.input {
        Prompt::One(text) => std::slice::from_ref(text),
        Prompt::Many(texts) => texts,
        Prompt::Tokens(_) | Prompt::TokenLists(_) => {
            return Err(ApiError::invalid(
                "input",
                "Token-id input is not supported; send the input as text",
            ))
        }
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            "input",
            format!("`input` must hold 1 to {MAX_INPUTS} texts"),
        ));
    }
    if let Some(index) = texts.iter().position(|text| text.is_empty()) {
        return Err(ApiError::invalid(
            format!("input[{index}]"),
            "Input texts must not be empty",
        ));
    }
    if let Some(dimensions) = request.dimensions {
        let widest = model.dimensions.unwrap_or(usize::MAX);
        if dimensions == 0 || dimensions > widest {
            return Err(ApiError::invalid(
                "dimensions",
                format!("`dimensions` must be between 1 and {widest}"),
            ));
        }
    }
    Ok(texts)
}

pub fn count_input_tokens(texts: &[String], model: &ModelSpec) -> u64 {
    let tokenizer = model.tokenizer();
    texts.iter().map(|text| tokenizer.count(text)).sum()
}

#[derive(Serialize)]
struct EmbeddingList<'a, E: Serialize> {
    object: &'static str,
    data: Vec<Embedding<E>>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding<E: Serialize> {
    object: &'static str,
    index: usize,
    embedding: E,
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// What the client asked for, applied to Argo's vectors.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub model: &'a str,
    pub format: EncodingFormat,
    pub dimensions: Option<usize>,
    pub expected_vectors: usize,
    /// The `usage` written (on the native API [`translate_native_batches`] sets it from Argo's
    /// report, or its count).
    pub prompt_tokens: u64,
}

/// Argo's native embedding answers `{"data": [{"index", "embedding"}], "usage"}` to the
/// batches of one request -> one OpenAI answer, and its prompt tokens: as Argo reported them
/// when every batch did, else as `count_inputs` counts them (called only then).
pub fn translate_native_batches(
    bodies: &[&[u8]],
    output: &Output,
    count_inputs: impl FnOnce() -> u64,
) -> Result<(Vec<u8>, u64), ApiError> {
    let mut vectors = Vec::with_capacity(output.expected_vectors);
    let mut reported = Some(0u64);
    for body in bodies {
        let mut parsed: NativeEmbeddings = serde_json::from_slice(body).map_err(|_| not_json())?;
        parsed.data.sort_by_key(|embedding| embedding.index);
        vectors.extend(parsed.data.into_iter().map(|embedding| embedding.embedding));
        reported = reported
            .zip(parsed.usage.map(|usage| usage.prompt_tokens))
            .map(|(sum, tokens)| sum + tokens);
    }
    let prompt_tokens = reported.unwrap_or_else(count_inputs);
    let output = Output {
        prompt_tokens,
        ..*output
    };
    Ok((respond(vectors, bodies, &output)?, prompt_tokens))
}

#[derive(Deserialize)]
struct NativeEmbeddings<'a> {
    #[serde(borrow)]
    data: Vec<NativeEmbedding<'a>>,
    #[serde(default)]
    usage: Option<NativeUsage>,
}

#[derive(Deserialize)]
struct NativeEmbedding<'a> {
    #[serde(default)]
    index: usize,
    #[serde(borrow)]
    embedding: &'a RawValue,
}

#[derive(Deserialize)]
struct NativeUsage {
    prompt_tokens: u64,
}

pub(crate) fn not_json() -> ApiError {
    ApiError::invalid_answer("Argo returned an embedding answer that is not valid JSON")
}

/// The vectors of every batch, checked and rendered as the client asked.
pub(crate) fn respond(
    vectors: Vec<&RawValue>,
    bodies: &[&[u8]],
    output: &Output,
) -> Result<Vec<u8>, ApiError> {
    if vectors.len() != output.expected_vectors {
        return Err(ApiError::invalid_answer(format!(
            "Argo returned {} vectors for {} inputs",
            vectors.len(),
            output.expected_vectors
        )));
    }
    let body_bytes: usize = bodies.iter().map(|body| body.len()).sum();
    // The answer is about as long as Argo's, plus a few dozen bytes per vector.
    let capacity = body_bytes + 64 * vectors.len() + 256;
    match (output.format, output.dimensions) {
        (EncodingFormat::Float, None) => Ok(render(output, vectors, capacity)),
        (EncodingFormat::Float, Some(_)) => Ok(render(
            output,
            decode_all(&vectors, output.dimensions)?,
            capacity,
        )),
        (EncodingFormat::Base64, _) => {
            let encoded = decode_all(&vectors, output.dimensions)?
                .iter()
                .map(|vector| to_base64(vector))
                .collect();
            Ok(render::<String>(output, encoded, capacity))
        }
    }
}

fn render<E: Serialize>(output: &Output, vectors: Vec<E>, capacity: usize) -> Vec<u8> {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| Embedding {
            object: "embedding",
            index,
            embedding,
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: output.model,
        usage: EmbeddingUsage {
            prompt_tokens: output.prompt_tokens,
            total_tokens: output.prompt_tokens,
        },
    };
    let mut out = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut out, &list).is_err() {
        out.clear();
    }
    out
}

fn decode_all(raw: &[&RawValue], dimensions: Option<usize>) -> Result<Vec<Vec<f32>>, ApiError> {
    raw.iter()
        .map(|vector| {
            let floats: Vec<f32> = serde_json::from_str(vector.get()).map_err(|_| {
                ApiError::invalid_answer("Argo returned an embedding that is not a list of numbers")
            })?;
            Ok(match dimensions {
                Some(dimensions) => shorten(floats, dimensions),
                None => floats,
            })
        })
        .collect()
}

/// OpenAI's `dimensions` for v3 models: keep the leading components and re-normalise to unit length.
fn shorten(mut vector: Vec<f32>, dimensions: usize) -> Vec<f32> {
    vector.truncate(dimensions);
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Little-endian f32 bytes, base64: what the OpenAI SDKs decode.
fn to_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
