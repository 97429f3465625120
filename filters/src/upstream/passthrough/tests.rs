use super::super::openai_native::WireUsage;
use super::*;
use crate::error::ErrorCode;
use crate::fixtures::{self, gpt, meta, split, sse_payloads, streamed_text, OPENAI_STREAM};
use crate::models::{Family, Kind, Sampling};
use proptest::prelude::*;
use serde_json::json;

const CLIENT: &str = r#"{"model":"gpt-4o","user":"mallory","messages":[{"role":"user","content":"Say \"hi\" 🎉"}],
        "temperature":0.2,"top_p":0.5,"seed":7,"response_format":{"type":"json_object"},"logit_bias":{"50256":-100},
        "max_completion_tokens":50000,"stream":true,"stream_options":{"include_obfuscation":false}}"#;

fn relayed(body: &str, model: &ModelSpec) -> Value {
    let request = read_request(body.as_bytes()).unwrap();
    serde_json::from_slice(&request.request_body(model, "alice").unwrap()).unwrap()
}

#[test]
fn the_request_changes_only_model_user_rules_and_usage_reporting() {
    let request = read_request(CLIENT.as_bytes()).unwrap();
    assert_eq!(
        (request.model(), request.stream(), request.include_usage()),
        ("gpt-4o", true, false)
    );
    let body = request.request_body(&gpt(), "alice").unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    for verbatim in [
        r#""messages":[{"role":"user","content":"Say \"hi\" 🎉"}]"#,
        r#""response_format":{"type":"json_object"}"#,
        r#""logit_bias":{"50256":-100}"#,
    ] {
        assert!(text.contains(verbatim), "{verbatim} in {text}");
    }
    let mut expected: Value = serde_json::from_str(CLIENT).unwrap();
    expected["model"] = json!("gpt4o");
    expected["user"] = json!("alice");
    expected["stream_options"] = json!({"include_obfuscation": false, "include_usage": true});
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
}

#[test]
fn developer_messages_go_as_system_and_nothing_else_changes() {
    let body = r#"{"model":"gpt-4o","messages":[{"role":"developer","content":"A"},
            {"role":"develop\u0065r","content":"B"},{"content":"C","role":"user"}]}"#;
    let sent = relayed(body, &gpt());
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "A"}, {"role": "system", "content": "B"},
            {"content": "C", "role": "user"}])
    );
    let plain = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"C"}]}"#;
    let request = read_request(plain.as_bytes()).unwrap();
    let out = request.request_body(&gpt(), "alice").unwrap();
    assert!(
        std::str::from_utf8(&out)
            .unwrap()
            .contains(r#""messages":[{"role":"user","content":"C"}]"#),
        "copied as written when there is nothing to rewrite"
    );
}

