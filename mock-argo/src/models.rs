//! `GET {base}/v1/models`: the model list, in the current shape or the older one, plus the test
//! hook `POST /__mock/models` that adds or removes ids at runtime, makes the list fail, huge,
//! late or slow.
//!
//! Evidence: argo-proxy's `models.py` (`Model`, `get_upstream_model_list_async`) reads
//! `{"data": [...]}` whose entries are either the current shape
//! `{"id": "<display name>", "internal_id": "gpt4o", "object", "created", "owned_by"}` or the
//! older `{"id": "gpt4o", "model_name": "<display name>"}`, and fetches the list without any
//! auth header. Real display names are not recorded: the ones below are inferred from the
//! aliases argo-proxy derives from them (`"Claude Opus 4.5"` -> `argo:claude-opus-4.5` and
//! `argo:claude-4.5-opus`, `"o3-mini"` -> `argo:gpt-o3-mini`, `"GPT-4.1 Mini"` ->
//! `argo:gpt-4.1-mini`).

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::rules;

/// Argo id and display name of every model the mock serves at start.
const DISPLAY_NAMES: &[(&str, &str)] = &[
    ("gpt4o", "GPT-4o"),
    ("gpto1", "o1"),
    ("gpto3", "o3"),
    ("gpto3mini", "o3-mini"),
    ("gpto4mini", "o4-mini"),
    ("gpt41", "GPT-4.1"),
    ("gpt41mini", "GPT-4.1 Mini"),
    ("gpt41nano", "GPT-4.1 Nano"),
    ("gpt5", "GPT-5"),
    ("gpt5mini", "GPT-5 Mini"),
    ("gpt5nano", "GPT-5 Nano"),
    ("gpt51", "GPT-5.1"),
    ("gpt52", "GPT-5.2"),
    ("gpt54", "GPT-5.4"),
    ("gpt54nano", "GPT-5.4 Nano"),
    ("gpt55", "GPT-5.5"),
    // argo-api.md §C (live lists of Aug and Sep 2026, argo-proxy 3.2.1-3.3.0): the seven models
    // new since June. Display names inferred like the others.
    ("gpt54mini", "GPT-5.4 Mini"),
    ("gpt56sol", "GPT-5.6 Sol"),
    ("gpt56terra", "GPT-5.6 Terra"),
    ("gpt56luna", "GPT-5.6 Luna"),
    ("gemini25pro", "Gemini 2.5 Pro"),
    ("gemini25flash", "Gemini 2.5 Flash"),
    ("gemini35flash", "Gemini 3.5 Flash"),
    ("gemini31flashlite", "Gemini 3.1 Flash Lite"),
    ("claudeopus47", "Claude Opus 4.7"),
    ("claudeopus46", "Claude Opus 4.6"),
    ("claudeopus45", "Claude Opus 4.5"),
    ("claudeopus41", "Claude Opus 4.1"),
    ("claudesonnet46", "Claude Sonnet 4.6"),
    ("claudesonnet45", "Claude Sonnet 4.5"),
    ("claudehaiku45", "Claude Haiku 4.5"),
    ("claudeopus48", "Claude Opus 4.8"),
    ("claudesonnet5", "Claude Sonnet 5"),
    ("claudeopus5", "Claude Opus 5"),
    ("ada002", "text-embedding-ada-002"),
    ("v3small", "text-embedding-3-small"),
    ("v3large", "text-embedding-3-large"),
];

/// The `model` field of native answers: the vendor's name where the probe recorded it
/// (`argo_probe_raw.jsonl`), otherwise the Argo id (as Gemini answers do).
const VENDOR_NAMES: &[(&str, &str)] = &[
    ("claudeopus47", "claude-opus-4-7"),
    ("claudeopus46", "claude-opus-4-6"),
    ("claudeopus45", "claude-opus-4-5-20251101"),
    ("claudesonnet46", "claude-sonnet-4-6"),
    ("claudesonnet45", "claude-sonnet-4-5-20250929"),
    ("claudehaiku45", "claude-haiku-4-5-20251001"),
    ("gpto3mini", "o3-mini-2025-01-31"),
    ("gpto3", "o3-2025-04-16"),
    ("gpto4mini", "o4-mini-2025-04-16"),
    ("gpt5", "gpt-5-2025-08-07"),
    ("gpt5mini", "gpt-5-mini-2025-08-07"),
];

