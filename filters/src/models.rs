//! The model table: client-facing names and aliases -> Argo id, environment, family, capabilities,
//! the parameter rules Argo enforces per model, and the retired names with their successors.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{truncate_for_message, ApiError};
use crate::usage::Tokenizer;

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

/// Which of `temperature` and `top_p` Argo lets through for a model. The gateway adjusts the
/// request to fit instead of letting Argo answer 400.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Both, alone or together.
    #[default]
    Any,
    /// One at a time: when a client sends both, `temperature` is kept and `top_p` dropped, as
    /// argo-proxy's probe findings prescribe (`tools/argo_probe_out/findings_summary.md`,
    /// "`_enforce_sampling_xor` ... drop top_p if both present").
    OneOf,
    /// Neither: both are dropped. Also used for the GPT-5 family, which takes only the default
    /// temperature (1), so leaving it out changes nothing.
    None,
}

/// Which of Argo's APIs serves a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamApi {
    /// `{base}/v1/messages` for Claude, `{base}/v1/chat/completions` for the rest,
    /// `{base}/v1/embeddings`: live SSE with tools, real usage.
    #[default]
    Native,
    /// The legacy `{base}/api/v1/resource/{chat,streamchat,embed}/` endpoints.
    Resource,
}

/// Extended thinking a model takes on Argo's native Anthropic endpoint (argo-api.md §C).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Thinking {
    /// No `thinking` is sent.
    #[default]
    None,
    /// Only budgeted thinking, `{"type": "enabled", "budget_tokens": N}` with N below
    /// `max_tokens` (haiku 4.5, sonnet 4.5, opus 4.5 and 4.1; `adaptive` is refused).
    Budget,
    /// Only `{"type": "adaptive"}`, without a budget (opus 4.7 and the models after it;
    /// `enabled` and any `budget_tokens` are refused).
    Adaptive,
    /// Budgeted and adaptive thinking (opus 4.6, sonnet 4.6).
    Both,
}

impl Thinking {
    /// Whether the model takes `{"type": "enabled", "budget_tokens": N}`.
    pub fn takes_budget(self) -> bool {
        matches!(self, Thinking::Budget | Thinking::Both)
    }

    /// Whether the model takes `{"type": "adaptive"}`.
    pub fn takes_adaptive(self) -> bool {
        matches!(self, Thinking::Adaptive | Thinking::Both)
    }
}

