//! The client's tools for Argo: web search dropped, other hosted tools refused, namespaces
//! flat; on the way down, calls of namespaced tools as the client knows them.

use std::borrow::Cow;
use std::ops::Range;

use crate::client::openai_responses;
use crate::error::ApiError;
use crate::stream::json_string;
use crate::tools::namespaces::{self, Declared, Namespaces};
use crate::upstream::passthrough::{pick_members, walk_array, walk_object};

/// One of the client's tools that goes to Argo: where it is in `tools`, the namespace it was
/// grouped in, its name (when it has one), and its place for errors: the `at`-th tool, or the
/// `grouped`-th tool of that namespace.
struct Listed<'a> {
    span: Range<usize>,
    namespace: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    at: usize,
    grouped: Option<usize>,
}

impl Listed<'_> {
    /// The path of the tool's name.
    fn path(&self) -> String {
        match self.grouped {
            Some(position) => format!("tools[{}].tools[{position}].name", self.at),
            None => format!("tools[{}].name", self.at),
        }
    }
}

/// The client's tools for Argo, and the way back for the tools it grouped: `function` and
/// `custom` tools as written, a `namespace`'s tools flat under the names [`namespaces::flatten`]
/// gives them (nothing says Argo's `/v1/responses` takes `namespace` tools, so its models are
/// offered them flat as on the translated path), web search and `tool_search` tools left out
/// (Codex sends them with every turn; the translation drops them too, and nothing says Argo
/// runs them: `openai_responses::is_dropped_tool`), any other type refused as the translation
/// refuses it (Argo runs no hosted tools, and nothing says it takes `local_shell` tools).
pub(super) fn tools_for_argo(raw: &[u8]) -> Result<(Cow<'_, [u8]>, Namespaces), ApiError> {
    let mut listed: Vec<Listed> = Vec::new();
    let (mut rewritten, mut failure) = (false, None);
    let mut index = 0;
    let walked = walk_array(raw, |span| {
        let at = index;
        index += 1;
        if failure.is_some() {
            return;
        }
        if let Err(error) = list_tool(raw, span, at, &mut listed, &mut rewritten) {
            failure = Some(error);
        }
    });
    if !walked {
        return Err(ApiError::invalid("tools", "`tools` must be a list"));
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if !listed.iter().any(|tool| tool.namespace.is_some()) {
        // Nothing to flatten: Argo checks the names as it checks every request's.
        let tools = if rewritten {
            Cow::Owned(joined(raw, &listed, &[]))
        } else {
            Cow::Borrowed(raw)
        };
        return Ok((tools, Namespaces::default()));
    }
    let named: Vec<(usize, Declared)> = listed
        .iter()
        .enumerate()
        .filter_map(|(position, tool)| {
            let declared = Declared {
                namespace: tool.namespace.as_deref(),
                name: tool.name.as_deref()?,
                path: tool.path(),
            };
            Some((position, declared))
        })
        .collect();
    let declared: Vec<Declared> = named.iter().map(|(_, tool)| tool.clone()).collect();
    let (offered, namespaces) = namespaces::flatten(&declared)?;
    // The new name of each grouped tool the model is offered under another.
    let mut renames: Vec<Option<String>> = vec![None; listed.len()];
    for ((position, tool), offered) in named.iter().zip(offered) {
        if tool.namespace.is_some() && offered != tool.name {
            renames[*position] = Some(offered);
        }
    }
    Ok((Cow::Owned(joined(raw, &listed, &renames)), namespaces))
}

/// The `listed` tools of `raw` as a JSON list, each renamed as `renames` says (by position;
/// missing or `None`: as written).
fn joined(raw: &[u8], listed: &[Listed], renames: &[Option<String>]) -> Vec<u8> {
    let mut tools = Vec::with_capacity(raw.len());
    tools.push(b'[');
    for (position, tool) in listed.iter().enumerate() {
        if tools.len() > 1 {
            tools.push(b',');
        }
        let written = &raw[tool.span.clone()];
        match renames.get(position).and_then(Option::as_deref) {
            Some(name) => tools.extend_from_slice(&renamed(written, name)),
            None => tools.extend_from_slice(written),
        }
    }
    tools.push(b']');
    tools
}

/// Lists the tool at `span` of `raw` (the `at`-th); `rewritten` when the list Argo gets differs
/// from the client's (a tool left out or a namespace flattened).
fn list_tool<'a>(
    raw: &'a [u8],
    span: Range<usize>,
    at: usize,
    listed: &mut Vec<Listed<'a>>,
    rewritten: &mut bool,
) -> Result<(), ApiError> {
    let tool = &raw[span.clone()];
    if !tool.starts_with(b"{") {
        return Err(ApiError::invalid(
            format!("tools[{at}]"),
            "Each tool must be an object",
        ));
    }
    let (kind, name) = type_and_name(tool);
    match kind.as_deref() {
        Some("function" | "custom") => listed.push(Listed {
            span: span.clone(),
            namespace: None,
            name,
            at,
            grouped: None,
        }),
        Some("namespace") => {
            *rewritten = true;
            list_namespace(raw, span, at, listed)?;
        }
        Some(kind) if openai_responses::is_dropped_tool(kind) => *rewritten = true,
        Some(kind) => {
            return Err(ApiError::invalid(
                format!("tools[{at}].type"),
                openai_responses::unserved_tool(kind),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                format!("tools[{at}].type"),
                "Each tool needs a `type`",
            ))
        }
    }
    Ok(())
}

