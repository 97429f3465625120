//! Claude tool calls that leak into the answer text.
//!
//! Through Argo's `chat` endpoint Claude sometimes writes a call into its text as the repr of a
//! Python dict instead of returning it as a `tool_use` block:
//! `Let me look.{'id': 'toolu_vrtx_01X1...', 'input': {'query': 'test'}, 'name': 'search', 'type': 'tool_use'}`.
//! argo-proxy found these in production logs and parses them back (`leaked_tool_parser.py` in
//! its legacy `tool_calls/`); so does this module, with a small parser for Python literals.

use serde_json::{Map, Number, Value};

/// How a leaked call starts. argo-proxy matches `\{'id':\s*'toolu_`; spaces are allowed here too.
const OPEN: &str = "{'id':";
const ID_PREFIX: &str = "toolu_";
/// Nesting deeper than this is not a tool call; it also bounds the parser's recursion.
const MAX_DEPTH: usize = 64;

/// Lifts every parseable leaked call out of `text`: the calls as Anthropic `tool_use` objects,
/// and the text without them. A candidate that does not parse stays in the text.
pub fn extract(text: &str) -> (Vec<Value>, String) {
    let mut calls = Vec::new();
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_open(rest) {
        let candidate = &rest[start..];
        match parse_call(candidate) {
            Some((call, length)) => {
                kept.push_str(&rest[..start]);
                calls.push(call);
                rest = &candidate[length..];
            }
            None => {
                kept.push_str(&rest[..start + OPEN.len()]);
                rest = &candidate[OPEN.len()..];
            }
        }
    }
    kept.push_str(rest);
    (calls, kept)
}

/// Whether `text` may hold a leaked call (cheap; no parsing).
pub fn may_contain(text: &str) -> bool {
    find_open(text).is_some()
}

fn find_open(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(OPEN) {
        let at = from + found;
        let after = text[at + OPEN.len()..].trim_start();
        if after.starts_with('\'') && after[1..].starts_with(ID_PREFIX) {
            return Some(at);
        }
        from = at + OPEN.len();
    }
    None
}

/// A `tool_use` dict at the start of `text`, and how many bytes it took.
fn parse_call(text: &str) -> Option<(Value, usize)> {
    let mut parser = Parser { text, at: 0 };
    let value = parser.value(0)?;
    let is_call = value
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|id| id.starts_with(ID_PREFIX))
        && value.get("name").is_some_and(Value::is_string);
    is_call.then_some((value, parser.at))
}