/// The smallest `budget_tokens` Anthropic takes.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// The thinking budget for a reasoning effort, below `max_tokens` as Argo requires, or `None`
/// when no budget of at least [`MIN_THINKING_BUDGET`] fits (or the effort is `none`). The
/// levels are Claude Code's: "think" asks 4,000 tokens, "think hard" 10,000, "ultrathink"
/// 31,999.
pub fn thinking_budget(effort: &str, max_tokens: u64) -> Option<u64> {
    let wanted = match effort {
        "none" => return None,
        "minimal" => MIN_THINKING_BUDGET,
        "low" => 4_000,
        "medium" => 10_000,
        _ => 31_999,
    };
    Some(wanted.min(max_tokens.saturating_sub(1))).filter(|&budget| budget >= MIN_THINKING_BUDGET)
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
    /// Reasoning models get the token limit as `max_completion_tokens`.
    #[serde(default)]
    pub reasoning: bool,
    /// Embedding width, for `dimensions` checks.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Largest token limit Argo's non-streaming chat takes for this model; a larger one is
    /// lowered to it. Streaming calls are not capped.
    #[serde(default)]
    pub max_tokens_cap: Option<u64>,
    /// Which sampling parameters reach Argo.
    #[serde(default)]
    pub sampling: Sampling,
    /// How usage is counted; by default a real tokenizer for OpenAI models (`o200k_base` for
    /// chat, `cl100k_base` for embeddings) and the byte estimate for the others.
    #[serde(default)]
    pub tokenizer: Option<Tokenizer>,
    /// The Argo API that serves the model; unset, the environment's default
    /// (`upstream.default_api`), filled in when the configuration is loaded.
    #[serde(default)]
    pub upstream: Option<UpstreamApi>,
    /// The token limit sent when the client gives none, for models that need one (Argo's
    /// Anthropic endpoint refuses a request without `max_tokens`).
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    #[serde(default)]
    pub thinking: Thinking,
    /// The `output_config.effort` levels the model takes on the Anthropic endpoint; a client's
    /// `reasoning_effort` outside them is not sent.
    #[serde(default)]
    pub efforts: Vec<String>,
    /// Whether an Anthropic client's `top_k` reaches Argo's `/v1/messages` for this model. No
    /// evidence says whether Argo takes it (no request the peers send or recorded carries it,
    /// and argo-api.md is silent), so it is dropped unless the table says `top_k: true`.
    #[serde(default)]
    pub top_k: bool,
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

impl ModelSpec {
    /// A row with every optional column at its default.
    pub fn new(name: &str, argo_id: &str, family: Family, kind: Kind) -> Self {
        ModelSpec {
            name: name.into(),
            argo_id: argo_id.into(),
            env: "prod".into(),
            family,
            kind,
            aliases: Vec::new(),
            stream: kind == Kind::Chat,
            tools: match kind {
                Kind::Chat => ToolMode::Native,
                Kind::Embedding => ToolMode::None,
            },
            reasoning: false,
            dimensions: None,
            max_tokens_cap: None,
            sampling: Sampling::Any,
            tokenizer: None,
            upstream: None,
            default_max_tokens: None,
            thinking: Thinking::None,
            efforts: Vec::new(),
            top_k: false,
        }
    }

    /// Chat models only: an embedding model is refused with a pointer to the right endpoint.
    pub fn require_chat(&self) -> Result<(), ApiError> {
        match self.kind {
            Kind::Chat => Ok(()),
            Kind::Embedding => Err(ApiError::invalid(
                "model",
                format!("`{}` is an embedding model; use /v1/embeddings", self.name),
            )),
        }
    }

    /// The Argo API serving the model.
    pub fn api(&self) -> UpstreamApi {
        self.upstream.unwrap_or_default()
    }

    /// The tokenizer usage is counted with.
    pub fn tokenizer(&self) -> Tokenizer {
        self.tokenizer.unwrap_or(match (self.family, self.kind) {
            (Family::Openai, Kind::Chat) => Tokenizer::O200kBase,
            (Family::Openai, Kind::Embedding) => Tokenizer::Cl100kBase,
            _ => Tokenizer::Estimate,
        })
    }

    /// The request's token limit and sampling, adjusted to what Argo takes for this model on a
    /// streaming call or not, so that Argo never has to refuse them.
    pub fn fit(&self, params: Params, streaming: bool) -> Params {
        let limit = params.limit.map(|limit| self.capped(limit, streaming));
        let (temperature, top_p) = match (self.sampling, params.temperature, params.top_p) {
            (Sampling::Any, temperature, top_p) => (temperature, top_p),
            (Sampling::OneOf, Some(temperature), Some(_)) => (Some(temperature), None),
            (Sampling::OneOf, temperature, top_p) => (temperature, top_p),
            (Sampling::None, _, _) => (None, None),
        };
        Params {
            limit,
            temperature,
            top_p,
        }
    }

    /// A token limit lowered to [`ModelSpec::max_tokens_cap`] unless the call streams.
    pub fn capped(&self, limit: u64, streaming: bool) -> u64 {
        match self.max_tokens_cap {
            Some(cap) if !streaming => limit.min(cap),
            _ => limit,
        }
    }
}

/// What a client asked for of the token limit and sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Params {
    pub limit: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
}

/// A name Argo no longer serves, and what to use instead.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredModel {
    pub name: String,
    /// Other spellings, e.g. the old Argo id (`gpt4`) and the original bridge's names.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Names of current models to suggest; each must be in the table.
    pub successors: Vec<String>,
}

/// What a spelling leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Live(usize),
    Retired(usize),
}

/// Lookup by any accepted spelling: Argo id, OpenAI-style name, an alias, each with or without
/// an `argo:` prefix, case-insensitively. Retired names are known too, so that a client gets told
/// what replaced them.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    models: Vec<ModelSpec>,
    retired: Vec<RetiredModel>,
    index: HashMap<String, Entry>,
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
    UnknownSuccessor {
        retired: String,
        successor: String,
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
            TableError::UnknownSuccessor { retired, successor } => write!(
                f,
                "retired_models: `{retired}` names the successor `{successor}`, which is not in `models`"
            ),
        }
    }
}