/// Embedding models and their vector sizes.
const EMBEDDING_MODELS: &[(&str, usize)] =
    &[("ada002", 1536), ("v3small", 1536), ("v3large", 3072)];

/// A fixed `created` time, so answers are reproducible.
const CREATED: u64 = 1_767_225_600;

pub fn vendor_name(model: &str) -> &str {
    VENDOR_NAMES
        .iter()
        .find(|(id, _)| *id == model)
        .map_or(model, |(_, name)| name)
}

pub fn embedding_dimensions(model: &str) -> Option<usize> {
    EMBEDDING_MODELS
        .iter()
        .find(|(id, _)| *id == model)
        .map(|(_, size)| *size)
}

fn owned_by(model: &str) -> &'static str {
    if model.starts_with("claude") {
        "anthropic"
    } else if model.starts_with("gemini") {
        "google"
    } else {
        "openai"
    }
}

/// The list as tests changed it at runtime.
#[derive(Debug, Default)]
pub struct ModelList {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Added entries: Argo id and display name.
    added: Vec<(String, String)>,
    /// Added models' refused parameters (`"refuses"` of an `add` entry): Argo id and the
    /// top-level members the model refuses with Argo's 400, as a model new in the live list
    /// may (argo-api.md §C: `claudesonnet5` and `temperature`).
    refuses: Vec<(String, Vec<String>)>,
    removed: Vec<String>,
    fail: bool,
    /// Generated entries served after the others (`bulk-model-{n}`): a huge list.
    bulk: usize,
    /// Wait before the list's head.
    delay_ms: u64,
    /// Send the list one byte at a time, this many milliseconds apart.
    drip_ms: Option<u64>,
}

/// How the list is delivered: a wait before its head, and the pause between its bytes when it
/// drips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    pub delay: Duration,
    pub drip: Option<Duration>,
}

/// Which entry shape `/v1/models` answers with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// `{"id": "<display name>", "internal_id": "gpt4o", "object", "created", "owned_by"}`.
    Current,
    /// `{"id": "gpt4o", "model_name": "<display name>"}`.
    Old,
}

impl Shape {
    /// The older shape is served under a base path ending in `/argoapi-old`; the legacy
    /// `GET {base}/api/v1/models/` answers the current shape (argo-api.md §C: Argo's route list,
    /// argo-anywhere's `openapi.json` of 2026-08-14).
    pub fn for_path(path: &str) -> Shape {
        if path.ends_with("/argoapi-old/v1/models") {
            Shape::Old
        } else {
            Shape::Current
        }
    }
}

impl ModelList {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Argo ids and display names served now.
    fn entries(&self) -> Vec<(String, String)> {
        let state = self.state();
        let bulk = (0..state.bulk).map(|n| (format!("bulk-model-{n}"), format!("Bulk Model {n}")));
        DISPLAY_NAMES
            .iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .chain(state.added.iter().cloned())
            .filter(|(id, _)| !state.removed.contains(id))
            .chain(bulk)
            .collect()
    }

    /// How the list is delivered now.
    pub fn pacing(&self) -> Pacing {
        let state = self.state();
        Pacing {
            delay: Duration::from_millis(state.delay_ms),
            drip: state.drip_ms.map(Duration::from_millis),
        }
    }

    /// A chat model served now: a current Argo chat model or one a test added, and not removed.
    pub fn serves_chat(&self, model: &str) -> bool {
        let state = self.state();
        !state.removed.iter().any(|id| id == model)
            && (rules::is_chat_model(model) || state.added.iter().any(|(id, _)| id == model))
    }

    /// An embedding model served now.
    pub fn serves_embedding(&self, model: &str) -> bool {
        embedding_dimensions(model).is_some() && !self.state().removed.iter().any(|id| id == model)
    }

    /// The first top-level member of `request` that `model` (an added one) refuses.
    pub fn refused(&self, model: &str, request: &Value) -> Option<String> {
        let state = self.state();
        let (_, refused) = state.refuses.iter().find(|(id, _)| id == model)?;
        refused
            .iter()
            .find(|param| request.get(param.as_str()).is_some())
            .cloned()
    }

