//! Argo's live model list (`GET {base}/v1/models`) merged into the model table.
//!
//! Argo lists entries in two shapes (argo-proxy's `models.py`, `Model`): the current
//! `{"id": "GPT-4o", "internal_id": "gpt4o", ...}` and the older `{"id": "gpt4o",
//! "model_name": "GPT-4o"}`. The table wins wherever it knows a model; a model only Argo lists
//! is added with what its id tells: the family from its prefix (argo-proxy's
//! `_classify_model_family`), embeddings from `ada*`, `v3*`, `*embed*`, and the client name
//! from the display name as argo-proxy forms it ("Claude Opus 4.8" -> `claude-opus-4.8`), and
//! its parameter rules from the first of the configuration's `model_rules` that matches its id
//! ([`crate::model_rules`]).

use serde::Deserialize;
use serde_json::Value;

use crate::model_rules::ModelRules;
use crate::models::{Family, Kind, ModelSpec, ModelTable, TableError, ToolMode, UpstreamApi};

/// One model Argo lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveModel {
    /// Argo's compact id (`gpt4o`).
    pub argo_id: String,
    /// The display name (`GPT-4o`), when Argo gives one.
    pub display: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    internal_id: Option<String>,
    model_name: Option<String>,
}

/// The most entries a model list may hold. Argo lists some 50 models; a list of more is refused
/// whole (the caller keeps the last one), so that nothing an environment answers makes the
/// table, or the work of a refresh, grow without bound. (The caller bounds the list's bytes:
/// `upstream.max_model_list_bytes`.)
pub const MAX_LIVE_MODELS: usize = 2_000;

/// Reads a model list: `{"data": [...]}` (OpenAI's list) or a bare array, entries of either
/// shape. Entries without an id are skipped; a body that is no list at all is an error, and so
/// is a list of more than [`MAX_LIVE_MODELS`] entries (the error names the cap, for the
/// operator's log).
pub fn parse(body: &[u8]) -> Result<Vec<LiveModel>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the model list is not JSON: {e}"))?;
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Object(mut object) => match object.remove("data") {
            Some(Value::Array(entries)) => entries,
            _ => return Err("the model list has no `data` array".into()),
        },
        _ => return Err("the model list is neither an object nor an array".into()),
    };
    if entries.len() > MAX_LIVE_MODELS {
        return Err(format!(
            "the model list has {} entries, over the {MAX_LIVE_MODELS} the gateway takes (live_models::MAX_LIVE_MODELS)",
            entries.len()
        ));
    }
    Ok(entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<Entry>(entry).ok())
        .filter_map(
            |entry| match (entry.internal_id, entry.model_name, entry.id) {
                (Some(argo_id), _, display) => Some(LiveModel { argo_id, display }),
                (None, display, Some(argo_id)) => Some(LiveModel { argo_id, display }),
                _ => None,
            },
        )
        .filter(|model| !model.argo_id.trim().is_empty())
        .collect())
}

/// `table` plus the models of `live` it does not know, each served from `env` over `api`, with
/// the columns of the first of `rules` for its id. Names the table already claims stay the
/// table's. Each model costs a few lookups and one
/// insertion into the table (the table used to be rebuilt for each: 8,000 models took 15 s).
pub fn merge(
    table: &ModelTable,
    live: &[LiveModel],
    env: &str,
    api: UpstreamApi,
    rules: &ModelRules,
) -> Result<ModelTable, TableError> {
    let mut merged = table.clone();
    for model in live {
        if merged.resolve(&model.argo_id).is_some() || merged.is_retired(&model.argo_id) {
            continue;
        }
        let mut spec = infer(model, env, api, &merged);
        rules.apply(&mut spec);
        merged.push(spec)?;
    }
    Ok(merged)
}

