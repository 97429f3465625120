//! The Responses API's `namespace` tools, flattened for models that take flat function lists.
//!
//! A namespace groups functions (and custom tools) under a name: `{"type": "namespace", "name":
//! "multi_agent_v1", "description", "tools": [{"type": "function", "name": "spawn_agent", ...}]}`
//! (Codex CLI 0.171 sends its sub-agent tools so). The model's call of a grouped tool comes back
//! as a `function_call` (or `custom_tool_call`) item with `"namespace": "multi_agent_v1"` beside
//! `"name": "spawn_agent"`, and the client routes it by both: Codex builds its tool name from the
//! pair (`ToolName::new(namespace, name)` in `build_tool_call`, openai/codex
//! `codex-rs/core/src/tools/router.rs`), so a call without its namespace is an unknown tool.
//!
//! No upstream here takes namespaces (Argo's `/v1/responses` included: nothing says it does), so
//! each grouped tool is offered as a plain tool. The model sees its bare name when no other
//! offered tool has that name; otherwise the qualified `namespace__name`, the flat spelling Codex
//! itself uses where a boundary cannot keep the pair (`ToolName::canonical_flat_name` in
//! `codex-rs/protocol/src/tool_name.rs`: the namespace's trailing and the name's leading `_`
//! trimmed). Calls go back to the client as the pair, and the pair in a history item goes to the
//! model as the name it was offered.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::ApiError;
use crate::tools::names::NameSet;

/// Where a grouped tool came from: the name the client knows it by, within its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub namespace: String,
    pub name: String,
}

/// The names the model is offered for a request's grouped tools, and the way back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// By the name the model sees.
    origins: HashMap<String, Origin>,
    /// The name the model sees, by namespace, then name.
    offered: HashMap<String, HashMap<String, String>>,
}

impl Namespaces {
    /// Whether the request grouped no tools.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// The grouped tool the model knows as `offered`, if it is one.
    pub fn origin(&self, offered: &str) -> Option<&Origin> {
        self.origins.get(offered)
    }

    /// The name the model knows `namespace`'s tool `name` by: the one it was offered, else
    /// (a history item naming a tool this request does not group) the qualified name.
    pub fn offered_name<'a>(&'a self, namespace: &str, name: &str) -> Cow<'a, str> {
        match self
            .offered
            .get(namespace)
            .and_then(|names| names.get(name))
        {
            Some(offered) => Cow::Borrowed(offered.as_str()),
            None => Cow::Owned(qualified_name(namespace, name)),
        }
    }
}

/// A tool as a request declares it: grouped in `namespace` or not; `path` names its `name`
/// member for errors (`tools[4].tools[3].name`).
#[derive(Debug, Clone)]
pub struct Declared<'a> {
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub path: String,
}

/// `namespace__name`, as Codex flattens a pair (see the module doc).
pub fn qualified_name(namespace: &str, name: &str) -> String {
    let namespace = namespace.trim_end_matches('_');
    let name = name.trim_start_matches('_');
    format!("{namespace}__{name}")
}

