//! The model table: client-facing names and aliases -> Argo id, environment, family, capabilities.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The vendor a model comes from; it decides request shape and tool-calling strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Openai,
    Anthropic,
    Google,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Chat,
    Embedding,
}

/// How tool calls reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// Argo takes `tools`/`tool_choice` in the request (OpenAI and Claude models).
    Native,
    /// Tools are described in the system prompt and parsed back out of the text (Gemini).
    Prompt,
    /// The model cannot call tools; requests with tools are rejected.
    None,
}

/// One row of the model table, as written in `conf/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The OpenAI-style name clients use and `/v1/models` lists.
    pub name: String,
    /// Argo's compact id (`gpt4o`, `claudesonnet45`).
    pub argo_id: String,
    /// The Argo environment (`prod`, `dev`, `test`) whose base URL serves this model.
    pub env: String,
    pub family: Family,
    #[serde(default = "default_kind")]
    pub kind: Kind,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Whether Argo's `streamchat` endpoint serves this model.
    #[serde(default = "default_true")]
    pub stream: bool,
    #[serde(default = "default_tools")]
    pub tools: ToolMode,
    /// Reasoning models take `max_completion_tokens` and reject temperature/top_p.
    #[serde(default)]
    pub reasoning: bool,
    /// Embedding width, for `dimensions` checks.
    #[serde(default)]
    pub dimensions: Option<usize>,
}

fn default_kind() -> Kind {
    Kind::Chat
}

fn default_true() -> bool {
    true
}

fn default_tools() -> ToolMode {
    ToolMode::Native
}

/// Lookup by any accepted spelling: Argo id, OpenAI-style name, an alias, each with or without
/// an `argo:` prefix, case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    models: Vec<ModelSpec>,
    index: HashMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    Duplicate {
        key: String,
        first: String,
        second: String,
    },
    EmptyField {
        model: String,
        field: &'static str,
    },
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Duplicate { key, first, second } => write!(
                f,
                "models: the name `{key}` is claimed by both `{first}` and `{second}`"
            ),
            TableError::EmptyField { model, field } => {
                write!(f, "models: `{model}` has an empty `{field}`")
            }
        }
    }
}

impl ModelTable {
    pub fn new(models: Vec<ModelSpec>) -> Result<Self, TableError> {
        let mut index = HashMap::new();
        for (position, model) in models.iter().enumerate() {
            for (field, value) in [
                ("name", &model.name),
                ("argo_id", &model.argo_id),
                ("env", &model.env),
            ] {
                if value.trim().is_empty() {
                    return Err(TableError::EmptyField {
                        model: model.name.clone(),
                        field,
                    });
                }
            }
            let spellings = [&model.name, &model.argo_id]
                .into_iter()
                .chain(model.aliases.iter());
            for spelling in spellings {
                let key = normalize(spelling).to_ascii_lowercase();
                match index.get(&key) {
                    Some(&other) if other != position => {
                        let first: &ModelSpec = &models[other];
                        return Err(TableError::Duplicate {
                            key,
                            first: first.name.clone(),
                            second: model.name.clone(),
                        });
                    }
                    _ => {
                        index.insert(key, position);
                    }
                }
            }
        }
        Ok(ModelTable { models, index })
    }

    pub fn resolve(&self, requested: &str) -> Option<&ModelSpec> {
        self.position(requested)
            .map(|position| &self.models[position])
    }

    /// Where `requested` sits in [`ModelTable::models`].
    pub fn position(&self, requested: &str) -> Option<usize> {
        let key = normalize(requested);
        match self.index.get(key) {
            Some(&position) => Some(position),
            None => self.index.get(&key.to_ascii_lowercase()).copied(),
        }
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|model| model.env.as_str())
    }
}

/// Strips a leading `argo:` (any case) and surrounding spaces. Index keys are also lower-cased;
/// lookups try the cheap exact key first.
fn normalize(name: &str) -> &str {
    let name = name.trim();
    match name.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("argo:") => &name[5..],
        _ => name,
    }
    .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, argo_id: &str, aliases: &[&str]) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            argo_id: argo_id.into(),
            env: "prod".into(),
            family: Family::Openai,
            kind: Kind::Chat,
            aliases: aliases.iter().map(|alias| alias.to_string()).collect(),
            stream: true,
            tools: ToolMode::Native,
            reasoning: false,
            dimensions: None,
        }
    }

    #[test]
    fn every_spelling_resolves_to_the_same_model() {
        let table = ModelTable::new(vec![spec(
            "claude-opus-4.5",
            "claudeopus45",
            &["claude-4.5-opus"],
        )])
        .unwrap();
        for spelling in [
            "claude-opus-4.5",
            "claudeopus45",
            "argo:claude-4.5-opus",
            "ARGO:Claude-Opus-4.5",
            " claudeOPUS45 ",
        ] {
            assert_eq!(
                table.resolve(spelling).map(|m| m.argo_id.as_str()),
                Some("claudeopus45"),
                "{spelling}"
            );
        }
        assert!(table.resolve("claude-opus-9").is_none());
        assert!(table.resolve("argo:").is_none());
    }

    #[test]
    fn duplicate_names_are_rejected_with_both_models_named() {
        let err = ModelTable::new(vec![
            spec("gpt-4o", "gpt4o", &[]),
            spec("gpt-4o-2", "GPT4O", &[]),
        ])
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("gpt-4o") && message.contains("gpt-4o-2"),
            "{message}"
        );
    }

    #[test]
    fn empty_fields_are_rejected() {
        let err = ModelTable::new(vec![spec("gpt-4o", " ", &[])]).unwrap_err();
        assert_eq!(
            err,
            TableError::EmptyField {
                model: "gpt-4o".into(),
                field: "argo_id"
            }
        );
    }
}
