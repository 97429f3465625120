use serde_json::{json, Value};

use super::*;
use crate::hub::{Dialect, Message, Role};
use crate::json::parse_request;
use crate::models::Kind;
use crate::openai::CompletionRequest;

/// One row of each family: GPT, Claude, Gemini, and another model on the OpenAI endpoint (not
/// GPT: Argo's `/v1/responses` does not serve it).
fn rows() -> [ModelSpec; 4] {
    [
        ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat),
        ModelSpec::new(
            "claude-sonnet-4.5",
            "claudesonnet45",
            Family::Anthropic,
            Kind::Chat,
        ),
        ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat),
        ModelSpec::new("llama-4", "llama4", Family::Openai, Kind::Chat),
    ]
}

fn on(api: UpstreamApi, mut model: ModelSpec) -> ModelSpec {
    model.upstream = Some(api);
    model
}

fn hello(stream: bool) -> Conversation {
    let mut conversation =
        Conversation::new(Dialect::OpenAiChat, vec![Message::text(Role::User, "hi")]);
    conversation.stream = stream;
    conversation.max_tokens = Some(100);
    conversation
}

fn planned(model: &ModelSpec, stream: bool) -> Exchange {
    conversation(&hello(stream), model, "alice", "chatcmpl-1", 4096).unwrap()
}

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[test]
fn each_family_on_each_api_gets_its_upstream_streamed_or_not() {
    for row in rows() {
        for stream in [false, true] {
            let native = planned(&on(UpstreamApi::Native, row.clone()), stream);
            let expected = match row.family {
                // Argo refuses long unstreamed Claude answers: always a stream upstream.
                Family::Anthropic => Target::AnthropicMessages { stream: true },
                _ => Target::OpenAiChat { stream },
            };
            assert_eq!(
                native.target, expected,
                "{} native, stream {stream}",
                row.name
            );
            assert_eq!(native.usage, UpstreamUsage::Reported);
            assert_eq!(matches!(native.reading, Reading::Stream(_)), stream);
            assert_eq!(body_json(&native.body)["model"], row.argo_id.as_str());

            let resource = planned(&on(UpstreamApi::Resource, row.clone()), stream);
            let endpoint = match stream {
                true => Endpoint::StreamChat,
                false => Endpoint::Chat,
            };
            assert_eq!(resource.target, Target::Resource(endpoint), "{}", row.name);
            assert_eq!(resource.usage, UpstreamUsage::None);
            assert_eq!(matches!(resource.reading, Reading::Stream(_)), stream);
            assert_eq!(body_json(&resource.body)["user"], "alice");
        }
    }
}

#[test]
fn a_stream_of_a_model_streamchat_does_not_serve_is_one_chat_answer() {
    let mut row = on(UpstreamApi::Resource, rows()[0].clone());
    row.stream = false;
    let exchange = planned(&row, true);
    assert_eq!(exchange.target, Target::Resource(Endpoint::Chat));
    assert!(matches!(exchange.reading, Reading::Whole(_)));
}

/// Whether each dialect passes through for `model`, with the facts that can keep it off.
fn ways(model: &ModelSpec) -> [bool; 5] {
    [
        passes_through(
            Dialed::Chat {
                parallel_tool_calls: false,
            },
            model,
        ),
        passes_through(
            Dialed::Chat {
                parallel_tool_calls: true,
            },
            model,
        ),
        passes_through(Dialed::Messages, model),
        passes_through(
            Dialed::Responses {
                long_custom_tool: false,
            },
            model,
        ),
        passes_through(
            Dialed::Responses {
                long_custom_tool: true,
            },
            model,
        ),
    ]
}

#[test]
fn only_native_rows_pass_through_and_only_to_their_own_dialects_endpoint() {
    let [gpt, claude, gemini, other] = rows();
    let native = |row: &ModelSpec| on(UpstreamApi::Native, row.clone());
    //                                chat   chat+parallel messages responses responses+long
    assert_eq!(ways(&native(&gpt)), [true, true, false, true, false]);
    assert_eq!(ways(&native(&claude)), [false, false, true, false, false]);
    assert_eq!(ways(&native(&gemini)), [true, false, false, false, false]);
    assert_eq!(ways(&native(&other)), [true, true, false, false, false]);
    for row in rows() {
        assert_eq!(
            ways(&on(UpstreamApi::Resource, row.clone())),
            [false; 5],
            "{}",
            row.name
        );
    }
    assert!(counts_at_argo(&native(&claude)));
    assert!(!counts_at_argo(&native(&gpt)));
    assert!(!counts_at_argo(&on(UpstreamApi::Resource, claude)));
}

#[test]
fn an_openai_chat_request_passes_through_or_becomes_a_conversation() {
    let body = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
        "messages":[{"role":"user","content":"hi"}]}"#;
    let [gpt, claude, ..] = rows();
    let gpt = on(UpstreamApi::Native, gpt);
    let Plan::PassThrough(plan) =
        chat(passthrough::read_request(body).unwrap(), &gpt, "alice").unwrap()
    else {
        panic!("GPT on the native API passes through");
    };
    assert_eq!(plan.target, Target::OpenAiChat { stream: true });
    assert!(matches!(
        plan.relay,
        Relay::Chat {
            stream: true,
            include_usage: true
        }
    ));
    assert_eq!(body_json(&plan.body)["user"], "alice");
    for model in [
        on(UpstreamApi::Native, claude),
        on(UpstreamApi::Resource, gpt),
    ] {
        let plan = chat(passthrough::read_request(body).unwrap(), &model, "alice").unwrap();
        assert!(matches!(plan, Plan::Hub(ref conversation) if conversation.stream));
    }
}

