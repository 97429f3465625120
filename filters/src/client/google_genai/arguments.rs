//! A call's argument text, streamed in pieces, written as Gemini's whole `args` object.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
enum ArgumentsState {
    #[default]
    Pending,
    Complete(Map<String, Value>),
    Malformed,
}

/// A call's argument text as it streams in, scanned once: complete as soon as its first JSON
/// object closes (what follows is ignored), malformed as soon as it cannot be one, `{}` when
/// it ends without a character.
#[derive(Debug, Clone, Default)]
pub(super) struct CallArguments {
    text: String,
    state: ArgumentsState,
    scanned: usize,
    depth: usize,
    started: bool,
    in_string: bool,
    escaped: bool,
}

impl CallArguments {
    /// The `args` object of a whole argument text; `None` when it is malformed.
    pub(super) fn whole(text: &str) -> Option<Map<String, Value>> {
        let mut arguments = CallArguments::default();
        arguments.push(text);
        arguments.finish().cloned()
    }

    pub(super) fn push(&mut self, fragment: &str) {
        if !matches!(self.state, ArgumentsState::Pending) {
            return;
        }
        self.text.push_str(fragment);
        while matches!(self.state, ArgumentsState::Pending) && self.scanned < self.text.len() {
            let byte = self.text.as_bytes()[self.scanned];
            self.scanned += 1;
            self.step(byte);
        }
    }

    fn step(&mut self, byte: u8) {
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                (false, _) => {}
            }
            return;
        }
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' => {
                self.started = true;
                self.depth += 1;
            }
            b'[' if self.started => self.depth += 1,
            b'}' | b']' if self.started => {
                self.depth -= 1;
                if self.depth == 0 {
                    self.settle();
                }
            }
            b'"' if self.started => self.in_string = true,
            _ if self.started => {}
            _ => self.state = ArgumentsState::Malformed,
        }
    }

    /// The first object closed: it is the arguments, if it parses.
    fn settle(&mut self) {
        self.state = match serde_json::from_str(&self.text[..self.scanned]) {
            Ok(object) => ArgumentsState::Complete(object),
            Err(_) => ArgumentsState::Malformed,
        };
    }

    pub(super) fn complete(&self) -> Option<&Map<String, Value>> {
        match &self.state {
            ArgumentsState::Complete(object) => Some(object),
            _ => None,
        }
    }

    /// No more text comes: the arguments, or `None` when malformed.
    pub(super) fn finish(&mut self) -> Option<&Map<String, Value>> {
        if matches!(self.state, ArgumentsState::Pending) {
            self.state = match self.started {
                true => ArgumentsState::Malformed,
                false => ArgumentsState::Complete(Map::new()),
            };
        }
        self.complete()
    }
}