impl ModelTable {
    pub fn new(models: Vec<ModelSpec>) -> Result<Self, TableError> {
        let mut table = ModelTable {
            models: Vec::with_capacity(models.len()),
            retired: Vec::new(),
            index: HashMap::with_capacity(2 * models.len()),
        };
        for model in models {
            table.push(model)?;
        }
        Ok(table)
    }

    /// Adds a current model, whose spellings no model of the table may claim yet. On an error
    /// the table is as it was.
    pub fn push(&mut self, model: ModelSpec) -> Result<(), TableError> {
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
        let spellings: Vec<String> = [&model.name, &model.argo_id]
            .into_iter()
            .chain(model.aliases.iter())
            .cloned()
            .collect();
        self.claim(&spellings, Entry::Live(self.models.len()))?;
        self.models.push(model);
        Ok(())
    }

    /// Adds the retired names. Their successors must be current models.
    pub fn with_retired(mut self, retired: Vec<RetiredModel>) -> Result<Self, TableError> {
        for model in retired {
            if model.name.trim().is_empty() {
                return Err(TableError::EmptyField {
                    model: model.name.clone(),
                    field: "name",
                });
            }
            let unknown = model
                .successors
                .iter()
                .find(|successor| self.position(successor).is_none());
            if let Some(successor) = unknown {
                return Err(TableError::UnknownSuccessor {
                    retired: model.name.clone(),
                    successor: successor.clone(),
                });
            }
            let spellings: Vec<String> = std::iter::once(&model.name)
                .chain(model.aliases.iter())
                .cloned()
                .collect();
            self.claim(&spellings, Entry::Retired(self.retired.len()))?;
            self.retired.push(model);
        }
        Ok(self)
    }

    /// Indexes `spellings` as `entry`'s, all or (when another entry has one) none.
    fn claim(&mut self, spellings: &[String], entry: Entry) -> Result<(), TableError> {
        #[cfg(test)]
        claims::add();
        let keys: Vec<String> = spellings
            .iter()
            .map(|spelling| normalize(spelling).to_ascii_lowercase())
            .collect();
        for key in &keys {
            if let Some(&other) = self.index.get(key).filter(|&&other| other != entry) {
                return Err(TableError::Duplicate {
                    key: key.clone(),
                    first: self.entry_name(other).to_string(),
                    second: spellings.first().cloned().unwrap_or_default(),
                });
            }
        }
        for key in keys {
            self.index.insert(key, entry);
        }
        Ok(())
    }

    fn entry_name(&self, entry: Entry) -> &str {
        match entry {
            Entry::Live(position) => &self.models[position].name,
            Entry::Retired(position) => &self.retired[position].name,
        }
    }

    fn entry(&self, requested: &str) -> Option<Entry> {
        let key = normalize(requested);
        if let Some(&entry) = self.index.get(key) {
            return Some(entry);
        }
        let lower = key.to_ascii_lowercase();
        self.index
            .get(&lower)
            .or_else(|| self.index.get(&anthropic_spelling(&lower)?))
            .copied()
    }

    /// The current model a client's name stands for. Unknown names are `model_not_found`;
    /// retired ones too, with their successors named.
    pub fn lookup(&self, requested: &str) -> Result<&ModelSpec, ApiError> {
        self.locate(requested)
            .map(|position| &self.models[position])
    }

    /// [`ModelTable::lookup`], as the model's position in [`ModelTable::models`].
    pub fn locate(&self, requested: &str) -> Result<usize, ApiError> {
        match self.entry(requested) {
            Some(Entry::Live(position)) => Ok(position),
            Some(Entry::Retired(position)) => {
                Err(retired_error(requested, &self.retired[position]))
            }
            None => Err(ApiError::model_not_found(requested)),
        }
    }

    /// A current model only; retired and unknown names are both `None`.
    pub fn resolve(&self, requested: &str) -> Option<&ModelSpec> {
        self.position(requested)
            .map(|position| &self.models[position])
    }