#[test]
fn gemini_is_asked_for_one_tool_call_at_a_time() {
    let gemini = ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat);
    let body = r#"{"model":"gemini-2.5-pro","parallel_tool_calls":true,
            "tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(relayed(body, &gemini)["parallel_tool_calls"], false);
    assert_eq!(relayed(body, &gpt())["parallel_tool_calls"], true);
    let no_tools = r#"{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}"#;
    assert!(relayed(no_tools, &gemini)
        .get("parallel_tool_calls")
        .is_none());
    let parallel = r#"{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"},
            {"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
                {"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#;
    assert!(read_request(parallel.as_bytes())
        .unwrap()
        .has_parallel_tool_calls());
    assert!(!read_request(body.as_bytes())
        .unwrap()
        .has_parallel_tool_calls());
}

/// Each top-level key of a written body, escapes decoded, and whether `bob` is anywhere.
fn keys_of(body: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    assert!(walk_object(body, |key, _| {
        keys.push(String::from_utf8(key_name(key).unwrap().into_owned()).unwrap())
    }));
    keys
}

#[test]
fn no_field_of_the_client_says_who_the_user_is() {
    let client = json!({"model": "gpt-4o", "user": "bob", "safety_identifier": "bob",
        "metadata": {"user_id": "bob", "run": "7"},
        "messages": [{"role": "system", "content": "Be brief.", "name": "bob"},
            {"role": "user", "content": "Say \"hi\"", "name": "bob"}, {"role": "user", "content": "x"}],
        "seed": 7});
    let body = read_request(client.to_string().as_bytes())
        .unwrap()
        .request_body(&gpt(), "alice")
        .unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(!text.contains("bob"), "{text}");
    assert!(
        text.contains(r#"{"content":"Say \"hi\"","role":"user"}"#),
        "{text}"
    );
    let mut expected = client.clone();
    expected["model"] = json!("gpt4o");
    expected["user"] = json!("alice");
    expected["metadata"] = json!({"run": "7", "user_id": "alice"});
    expected
        .as_object_mut()
        .unwrap()
        .remove("safety_identifier");
    for message in expected["messages"].as_array_mut().unwrap() {
        message.as_object_mut().unwrap().remove("name");
    }
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    // A client without metadata gets none: OpenAI takes it only with `store`.
    let plain = relayed(
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":"bob"}"#,
        &gpt(),
    );
    assert_eq!(plain.get("metadata"), None);
    let plain = relayed(
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}"#,
        &gpt(),
    );
    assert_eq!(plain.get("metadata"), None);
}

#[test]
fn escaped_spellings_of_the_keys_the_gateway_writes_are_those_keys() {
    let gpt5 = ModelSpec {
        sampling: Sampling::None,
        max_tokens_cap: Some(21_000),
        ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
    };
    // Every key the gateway writes or drops, each with an escape in its name (`\u0065` is
    // `e`, `\u0061` is `a`, `\/` is `/`): and the values say `bob`.
    let client = r#"{"mod\u0065l":"gpt-5","\u0075ser":"bob","us\u0065r":"bob",
            "s\u0061fety_identifier":"bob","met\u0061data":{"us\u0065r_id":"bob"},
            "temp\u0065rature":0.5,"top_\u0070":0.5,"max_tok\u0065ns":50000,
            "max_compl\u0065tion_tokens":50000,"stre\u0061m_options":{"include_usage":false},
            "m\u0065ssages":[{"role":"user","content":"hi","n\u0061me":"bob"}],"s\u0065ed":7}"#;
    let body = read_request(client.as_bytes())
        .unwrap()
        .request_body(&gpt5, "alice")
        .unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(!text.contains("bob"), "{text}");
    let mut keys = keys_of(&body);
    keys.sort();
    assert_eq!(
        keys,
        [
            "max_completion_tokens",
            "max_tokens",
            "messages",
            "metadata",
            "model",
            "seed",
            "stream_options",
            "user"
        ],
        "each once: {text}"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"model": "gpt5", "user": "alice", "metadata": {"user_id": "alice"},
            "max_tokens": 21000, "max_completion_tokens": 21000, "seed": 7,
            "stream_options": {"include_usage": false},
            "messages": [{"role": "user", "content": "hi"}]})
    );
    // A message naming itself twice, once escaped, is refused before anything is sent.
    let twice = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x","name":"a","n\u0061me":"bob"}]}"#;
    assert_eq!(read_request(twice.as_bytes()).unwrap_err().status, 400);
}

#[test]
fn the_model_tables_rules_apply() {
    let gpt5 = ModelSpec {
        sampling: Sampling::None,
        ..ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat)
    };
    let body = relayed(CLIENT, &gpt5);
    assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
    let one_of = ModelSpec {
        sampling: Sampling::OneOf,
        max_tokens_cap: Some(21_000),
        ..gpt()
    };
    let body = relayed(CLIENT, &one_of);
    assert_eq!(
        (body["temperature"].as_f64(), body.get("top_p")),
        (Some(0.2), None)
    );
    assert_eq!(
        body["max_completion_tokens"], 50_000,
        "streams are not capped"
    );
    let unstreamed = CLIENT.replace(r#""stream":true"#, r#""stream":false,"max_tokens":100"#);
    let body = relayed(&unstreamed, &one_of);
    assert_eq!(body["max_completion_tokens"], 21_000);
    assert_eq!(body["max_tokens"], 100, "each limit is capped on its own");
    assert_eq!(
        body["stream_options"],
        json!({"include_obfuscation": false}),
        "no usage asked for without a stream"
    );
}