/// Python literals (as `repr` writes them) into JSON values: dicts, lists, tuples, strings in
/// either quote, numbers, `True`/`False`/`None`, and their JSON spellings, which Claude also
/// writes. A raw newline inside a string is taken as written (argo-proxy's first repair).
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            '{' => self.dict(depth),
            '[' => self.sequence(']', depth),
            '(' => self.sequence(')', depth),
            '\'' | '"' => self.string().map(Value::String),
            _ => self.word(),
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut map = Map::new();
        loop {
            self.skip_space();
            if self.eat('}') {
                return Some(Value::Object(map));
            }
            let key = match self.value(depth + 1)? {
                Value::String(key) => key,
                other => other.to_string(),
            };
            self.skip_space();
            if !self.eat(':') {
                return None;
            }
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_space();
            if !self.eat(',') && self.peek() != Some('}') {
                return None;
            }
        }
    }

    fn sequence(&mut self, close: char, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.eat(close) {
                return Some(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            if !self.eat(',') && self.peek() != Some(close) {
                return None;
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                _ if c == quote => {
                    self.at += offset + 1;
                    return Some(out);
                }
                '\\' => {
                    let (_, escaped) = chars.next()?;
                    match escaped {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'x' => out.push(hex_char(&mut chars, 2)?),
                        'u' => out.push(hex_char(&mut chars, 4)?),
                        'U' => out.push(hex_char(&mut chars, 8)?),
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        None
    }

    /// A number or a keyword.
    fn word(&mut self) -> Option<Value> {
        let rest = &self.text[self.at..];
        let length = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_')))
            .unwrap_or(rest.len());
        let word = &rest[..length];
        let value = match word {
            "True" | "true" => Value::Bool(true),
            "False" | "false" => Value::Bool(false),
            "None" | "null" => Value::Null,
            _ => number(word)?,
        };
        self.at += length;
        Some(value)
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.at += expected.len_utf8();
        }
        found
    }
}

fn hex_char(chars: &mut std::str::CharIndices<'_>, digits: usize) -> Option<char> {
    let mut code = 0u32;
    for _ in 0..digits {
        code = code * 16 + chars.next()?.1.to_digit(16)?;
    }
    char::from_u32(code)
}

fn number(word: &str) -> Option<Value> {
    let word = word.replace('_', "");
    if let Ok(integer) = word.parse::<i64>() {
        return Some(Value::Number(integer.into()));
    }
    word.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_leaked_call_becomes_a_tool_use_and_leaves_the_text() {
        let text = "Let me search for that.{'id': 'toolu_vrtx_01X1tcW6qR1uUoUkfpZMiXnH', 'input': {'query': 'test', 'limit': 5, 'exact': True, 'filter': None}, 'name': 'search', 'type': 'tool_use'}";
        let (calls, kept) = extract(text);
        assert_eq!(kept, "Let me search for that.");
        assert_eq!(
            calls,
            vec![
                json!({"id": "toolu_vrtx_01X1tcW6qR1uUoUkfpZMiXnH", "name": "search", "type": "tool_use",
                "input": {"query": "test", "limit": 5, "exact": true, "filter": null}})
            ]
        );
    }

    #[test]
    fn several_calls_quotes_escapes_and_json_literals_are_read() {
        let text = concat!(
            "A{'id': 'toolu_1', 'input': {'path': \"it's here\", 'lines': [1, 2.5, -3], 'pair': ('a', 'b')}, 'name': 'read', 'type': 'tool_use'}",
            " B {'id':'toolu_2', 'input': {'text': 'line one\\nline two \\'q\\' \\u00e9', 'flag': false, 'none': null}, 'name': 'write', 'type': 'tool_use'} C"
        );
        let (calls, kept) = extract(text);
        assert_eq!(kept, "A B  C");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0]["input"],
            json!({"path": "it's here", "lines": [1, 2.5, -3], "pair": ["a", "b"]})
        );
        assert_eq!(
            calls[1]["input"],
            json!({"text": "line one\nline two 'q' é", "flag": false, "none": null})
        );
    }

    #[test]
    fn a_raw_newline_inside_a_string_is_kept() {
        let (calls, kept) = extract(
            "{'id': 'toolu_9', 'input': {'code': 'a\nb'}, 'name': 'run', 'type': 'tool_use'}",
        );
        assert_eq!(kept, "");
        assert_eq!(calls[0]["input"]["code"], "a\nb");
    }

    #[test]
    fn anything_that_is_not_a_whole_call_stays_text() {
        for text in [
            "plain text",
            "{'id': 'call_1', 'input': {}, 'name': 'f'}",
            "{'id': 'toolu_1', 'input': {'unclosed': 'x'",
            "{'id': 'toolu_1', 'input': {}}",
            "{'id': 'toolu_1', 'input': {} 'name': 'f'}",
            "{'id': 'toolu_",
        ] {
            let (calls, kept) = extract(text);
            assert!(calls.is_empty(), "{text}");
            assert_eq!(kept, text);
        }
        assert!(!may_contain("{'id': 'call_1'}"));
        assert!(may_contain("x {'id':  'toolu_2'"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = format!(
            "{{'id': 'toolu_1', 'input': {}{}, 'name': 'f'}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let (calls, kept) = extract(&text);
        assert!(calls.is_empty());
        assert_eq!(kept, text);
    }
}