    /// Where a current model sits in [`ModelTable::models`].
    pub fn position(&self, requested: &str) -> Option<usize> {
        match self.entry(requested)? {
            Entry::Live(position) => Some(position),
            Entry::Retired(_) => None,
        }
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn retired(&self) -> &[RetiredModel] {
        &self.retired
    }

    /// Whether `requested` names a retired model.
    pub fn is_retired(&self, requested: &str) -> bool {
        matches!(self.entry(requested), Some(Entry::Retired(_)))
    }

    /// The tokenizers the table's models count with, each once.
    pub fn tokenizers(&self) -> Vec<Tokenizer> {
        let mut used: Vec<Tokenizer> = Vec::new();
        for tokenizer in self.models.iter().map(ModelSpec::tokenizer) {
            if !used.contains(&tokenizer) {
                used.push(tokenizer);
            }
        }
        used
    }

    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|model| model.env.as_str())
    }
}

/// Entries (models and retired names) indexed on this thread, for the tests that hold merging
/// a model list to linear work.
#[cfg(test)]
pub(crate) mod claims {
    use std::cell::Cell;

    thread_local! {
        static CLAIMS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn add() {
        CLAIMS.with(|claims| claims.set(claims.get() + 1));
    }

    /// The entries `work` indexes.
    pub(crate) fn during<T>(work: impl FnOnce() -> T) -> (T, usize) {
        let before = CLAIMS.with(Cell::get);
        let result = work();
        (result, CLAIMS.with(Cell::get) - before)
    }
}

fn retired_error(requested: &str, retired: &RetiredModel) -> ApiError {
    let successors = retired
        .successors
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut error = ApiError::model_not_found(requested);
    error.message = format!(
        "The model `{}` has been retired by Argo; use {successors} instead. GET /v1/models lists the available models.",
        truncate_for_message(requested)
    );
    error
}

/// Strips a leading `argo:` (any case) and surrounding spaces. Index keys are also lower-cased;
/// lookups try the cheap exact key first.
/// Anthropic's own ids in the table's spelling: `claude-sonnet-4-5-20250929` (what Claude Code
/// asks for unless told otherwise) is `claude-sonnet-4.5`: the date and `-latest` dropped, a
/// dash between version numbers a dot. `None` for other names.
fn anthropic_spelling(lower: &str) -> Option<String> {
    let name = lower.strip_prefix("claude-")?;
    let name = match name.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    };
    let name = name.strip_suffix("-latest").unwrap_or(name);
    let bytes = name.as_bytes();
    let between_numbers = |i: usize| {
        i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    };
    let spelled: String = name
        .char_indices()
        .map(|(i, c)| {
            if c == '-' && between_numbers(i) {
                '.'
            } else {
                c
            }
        })
        .collect();
    Some(format!("claude-{spelled}"))
}

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
    use crate::error::ErrorCode;

    fn spec(name: &str, argo_id: &str, aliases: &[&str]) -> ModelSpec {
        ModelSpec {
            aliases: aliases.iter().map(|alias| alias.to_string()).collect(),
            ..ModelSpec::new(name, argo_id, Family::Openai, Kind::Chat)
        }
    }

    #[test]
    fn embedding_models_are_refused_for_chat() {
        let embedding = ModelSpec::new("v3small", "v3small", Family::Openai, Kind::Embedding);
        assert_eq!(
            embedding.require_chat().unwrap_err().param.as_deref(),
            Some("model")
        );
        assert!(spec("gpt-4o", "gpt4o", &[]).require_chat().is_ok());
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
            // Anthropic's own ids, as Claude Code sends them.
            "claude-opus-4-5",
            "claude-opus-4-5-20251101",
            "Claude-Opus-4-5-latest",
        ] {
            assert_eq!(
                table.resolve(spelling).map(|m| m.argo_id.as_str()),
                Some("claudeopus45"),
                "{spelling}"
            );
        }
        assert!(table.resolve("claude-opus-9").is_none());
        assert!(table.resolve("claude-opus-4-50").is_none());
        assert!(table.resolve("gpt-4-5").is_none());
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

    fn retired(name: &str, aliases: &[&str], successors: &[&str]) -> RetiredModel {
        RetiredModel {
            name: name.into(),
            aliases: aliases.iter().map(|alias| alias.to_string()).collect(),
            successors: successors.iter().map(|name| name.to_string()).collect(),
        }
    }

    #[test]
    fn retired_names_are_404_naming_their_successors() {
        let table = ModelTable::new(vec![
            spec("gpt-4o", "gpt4o", &[]),
            spec("gpt-4.1", "gpt41", &[]),
        ])
        .unwrap()
        .with_retired(vec![retired("gpt-4", &["gpt4"], &["gpt-4o", "gpt-4.1"])])
        .unwrap();
        for spelling in ["gpt-4", "argo:GPT4", " gpt4 "] {
            let error = table.lookup(spelling).unwrap_err();
            assert_eq!(
                (error.status, error.code),
                (404, Some(ErrorCode::ModelNotFound))
            );
            assert!(
                error.message.contains("`gpt-4o` or `gpt-4.1`")
                    && error.message.contains("retired"),
                "{}",
                error.message
            );
            assert!(table.resolve(spelling).is_none());
        }
        assert_eq!(table.lookup("gpt4o").unwrap().name, "gpt-4o");
        assert_eq!(table.locate("gpt-4.1").unwrap(), 1);
        let unknown = table.lookup("gpt-9").unwrap_err();
        assert!(unknown.message.contains("does not exist"));
    }

    #[test]
    fn retired_entries_must_name_live_successors_and_not_clash() {
        let live = || ModelTable::new(vec![spec("gpt-4o", "gpt4o", &[])]).unwrap();
        assert_eq!(
            live()
                .with_retired(vec![retired("gpt-4", &[], &["gpt-5"])])
                .unwrap_err(),
            TableError::UnknownSuccessor {
                retired: "gpt-4".into(),
                successor: "gpt-5".into()
            }
        );
        assert!(matches!(
            live().with_retired(vec![retired("old", &["gpt4o"], &["gpt-4o"])]),
            Err(TableError::Duplicate { .. })
        ));
        assert!(matches!(
            live().with_retired(vec![
                retired("a", &["x"], &["gpt-4o"]),
                retired("b", &["X"], &["gpt-4o"])
            ]),
            Err(TableError::Duplicate { .. })
        ));
    }

    #[test]
    fn fit_caps_only_non_streaming_calls_and_applies_sampling_rules() {
        let asked = Params {
            limit: Some(50_000),
            temperature: Some(0.2),
            top_p: Some(0.9),
        };
        let claude = ModelSpec {
            max_tokens_cap: Some(21_000),
            sampling: Sampling::OneOf,
            ..ModelSpec::new("c", "c", Family::Anthropic, Kind::Chat)
        };
        assert_eq!(
            claude.fit(asked, false),
            Params {
                limit: Some(21_000),
                temperature: Some(0.2),
                top_p: None
            }
        );
        assert_eq!(claude.fit(asked, true).limit, Some(50_000));
        let small = Params {
            limit: Some(100),
            ..asked
        };
        assert_eq!(claude.fit(small, false).limit, Some(100));
        let plain = ModelSpec::new("g", "g", Family::Openai, Kind::Chat);
        assert_eq!(plain.fit(asked, false), asked);
    }

    /// The shipped table, as the gateway loads it from `conf/argo-bridge.yaml`.
    fn shipped_table() -> ModelTable {
        #[derive(Deserialize)]
        struct Shipped {
            models: Vec<ModelSpec>,
            retired_models: Vec<RetiredModel>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/argo-bridge.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let shipped: Shipped = yaml_serde::from_str(&text).unwrap();
        ModelTable::new(shipped.models)
            .and_then(|table| table.with_retired(shipped.retired_models))
            .unwrap()
    }

    #[test]
    fn every_name_the_original_bridge_accepted_routes_or_names_successors() {
        let table = shipped_table();
        // argo_bridge.py: MODEL_MAPPING and EMBEDDING_MODEL_MAPPING, name -> the Argo id it sent.
        let routed = [
            ("gpt-4o", "gpt4o"),
            ("gpt4o", "gpt4o"),
            ("gpt-4o-mini", "gpt4o"),
            ("o3-mini", "gpto3mini"),
            ("o3mini", "gpto3mini"),
            ("gpto3mini", "gpto3mini"),
            ("gpto4mini", "gpto4mini"),
            ("o4-mini", "gpto4mini"),
            ("o4mini", "gpto4mini"),
            ("gpto1", "gpto1"),
            ("o1", "gpto1"),
            ("o3", "gpto3"),
            ("gpto3", "gpto3"),
            ("gpt41", "gpt41"),
            ("gpt41mini", "gpt41mini"),
            ("gpt41nano", "gpt41nano"),
            ("gpt5", "gpt5"),
            ("gpt5mini", "gpt5mini"),
            ("gpt5nano", "gpt5nano"),
            ("gemini25pro", "gemini25pro"),
            ("gemini25flash", "gemini25flash"),
            ("claudeopus41", "claudeopus41"),
            ("claudesonnet45", "claudesonnet45"),
            ("claudehaiku45", "claudehaiku45"),
            ("text-embedding-3-small", "v3small"),
            ("v3small", "v3small"),
            ("text-embedding-3-large", "v3large"),
            ("v3large", "v3large"),
            ("text-embedding-ada-002", "ada002"),
            ("ada002", "ada002"),
        ];
        for (name, argo_id) in routed {
            assert_eq!(
                table.lookup(name).map(|m| m.argo_id.as_str()),
                Ok(argo_id),
                "{name}"
            );
        }
        let retired = [
            ("gpt35", "`gpt-4.1-mini`"),
            ("gpt-3.5", "`gpt-4.1-mini`"),
            ("gpt35large", "`gpt-4.1-mini`"),
            ("gpt4", "`gpt-4o` or `gpt-4.1`"),
            ("gpt-4", "`gpt-4o` or `gpt-4.1`"),
            ("gpt4large", "`gpt-4o`"),
            ("gpt4turbo", "`gpt-4o`"),
            ("gpt-4-turbo", "`gpt-4o`"),
            ("gpt4olatest", "`gpt-4o`"),
            ("gpt-4o-latest", "`gpt-4o`"),
            ("gpto1preview", "`o1`"),
            ("o1-preview", "`o1`"),
            ("o1-mini", "`o3-mini`"),
            ("gpto1mini", "`o3-mini`"),
            ("o1mini", "`o3-mini`"),
            ("claudeopus4", "`claude-opus-4.1`"),
            ("claudesonnet4", "`claude-sonnet-4.5`"),
            ("claudesonnet37", "`claude-sonnet-4.5`"),
            ("claudesonnet35v2", "`claude-sonnet-4.5`"),
        ];
        for (name, successor) in retired {
            let error = table.lookup(name).unwrap_err();
            assert_eq!(error.status, 404, "{name}");
            assert!(
                error.message.contains(successor),
                "{name}: {}",
                error.message
            );
        }
    }

    #[test]
    fn top_k_is_a_table_rule_off_unless_a_row_says_so() {
        let row = |yaml: &str| yaml_serde::from_str::<ModelSpec>(yaml).unwrap();
        let base = "{ name: c, argo_id: c, env: dev, family: anthropic";
        assert!(row(&format!("{base}, top_k: true }}")).top_k);
        assert!(!row(&format!("{base} }}")).top_k);
        // No evidence says Argo takes it: the shipped table lets it through for no model.
        assert!(shipped_table().models().iter().all(|model| !model.top_k));
    }

    #[test]
    fn shipped_rules_follow_the_probe() {
        let table = shipped_table();
        let rule = |name: &str| {
            let model = table.lookup(name).unwrap();
            (model.sampling, model.max_tokens_cap)
        };
        assert_eq!(rule("claudeopus47"), (Sampling::None, Some(21_000)));
        assert_eq!(rule("claudeopus41"), (Sampling::Any, Some(21_000)));
        for one_of in [
            "claudeopus46",
            "claudeopus45",
            "claudesonnet46",
            "claudesonnet45",
            "claudehaiku45",
        ] {
            assert_eq!(rule(one_of), (Sampling::OneOf, Some(21_000)), "{one_of}");
        }
        for gpt5 in ["gpt5", "gpt5mini", "gpt55"] {
            assert_eq!(rule(gpt5), (Sampling::None, None), "{gpt5}");
        }
        for free in ["gpt4o", "gpto3", "gpt41", "gemini25pro"] {
            assert_eq!(rule(free), (Sampling::Any, None), "{free}");
        }
        assert_eq!(
            table.lookup("v3large").unwrap().tokenizer(),
            Tokenizer::Cl100kBase
        );
        assert_eq!(
            table.lookup("gpt-5").unwrap().tokenizer(),
            Tokenizer::O200kBase
        );
        assert_eq!(
            table.lookup("claude-4.5-opus").unwrap().tokenizer(),
            Tokenizer::Estimate
        );
        assert_eq!(
            table.tokenizers(),
            [
                Tokenizer::O200kBase,
                Tokenizer::Estimate,
                Tokenizer::Cl100kBase
            ]
        );
    }
}
