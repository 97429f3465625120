//! Prompt-based tool calling for models whose Argo endpoint takes no tools (Gemini).
//!
//! The tools and the output contract go into the system prompt; the model answers with
//! `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, which [`ToolScanner`] turns
//! back into OpenAI tool calls, also while streaming. Earlier calls and their results are
//! rendered back into the conversation as text for multi-turn use.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{json, Value};

use super::plain::push_plain;
use crate::hub::{Message, Part, Role};
use crate::tools::{arguments_object, call_id, openai_call, ToolChoice, ToolSpec};
use crate::upstream::chat_message::{Message as WireMessage, MessageContent};

pub const OPEN: &str = "<tool_call>";
pub const CLOSE: &str = "</tool_call>";

/// The system-prompt text that declares the tools and the exact output contract.
pub fn system_prompt(spec: &ToolSpec) -> String {
    let tools: Vec<Value> = spec
        .tools
        .iter()
        .map(|tool| json!({"name": tool.name, "description": tool.description, "parameters": tool.parameters}))
        .collect();
    let tools = serde_json::to_string_pretty(&tools).unwrap_or_default();
    let when = match &spec.choice {
        ToolChoice::Auto | ToolChoice::None => {
            "Call a tool only when it helps answer; otherwise answer normally in plain text."
                .to_string()
        }
        ToolChoice::Required => "You MUST call at least one tool in this reply.".to_string(),
        ToolChoice::Named(name) => format!("You MUST call the tool `{name}` in this reply."),
    };
    let how_many = if spec.parallel {
        "You may call several tools in one reply: write one block per call."
    } else {
        "Call at most one tool per reply."
    };
    format!(
        "# Tools\n\nYou can call these tools (JSON Schema parameters):\n{tools}\n\n\
         To call a tool, write exactly this, with the arguments as a JSON object that fits the schema:\n\
         {OPEN}{{\"name\": \"<tool name>\", \"arguments\": {{...}}}}{CLOSE}\n\n\
         {when} {how_many} Write nothing after your tool calls: their results arrive in the next \
         message as <tool_result> blocks. Never invent results, and never use the {OPEN} tag except to call a tool."
    )
}

/// The conversation with tool traffic rendered as text, the tool prompt added to the system
/// message (or a new one first).
pub fn messages<'a>(messages: &'a [Message], spec: Option<&ToolSpec>) -> Vec<WireMessage<'a>> {
    let mut out: Vec<WireMessage<'a>> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        match message.role {
            Role::Tool => out.extend(message.content.iter().filter_map(|part| match part {
                Part::ToolResult {
                    call_id, content, ..
                } => Some(WireMessage::text(
                    "user",
                    tool_result_text(call_id, message.name.as_deref(), content),
                )),
                _ => None,
            })),
            Role::Assistant if message.has_tool_calls() => {
                out.push(WireMessage::text("assistant", assistant_call_text(message)))
            }
            _ => push_plain(&mut out, message),
        }
    }
    if let Some(spec) = spec.filter(|spec| spec.choice != ToolChoice::None) {
        let prompt = system_prompt(spec);
        match out.iter_mut().find(|message| message.role == "system") {
            Some(system) => {
                let existing = match &system.content {
                    MessageContent::Text(text) => text.to_string(),
                    _ => String::new(),
                };
                system.content = MessageContent::Text(Cow::Owned(
                    format!("{existing}\n\n{prompt}").trim().to_string(),
                ));
            }
            None => out.insert(0, WireMessage::text("system", prompt)),
        }
    }
    out
}

fn tool_result_text(call_id: &str, name: Option<&str>, text: &str) -> String {
    let name = name
        .map(|name| format!(" name=\"{name}\""))
        .unwrap_or_default();
    format!("<tool_result tool_call_id=\"{call_id}\"{name}>\n{text}\n</tool_result>")
}

fn assistant_call_text(message: &Message) -> String {
    let mut text = message.joined_text("\n");
    for part in &message.content {
        let Part::ToolCall {
            name, arguments, ..
        } = part
        else {
            continue;
        };
        let rendered = json!({"name": name, "arguments": arguments_object(arguments)});
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{OPEN}{rendered}{CLOSE}"));
    }
    text
}

