//! Embeddings on the resource API (`/api/v1/resource/embed/`): the texts of a batch as its
//! request, and its answers `{"embedding": [[...], ...]}` as one OpenAI answer.

use super::wire;
use crate::embeddings::{not_json, respond, Output};
use crate::error::ApiError;
use crate::models::ModelSpec;

pub fn to_argo(texts: &[String], model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
    let body = wire::EmbedRequest {
        user,
        model: &model.argo_id,
        prompt: texts,
    };
    serde_json::to_vec(&body)
        .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embeddings::inputs;
    use crate::json::parse_request;
    use crate::models::{Family, Kind};
    use crate::openai::{EmbeddingRequest, EncodingFormat};
    use base64::Engine;
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
