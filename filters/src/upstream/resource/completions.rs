//! Legacy `/v1/completions`: each prompt becomes one conversation ([`conversation`]), planned
//! for the model's upstream like any other chat ([`crate::upstream::plan::conversation`]); the
//! answers become `text_completion` choices, one per prompt.

use serde::Serialize;

use super::wire::Endpoint;
use crate::error::ApiError;
use crate::hub::{Answer, Conversation, Dialect, Message, Role, Usage};
use crate::models::ModelSpec;
use crate::openai::{check_sampling, CompletionRequest, Prompt, ResponseMeta};
use crate::stream::OpenAiUsage;
use crate::usage::Tokenizer;

/// The prompts as texts, with the request's own checks applied.
pub fn prompts(request: &CompletionRequest) -> Result<Vec<&str>, ApiError> {
    check_sampling(request.temperature, request.top_p, request.n)?;
    let prompts: Vec<&str> = match &request.prompt {
        Prompt::One(text) => vec![text.as_str()],
        Prompt::Many(texts) => texts.iter().map(String::as_str).collect(),
        Prompt::Tokens(_) | Prompt::TokenLists(_) => {
            return Err(ApiError::invalid(
                "prompt",
                "Token-id prompts are not supported; send the prompt as text",
            ))
        }
    };
    if prompts.is_empty() {
        return Err(ApiError::invalid(
            "prompt",
            "`prompt` must not be an empty list",
        ));
    }
    if request.stream == Some(true) && prompts.len() > 1 {
        return Err(ApiError::invalid(
            "prompt",
            "Streaming takes a single prompt",
        ));
    }
    Ok(prompts)
}

/// The conversation of one prompt: the prompt as the user's turn, with the request's limit,
/// sampling, stop sequences and stream.
pub fn conversation(request: &CompletionRequest, prompt: &str) -> Conversation {
    let mut conversation =
        Conversation::new(Dialect::OpenAiChat, vec![Message::text(Role::User, prompt)]);
    conversation.max_tokens = request.max_tokens;
    conversation.temperature = request.temperature;
    conversation.top_p = request.top_p;
    conversation.stop = request
        .stop
        .clone()
        .map(|stop| stop.into_list())
        .unwrap_or_default();
    conversation.stream = request.stream == Some(true);
    conversation
}

/// The resource API's chat body for one prompt, for `endpoint` (`chat` or `streamchat`).
pub fn to_argo(
    request: &CompletionRequest,
    prompt: &str,
    model: &ModelSpec,
    user: &str,
    endpoint: Endpoint,
) -> Result<Vec<u8>, ApiError> {
    super::request_body(&conversation(request, prompt), model, user, endpoint)
}

#[derive(Serialize)]
struct TextCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice>,
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct Choice {
    text: String,
    index: usize,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

/// Renders the `text_completion` object: one choice per (prompt, answer) pair, in order, with
/// usage counted by `tokenizer`.
pub fn completion_json(
    request: &CompletionRequest,
    prompts: &[&str],
    answers: &[Answer],
    meta: &ResponseMeta,
    tokenizer: Tokenizer,
) -> Vec<u8> {
    let echo = request.echo == Some(true);
    let choices = prompts
        .iter()
        .zip(answers)
        .enumerate()
        .map(|(index, (prompt, answer))| {
            let text = answer.text().unwrap_or_default();
            Choice {
                text: if echo {
                    format!("{prompt}{text}")
                } else {
                    text.into_owned()
                },
                index,
                logprobs: None,
                finish_reason: "stop",
            }
        })
        .collect();
    let prompt_tokens = prompts.iter().map(|prompt| tokenizer.count(prompt)).sum();
    let completion_tokens = answers
        .iter()
        .map(|answer| answer.completion_tokens(tokenizer))
        .sum();
    text_completion(meta, choices, &Usage::new(prompt_tokens, completion_tokens))
}

/// The `text_completion` object of one answer with its `usage`.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let choice = Choice {
        text: answer.text().unwrap_or_default().into_owned(),
        index: 0,
        logprobs: None,
        finish_reason: "stop",
    };
    text_completion(meta, vec![choice], usage)
}

fn text_completion(meta: &ResponseMeta, choices: Vec<Choice>, usage: &Usage) -> Vec<u8> {
    let completion = TextCompletion {
        id: &meta.id,
        object: "text_completion",
        created: meta.created,
        model: &meta.model,
        choices,
        usage: OpenAiUsage::from(usage),
    };
    serde_json::to_vec(&completion).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Finish, Part};
    use crate::json::parse_request;
    use crate::models::{Family, Kind};
    use serde_json::Value;

    fn answer(text: &str) -> Answer {
        Answer {
            content: vec![Part::Text(text.into())],
            finish: Finish::Stop,
            usage: None,
        }
    }

    fn gpt4o() -> ModelSpec {
        ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat)
    }

    #[test]
    fn each_prompt_is_one_argo_user_turn() {
        let request: CompletionRequest = parse_request(
            br#"{"model":"gpt-4o","prompt":["Say A","Say B"],"max_tokens":5,"stop":["\n"]}"#,
        )
        .unwrap();
        let texts = prompts(&request).unwrap();
        assert_eq!(texts, ["Say A", "Say B"]);
        let argo: Value = serde_json::from_slice(
            &to_argo(&request, texts[1], &gpt4o(), "bob", Endpoint::Chat).unwrap(),
        )
        .unwrap();
        assert_eq!(
            argo["messages"],
            serde_json::json!([{"role":"user","content":"Say B"}])
        );
        assert_eq!(
            (argo["user"].as_str(), argo["max_tokens"].as_u64()),
            (Some("bob"), Some(5))
        );
        assert_eq!(argo["stop"], serde_json::json!(["\n"]));
    }

    #[test]
    fn token_prompts_and_multi_prompt_streams_are_refused() {
        for body in [
            &br#"{"model":"m","prompt":[1,2,3]}"#[..],
            br#"{"model":"m","prompt":[[1],[2]]}"#,
            br#"{"model":"m","prompt":[]}"#,
            br#"{"model":"m","prompt":["a","b"],"stream":true}"#,
        ] {
            let request: CompletionRequest = parse_request(body).unwrap();
            assert_eq!(
                prompts(&request).unwrap_err().param.as_deref(),
                Some("prompt")
            );
        }
    }

    #[test]
    fn answers_become_ordered_choices_with_echo() {
        let request: CompletionRequest =
            parse_request(br#"{"model":"gpt-4o","prompt":["1+1=","2+2="],"echo":true}"#).unwrap();
        let answers = [answer("2"), answer("4")];
        let meta = ResponseMeta {
            id: "cmpl-1".into(),
            created: 1,
            model: "gpt-4o".into(),
        };
        let json: Value = serde_json::from_slice(&completion_json(
            &request,
            &["1+1=", "2+2="],
            &answers,
            &meta,
            Tokenizer::O200kBase,
        ))
        .unwrap();
        assert_eq!(json["object"], "text_completion");
        assert_eq!(json["choices"][0]["text"], "1+1=2");
        assert_eq!(json["choices"][1]["text"], "2+2=4");
        assert_eq!(json["choices"][1]["index"], 1);
        assert_eq!(
            json["usage"]["total_tokens"],
            json["usage"]["prompt_tokens"].as_u64().unwrap() + 2
        );
    }
}
