use super::*;

use std::time::Duration;

use serde_json::{json, Value};

const CHAT: &str = "/argoapi/api/v1/resource/chat/";

fn mock() -> MockArgo {
    MockArgo::new(MockOptions {
        fragment_delay: Duration::from_millis(5),
        fragment_bytes: 4,
    })
}

fn json_answer(answer: Answer) -> (u16, Value) {
    match answer {
        Answer::Json { status, body, .. } => (status, serde_json::from_slice(&body).unwrap()),
        other => panic!("expected JSON, got {other:?}"),
    }
}

#[test]
fn the_model_list_comes_late_and_dripping_when_the_hook_says_so() {
    let mock = mock();
    let list = MockRequest {
        method: "GET".into(),
        path: "/argoapi/v1/models".into(),
        ..MockRequest::default()
    };
    let (answer, delay) = mock.respond(&list);
    assert_eq!(json_answer(answer).0, 200);
    assert_eq!(delay, Duration::ZERO);
    mock.models.hook(br#"{"delay_ms": 700, "drip_ms": 2}"#);
    match mock.respond(&list) {
        (Answer::Faulty { body, fault }, delay) => {
            assert_eq!(fault, Fault::Drip(Duration::from_millis(2)));
            assert_eq!(delay, Duration::from_millis(700));
            let listed: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(listed["object"], "list");
        }
        other => panic!("expected a dripping list, got {other:?}"),
    }
    mock.models.hook(br#"{"fail": true}"#);
    let (answer, _) = mock.respond(&list);
    assert_eq!(json_answer(answer).0, 503, "an error is sent whole");
}

#[test]
fn chat_requires_user_model_and_messages() {
    let mock = mock();
    for body in [
        r#"{"model":"gpt4o","messages":[{"role":"user","content":"hi"}]}"#,
        r#"{"user":"u","messages":[]}"#,
        r#"{"user":"u","model":"gpt4o"}"#,
        "nope",
    ] {
        assert_eq!(
            json_answer(mock.answer(CHAT, body.as_bytes()).0).0,
            400,
            "{body}"
        );
    }
    let (status, json) = json_answer(
        mock.answer(
            CHAT,
            br#"{"user":"u","model":"gpt4o","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .0,
    );
    assert_eq!(status, 200);
    assert_eq!(
        json["response"],
        "Hello from mock Argo (gpt4o). You said: hi"
    );
}

#[test]
fn directives_script_errors_replies_and_streams() {
    let mock = mock();
    let body = |directive: &str| {
        format!(
            r#"{{"user":"u","model":"gpt4o","messages":[{{"role":"user","content":"x #mock {}"}}]}}"#,
            directive.replace('"', "\\\"")
        )
    };
    let (answer, _) = mock.answer(CHAT, body(r#"{"status":429,"retry_after":"3"}"#).as_bytes());
    assert!(
        matches!(answer, Answer::Json { status: 429, retry_after: Some(ref s), .. } if s == "3")
    );
    let (status, json) = json_answer(
        mock.answer(CHAT, body(r#"{"reply":"scripted"}"#).as_bytes())
            .0,
    );
    assert_eq!((status, json["response"].as_str()), (200, Some("scripted")));
    let (answer, _) = mock.answer(
        "/api/v1/resource/streamchat/",
        body(r#"{"reply":"héllo","fragment_bytes":2}"#).as_bytes(),
    );
    let Answer::Stream {
        fragments, pause, ..
    } = answer
    else {
        panic!("expected a stream")
    };
    assert_eq!(fragments.concat(), "héllo".as_bytes());
    assert!(
        std::str::from_utf8(&fragments[0]).is_err() || std::str::from_utf8(&fragments[1]).is_err()
    );
    assert_eq!(pause, Duration::from_millis(5));
}

#[test]
fn embed_returns_one_deterministic_unit_vector_per_prompt() {
    let (status, json) = json_answer(
        mock()
            .answer(
                "/api/v1/resource/embed/",
                br#"{"user":"u","model":"v3small","prompt":["a","b","a"]}"#,
            )
            .0,
    );
    assert_eq!(status, 200);
    let vectors = json["embedding"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0].as_array().unwrap().len(), 1536);
    assert_eq!(vectors[0], vectors[2]);
    assert_ne!(vectors[0], vectors[1]);
    let norm: f64 = vectors[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-3);
    assert_eq!(
        json_answer(
            mock()
                .answer(
                    "/api/v1/resource/embed/",
                    br#"{"user":"u","model":"gpt4o","prompt":["a"]}"#
                )
                .0
        )
        .0,
        400
    );
}

fn chat_body(user: &str, model: &str, extra: Value) -> Vec<u8> {
    let mut body = json!({"user": user, "model": model,
        "messages": [{"role": "user", "content": "hi"}]});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body.to_string().into_bytes()
}

const STREAMCHAT: &str = "/api/v1/resource/streamchat/";

#[test]
fn unregistered_users_get_the_notice_with_status_200() {
    let mock = mock();
    let body = chat_body("unregistered-alice", "gpt4o", json!({}));
    let (status, json) = json_answer(mock.answer(CHAT, &body).0);
    assert_eq!(status, 200);
    assert!(json["response"]
        .as_str()
        .unwrap()
        .contains("AUTHENTICATION NOTICE FROM ARGO"));
    let Answer::Stream { fragments, .. } = mock.answer(STREAMCHAT, &body).0 else {
        panic!("expected a stream")
    };
    let streamed = String::from_utf8(fragments.concat()).unwrap();
    assert!(streamed.starts_with(rules::AUTH_NOTICE), "{streamed}");
    let embed = br#"{"user":"unregistered-bob","model":"v3small","prompt":["a"]}"#;
    let (status, json) = json_answer(mock.answer("/api/v1/resource/embed/", embed).0);
    assert_eq!(status, 200);
    assert!(json.get("embedding").is_none());
    assert!(json["response"]
        .as_str()
        .unwrap()
        .contains("AUTHENTICATION NOTICE FROM ARGO"));
}

#[test]
fn parameters_real_argo_refuses_are_400_with_its_words() {
    let mock = mock();
    let refused = [
        (
            "claudesonnet45",
            json!({"max_tokens": 21_001}),
            "streaming is required",
        ),
        (
            "claudesonnet45",
            json!({"temperature": 0.5, "top_p": 0.9}),
            "cannot both be specified",
        ),
        (
            "claudehaiku45",
            json!({"temperature": 0.5, "top_p": 0.9}),
            "cannot both be specified",
        ),
        (
            "claudeopus47",
            json!({"temperature": 0.5}),
            "`temperature` is deprecated",
        ),
        (
            "claudeopus47",
            json!({"top_p": 0.5}),
            "`top_p` is deprecated",
        ),
        ("gpt5", json!({"temperature": 0.5}), "does not support 0.5"),
        ("gpt55", json!({"top_p": 0.9}), "'top_p' is not supported"),
    ];
    for (model, extra, words) in refused {
        let (status, json) =
            json_answer(mock.answer(CHAT, &chat_body("u", model, extra.clone())).0);
        assert_eq!(status, 400, "{model} {extra}");
        assert!(json.to_string().contains(words), "{model} {extra}: {json}");
    }
    let accepted = [
        (
            "claudesonnet45",
            json!({"max_tokens": 21_000, "temperature": 0.5}),
        ),
        ("claudeopus41", json!({"temperature": 0.5, "top_p": 0.9})),
        ("claudeopus47", json!({"max_tokens": 64})),
        ("gpt5", json!({"temperature": 1.0, "max_tokens": 64})),
        ("gpto3", json!({"temperature": 0.2, "top_p": 0.9})),
    ];
    for (model, extra) in accepted {
        let (status, _) = json_answer(mock.answer(CHAT, &chat_body("u", model, extra.clone())).0);
        assert_eq!(status, 200, "{model} {extra}");
    }
    let long_stream = chat_body("u", "claudesonnet45", json!({"max_tokens": 50_000}));
    assert!(matches!(
        mock.answer(STREAMCHAT, &long_stream).0,
        Answer::Stream { .. }
    ));
}

#[test]
fn retired_models_and_large_embed_batches_are_refused() {
    let mock = mock();
    for model in ["gpt4", "gpt35", "claudesonnet4", "gpto1mini", "v3small"] {
        let (status, json) = json_answer(mock.answer(CHAT, &chat_body("u", model, json!({}))).0);
        assert_eq!(status, 400, "{model}");
        assert!(json["error"].as_str().unwrap().contains(model));
    }
    let prompts: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let body = json!({"user": "u", "model": "v3small", "prompt": prompts}).to_string();
    let (status, _) = json_answer(mock.answer("/api/v1/resource/embed/", body.as_bytes()).0);
    assert_eq!(status, 400);
    let body = json!({"user": "u", "model": "v3small", "prompt": &prompts[..16]}).to_string();
    let (status, json) = json_answer(mock.answer("/api/v1/resource/embed/", body.as_bytes()).0);
    assert_eq!(
        (status, json["embedding"].as_array().unwrap().len()),
        (200, 16)
    );
}

#[test]
fn tool_call_directives_answer_in_the_other_real_shapes() {
    let mock = mock();
    let ask = |model: &str, shape: &str, tools: Value| {
        let directive = format!(
            r#"#mock {{"tool_call":{{"name":"get_weather","arguments":{{"city":"Paris","now":true}},"shape":"{shape}"}}}}"#
        );
        let body = json!({"user": "u", "model": model, "tools": tools,
            "messages": [{"role": "system", "content": "get_weather"}, {"role": "user", "content": directive}]});
        json_answer(mock.answer(CHAT, body.to_string().as_bytes()).0)
    };
    let claude_tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let (_, gemini) = ask("gemini25pro", "gemini", Value::Null);
    assert_eq!(
        gemini["response"]["tool_calls"][0],
        json!({"id": null, "name": "get_weather", "args": {"city": "Paris", "now": true}})
    );
    let (_, single) = ask("claudesonnet45", "single_object", claude_tools.clone());
    assert_eq!(single["response"]["tool_calls"]["type"], "tool_use");
    let (_, leaked) = ask("claudesonnet45", "leaked", claude_tools);
    assert_eq!(
        leaked["response"]["content"],
        "I will look that up.{'id': 'toolu_mock_1', 'input': {'city': 'Paris', 'now': True}, 'name': 'get_weather', 'type': 'tool_use'}"
    );
}
