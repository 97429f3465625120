//! `/v1/embeddings`: text inputs -> Argo `embed`; vectors -> OpenAI list, as floats or base64.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::models::{Kind, ModelSpec};
use crate::openai::{EmbeddingRequest, EncodingFormat, Prompt};
use crate::upstream::resource::wire;

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

pub fn to_argo(texts: &[String], model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
    let body = wire::EmbedRequest {
        user,
        model: &model.argo_id,
        prompt: texts,
    };
    serde_json::to_vec(&body)
        .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))
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

/// Translates Argo's `{"embedding": [[...], ...]}`. Plain float output copies the vectors' JSON
/// through untouched; base64 and `dimensions` decode them.
pub fn translate(body: &[u8], output: &Output) -> Result<Vec<u8>, ApiError> {
    translate_batches(&[body], output)
}

/// Argo's answers to the batches of one request (in the order of the inputs) -> one OpenAI
/// answer with every vector in order.
pub fn translate_batches(bodies: &[&[u8]], output: &Output) -> Result<Vec<u8>, ApiError> {
    let mut vectors = Vec::with_capacity(output.expected_vectors);
    for body in bodies {
        let parsed: wire::EmbedResponse = serde_json::from_slice(body).map_err(|_| not_json())?;
        vectors.extend(parsed.embedding);
    }
    respond(vectors, bodies, output)
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

fn not_json() -> ApiError {
    ApiError::invalid_answer("Argo returned an embedding answer that is not valid JSON")
}

/// The vectors of every batch, checked and rendered as the client asked.
fn respond(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_request;
    use crate::models::Family;
    use serde_json::Value;

    fn v3small() -> ModelSpec {
        ModelSpec {
            dimensions: Some(4),
            ..ModelSpec::new(
                "text-embedding-3-small",
                "v3small",
                Family::Openai,
                Kind::Embedding,
            )
        }
    }

    fn output(format: EncodingFormat, dimensions: Option<usize>) -> Output<'static> {
        Output {
            model: "text-embedding-3-small",
            format,
            dimensions,
            expected_vectors: 2,
            prompt_tokens: 3,
        }
    }

    const ARGO: &[u8] = br#"{"embedding":[[0.5,-0.25,3e-2,0.0],[1,2,3,4]]}"#;

    #[test]
    fn float_vectors_pass_through_in_order() {
        let json: Value =
            serde_json::from_slice(&translate(ARGO, &output(EncodingFormat::Float, None)).unwrap())
                .unwrap();
        assert_eq!(json["object"], "list");
        assert_eq!(
            json["data"][0]["embedding"],
            serde_json::json!([0.5, -0.25, 0.03, 0.0])
        );
        assert_eq!(json["data"][1]["index"], 1);
        assert_eq!(
            json["usage"],
            serde_json::json!({"prompt_tokens":3,"total_tokens":3})
        );
    }

    #[test]
    fn batches_join_in_order_and_must_add_up() {
        let first: &[u8] = br#"{"embedding":[[1.0,0.0]]}"#;
        let second: &[u8] = br#"{"embedding":[[0.0,1.0],[0.5,0.5]]}"#;
        let mut wanted = output(EncodingFormat::Float, None);
        wanted.expected_vectors = 3;
        let json: Value =
            serde_json::from_slice(&translate_batches(&[first, second], &wanted).unwrap()).unwrap();
        let vectors: Vec<&Value> = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["embedding"])
            .collect();
        assert_eq!(
            vectors,
            [
                &serde_json::json!([1.0, 0.0]),
                &serde_json::json!([0.0, 1.0]),
                &serde_json::json!([0.5, 0.5])
            ]
        );
        assert_eq!(json["data"][2]["index"], 2);
        assert_eq!(
            translate_batches(&[first], &wanted).unwrap_err().status,
            502
        );
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let json: Value = serde_json::from_slice(
            &translate(ARGO, &output(EncodingFormat::Base64, None)).unwrap(),
        )
        .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(json["data"][1]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(floats, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn dimensions_truncate_and_renormalise() {
        let json: Value = serde_json::from_slice(
            &translate(ARGO, &output(EncodingFormat::Float, Some(2))).unwrap(),
        )
        .unwrap();
        let second: Vec<f64> =
            serde_json::from_value(json["data"][1]["embedding"].clone()).unwrap();
        assert_eq!(second.len(), 2);
        assert!((second[0] - 1.0 / 5f64.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn wrong_vector_count_or_shape_is_bad_gateway() {
        let one = output(EncodingFormat::Float, None);
        assert_eq!(
            translate(br#"{"embedding":[[1]]}"#, &one)
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            translate(
                br#"{"embedding":[["a"],[1]]}"#,
                &output(EncodingFormat::Base64, None)
            )
            .unwrap_err()
            .status,
            502
        );
        assert_eq!(translate(b"<html>", &one).unwrap_err().status, 502);
    }

    #[test]
    fn inputs_are_validated() {
        let model = v3small();
        let cases = [
            (r#"{"model":"m","input":""}"#, "input[0]"),
            (r#"{"model":"m","input":[]}"#, "input"),
            (r#"{"model":"m","input":[1,2]}"#, "input"),
            (r#"{"model":"m","input":"x","dimensions":9}"#, "dimensions"),
        ];
        for (body, param) in cases {
            let request: EmbeddingRequest = parse_request(body.as_bytes()).unwrap();
            assert_eq!(
                inputs(&request, &model).unwrap_err().param.as_deref(),
                Some(param),
                "{body}"
            );
        }
        let request: EmbeddingRequest =
            parse_request(br#"{"model":"m","input":["a","b"]}"#).unwrap();
        assert_eq!(inputs(&request, &model).unwrap(), ["a", "b"]);
        let argo: Value = serde_json::from_slice(
            &to_argo(inputs(&request, &model).unwrap(), &model, "carol").unwrap(),
        )
        .unwrap();
        assert_eq!(
            argo,
            serde_json::json!({"user":"carol","model":"v3small","prompt":["a","b"]})
        );
    }
}