/// A row for a model only Argo knows, from what its id tells (before any rule).
fn infer(model: &LiveModel, env: &str, api: UpstreamApi, known: &ModelTable) -> ModelSpec {
    let id = model.argo_id.to_ascii_lowercase();
    let family = if id.starts_with("claude") {
        Family::Anthropic
    } else if id.starts_with("gemini") {
        Family::Google
    } else {
        Family::Openai
    };
    let embedding = id.starts_with("ada") || id.starts_with("v3") || id.contains("embed");
    let kind = if embedding {
        Kind::Embedding
    } else {
        Kind::Chat
    };
    let display = model
        .display
        .as_deref()
        .map(|display| display.trim().replace(' ', "-").to_ascii_lowercase())
        .filter(|name| {
            !name.is_empty() && known.resolve(name).is_none() && !known.is_retired(name)
        });
    let mut spec = ModelSpec::new(
        display.as_deref().unwrap_or(&model.argo_id),
        &model.argo_id,
        family,
        kind,
    );
    spec.env = env.to_string();
    spec.upstream = Some(api);
    if family == Family::Google && api == UpstreamApi::Resource {
        // Gemini takes tools only in the prompt on the resource endpoint (as the table's rows).
        spec.tools = ToolMode::Prompt;
    }
    if family == Family::Anthropic {
        spec.default_max_tokens = Some(DEFAULT_MAX_TOKENS);
    }
    spec
}

