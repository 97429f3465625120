//! `POST {base}/v1/embeddings`: vectors derived from each input's text, as floats or base64.

use std::time::Duration;

use serde_json::{json, Value};

use crate::directive::parse_directive;
use crate::models;
use crate::resource::{push_vector, unit_vector};
use crate::rules;
use crate::tools::Dialect;
use crate::{with_fault, Answer, MockArgo, MockRequest};

use super::errors::{
    bearer, check_identity, invalid, json_answer, parse, required_model, scripted_error,
    unauthenticated, unknown_model,
};
use super::said::count_tokens;
use super::turn::Outcome;

/// Inputs per embeddings request (OpenAI's limit; Argo's is not recorded).
const MAX_EMBEDDING_INPUTS: usize = 2048;

impl MockArgo {
    pub(super) fn try_embeddings(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::OpenAi;
        let username = bearer(request).ok_or_else(unauthenticated)?;
        let body = parse(dialect, &request.body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        let inputs: Vec<&str> = match body.get("input") {
            Some(Value::String(text)) => vec![text.as_str()],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
                .ok_or_else(|| {
                    invalid(
                        dialect,
                        "`input` entries must be strings (token arrays are not mocked)".into(),
                    )
                })?,
            _ => {
                return Err(invalid(
                    dialect,
                    "`input` must be a string or a non-empty list of strings".into(),
                ))
            }
        };
        if inputs.len() > MAX_EMBEDDING_INPUTS {
            return Err(invalid(
                dialect,
                format!(
                    "at most {MAX_EMBEDDING_INPUTS} inputs per request, got {}",
                    inputs.len()
                ),
            ));
        }
        if !self.models.serves_embedding(model) {
            return Err(if self.models.serves_chat(model) {
                invalid(dialect, format!("`{model}` is not an embedding model"))
            } else {
                unknown_model(dialect, model)
            });
        }
        if rules::is_unregistered(username) {
            // How real Argo greets an unknown user here is not recorded; argo-proxy's
            // embeddings passthrough looks for the notice in `choices[0].message.content`, so
            // the mock answers in that shape.
            let meta = self.meta(dialect, model);
            return Ok((
                json_answer((
                    200,
                    json!({"id": meta.id, "object": "chat.completion",
                    "created": meta.created, "model": meta.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": rules::AUTH_NOTICE},
                        "finish_reason": "stop"}]}),
                )),
                Duration::ZERO,
            ));
        }
        let mut dimensions = models::embedding_dimensions(model).unwrap_or(1536);
        match body.get("dimensions") {
            None | Some(Value::Null) => {}
            Some(_) if model == "ada002" => {
                return Err(invalid(
                    dialect,
                    "This model does not support specifying dimensions.".into(),
                ))
            }
            Some(value) => match value.as_u64() {
                Some(asked) if asked >= 1 && asked as usize <= dimensions => {
                    dimensions = asked as usize
                }
                _ => {
                    return Err(invalid(
                        dialect,
                        format!("`dimensions` must be between 1 and {dimensions}"),
                    ))
                }
            },
        }
        let base64 = match body["encoding_format"].as_str() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(invalid(
                    dialect,
                    format!("`encoding_format` must be float or base64, not {other}"),
                ))
            }
        };
        let directive = parse_directive(inputs.first().copied(), &body)
            .map_err(|(_, message)| invalid(dialect, message))?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if let Some(status) = directive.status {
            return Ok((scripted_error(dialect, status, &directive), delay));
        }
        let tokens: u64 = inputs.iter().map(|input| count_tokens(input)).sum();
        let mut out = String::with_capacity(inputs.len() * dimensions * 12 + 256);
        out.push_str("{\"object\":\"list\",\"data\":[");
        for (index, input) in inputs.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"object\":\"embedding\",\"index\":{index},\"embedding\":"
            ));
            if base64 {
                let bytes: Vec<u8> = unit_vector(input, dimensions)
                    .flat_map(f32::to_le_bytes)
                    .collect();
                out.push_str(&format!("\"{}\"", base64_encode(&bytes)));
            } else {
                push_vector(&mut out, input, dimensions);
            }
            out.push('}');
        }
        out.push_str(&format!(
            "],\"model\":{},\"usage\":{{\"prompt_tokens\":{tokens},\"total_tokens\":{tokens}}}}}",
            json!(model)
        ));
        let answer = Answer::Json {
            status: 200,
            body: out.into_bytes(),
            retry_after: None,
        };
        Ok((with_fault(answer, &directive), delay))
    }
}
/// Standard base64 with padding (OpenAI's `encoding_format: "base64"`: little-endian f32s).
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