/// What the scanner releases: text for the client, or a recognised tool call (OpenAI shape).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Call(Value),
}

/// How many bytes a tool block's body (between `<tool_call>` and `</tool_call>`) may hold
/// unless the scanner is told otherwise.
pub const DEFAULT_MAX_TOOL_BLOCK_BYTES: usize = 256 * 1024;

/// Finds tool-call blocks in model text as it streams. Only text that may be the start of
/// `<tool_call>` is held back, and released as soon as it cannot be; a block is withheld until
/// it closes, then released as a call, or as the original text if it is not a valid call.
///
/// A block's body may hold at most `max_block_bytes` (see [`Self::with_max_block_bytes`]).
/// When it grows past that without closing, the opening tag and the body up to the cap are
/// released as plain text and scanning goes on outside a block from there, so the client gets
/// all of the model's text, in order; a `</tool_call>` further on is then plain text too.
/// Whether a block fits depends only on the text, never on how it was split into fragments.
///
/// Every byte is searched once (plus a tag's length of overlap per push), so a push costs
/// O(its own length) however much is held back.
#[derive(Debug, Clone)]
pub struct ToolScanner {
    /// The declared tools: a request may declare tens of thousands, so a set.
    names: HashSet<String>,
    response_id: String,
    /// Text not yet released; inside a block, the body after the opening tag.
    buffer: String,
    /// Inside a block, where in `buffer` the next search for the closing tag starts.
    searched: usize,
    inside: bool,
    calls: usize,
    max_block_bytes: usize,
    #[cfg(test)]
    bytes_searched: usize,
}

/// What one scanning step leaves: where the unreleased text now starts, and whether the
/// buffer holds nothing more to decide on until more text arrives.
struct Step {
    start: usize,
    done: bool,
}

impl ToolScanner {
    /// `names`: the declared tools; a block naming anything else stays text. Blocks may hold
    /// [`DEFAULT_MAX_TOOL_BLOCK_BYTES`].
    pub fn new(names: Vec<String>, response_id: &str) -> Self {
        ToolScanner {
            names: names.into_iter().collect(),
            response_id: response_id.to_string(),
            buffer: String::new(),
            searched: 0,
            inside: false,
            calls: 0,
            max_block_bytes: DEFAULT_MAX_TOOL_BLOCK_BYTES,
            #[cfg(test)]
            bytes_searched: 0,
        }
    }

    /// The most bytes a block's body may hold before it is released as text.
    pub fn with_max_block_bytes(mut self, max_block_bytes: usize) -> Self {
        self.max_block_bytes = max_block_bytes;
        self
    }

    pub fn max_block_bytes(&self) -> usize {
        self.max_block_bytes
    }

