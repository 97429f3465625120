//! Reading `generationConfig`: output limits, sampling, stop sequences and thinking.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::hub::Conversation;

use super::fields::{as_int, as_number, get};

pub(super) fn apply_generation_config(
    conversation: &mut Conversation,
    request: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ApiError> {
    let path = format!("{prefix}generationConfig");
    let config = match get(request, "generationConfig", "generation_config") {
        None => return Ok(()),
        Some(Value::Object(config)) => config,
        Some(_) => {
            return Err(ApiError::invalid(
                path,
                "`generationConfig` must be an object",
            ))
        }
    };
    let field = |name: &str| format!("{path}.{name}");
    reject_unservable_output(config, &path)?;
    if let Some(limit) = get(config, "maxOutputTokens", "max_output_tokens") {
        let limit = as_int(limit).filter(|limit| *limit >= 1).ok_or_else(|| {
            ApiError::invalid(
                field("maxOutputTokens"),
                "`maxOutputTokens` must be a positive integer",
            )
        })?;
        conversation.max_tokens = Some(limit.unsigned_abs());
    }
    conversation.temperature = bounded(config.get("temperature"), 2.0, &field("temperature"))?;
    conversation.top_p = bounded(get(config, "topP", "top_p"), 1.0, &field("topP"))?;
    conversation.stop = stop_sequences(
        get(config, "stopSequences", "stop_sequences"),
        &field("stopSequences"),
    )?;
    conversation.reasoning_effort = match get(config, "thinkingConfig", "thinking_config") {
        None => None,
        Some(Value::Object(thinking)) => reasoning_effort(thinking, &field("thinkingConfig"))?,
        Some(_) => {
            return Err(ApiError::invalid(
                field("thinkingConfig"),
                "`thinkingConfig` must be an object",
            ))
        }
    };
    Ok(())
}

/// Output the gateway cannot produce: several candidates, audio or images, logprobs.
fn reject_unservable_output(config: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    let field = |name: &str| format!("{path}.{name}");
    if let Some(count) = get(config, "candidateCount", "candidate_count") {
        if as_int(count).is_none_or(|count| count > 1) {
            return Err(ApiError::invalid(
                field("candidateCount"),
                "Only one candidate can be generated (`candidateCount` 1)",
            ));
        }
    }
    if let Some(modalities) = get(config, "responseModalities", "response_modalities") {
        let text_only = modalities.as_array().is_some_and(|modalities| {
            modalities.iter().all(|modality| {
                modality
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case("TEXT"))
            })
        });
        if !text_only {
            return Err(ApiError::invalid(
                field("responseModalities"),
                "Argo's models answer in text only (`responseModalities: [\"TEXT\"]`)",
            ));
        }
    }
    for (camel, snake, why) in [
        (
            "speechConfig",
            "speech_config",
            "Argo's models produce no speech",
        ),
        (
            "imageConfig",
            "image_config",
            "Argo's models produce no images",
        ),
        (
            "logprobs",
            "logprobs",
            "log probabilities are not available through Argo",
        ),
    ] {
        if get(config, camel, snake).is_some() {
            return Err(ApiError::invalid(
                field(camel),
                format!("`{camel}` is not supported: {why}"),
            ));
        }
    }
    if get(config, "responseLogprobs", "response_logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid(
            field("responseLogprobs"),
            "`responseLogprobs` is not supported: log probabilities are not available through Argo",
        ));
    }
    Ok(())
}

fn bounded(value: Option<&Value>, max: f64, path: &str) -> Result<Option<f64>, ApiError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    as_number(value)
        .filter(|number| (0.0..=max).contains(number))
        .map(Some)
        .ok_or_else(|| ApiError::invalid(path, format!("Must be a number from 0 to {max}")))
}

pub(super) fn stop_sequences(value: Option<&Value>, path: &str) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::invalid(path, "`stopSequences` must be an array of strings");
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(sequences)) => sequences
            .iter()
            .map(|sequence| sequence.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `thinkingLevel` lowercased, or `thinkingBudget` by the budgets Google gives OpenAI's
/// efforts (low 1,024, medium 8,192, high 24,576): 0 → `none`, up to 1,024 → `low`, up to
/// 8,192 → `medium`, more → `high`; -1 (dynamic) leaves the choice to the model.
pub(super) fn reasoning_effort(
    thinking: &Map<String, Value>,
    path: &str,
) -> Result<Option<String>, ApiError> {
    let level = get(thinking, "thinkingLevel", "thinking_level");
    let budget = get(thinking, "thinkingBudget", "thinking_budget");
    let effort =
        match (level, budget) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    format!("{path}.thinkingBudget"),
                    "Give `thinkingLevel` or `thinkingBudget`, not both",
                ))
            }
            (Some(level), None) => {
                let level = level.as_str().unwrap_or_default().to_ascii_uppercase();
                match level.as_str() {
                    "MINIMAL" | "LOW" | "MEDIUM" | "HIGH" => Some(level.to_ascii_lowercase()),
                    "THINKING_LEVEL_UNSPECIFIED" => None,
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{path}.thinkingLevel"),
                            "`thinkingLevel` must be `MINIMAL`, `LOW`, `MEDIUM` or `HIGH`",
                        ))
                    }
                }
            }
            (None, Some(budget)) => match as_int(budget) {
                Some(-1) => None,
                Some(0) => Some("none"),
                Some(1..=1024) => Some("low"),
                Some(1025..=8192) => Some("medium"),
                Some(8193..) => Some("high"),
                _ => return Err(ApiError::invalid(
                    format!("{path}.thinkingBudget"),
                    "`thinkingBudget` must be -1 (dynamic), 0 (off) or a positive number of tokens",
                )),
            }
            .map(str::to_string),
            (None, None) => None,
        };
    Ok(effort)
}