    /// The answer to `GET /v1/models`: status and body.
    pub fn list(&self, shape: Shape) -> (u16, Value) {
        if self.state().fail {
            return (
                503,
                json!({"error": {"message": "the model list is unavailable (mock failure)",
                    "type": "server_error", "code": "service_unavailable"}}),
            );
        }
        let data: Vec<Value> = self
            .entries()
            .into_iter()
            .map(|(id, name)| match shape {
                Shape::Current => json!({"id": name, "internal_id": id, "object": "model",
                    "created": CREATED, "owned_by": owned_by(&id)}),
                Shape::Old => json!({"id": id, "model_name": name}),
            })
            .collect();
        (200, json!({"object": "list", "data": data}))
    }

    /// `POST /__mock/models` with `{"add": [id | {"id": display, "internal_id": id,
    /// "refuses": [param]}],
    /// "remove": [id], "fail": bool, "bulk": n, "delay_ms": n, "drip_ms": n, "reset": bool}`
    /// (every field optional; `reset` first). `bulk` serves n generated models besides the
    /// others, `delay_ms` waits that long before the list's head, `drip_ms` sends the list one
    /// byte at a time (0: at once).
    pub fn hook(&self, body: &[u8]) -> (u16, Value) {
        let request: Value = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => return (400, json!({"error": format!("invalid JSON: {e}")})),
        };
        let mut state = self.state();
        if request["reset"] == true {
            *state = State::default();
        }
        for entry in request["add"].as_array().into_iter().flatten() {
            let (id, name) = match entry {
                Value::String(id) => (id.clone(), id.clone()),
                Value::Object(_) => match (entry["internal_id"].as_str(), entry["id"].as_str()) {
                    (Some(id), Some(name)) => (id.to_string(), name.to_string()),
                    _ => {
                        return (
                            400,
                            json!({"error": "`add` entries are ids or {\"id\", \"internal_id\"}"}),
                        )
                    }
                },
                _ => return (400, json!({"error": "`add` entries are ids or objects"})),
            };
            state.removed.retain(|removed| *removed != id);
            let refuses: Vec<String> = entry["refuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            state.refuses.retain(|(refusing, _)| *refusing != id);
            if !refuses.is_empty() {
                state.refuses.push((id.clone(), refuses));
            }
            if !state.added.iter().any(|(added, _)| *added == id) && !is_builtin(&id) {
                state.added.push((id, name));
            }
        }
        for id in request["remove"].as_array().into_iter().flatten() {
            if let Some(id) = id.as_str() {
                state.added.retain(|(added, _)| added != id);
                state.refuses.retain(|(refusing, _)| refusing != id);
                if is_builtin(id) && !state.removed.iter().any(|removed| removed == id) {
                    state.removed.push(id.to_string());
                }
            }
        }
        if let Some(fail) = request["fail"].as_bool() {
            state.fail = fail;
        }
        if let Some(bulk) = request["bulk"].as_u64() {
            state.bulk = usize::try_from(bulk).unwrap_or(usize::MAX);
        }
        if let Some(delay_ms) = request["delay_ms"].as_u64() {
            state.delay_ms = delay_ms;
        }
        if let Some(drip_ms) = request["drip_ms"].as_u64() {
            state.drip_ms = (drip_ms > 0).then_some(drip_ms);
        }
        let fail = state.fail;
        drop(state);
        let ids: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !id.starts_with("bulk-model-"))
            .collect();
        (200, json!({"models": ids, "fail": fail}))
    }
}

