//! Every client format's reader holds tool names to the same rules, with linear work.

use serde_json::json;

use crate::client::{anthropic_messages, google_genai, openai_chat, openai_responses};
use crate::error::ApiError;
use crate::hub::ToolChoice;
use crate::tools::names::comparisons;

/// A request of each client format declaring `names` as tools, the last forced by
/// `tool_choice` and (where the format can) all of them allowed; half of the Responses
/// tools are `custom`.
fn bodies(names: &[String]) -> [(&'static str, Vec<u8>); 4] {
    let last = names.last().cloned().unwrap_or_default();
    let chat = json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": names.iter().map(|name| json!({"type": "function", "function": {"name": name}})).collect::<Vec<_>>(),
        "tool_choice": {"type": "function", "function": {"name": last}},
    });
    let messages = json!({
        "model": "claude-sonnet-4.5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": names.iter().map(|name| json!({"name": name, "input_schema": {}})).collect::<Vec<_>>(),
        "tool_choice": {"type": "tool", "name": last},
    });
    let responses = json!({
        "model": "gpt-4o",
        "input": "hi",
        "tools": names.iter().enumerate().map(|(n, name)| {
            json!({"type": if n % 2 == 0 { "function" } else { "custom" }, "name": name})
        }).collect::<Vec<_>>(),
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools":
            names.iter().map(|name| json!({"type": "function", "name": name})).collect::<Vec<_>>()},
    });
    let google = json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": names.iter().map(|name| json!({"name": name})).collect::<Vec<_>>()}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": names}},
    });
    [
        ("openai chat", chat),
        ("anthropic messages", messages),
        ("openai responses", responses),
        ("google genai", google),
    ]
    .map(|(format, body)| (format, body.to_string().into_bytes()))
}

/// The tools and tool choice each format's reader makes of `body`.
fn read(format: &str, body: &[u8]) -> Result<(Vec<String>, Option<ToolChoice>), ApiError> {
    let conversation = match format {
        "openai chat" => openai_chat::read_request(body)?.0,
        "anthropic messages" => anthropic_messages::read_request(body)?.0,
        "openai responses" => openai_responses::read_request(body)?.0,
        _ => google_genai::read_request(body, "gemini-2.5-pro", false)?,
    };
    let names = conversation
        .tools
        .iter()
        .map(|tool| tool.name.clone())
        .collect();
    Ok((names, conversation.tool_choice))
}

fn tool_names(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("tool_{n}")).collect()
}

#[test]
fn every_client_format_refuses_a_name_declared_twice() {
    let expected = [
        "tools[37].function.name",
        "tools[37].name",
        "tools[37].name",
        "tools[0].functionDeclarations[37].name",
    ];
    // The 38th tool repeats the 13th: as written, and spelled with a JSON escape.
    let mut names = tool_names(50);
    for spelling in ["\"tool_12\"", "\"tool_1\\u0032\""] {
        names[37] = "tool_12_again".into();
        for ((format, body), param) in bodies(&names).into_iter().zip(expected) {
            let body = String::from_utf8(body)
                .unwrap()
                .replace("\"tool_12_again\"", spelling);
            let error = read(format, body.as_bytes()).unwrap_err();
            assert_eq!(
                (error.status, error.param.as_deref()),
                (400, Some(param)),
                "{format} {spelling}"
            );
            assert!(
                error.message.contains("`tool_12`") && error.message.contains("twice"),
                "{format}: {}",
                error.message
            );
        }
    }
}

#[test]
fn every_client_format_reads_n_tools_with_linear_name_comparisons() {
    for count in [1_000, 8_000] {
        let names = tool_names(count);
        for (format, body) in bodies(&names) {
            let (read, comparisons) = comparisons::during(|| read(format, &body));
            let (tools, choice) = read.unwrap();
            assert_eq!(tools, names, "{format}");
            assert!(
                matches!(choice, Some(ToolChoice::Named(_) | ToolChoice::Required)),
                "{format}: {choice:?}"
            );
            // A few lookups per tool (declared, allowed, custom, chosen); a scan per tool
            // would make count² / 2 comparisons.
            let per = comparisons as f64 / count as f64;
            println!("{format}: {count} tools, {comparisons} name comparisons");
            assert!(
                per <= 4.0,
                "{format}: {comparisons} comparisons for {count} tools"
            );
        }
    }
}
