//! `/v1/embeddings`: text inputs -> Argo `embed`; vectors -> OpenAI list, as floats or base64.

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::argo;
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

/// The Argo embed bodies for `texts`: one per batch of the model's `inputs_per_call`, in order.
pub fn to_argo(texts: &[String], model: &ModelSpec, user: &str) -> Result<Vec<Vec<u8>>, ApiError> {
    texts
        .chunks(model.inputs_per_call())
        .map(|batch| {
            let body = argo::EmbedRequest {
                user,
                model: &model.argo_id,
                prompt: batch,
            };
            serde_json::to_vec(&body)
                .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))
        })
        .collect()
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
pub struct Output<'a> {
    pub model: &'a str,
    pub format: EncodingFormat,
    pub dimensions: Option<usize>,
    pub expected_vectors: usize,
    pub prompt_tokens: u64,
}

/// Translates Argo's `{"embedding": [[...], ...]}` answers, one per batch sent, in order.
/// Plain float output copies the vectors' JSON through untouched; base64 and `dimensions`
/// decode them.
pub fn translate(answers: &[Vec<u8>], output: &Output) -> Result<Vec<u8>, ApiError> {
    let mut vectors = Vec::with_capacity(output.expected_vectors);
    for body in answers {
        vectors.extend(read_vectors(body)?);
    }
    if vectors.len() != output.expected_vectors {
        return Err(ApiError::invalid_answer(format!(
            "Argo returned {} vectors for {} inputs",
            vectors.len(),
            output.expected_vectors
        )));
    }
    let body_bytes: usize = answers.iter().map(Vec::len).sum();
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

/// One answer's vectors. An answer that is not an embedding list may be Argo's authentication
/// notice for an unregistered user (looked for only then, so large answers cost nothing more).
fn read_vectors(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    match serde_json::from_slice::<argo::EmbedResponse>(body) {
        Ok(parsed) => Ok(parsed.embedding),
        Err(_) if contains_auth_notice(body) => Err(ApiError::argo_user_not_registered()),
        Err(_) => Err(ApiError::invalid_answer(
            "Argo returned an embedding answer that is not valid JSON",
        )),
    }
}

fn contains_auth_notice(body: &[u8]) -> bool {
    let notice = crate::chat::AUTH_NOTICE.as_bytes();
    body.windows(notice.len()).any(|window| window == notice)
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
    use crate::models::{Family, DEFAULT_INPUTS_PER_CALL};
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

    fn one(body: &[u8]) -> Vec<Vec<u8>> {
        vec![body.to_vec()]
    }

    const ARGO: &[u8] = br#"{"embedding":[[0.5,-0.25,3e-2,0.0],[1,2,3,4]]}"#;

    #[test]
    fn float_vectors_pass_through_in_order() {
        let json: Value = serde_json::from_slice(
            &translate(&one(ARGO), &output(EncodingFormat::Float, None)).unwrap(),
        )
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
    fn base64_is_little_endian_f32() {
        let json: Value = serde_json::from_slice(
            &translate(&one(ARGO), &output(EncodingFormat::Base64, None)).unwrap(),
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
            &translate(&one(ARGO), &output(EncodingFormat::Float, Some(2))).unwrap(),
        )
        .unwrap();
        let second: Vec<f64> =
            serde_json::from_value(json["data"][1]["embedding"].clone()).unwrap();
        assert_eq!(second.len(), 2);
        assert!((second[0] - 1.0 / 5f64.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn wrong_vector_count_or_shape_is_bad_gateway() {
        let single = output(EncodingFormat::Float, None);
        assert_eq!(
            translate(&one(br#"{"embedding":[[1]]}"#), &single)
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            translate(
                &one(br#"{"embedding":[["a"],[1]]}"#),
                &output(EncodingFormat::Base64, None)
            )
            .unwrap_err()
            .status,
            502
        );
        assert_eq!(translate(&one(b"<html>"), &single).unwrap_err().status, 502);
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
            &to_argo(inputs(&request, &model).unwrap(), &model, "carol").unwrap()[0],
        )
        .unwrap();
        assert_eq!(
            argo,
            serde_json::json!({"user":"carol","model":"v3small","prompt":["a","b"]})
        );
    }

    #[test]
    fn inputs_go_in_batches_and_answers_join_in_order() {
        let model = ModelSpec {
            inputs_per_call: Some(2),
            ..v3small()
        };
        let texts: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let bodies = to_argo(&texts, &model, "dave").unwrap();
        let prompts: Vec<Value> = bodies
            .iter()
            .map(|body| serde_json::from_slice::<Value>(body).unwrap()["prompt"].clone())
            .collect();
        assert_eq!(
            prompts,
            [
                serde_json::json!(["a", "b"]),
                serde_json::json!(["c", "d"]),
                serde_json::json!(["e"])
            ]
        );
        let answers = vec![
            br#"{"embedding":[[1,0,0,0],[2,0,0,0]]}"#.to_vec(),
            br#"{"embedding":[[3,0,0,0]]}"#.to_vec(),
        ];
        let mut output = output(EncodingFormat::Float, None);
        output.expected_vectors = 3;
        let json: Value = serde_json::from_slice(&translate(&answers, &output).unwrap()).unwrap();
        let firsts: Vec<f64> = (0..3)
            .map(|i| json["data"][i]["embedding"][0].as_f64().unwrap())
            .collect();
        assert_eq!(firsts, [1.0, 2.0, 3.0]);
        assert_eq!(json["data"][2]["index"], 2);
        assert_eq!(v3small().inputs_per_call(), DEFAULT_INPUTS_PER_CALL);
    }

    #[test]
    fn an_authentication_notice_is_403() {
        let notice = br#"{"response":"IMPORTANT AUTHENTICATION NOTICE FROM ARGO: register first"}"#;
        let error = translate(&one(notice), &output(EncodingFormat::Float, None)).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (403, Some("argo_user_not_registered"))
        );
    }
}