/// Lists the functions and custom tools of the namespace at `span` of `raw` (the `at`-th tool),
/// refused as the translation refuses them.
fn list_namespace<'a>(
    raw: &'a [u8],
    span: Range<usize>,
    at: usize,
    listed: &mut Vec<Listed<'a>>,
) -> Result<(), ApiError> {
    let namespace_at = span.start;
    let object = &raw[span];
    let [name, grouped] = pick_members(object, [b"name".as_slice(), b"tools"]).unwrap_or_default();
    let namespace = name
        .and_then(|span| string_at(object, span))
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("tools[{at}].name"), namespaces::NEEDS_NAME))?;
    let needs_tools = || ApiError::invalid(format!("tools[{at}].tools"), namespaces::NEEDS_TOOLS);
    let grouped = grouped.ok_or_else(needs_tools)?;
    let offset = namespace_at + grouped.start;
    let grouped = &object[grouped];
    let mut failure = None;
    let mut position = 0;
    let walked = walk_array(grouped, |span| {
        let this = position;
        position += 1;
        if failure.is_some() {
            return;
        }
        let path = || format!("tools[{at}].tools[{this}]");
        let tool = &grouped[span.clone()];
        let (kind, name) = type_and_name(tool);
        if !tool.starts_with(b"{") {
            failure = Some(ApiError::invalid(path(), "Each tool must be an object"));
        } else if !matches!(kind.as_deref(), Some("function" | "custom")) {
            let kind = kind.as_deref().unwrap_or("untyped");
            let error =
                ApiError::invalid(format!("{}.type", path()), namespaces::ungroupable(kind));
            failure = Some(error);
        } else if let Some(name) = name {
            listed.push(Listed {
                span: span.start + offset..span.end + offset,
                namespace: Some(namespace.clone()),
                name: Some(name),
                at,
                grouped: Some(this),
            });
        } else {
            failure = Some(ApiError::invalid(
                format!("{}.name", path()),
                "Tool names must be 1-64 letters, digits, `_` or `-`",
            ));
        }
    });
    if !walked {
        return Err(needs_tools());
    }
    failure.map_or(Ok(()), Err)
}