    pub fn calls(&self) -> usize {
        self.calls
    }

    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.buffer.push_str(text);
        self.scan(false)
    }

    /// End of the answer: an unclosed block is tried as a call (models drop the closing tag),
    /// and anything else is released as text.
    pub fn finish(&mut self) -> Vec<Piece> {
        self.scan(true)
    }

    /// Releases what the buffer decides. The released prefix is dropped once at the end, so
    /// an answer with many blocks is not shifted once per block.
    fn scan(&mut self, at_end: bool) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut start = 0;
        loop {
            let step = if self.inside {
                self.scan_block(start, at_end, &mut pieces)
            } else {
                self.scan_text(start, at_end, &mut pieces)
            };
            start = step.start;
            if step.done {
                break;
            }
        }
        self.buffer.drain(..start);
        self.searched = self.searched.saturating_sub(start);
        pieces
    }

    /// Outside a block: text up to an opening tag is released; without one, all but a
    /// possible start of the tag.
    fn scan_text(&mut self, start: usize, at_end: bool, pieces: &mut Vec<Piece>) -> Step {
        let end = self.buffer.len();
        if let Some(open) = self.find(OPEN, start, end) {
            push_text(pieces, &self.buffer[start..open]);
            self.inside = true;
            self.searched = open + OPEN.len();
            return Step {
                start: open + OPEN.len(),
                done: false,
            };
        }
        let keep = if at_end {
            0
        } else {
            held_back(&self.buffer[start..])
        };
        push_text(pieces, &self.buffer[start..end - keep]);
        Step {
            start: end - keep,
            done: true,
        }
    }

    /// Inside a block whose body starts at `start`: a closing tag within the cap ends it; a
    /// body past the cap is given up as text.
    fn scan_block(&mut self, start: usize, at_end: bool, pieces: &mut Vec<Piece>) -> Step {
        let len = self.buffer.len();
        // The closing tag may start at most `max_block_bytes` into the body.
        let latest_close = start.saturating_add(self.max_block_bytes);
        let window_end = len.min(latest_close.saturating_add(CLOSE.len()));
        if let Some(close) = self.find(CLOSE, self.searched.max(start), window_end) {
            let piece = self.block(start, close, CLOSE);
            pieces.push(piece);
            self.inside = false;
            return Step {
                start: close + CLOSE.len(),
                done: false,
            };
        }
        let body = len - start;
        if window_end < len || (at_end && body > self.max_block_bytes) {
            return self.give_up_block(start, latest_close, pieces);
        }
        if at_end {
            let piece = self.block(start, len, "");
            pieces.push(piece);
            self.inside = false;
            return Step {
                start: len,
                done: true,
            };
        }
        // A closing tag split across pushes starts within its length of the end.
        self.searched = len.saturating_sub(CLOSE.len() - 1).max(start);
        Step { start, done: true }
    }

    /// Releases the opening tag and the body up to the cap as text; scanning resumes there.
    fn give_up_block(&mut self, start: usize, cap: usize, pieces: &mut Vec<Piece>) -> Step {
        let cut = ceil_char_boundary(&self.buffer, cap);
        push_text(pieces, OPEN);
        push_text(pieces, &self.buffer[start..cut]);
        self.inside = false;
        Step {
            start: cut,
            done: false,
        }
    }

    /// The first `tag` starting in `buffer[from..to]` that also ends by `to`.
    fn find(&mut self, tag: &str, from: usize, to: usize) -> Option<usize> {
        let from = floor_char_boundary(&self.buffer, from);
        let to = floor_char_boundary(&self.buffer, to);
        if from >= to {
            return None;
        }
        let found = self.buffer[from..to].find(tag).map(|at| from + at);
        #[cfg(test)]
        {
            self.bytes_searched += found.map_or(to, |at| at + tag.len()) - from;
        }
        found
    }

    /// The block whose body is `buffer[start..end]`, as a call or as its original text
    /// (`closing`: the closing tag the model wrote, none for a block cut off by the end).
    fn block(&mut self, start: usize, end: usize, closing: &str) -> Piece {
        let body = &self.buffer[start..end];
        match parse_call(body, &self.names) {
            Some((name, arguments)) => {
                let call = openai_call(call_id(&self.response_id, self.calls), &name, arguments);
                self.calls += 1;
                Piece::Call(call)
            }
            None => Piece::Text(format!("{OPEN}{body}{closing}")),
        }
    }
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Splits a whole answer into text and calls (the non-streaming path), with blocks capped at
/// [`DEFAULT_MAX_TOOL_BLOCK_BYTES`].
pub fn extract(text: &str, names: Vec<String>, response_id: &str) -> (Option<String>, Vec<Value>) {
    extract_with_max_block_bytes(text, names, response_id, DEFAULT_MAX_TOOL_BLOCK_BYTES)
}

/// [`extract`] with blocks capped at `max_block_bytes` (see [`ToolScanner`]).
pub fn extract_with_max_block_bytes(
    text: &str,
    names: Vec<String>,
    response_id: &str,
    max_block_bytes: usize,
) -> (Option<String>, Vec<Value>) {
    let mut scanner = ToolScanner::new(names, response_id).with_max_block_bytes(max_block_bytes);
    let mut pieces = scanner.push(text);
    pieces.extend(scanner.finish());
    let mut content = String::new();
    let mut calls = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => content.push_str(&text),
            Piece::Call(call) => calls.push(call),
        }
    }
    // With calls lifted out, what remains around them is trimmed; a plain answer stays exact.
    let content = if calls.is_empty() {
        content
    } else {
        strip_empty_fences(&content).trim().to_string()
    };
    ((!content.is_empty()).then_some(content), calls)
}