#[test]
fn a_messages_request_for_claude_streams_upstream_even_when_the_client_wants_one_answer() {
    let body = br#"{"model":"claude-sonnet-4.5","max_tokens":10,
        "messages":[{"role":"user","content":"hi"}]}"#;
    let [gpt, claude, ..] = rows();
    let claude = on(UpstreamApi::Native, claude);
    let Plan::PassThrough(plan) = messages(
        messages_passthrough::read_request(body).unwrap(),
        &claude,
        "alice",
    )
    .unwrap() else {
        panic!("Claude on the native API passes through");
    };
    assert_eq!(plan.target, Target::AnthropicMessages { stream: true });
    assert!(!plan.relay.streams());
    let gpt = on(UpstreamApi::Native, gpt);
    let plan = messages(
        messages_passthrough::read_request(body).unwrap(),
        &gpt,
        "alice",
    );
    assert!(matches!(plan, Ok(Plan::Hub(_))));
}

#[test]
fn a_responses_request_passes_through_for_gpt_only() {
    let body = br#"{"model":"gpt-4o","input":"hi","stream":false}"#;
    let [gpt, claude, gemini, other] = rows();
    let native = on(UpstreamApi::Native, gpt.clone());
    let Plan::PassThrough(plan) = responses(
        body,
        responses_passthrough::read_request(body).unwrap(),
        &native,
        "alice",
    )
    .unwrap() else {
        panic!("GPT on the native API passes through");
    };
    assert_eq!(plan.target, Target::Responses { stream: false });
    assert!(matches!(plan.relay, Relay::Responses { stream: false, .. }));
    for model in [
        on(UpstreamApi::Native, claude),
        on(UpstreamApi::Native, gemini),
        on(UpstreamApi::Native, other),
        on(UpstreamApi::Resource, gpt),
    ] {
        let client = responses_passthrough::read_request(body).unwrap();
        let plan = responses(body, client, &model, "alice").unwrap();
        assert!(matches!(plan, Plan::Hub(_)), "{}", model.name);
    }
}

#[test]
fn each_completion_prompt_is_one_conversation_planned_like_any_other() {
    let request: CompletionRequest = parse_request(
        br#"{"model":"gpt-4o","prompt":["Say A","Say B"],"max_tokens":5,"stop":"\n"}"#,
    )
    .unwrap();
    let one = resource::completions::conversation(&request, "Say B");
    assert!(!one.stream);
    assert_eq!(
        (one.max_tokens, one.stop.as_slice()),
        (Some(5), &["\n".to_string()][..])
    );
    let [gpt, claude, ..] = rows();
    let plan = |model: ModelSpec| conversation(&one, &model, "bob", "cmpl-1", 4096).unwrap();
    let native = plan(on(UpstreamApi::Native, gpt.clone()));
    assert_eq!(native.target, Target::OpenAiChat { stream: false });
    assert_eq!(
        body_json(&native.body)["messages"],
        json!([{"role": "user", "content": "Say B"}])
    );
    let claude = plan(on(UpstreamApi::Native, claude));
    assert_eq!(claude.target, Target::AnthropicMessages { stream: true });
    assert!(matches!(claude.reading, Reading::Whole(_)));
    let resource = plan(on(UpstreamApi::Resource, gpt));
    assert_eq!(resource.target, Target::Resource(Endpoint::Chat));
    let argo = body_json(&resource.body);
    assert_eq!(
        argo["messages"],
        json!([{"role": "user", "content": "Say B"}])
    );
    assert_eq!(
        (argo["max_tokens"].as_u64(), &argo["stop"]),
        (Some(5), &json!(["\n"]))
    );
}

#[test]
fn embeddings_go_native_or_to_the_resource_embed_in_batches() {
    let request: EmbeddingRequest =
        parse_request(br#"{"model":"text-embedding-3-small","input":["a","b","c"]}"#).unwrap();
    let row = ModelSpec::new(
        "text-embedding-3-small",
        "v3small",
        Family::Openai,
        Kind::Embedding,
    );
    let native = on(UpstreamApi::Native, row.clone());
    assert_eq!(Embeddings::of(&native).target(), Target::Embeddings);
    let resource = on(UpstreamApi::Resource, row);
    assert_eq!(
        Embeddings::of(&resource).target(),
        Target::Resource(Endpoint::Embed)
    );
    for model in [native, resource] {
        let plan = Embeddings::of(&model);
        let bodies = plan.bodies(&request, &model, "alice", 2).unwrap();
        assert_eq!(bodies.len(), 2, "three texts in batches of two");
        let first = body_json(&bodies[0]);
        let texts = match plan {
            Embeddings::Native => &first["input"],
            Embeddings::Resource => &first["prompt"],
        };
        assert_eq!(texts, &json!(["a", "b"]));
    }
}