/// The `max_tokens` a new Claude model gets when the client sends none (the table's value).
const DEFAULT_MAX_TOKENS: u64 = 16384;

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ModelTable {
        let mut gpt = ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat);
        gpt.aliases = vec!["gpt-4o-mini".into()];
        ModelTable::new(vec![gpt]).unwrap()
    }

    #[test]
    fn both_entry_shapes_are_read() {
        let current = br#"{"object":"list","data":[{"id":"GPT-4o","internal_id":"gpt4o","owned_by":"argo"},{"id":"Claude Opus 4.8","internal_id":"claudeopus48"}]}"#;
        let older = br#"{"data":[{"id":"gpt4o","model_name":"GPT-4o"},{"nothing":1}]}"#;
        assert_eq!(
            parse(current).unwrap(),
            vec![
                LiveModel {
                    argo_id: "gpt4o".into(),
                    display: Some("GPT-4o".into())
                },
                LiveModel {
                    argo_id: "claudeopus48".into(),
                    display: Some("Claude Opus 4.8".into())
                },
            ]
        );
        assert_eq!(
            parse(older).unwrap(),
            vec![LiveModel {
                argo_id: "gpt4o".into(),
                display: Some("GPT-4o".into())
            }]
        );
        assert!(parse(b"<html>").is_err());
        assert!(parse(br#"{"error":"x"}"#).is_err());
    }

    #[test]
    fn the_table_wins_and_new_models_are_inferred() {
        let live = parse(
            br#"{"data":[{"id":"GPT-4o (latest)","internal_id":"gpt4o"},
            {"id":"Claude Opus 4.8","internal_id":"claudeopus48"},
            {"id":"Gemini 4 Pro","internal_id":"gemini4pro"},
            {"id":"text-embedding-4","internal_id":"v4embed"},
            {"id":"GPT-4o-mini","internal_id":"gpt4omini"}]}"#,
        )
        .unwrap();
        let merged = merge(
            &table(),
            &live,
            "dev",
            UpstreamApi::Native,
            &ModelRules::default(),
        )
        .unwrap();
        let gpt = merged.resolve("gpt4o").unwrap();
        assert_eq!((gpt.name.as_str(), gpt.env.as_str()), ("gpt-4o", "prod"));
        let claude = merged.resolve("claude-opus-4.8").unwrap();
        assert_eq!(
            (claude.argo_id.as_str(), claude.family, claude.env.as_str()),
            ("claudeopus48", Family::Anthropic, "dev")
        );
        assert_eq!(claude.default_max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!(merged.resolve("gemini4pro").unwrap().family, Family::Google);
        assert_eq!(merged.resolve("v4embed").unwrap().kind, Kind::Embedding);
        // `gpt-4o-mini` is the table's alias of gpt-4o: the new model keeps its Argo id as name.
        assert_eq!(merged.resolve("gpt-4o-mini").unwrap().argo_id, "gpt4o");
        assert_eq!(merged.resolve("gpt4omini").unwrap().name, "gpt4omini");
        assert_eq!(merged.models().len(), 5);
    }

    #[test]
    fn new_models_get_the_first_matching_rule_and_table_rows_none() {
        let rules: Vec<crate::model_rules::ModelRule> = yaml_serde::from_str(
            r#"
            - { argo_id: "claudesonnet*", from_version: "5", sampling: none, thinking: adaptive }
            - { argo_id: "gpt5*", reasoning: true, sampling: none }
            "#,
        )
        .unwrap();
        let rules = ModelRules::new(rules).unwrap();
        let mut table = table();
        let mut sonnet45 = ModelSpec::new(
            "claude-sonnet-4.5",
            "claudesonnet45",
            Family::Anthropic,
            Kind::Chat,
        );
        sonnet45.sampling = crate::models::Sampling::OneOf;
        table.push(sonnet45).unwrap();
        table
            .push(ModelSpec::new("gpt-5", "gpt5", Family::Openai, Kind::Chat))
            .unwrap();
        let live = parse(
            br#"{"data":[{"id":"Claude Sonnet 5.1","internal_id":"claudesonnet51"},
            {"id":"Claude Sonnet 4.5","internal_id":"claudesonnet45"},
            {"id":"GPT-5.6 Sol","internal_id":"gpt56sol"},
            {"id":"GPT-5","internal_id":"gpt5"}]}"#,
        )
        .unwrap();
        let merged = merge(&table, &live, "prod", UpstreamApi::Native, &rules).unwrap();
        let sonnet = merged.resolve("claude-sonnet-5.1").unwrap();
        assert_eq!(
            (sonnet.sampling, sonnet.thinking),
            (
                crate::models::Sampling::None,
                crate::models::Thinking::Adaptive
            )
        );
        assert_eq!(sonnet.default_max_tokens, Some(DEFAULT_MAX_TOKENS));
        let gpt = merged.resolve("gpt-5.6-sol").unwrap();
        assert!(gpt.reasoning && gpt.sampling == crate::models::Sampling::None);
        // The table's rows are the table's, whatever a rule says.
        let gpt5 = merged.resolve("gpt5").unwrap();
        assert!(!gpt5.reasoning && gpt5.sampling == crate::models::Sampling::Any);
        assert_eq!(
            merged.resolve("claudesonnet45").unwrap().sampling,
            crate::models::Sampling::OneOf
        );
    }

    fn listed(count: usize) -> Vec<LiveModel> {
        (0..count)
            .map(|n| LiveModel {
                argo_id: format!("model{n}"),
                display: Some(format!("Model {n}")),
            })
            .collect()
    }

    #[test]
    fn a_hundred_thousand_models_merge_with_one_index_entry_each() {
        let mut table = table();
        table = table
            .with_retired(vec![crate::models::RetiredModel {
                name: "gpt-3.5".into(),
                aliases: vec!["model7".into()],
                successors: vec!["gpt-4o".into()],
            }])
            .unwrap();
        for count in [8_000, 100_000] {
            let live = listed(count);
            let started = std::time::Instant::now();
            let (merged, claims) = crate::models::claims::during(|| {
                merge(
                    &table,
                    &live,
                    "dev",
                    UpstreamApi::Native,
                    &ModelRules::default(),
                )
            });
            let merged = merged.unwrap();
            println!(
                "{count} models merged in {:.1} ms, {claims} entries indexed",
                started.elapsed().as_secs_f64() * 1e3
            );
            // Each new model is indexed once; rebuilding the table per model indexed n² / 2.
            assert_eq!(claims, count - 1, "model7 is a retired name");
            assert_eq!(merged.models().len(), 1 + count - 1);
            assert_eq!(merged.resolve("model-99").unwrap().argo_id, "model99");
            assert!(merged.is_retired("model7") && merged.is_retired("gpt-3.5"));
            assert_eq!(merged.resolve("gpt-4o-mini").unwrap().argo_id, "gpt4o");
        }
    }

    #[test]
    fn a_list_over_the_cap_is_refused_whole_saying_so() {
        let list = |count: usize| {
            let data: Vec<Value> = (0..count)
                .map(|n| serde_json::json!({"id": format!("Model {n}"), "internal_id": format!("model{n}")}))
                .collect();
            serde_json::json!({ "data": data }).to_string().into_bytes()
        };
        assert_eq!(
            parse(&list(MAX_LIVE_MODELS)).unwrap().len(),
            MAX_LIVE_MODELS
        );
        let too_many = parse(&list(MAX_LIVE_MODELS + 1)).unwrap_err();
        assert!(
            too_many.contains("2001 entries") && too_many.contains("MAX_LIVE_MODELS"),
            "{too_many}"
        );
        let bare =
            serde_json::to_vec(&vec![serde_json::json!({"id": "m"}); MAX_LIVE_MODELS + 1]).unwrap();
        assert!(parse(&bare).unwrap_err().contains("entries"));
    }
}