/// Models often wrap their call in a code fence; once the call is lifted out the empty fence is noise.
fn strip_empty_fences(text: &str) -> String {
    let mut out = text.to_string();
    for fence in ["```json", "```xml", "```tool_call", "```"] {
        out = strip_leading_empty_fences(&out, fence);
    }
    out
}

/// Drops `fence` ... "```" pairs with only whitespace between, from the first one on until
/// one is not empty. One pass, so a text of many fences is not re-searched once per fence.
fn strip_leading_empty_fences(text: &str, fence: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(fence) {
        let after = &rest[start + fence.len()..];
        let Some(close) = after.find("```") else {
            break;
        };
        if !after[..close].trim().is_empty() {
            break;
        }
        out.push_str(&rest[..start]);
        rest = &after[close + 3..];
    }
    out.push_str(rest);
    out
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    match pieces.last_mut() {
        Some(Piece::Text(previous)) => previous.push_str(text),
        _ => pieces.push(Piece::Text(text.to_string())),
    }
}

/// How many trailing bytes of `text` could be the start of `<tool_call>`.
fn held_back(text: &str) -> usize {
    (1..OPEN.len())
        .rev()
        .find(|&len| text.len() >= len && text.ends_with(&OPEN[..len]))
        .unwrap_or(0)
}

/// A block body -> (name, arguments as a JSON string) when it is a call to a declared tool.
fn parse_call(body: &str, names: &HashSet<String>) -> Option<(String, String)> {
    let body = strip_fence(body.trim());
    let value: Value = serde_json::from_str(body)
        .ok()
        .or_else(|| serde_json::from_str(&repair_json(body)).ok())?;
    let object = value.as_object()?;
    let name = object.get("name").and_then(Value::as_str)?;
    if !names.contains(name) {
        return None;
    }
    let arguments = match object.get("arguments").or_else(|| object.get("parameters")) {
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text)
            .ok()
            .or_else(|| serde_json::from_str(&repair_json(text)).ok())
        {
            Some(parsed @ Value::Object(_)) => parsed.to_string(),
            _ => return None,
        },
        Some(Value::Object(arguments)) => Value::Object(arguments.clone()).to_string(),
        None | Some(Value::Null) => "{}".to_string(),
        Some(_) => return None,
    };
    Some((name.to_string(), arguments))
}