/// The name the model is offered for each of `tools` (in their order), and the way back for the
/// grouped ones. A grouped tool keeps its bare name when no other tool has it, else takes the
/// qualified one, which must be a function name (1-64 letters, digits, `_` or `-`). Two tools
/// offered under one name are a 400 naming the later one.
pub fn flatten(tools: &[Declared<'_>]) -> Result<(Vec<String>, Namespaces), ApiError> {
    let mut bare: HashMap<&str, usize> = HashMap::with_capacity(tools.len());
    for tool in tools {
        *bare.entry(tool.name).or_default() += 1;
    }
    let mut offered_names = Vec::with_capacity(tools.len());
    let mut seen = NameSet::with_capacity(tools.len());
    let mut namespaces = Namespaces::default();
    for tool in tools {
        let offered = match tool.namespace {
            Some(namespace) if bare.get(tool.name).copied().unwrap_or_default() > 1 => {
                let qualified = qualified_name(namespace, tool.name);
                if !is_function_name(&qualified) {
                    return Err(ApiError::invalid(
                        &tool.path,
                        format!("Tool `{}` of namespace `{namespace}` shares its name with another tool, and its qualified name `{qualified}` is no function name (1-64 letters, digits, `_` or `-`): rename one of them", tool.name),
                    ));
                }
                qualified
            }
            _ => tool.name.to_string(),
        };
        if !seen.insert(offered.clone()) {
            let message = match tool.namespace {
                None => format!("Tool name `{offered}` is declared twice"),
                Some(namespace) => format!(
                    "Tool `{}` of namespace `{namespace}` would be offered to the model as `{offered}`, which another tool already is",
                    tool.name
                ),
            };
            return Err(ApiError::invalid(&tool.path, message));
        }
        if let Some(namespace) = tool.namespace {
            namespaces.origins.insert(
                offered.clone(),
                Origin {
                    namespace: namespace.to_string(),
                    name: tool.name.to_string(),
                },
            );
            namespaces
                .offered
                .entry(namespace.to_string())
                .or_default()
                .insert(tool.name.to_string(), offered.clone());
        }
        offered_names.push(offered);
    }
    Ok((offered_names, namespaces))
}

/// OpenAI's rule for function names: 1-64 letters, digits, `_` or `-`.
pub fn is_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a namespace without a name is refused (at its `name`).
pub const NEEDS_NAME: &str = "A namespace needs a `name` (a non-empty string)";

/// Why a namespace without its tools is refused (at its `tools`).
pub const NEEDS_TOOLS: &str = "A namespace needs its `tools` as a list";

/// Why a tool of type `kind` cannot sit in a namespace.
pub fn ungroupable(kind: &str) -> String {
    format!(
        "A namespace groups `function` and `custom` tools; a `{kind}` tool cannot be served there"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(name: &str, at: usize) -> Declared<'_> {
        Declared {
            namespace: None,
            name,
            path: format!("tools[{at}].name"),
        }
    }

    fn grouped<'a>(namespace: &'a str, name: &'a str, at: usize) -> Declared<'a> {
        Declared {
            namespace: Some(namespace),
            name,
            path: format!("tools[4].tools[{at}].name"),
        }
    }

    #[test]
    fn unique_names_stay_bare_and_lead_back_to_their_namespace() {
        let tools = [
            plain("exec_command", 0),
            grouped("multi_agent_v1", "spawn_agent", 0),
            grouped("multi_agent_v1", "wait_agent", 1),
        ];
        let (offered, namespaces) = flatten(&tools).unwrap();
        assert_eq!(offered, ["exec_command", "spawn_agent", "wait_agent"]);
        let origin = namespaces.origin("spawn_agent").unwrap();
        assert_eq!(
            (origin.namespace.as_str(), origin.name.as_str()),
            ("multi_agent_v1", "spawn_agent")
        );
        assert_eq!(namespaces.origin("exec_command"), None);
        assert_eq!(
            namespaces.offered_name("multi_agent_v1", "wait_agent"),
            "wait_agent"
        );
    }

    #[test]
    fn shared_names_are_qualified_as_codex_qualifies_them() {
        let tools = [
            plain("search", 0),
            grouped("mcp__docs__", "search", 0),
            grouped("mcp__web__", "_search", 1),
            grouped("mcp__web__", "fetch", 2),
        ];
        let (offered, namespaces) = flatten(&tools).unwrap();
        assert_eq!(offered, ["search", "mcp__docs__search", "_search", "fetch"]);
        assert_eq!(
            namespaces.origin("mcp__docs__search").unwrap().namespace,
            "mcp__docs__"
        );
        // `_search` is not `search`: it stays bare; qualified, it would lose the `_`s as in Codex.
        assert_eq!(qualified_name("mcp__web__", "_search"), "mcp__web__search");
        // A pair the request does not group: its qualified name.
        assert_eq!(
            namespaces.offered_name("gone", "tool"),
            "gone__tool".to_string()
        );
    }

    #[test]
    fn clashes_after_flattening_are_refused_naming_the_field() {
        let twice = [
            grouped("multi_agent_v1", "spawn_agent", 0),
            grouped("multi_agent_v1", "spawn_agent", 1),
        ];
        let error = flatten(&twice).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.param.as_deref(), Some("tools[4].tools[1].name"));

        let taken = [
            plain("multi_agent_v1__spawn_agent", 0),
            plain("spawn_agent", 1),
            grouped("multi_agent_v1", "spawn_agent", 0),
        ];
        let error = flatten(&taken).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools[4].tools[0].name"));
        assert!(error.message.contains("multi_agent_v1__spawn_agent"));

        let plain_twice = [plain("a", 0), plain("a", 1)];
        let error = flatten(&plain_twice).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools[1].name"));
        assert!(error.message.contains("declared twice"));
    }

    #[test]
    fn a_qualified_name_must_be_a_function_name() {
        let long = "n".repeat(60);
        let tools = [plain("run", 0), grouped(&long, "run", 0)];
        let error = flatten(&tools).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools[4].tools[0].name"));
        // Unique, it stays bare, whatever its namespace is called.
        let (offered, _) = flatten(&[grouped(&long, "run", 0)]).unwrap();
        assert_eq!(offered, ["run"]);
    }
}