/// `tool` (a JSON object) with its `name` member's value `name`.
fn renamed(tool: &[u8], name: &str) -> Vec<u8> {
    let [span] = pick_members(tool, [b"name".as_slice()]).unwrap_or_default();
    let Some(span) = span else {
        return tool.to_vec();
    };
    let name = json_string(name);
    let mut out = Vec::with_capacity(tool.len() + name.len());
    out.extend_from_slice(&tool[..span.start]);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&tool[span.end..]);
    out
}

/// A member of a JSON object decoded as a string; `None` when absent or not a string. Copied
/// only when it has escapes: each of a request's tools is read so.
pub(super) fn string_member<'a>(object: &'a [u8], name: &[u8]) -> Option<Cow<'a, str>> {
    let mut found = None;
    walk_object(object, |key, span| {
        if key == name {
            found = Some(span);
        }
    });
    string_at(object, found?)
}

/// A tool's `type` and `name` as [`string_member`] reads them, in one walk.
pub(super) fn type_and_name(tool: &[u8]) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let [kind, name] = pick_members(tool, [b"type".as_slice(), b"name"]).unwrap_or_default();
    let read = |span: Option<Range<usize>>| string_at(tool, span?);
    (read(kind), read(name))
}

/// The JSON string at `span` of `json`, decoded; `None` when it is not a string.
pub(super) fn string_at(json: &[u8], span: Range<usize>) -> Option<Cow<'_, str>> {
    let raw = &json[span];
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return serde_json::from_slice::<String>(raw).ok().map(Cow::Owned);
    }
    std::str::from_utf8(inner).ok().map(Cow::Borrowed)
}

/// A response's `output` (`raw`) with each call of a namespaced tool as the client knows it
/// ([`call_for_client`]); `None` when no item changes.
pub(super) fn calls_for_client(raw: &[u8], namespaces: &Namespaces) -> Option<Vec<u8>> {
    if namespaces.is_empty() {
        return None;
    }
    let mut items: Vec<(Range<usize>, Option<Vec<u8>>)> = Vec::new();
    let walked = walk_array(raw, |span| {
        let call = call_for_client(&raw[span.clone()], namespaces);
        items.push((span, call));
    });
    if !walked || items.iter().all(|(_, call)| call.is_none()) {
        return None;
    }
    Some(rewritten_array(raw, &items))
}

/// The JSON array `raw` again, each item at its span replaced by its rewrite where it has one.
pub(super) fn rewritten_array(raw: &[u8], items: &[(Range<usize>, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.push(b'[');
    for (span, call) in items {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(call.as_deref().unwrap_or(&raw[span.clone()]));
    }
    out.push(b']');
    out
}

/// A `function_call` or `custom_tool_call` output item of a namespaced tool (`item`) with the
/// tool's own name and, right after it, its `namespace` (see [`namespaces`]); `None` for any
/// other item, or one that already says its namespace.
///
/// [`namespaces`]: crate::tools::namespaces
pub(super) fn call_for_client(item: &[u8], namespaces: &Namespaces) -> Option<Vec<u8>> {
    if namespaces.is_empty() {
        return None;
    }
    let [kind, name, namespace] = pick_members(item, [b"type".as_slice(), b"name", b"namespace"])?;
    let kind = &item[kind?];
    if namespace.is_some() || !matches!(kind, b"\"function_call\"" | b"\"custom_tool_call\"") {
        return None;
    }
    let name = name?;
    let offered = serde_json::from_slice::<Cow<str>>(&item[name.clone()]).ok()?;
    let origin = namespaces.origin(&offered)?;
    let mut out = Vec::with_capacity(item.len() + origin.namespace.len() + 16);
    out.extend_from_slice(&item[..name.start]);
    out.extend_from_slice(json_string(&origin.name).as_bytes());
    out.extend_from_slice(b",\"namespace\":");
    out.extend_from_slice(json_string(&origin.namespace).as_bytes());
    out.extend_from_slice(&item[name.end..]);
    Some(out)
}
