//! Sets of tool names. A request may declare tens of thousands of tools (95,000 fit in a 4 MiB
//! body), so every check by name (declared twice, named by `tool_choice`, allowed, custom) is
//! one hash lookup, never a scan of the tools: a scan per tool made reading them quadratic.

use std::borrow::Cow;
use std::collections::HashSet;

/// Names borrowed from tools or a request (or copied, where the tools are still being read),
/// hashed with std's keyed SipHash so that no client
/// can aim its names at one bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameSet<'a>(HashSet<Name<'a>>);

impl<'a> NameSet<'a> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        NameSet(HashSet::with_capacity(capacity))
    }

    /// Adds `name`; `false` when it was there already.
    pub(crate) fn insert(&mut self, name: impl Into<Cow<'a, str>>) -> bool {
        self.0.insert(Name(name.into()))
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        let names: &HashSet<Name<'_>> = &self.0;
        names.contains(&Name(Cow::Borrowed(name)))
    }
}

impl<'a> FromIterator<&'a str> for NameSet<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Self {
        NameSet(
            names
                .into_iter()
                .map(|name| Name(Cow::Borrowed(name)))
                .collect(),
        )
    }
}

/// The position of the first name that repeats an earlier one.
pub(crate) fn first_repeat<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Option<usize> {
    let mut seen = NameSet::with_capacity(names.len());
    names
        .enumerate()
        .find_map(|(position, name)| (!seen.insert(name)).then_some(position))
}

/// A name whose comparisons the tests count: reading N tools must make O(N) of them.
#[derive(Debug, Clone, Hash)]
struct Name<'a>(Cow<'a, str>);

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(test)]
        comparisons::add();
        self.0 == other.0
    }
}

impl Eq for Name<'_> {}

/// Name comparisons made on this thread, for the tests that hold reading tools to linear work.
#[cfg(test)]
pub(crate) mod comparisons {
    use std::cell::Cell;

    thread_local! {
        static COMPARISONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn add() {
        COMPARISONS.with(|count| count.set(count.get() + 1));
    }

    /// The comparisons `work` makes.
    pub(crate) fn during<T>(work: impl FnOnce() -> T) -> (T, u64) {
        let before = COMPARISONS.with(Cell::get);
        let result = work();
        (result, COMPARISONS.with(Cell::get) - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{anthropic_messages, google_genai, openai_chat, openai_responses};
    use crate::error::ApiError;
    use crate::hub::ToolChoice;
    use serde_json::json;

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

    #[test]
    fn the_first_repeat_is_found() {
        assert_eq!(first_repeat(["a", "b", "c"].into_iter()), None);
        assert_eq!(first_repeat(["a", "b", "a", "b"].into_iter()), Some(2));
        assert_eq!(first_repeat(std::iter::empty()), None);
    }

    #[test]
    fn lookups_compare_names_a_constant_number_of_times() {
        let names: Vec<String> = (0..20_000).map(|n| format!("tool_{n}")).collect();
        let (set, built) =
            comparisons::during(|| names.iter().map(String::as_str).collect::<NameSet<'_>>());
        let (found, looked_up) =
            comparisons::during(|| names.iter().filter(|name| set.contains(name)).count());
        assert_eq!(found, names.len());
        assert!(!set.contains("tool_20000"));
        // Each lookup compares the name it finds, and rarely another whose hash tag matches.
        assert!(
            built + looked_up <= 2 * names.len() as u64,
            "{built} + {looked_up}"
        );
    }
}