#[test]
fn several_choices_reach_argo_here_and_are_refused_through_the_hub() {
    let several = CLIENT.replace(r#""stream":true"#, r#""stream":true,"n":3"#);
    assert_eq!(relayed(&several, &gpt())["n"], 3);
    let request = read_request(several.as_bytes()).unwrap();
    let refused = request.into_conversation().unwrap_err();
    assert_eq!((refused.status, refused.param.as_deref()), (400, Some("n")));
    assert!(refused.message.contains("native OpenAI endpoint"));
}

#[test]
fn invalid_requests_are_refused_as_on_every_path() {
    for (body, param) in [
        (r#"{"model":"m","messages":[]}"#, "messages"),
        (
            r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
            "temperature",
        ),
        (r#"{"messages":[]}"#, "model"),
    ] {
        assert_eq!(
            read_request(body.as_bytes()).unwrap_err().param.as_deref(),
            Some(param),
            "{body}"
        );
    }
}

#[test]
fn answers_come_back_under_the_gateways_id_and_the_clients_model() {
    let argo = br#"{"id":"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE","choices":[{"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Pong!","role":"assistant"}}],"created":1779381799,"model":"gpt-4o-2024-11-20","object":"chat.completion","usage":{"completion_tokens":10,"prompt_tokens":8,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":0}}}"#;
    let (body, usage) = relay_answer(argo, &meta()).unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let mut expected: Value = serde_json::from_slice(argo).unwrap();
    expected["id"] = json!("chatcmpl-gw123");
    expected["model"] = json!("claude-sonnet-4.6");
    assert_eq!(answer, expected);
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 8,
            output_tokens: 10,
            cached_input_tokens: Some(0)
        })
    );
    let error = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
    assert_eq!(relay_answer(error, &meta()).unwrap_err().status, 429);
    let notice = json!({"choices": [{"message": {"content": fixtures::NOTICE}}]}).to_string();
    assert_eq!(
        relay_answer(notice.as_bytes(), &meta()).unwrap_err().status,
        403
    );
    assert_eq!(relay_answer(b"[1]", &meta()).unwrap_err().status, 502);
    assert_eq!(
        relay_answer(br#"{"id":"x"}"#, &meta()).unwrap_err().status,
        502
    );
}

/// The whole client stream for `pieces`, and the translation after it.
fn relay(pieces: &[&[u8]], include_usage: bool) -> (Vec<u8>, StreamTranslation) {
    let mut translation = stream(&meta(), include_usage);
    (fixtures::relay(&mut translation, pieces), translation)
}

#[test]
fn the_stream_is_relayed_under_the_gateways_identity() {
    let (out, mut translation) = relay(&[OPENAI_STREAM.as_bytes()], false);
    let payloads = sse_payloads(&out);
    assert_eq!(
        payloads.len(),
        7,
        "filter and usage chunks dropped: {payloads:?}"
    );
    assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    for chunk in &payloads[..6] {
        assert_eq!(chunk["id"], "chatcmpl-gw123");
        assert_eq!(chunk["model"], "claude-sonnet-4.6");
        assert_eq!(
            chunk["system_fingerprint"], "fp_ee1d74bde0",
            "the rest is Argo's"
        );
        assert_eq!(chunk["created"], 1779381799);
    }
    assert_eq!(streamed_text(&payloads).0, "Pong! 😊 \"quoted\"");
    assert_eq!(payloads[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        translation.usage(),
        Usage {
            input_tokens: 175,
            output_tokens: 16,
            cached_input_tokens: Some(128)
        }
    );
    assert!(translation.usage_reported() && translation.failure().is_none());
    let (out, _) = relay(&[OPENAI_STREAM.as_bytes()], true);
    let payloads = sse_payloads(&out);
    let usage = &payloads[payloads.len() - 2];
    assert_eq!(
        (
            usage["id"].as_str(),
            usage["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64()
        ),
        (Some("chatcmpl-gw123"), Some(128))
    );
}

#[test]
fn without_argos_usage_a_client_that_asked_gets_the_count() {
    let without = OPENAI_STREAM.replace(
        &OPENAI_STREAM[OPENAI_STREAM.find("data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[],").unwrap()..OPENAI_STREAM.find("data: [DONE]").unwrap()],
        "",
    );
    let (out, translation) = relay(&[without.as_bytes()], true);
    assert!(!translation.usage_reported());
    let payloads = sse_payloads(&out);
    let usage = &payloads[payloads.len() - 2]["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
}

#[test]
fn the_opening_is_held_until_it_cannot_be_the_notice() {
    let mut translation = stream(&meta(), false);
    let chunks: Vec<&str> = OPENAI_STREAM.split_inclusive("\n\n").collect();
    let mut out = translation.start();
    translation
        .feed_into(&mut out, chunks[0].as_bytes())
        .unwrap();
    translation
        .feed_into(&mut out, chunks[1].as_bytes())
        .unwrap();
    assert!(
        out.is_empty() && !translation.decided(),
        "the role chunk waits"
    );
    translation
        .feed_into(&mut out, chunks[2].as_bytes())
        .unwrap();
    assert!(translation.decided());
    let payloads = sse_payloads(&out);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
}

fn content_chunk(text: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    )
}

#[test]
fn the_notice_is_an_error_and_nothing_of_it_is_sent() {
    let (head, tail) = fixtures::NOTICE.split_at(20);
    let mut translation = stream(&meta(), false);
    let mut out = translation.start();
    translation
        .feed_into(&mut out, content_chunk("").as_bytes())
        .unwrap();
    translation
        .feed_into(&mut out, content_chunk(head).as_bytes())
        .unwrap();
    let error = translation
        .feed_into(&mut out, content_chunk(tail).as_bytes())
        .unwrap_err();
    assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
    assert!(out.is_empty());
    assert!(translation.finish().unwrap().is_empty());
    let mut plain = stream(&meta(), false);
    let error = plain
        .feed_into(&mut Vec::new(), fixtures::NOTICE.as_bytes())
        .unwrap_err();
    assert_eq!(
        error.status, 403,
        "a notice outside any event is caught too"
    );
}

#[test]
fn upstream_errors_end_the_stream_or_replace_it() {
    let error = b"data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    let mut early = stream(&meta(), false);
    assert_eq!(
        early.feed_into(&mut Vec::new(), error).unwrap_err().status,
        502
    );
    let mut late = stream(&meta(), false);
    let mut out = Vec::new();
    late.feed_into(&mut out, content_chunk("Hello").as_bytes())
        .unwrap();
    late.feed_into(&mut out, error).unwrap();
    late.feed_into(&mut out, content_chunk("ignored").as_bytes())
        .unwrap();
    out.extend(late.finish().unwrap());
    let payloads = sse_payloads(&out);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[1]["error"]["type"], "upstream_error");
    assert!(late.failure().is_some());
    let mut cut = stream(&meta(), false);
    let mut out = Vec::new();
    cut.feed_into(&mut out, content_chunk("Hello").as_bytes())
        .unwrap();
    out.extend(cut.finish().unwrap());
    let payloads = sse_payloads(&out);
    assert_eq!(
        payloads.last().unwrap()["error"]["code"],
        "upstream_truncated"
    );
}

fn relayed_whole(pieces: &[&[u8]]) -> Vec<u8> {
    relay(pieces, true).0
}

#[test]
fn the_stream_relays_alike_split_at_every_byte() {
    let stream = OPENAI_STREAM.as_bytes();
    let whole = relayed_whole(&[stream]);
    for at in 0..=stream.len() {
        assert_eq!(
            relayed_whole(&[&stream[..at], &stream[at..]]),
            whole,
            "split at {at}"
        );
    }
}

proptest! {
    #[test]
    fn the_stream_relays_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = OPENAI_STREAM.as_bytes();
        prop_assert_eq!(relayed_whole(&split(stream, &cuts)), relayed_whole(&[stream]));
    }

    #[test]
    fn the_member_scan_agrees_with_serde(value in prop::collection::btree_map("[a-z\"\\\\]{0,4}", prop_oneof![
        Just(json!(null)), Just(json!("x\"}]")), Just(json!([1, {"a": "]"}])), Just(json!({"b": [true, "{"]})), Just(json!(-1.5e3))], 0..6)) {
        let object: serde_json::Map<String, Value> = value.into_iter().collect();
        let json = serde_json::to_vec_pretty(&Value::Object(object.clone())).unwrap();
        let mut scanned = serde_json::Map::new();
        let walked = walk_object(&json, |key, span| {
            let key: String = serde_json::from_slice(&[b"\"", key, b"\""].concat()).unwrap();
            scanned.insert(key, serde_json::from_slice(&json[span]).unwrap());
        });
        prop_assert!(walked);
        prop_assert_eq!(scanned, object);
    }
}

#[test]
fn the_member_scan_refuses_what_is_not_an_object() {
    for json in [
        &b""[..],
        b"[]",
        b"{",
        b"{\"a\":}",
        b"{\"a\" 1}",
        b"{\"a\":1,}",
        b"{\"a\":1} x",
        b"{\"a\":\"x}",
    ] {
        assert!(
            !walk_object(json, |_, _| {}),
            "{}",
            String::from_utf8_lossy(json)
        );
    }
    assert!(walk_object(b" { } ", |_, _| {}));
}

fn usage_member() -> impl Strategy<Value = Option<String>> {
    let count = prop_oneof![
        Just("null".to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("\"7\"".to_string()),
    ];
    prop::option::of(count)
}

proptest! {
    #[test]
    fn usage_is_read_as_serde_reads_it(
        prompt in usage_member(),
        completion in usage_member(),
        cached in usage_member(),
        details in 0..4u8,
        noise in any::<bool>(),
    ) {
        let mut members = Vec::new();
        if noise {
            members.push(r#""total_tokens":9,"completion_tokens_details":{"reasoning_tokens":0,"x":[1,{"y":2}]}"#.to_string());
        }
        if let Some(prompt) = prompt { members.push(format!(r#""prompt_tokens":{prompt}"#)); }
        if let Some(completion) = completion { members.push(format!(r#""completion_tokens": {completion}"#)); }
        match (details, cached) {
            (0, _) => {}
            (1, _) => members.push(r#""prompt_tokens_details":null"#.into()),
            (2, _) => members.push(r#""prompt_tokens_details":"x""#.into()),
            (_, cached) => members.push(format!(r#""prompt_tokens_details":{{{}}}"#,
                cached.map(|c| format!(r#""audio_tokens":0,"cached_tokens":{c}"#)).unwrap_or_default())),
        }
        let json = format!("{{{}}}", members.join(","));
        let by_serde = serde_json::from_str::<WireUsage>(&json).ok().map(Usage::from);
        prop_assert_eq!(read_usage(json.as_bytes()), by_serde, "{}", json);
    }
}