fn is_builtin(id: &str) -> bool {
    DISPLAY_NAMES.iter().any(|(builtin, _)| *builtin == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &Value, key: &str) -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry[key].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_list_comes_in_both_shapes() {
        let list = ModelList::default();
        let (status, current) = list.list(Shape::Current);
        assert_eq!(status, 200);
        assert_eq!(current["object"], "list");
        let gpt4o = current["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["internal_id"] == "gpt4o")
            .unwrap();
        assert_eq!(
            *gpt4o,
            json!({"id": "GPT-4o", "internal_id": "gpt4o", "object": "model",
                "created": CREATED, "owned_by": "openai"})
        );
        let (_, old) = list.list(Shape::Old);
        let entry = &old["data"][0];
        assert_eq!(*entry, json!({"id": "gpt4o", "model_name": "GPT-4o"}));
        assert_eq!(ids(&current, "internal_id"), ids(&old, "id"));
        assert_eq!(Shape::for_path("/argoapi-old/v1/models"), Shape::Old);
        assert_eq!(Shape::for_path("/argoapi/v1/models"), Shape::Current);
    }

    #[test]
    fn the_hook_adds_removes_and_fails() {
        let list = ModelList::default();
        assert!(!list.serves_chat("newmodel"));
        let (status, _) = list.hook(
            br#"{"add": ["newmodel", {"id": "Claude Opus 5", "internal_id": "claudeopus5"}],
                "remove": ["gpt4o", "v3large"]}"#,
        );
        assert_eq!(status, 200);
        assert!(list.serves_chat("newmodel") && list.serves_chat("claudeopus5"));
        assert!(!list.serves_chat("gpt4o") && !list.serves_embedding("v3large"));
        let (_, current) = list.list(Shape::Current);
        let internal = ids(&current, "internal_id");
        assert!(internal.contains(&"newmodel".to_string()));
        assert!(!internal.contains(&"gpt4o".to_string()));
        assert!(ids(&current, "id").contains(&"Claude Opus 5".to_string()));
        list.hook(br#"{"fail": true}"#);
        assert_eq!(list.list(Shape::Current).0, 503);
        list.hook(br#"{"fail": false, "add": ["gpt4o"]}"#);
        assert_eq!(list.list(Shape::Current).0, 200);
        assert!(list.serves_chat("gpt4o"));
        list.hook(br#"{"reset": true}"#);
        assert!(!list.serves_chat("newmodel") && list.serves_embedding("v3large"));
        assert_eq!(list.hook(b"{\"add\": [1]}").0, 400);
    }

    #[test]
    fn an_added_model_refuses_the_parameters_it_is_given() {
        let list = ModelList::default();
        list.hook(
            br#"{"add": [{"id": "GPT 7", "internal_id": "gpt7", "refuses": ["top_p", "seed"]}]}"#,
        );
        let asked = |request: Value| list.refused("gpt7", &request);
        assert_eq!(
            asked(json!({"seed": 1, "top_p": 0.5})).as_deref(),
            Some("top_p")
        );
        assert_eq!(asked(json!({"seed": 1})).as_deref(), Some("seed"));
        assert_eq!(asked(json!({"temperature": 1})), None);
        assert_eq!(list.refused("gpt4o", &json!({"top_p": 0.5})), None);
        list.hook(br#"{"remove": ["gpt7"]}"#);
        assert_eq!(asked(json!({"top_p": 0.5})), None);
        let (status, body) = rules::refuses_parameter("gpt7", "top_p");
        assert_eq!(status, 400);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unsupported parameter: 'top_p' is not supported with this model."));
        let (_, body) = rules::refuses_parameter("claudeopus9", "temperature");
        assert_eq!(body["type"], "error");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`temperature` is deprecated for this model."));
    }

    #[test]
    fn the_hook_makes_the_list_huge_late_or_slow() {
        let list = ModelList::default();
        let builtin = DISPLAY_NAMES.len();
        assert_eq!(
            list.pacing(),
            Pacing {
                delay: Duration::ZERO,
                drip: None
            }
        );
        let (_, hooked) = list.hook(br#"{"bulk": 1000, "delay_ms": 250, "drip_ms": 3}"#);
        assert_eq!(hooked["models"].as_array().unwrap().len(), builtin);
        let (status, current) = list.list(Shape::Current);
        assert_eq!(status, 200);
        let ids = ids(&current, "internal_id");
        assert_eq!(ids.len(), builtin + 1000);
        assert_eq!(ids.last().unwrap(), "bulk-model-999");
        assert_eq!(
            list.pacing(),
            Pacing {
                delay: Duration::from_millis(250),
                drip: Some(Duration::from_millis(3))
            }
        );
        list.hook(br#"{"drip_ms": 0}"#);
        assert_eq!(list.pacing().drip, None);
        list.hook(br#"{"reset": true}"#);
        assert_eq!(
            list.list(Shape::Old).1["data"].as_array().unwrap().len(),
            builtin
        );
        assert_eq!(list.pacing().delay, Duration::ZERO);
    }
}