fn strip_fence(body: &str) -> &str {
    let Some(rest) = body.strip_prefix("```") else {
        return body;
    };
    let rest = rest.split_once('\n').map(|(_, rest)| rest).unwrap_or(rest);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// Mends the damage models commonly do to JSON: trailing commas, unclosed strings, brackets
/// and braces.
pub fn repair_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut closers = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => closers.push('}'),
            '[' => closers.push(']'),
            '}' | ']' => {
                drop_trailing_comma(&mut out);
                if closers.last() == Some(&c) {
                    closers.pop();
                } else {
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    if in_string {
        out.push('"');
    }
    drop_trailing_comma(&mut out);
    while let Some(closer) = closers.pop() {
        drop_trailing_comma(&mut out);
        out.push(closer);
    }
    out
}

fn drop_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end().len();
    if out[..trimmed].ends_with(',') {
        out.truncate(trimmed - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::FunctionTool;

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn call(name: &str, arguments: &str, index: usize) -> Value {
        openai_call(call_id("chatcmpl-r1", index), name, arguments.into())
    }

    #[test]
    fn extracts_several_calls_with_text_around() {
        let text = "Let me check both.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n<tool_call>{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}</tool_call>";
        let (content, calls) = extract(text, names(), "chatcmpl-r1");
        assert_eq!(content.as_deref(), Some("Let me check both."));
        assert_eq!(
            calls,
            vec![
                call("get_weather", r#"{"city":"Paris"}"#, 0),
                call("get_time", r#"{"zone":"CET"}"#, 1)
            ]
        );
    }

    #[test]
    fn code_fences_missing_close_tags_and_damaged_json_are_handled() {
        let fenced = "```xml\n<tool_call>\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\",}}\n```\n</tool_call>\n```";
        let (content, calls) = extract(fenced, names(), "chatcmpl-r1");
        assert_eq!(calls, vec![call("get_weather", r#"{"city":"Oslo"}"#, 0)]);
        assert_eq!(content, None, "the emptied fence is dropped");
        let unclosed = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"";
        assert_eq!(
            extract(unclosed, names(), "chatcmpl-r1").1,
            vec![call("get_weather", r#"{"city":"Lima"}"#, 0)]
        );
        let string_arguments =
            r#"<tool_call>{"name": "get_time", "arguments": "{\"zone\": \"UTC\"}"}</tool_call>"#;
        assert_eq!(
            extract(string_arguments, names(), "chatcmpl-r1").1,
            vec![call("get_time", r#"{"zone":"UTC"}"#, 0)]
        );
    }

    #[test]
    fn text_that_only_looks_like_a_call_stays_text() {
        for text in [
            "Use <tool_call>{\"name\": \"launch_rockets\", \"arguments\": {}}</tool_call> to launch.",
            "The tag <tool_call> starts a call.",
            "<tool_call>not json at all</tool_call>",
            "I would call get_weather with {\"city\": \"Paris\"}.",
        ] {
            let (content, calls) = extract(text, names(), "chatcmpl-r1");
            assert!(calls.is_empty(), "{text}");
            assert_eq!(content.as_deref(), Some(text), "nothing added or lost: {text}");
        }
    }

    /// Feeds `parts` one push each, then finishes.
    fn scan_parts<'a>(
        scanner: &mut ToolScanner,
        parts: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for part in parts {
            pieces.extend(scanner.push(part));
        }
        pieces.extend(scanner.finish());
        pieces
    }

    fn joined_text(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(text) => Some(text.as_str()),
                Piece::Call(_) => None,
            })
            .collect()
    }

    fn only_calls(pieces: &[Piece]) -> Vec<Value> {
        pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Call(call) => Some(call.clone()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Splits `text` into `size`-byte pushes, moving each cut on to a character boundary.
    fn fragments(text: &str, size: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let mut end = (start + size).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            out.push(&text[start..end]);
            start = end;
        }
        out
    }

    #[test]
    fn tags_split_at_any_two_points_are_still_found() {
        let text =
            "é <tool_call>{\"name\":\"get_time\",\"arguments\":{\"zone\":\"日本\"}}</tool_call> ok";
        let expected = vec![call("get_time", r#"{"zone":"日本"}"#, 0)];
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|&at| text.is_char_boundary(at))
            .collect();
        for (i, &first) in cuts.iter().enumerate() {
            for &second in &cuts[i..] {
                let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
                let parts = [&text[..first], &text[first..second], &text[second..]];
                let pieces = scan_parts(&mut scanner, parts);
                assert_eq!(only_calls(&pieces), expected, "cuts at {first}, {second}");
                assert_eq!(joined_text(&pieces), "é  ok", "cuts at {first}, {second}");
            }
        }
    }

    #[test]
    fn a_block_fits_the_cap_by_its_body_length_however_it_is_split() {
        let body = r#"{"name":"get_time","arguments":{}}"#;
        let text = format!("a{OPEN}{body}{CLOSE}b");
        for (cap, fits) in [(body.len(), true), (body.len() - 1, false)] {
            for at in 0..=text.len() {
                let mut scanner =
                    ToolScanner::new(names(), "chatcmpl-r1").with_max_block_bytes(cap);
                let pieces = scan_parts(&mut scanner, [&text[..at], &text[at..]]);
                if fits {
                    assert_eq!(
                        only_calls(&pieces),
                        vec![call("get_time", "{}", 0)],
                        "split {at}"
                    );
                    assert_eq!(joined_text(&pieces), "ab");
                } else {
                    assert!(only_calls(&pieces).is_empty(), "cap {cap}, split {at}");
                    assert_eq!(joined_text(&pieces), text, "cap {cap}, split {at}");
                }
            }
        }
    }

    #[test]
    fn an_unclosed_block_past_the_cap_streams_out_as_text_and_later_blocks_still_count() {
        let cap = 64;
        let runaway = format!("before {OPEN}{}", "x".repeat(500));
        let valid = format!("{OPEN}{{\"name\":\"get_time\",\"arguments\":{{}}}}{CLOSE}");
        let text = format!("{runaway} middle {valid} after");
        let mut scanner = ToolScanner::new(names(), "chatcmpl-r1").with_max_block_bytes(cap);
        let mut pieces = Vec::new();
        let mut released_before_the_end = 0;
        for part in fragments(&text, 8) {
            pieces.extend(scanner.push(part));
            assert!(
                scanner.buffer.len() < cap + CLOSE.len(),
                "held {}",
                scanner.buffer.len()
            );
            if part.contains('x') {
                released_before_the_end = joined_text(&pieces).len();
            }
        }
        pieces.extend(scanner.finish());
        assert!(
            released_before_the_end >= runaway.len() - cap - CLOSE.len() - 8,
            "the runaway block streams out once past the cap, not at the end"
        );
        assert_eq!(only_calls(&pieces), vec![call("get_time", "{}", 0)]);
        assert_eq!(joined_text(&pieces), format!("{runaway} middle  after"));
    }

    #[test]
    fn a_block_cut_off_by_the_end_past_the_cap_is_text() {
        let body = r#"{"name":"get_time","arguments":{}}"#;
        for extra in 0..CLOSE.len() + 2 {
            let text = format!("{OPEN}{body}{}", " ".repeat(extra));
            let (content, calls) =
                extract_with_max_block_bytes(&text, names(), "chatcmpl-r1", body.len());
            if extra == 0 {
                assert_eq!((content, calls), (None, vec![call("get_time", "{}", 0)]));
            } else {
                assert_eq!((content.as_deref(), calls), (Some(text.as_str()), vec![]));
            }
        }
    }

    #[test]
    fn scanning_a_long_unclosed_block_searches_each_byte_a_bounded_number_of_times() {
        let total = 2 * 1024 * 1024;
        let fragment = "abcdefg\n";
        for cap in [usize::MAX, DEFAULT_MAX_TOOL_BLOCK_BYTES] {
            let mut scanner = ToolScanner::new(names(), "chatcmpl-r1").with_max_block_bytes(cap);
            let mut released = joined_text(&scanner.push(OPEN)).len();
            for _ in 0..total / fragment.len() {
                released += joined_text(&scanner.push(fragment)).len();
                assert!(scanner.buffer.len() <= cap.saturating_add(CLOSE.len() + fragment.len()));
            }
            // A fragment plus the overlap kept for a split closing tag, per push: linear. The
            // quadratic scanner searched the whole held block per push, ~total²/16 bytes.
            let per_push = fragment.len() + CLOSE.len();
            assert!(
                scanner.bytes_searched <= total / fragment.len() * per_push + OPEN.len(),
                "cap {cap}: searched {} bytes for {total} bytes of input",
                scanner.bytes_searched
            );
            released += joined_text(&scanner.finish()).len();
            assert_eq!(released, OPEN.len() + total, "cap {cap}: nothing lost");
        }
    }

    #[test]
    fn many_blocks_in_one_answer_are_each_searched_once() {
        let invalid = format!("{OPEN}x{CLOSE}");
        let text = invalid.repeat(50_000);
        let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
        let pieces = scan_parts(&mut scanner, [text.as_str()]);
        assert_eq!(joined_text(&pieces), text);
        assert!(scanner.bytes_searched <= 2 * text.len());
    }

    #[test]
    fn empty_fences_around_lifted_calls_are_dropped_in_one_pass() {
        let call_text = format!("{OPEN}{{\"name\":\"get_time\"}}{CLOSE}");
        let text = format!("{}{call_text}```json\nkept\n```", "``` ```".repeat(20_000));
        let (content, calls) = extract(&text, names(), "chatcmpl-r1");
        assert_eq!(calls, vec![call("get_time", "{}", 0)]);
        assert_eq!(content.as_deref(), Some("```json\nkept\n```"));
    }

    #[test]
    fn streaming_holds_back_only_a_possible_tag_start() {
        let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
        assert_eq!(scanner.push("Sure <"), vec![Piece::Text("Sure ".into())]);
        assert_eq!(
            scanner.push("b>bold</b> <tool"),
            vec![Piece::Text("<b>bold</b> ".into())]
        );
        assert_eq!(scanner.push("_call>{\"name\":\"get_time\","), vec![]);
        assert_eq!(scanner.push("\"arguments\":{}}</tool_"), vec![]);
        assert_eq!(
            scanner.push("call> done"),
            vec![
                Piece::Call(call("get_time", "{}", 0)),
                Piece::Text(" done".into())
            ]
        );
        assert_eq!(scanner.finish(), vec![]);
        assert_eq!(scanner.calls(), 1);
    }

    #[test]
    fn every_split_of_an_answer_gives_the_same_pieces() {
        let text = "Hi <tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Nice\"}}</tool_call> bye <tool";
        let whole = extract(text, names(), "chatcmpl-r1");
        for split in 1..text.len() {
            let mut scanner = ToolScanner::new(names(), "chatcmpl-r1");
            let mut pieces = scanner.push(&text[..split]);
            pieces.extend(scanner.push(&text[split..]));
            pieces.extend(scanner.finish());
            let content: String = pieces
                .iter()
                .filter_map(|p| {
                    if let Piece::Text(t) = p {
                        Some(t.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            let calls: Vec<Value> = pieces
                .iter()
                .filter_map(|p| {
                    if let Piece::Call(c) = p {
                        Some(c.clone())
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(calls, whole.1, "split at {split}");
            assert_eq!(
                content.trim(),
                whole.0.as_deref().unwrap_or("").trim(),
                "split at {split}"
            );
        }
    }

    #[test]
    fn repair_fixes_common_damage() {
        for (damaged, fixed) in [
            (r#"{"a": 1,}"#, r#"{"a": 1}"#),
            (
                r#"{"a": [1, 2,], "b": {"c": "x"#,
                r#"{"a": [1, 2], "b": {"c": "x"}}"#,
            ),
            (r#"{"a": "}"}"#, r#"{"a": "}"}"#),
        ] {
            assert_eq!(repair_json(damaged), fixed);
        }
    }

    #[test]
    fn prompt_declares_tools_contract_and_choice() {
        let spec = ToolSpec {
            tools: vec![FunctionTool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object"}),
                strict: None,
            }],
            choice: ToolChoice::Named("get_weather".into()),
            parallel: false,
        };
        let prompt = system_prompt(&spec);
        assert!(prompt.contains("\"get_weather\"") && prompt.contains("Weather now"));
        assert!(prompt
            .contains("<tool_call>{\"name\": \"<tool name>\", \"arguments\": {...}}</tool_call>"));
        assert!(prompt.contains("You MUST call the tool `get_weather`"));
        assert!(prompt.contains("at most one tool"));
    }

    #[test]
    fn history_is_rendered_as_text_and_prompt_joins_the_system_message() {
        let request: crate::openai::ChatRequest = crate::json::parse_request(
            br#"{"model":"gemini-2.5-pro","messages":[
                {"role":"system","content":"Be nice."},
                {"role":"user","content":"Weather?"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
                {"role":"tool","tool_call_id":"call_1","content":"18C"}]}"#,
        )
        .unwrap();
        let spec = ToolSpec {
            tools: vec![FunctionTool {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: None,
            }],
            choice: ToolChoice::Auto,
            parallel: true,
        };
        let conversation = crate::client::openai_chat::conversation(request).unwrap();
        let rendered = serde_json::to_value(messages(&conversation.messages, Some(&spec))).unwrap();
        assert!(rendered[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Be nice.\n\n# Tools"));
        assert_eq!(
            rendered[2],
            json!({"role": "assistant", "content": "<tool_call>{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"}</tool_call>"})
        );
        assert_eq!(
            rendered[3],
            json!({"role": "user", "content": "<tool_result tool_call_id=\"call_1\">\n18C\n</tool_result>"})
        );
    }
}
