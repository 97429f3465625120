//! Reading `tools` (function declarations, their schemas as JSON Schema) and `toolConfig`.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::hub::{ToolChoice, ToolDef};
use crate::tools::names::NameSet;

use super::contents::is_upstream_id;
use super::fields::{as_int, get};

pub(super) fn read_tools(
    request: &Map<String, Value>,
    prefix: &str,
) -> Result<Vec<ToolDef>, ApiError> {
    let tools = match get(request, "tools", "tools") {
        None => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{prefix}tools"),
                "`tools` must be an array",
            ))
        }
    };
    let mut definitions: Vec<ToolDef> = Vec::new();
    let mut declared = NameSet::default();
    for (index, tool) in tools.iter().enumerate() {
        let path = format!("{prefix}tools[{index}]");
        let tool = tool
            .as_object()
            .ok_or_else(|| ApiError::invalid(&path, "Each tool must be an object"))?;
        reject_hosted_tools(tool, &path)?;
        let declarations = match get(tool, "functionDeclarations", "function_declarations") {
            None => continue,
            Some(Value::Array(declarations)) => declarations,
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{path}.functionDeclarations"),
                    "`functionDeclarations` must be an array",
                ))
            }
        };
        for (position, declaration) in declarations.iter().enumerate() {
            let path = format!("{path}.functionDeclarations[{position}]");
            let definition = read_declaration(declaration, &path)?;
            if !declared.insert(definition.name.clone()) {
                return Err(ApiError::invalid(
                    format!("{path}.name"),
                    format!("Function `{}` is declared twice", definition.name),
                ));
            }
            definitions.push(definition);
        }
    }
    Ok(definitions)
}

fn reject_hosted_tools(tool: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    match tool.iter().find(|(key, value)| {
        !value.is_null() && !matches!(key.as_str(), "functionDeclarations" | "function_declarations")
    }) {
        Some((key, _)) => Err(ApiError::invalid(
            format!("{path}.{key}"),
            format!(
                "The `{}` tool is run by Google and cannot be served through Argo; only `functionDeclarations` are supported",
                crate::error::truncate_for_message(key)
            ),
        )),
        None => Ok(()),
    }
}

fn read_declaration(declaration: &Value, path: &str) -> Result<ToolDef, ApiError> {
    let declaration = declaration
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Each function declaration must be an object"))?;
    let name = declaration
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| is_upstream_id(name))
        .ok_or_else(|| {
            ApiError::invalid(
                format!("{path}.name"),
                "Function names must be 1-64 letters, digits, `_` or `-` (Argo's upstreams take no dots or colons)",
            )
        })?;
    let description = match declaration.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{path}.description"),
                "`description` must be a string",
            ))
        }
    };
    let google = get(declaration, "parameters", "parameters");
    let plain = get(
        declaration,
        "parametersJsonSchema",
        "parameters_json_schema",
    );
    let parameters = match (google, plain) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                format!("{path}.parametersJsonSchema"),
                "Give `parameters` or `parametersJsonSchema`, not both",
            ))
        }
        (Some(schema), None) => json_schema(schema, &format!("{path}.parameters"))?,
        (None, Some(schema @ Value::Object(_))) => schema.clone(),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                format!("{path}.parametersJsonSchema"),
                "`parametersJsonSchema` must be a JSON Schema object",
            ))
        }
        (None, None) => Value::Null,
    };
    Ok(ToolDef {
        name: name.to_string(),
        description,
        parameters,
        strict: None,
    })
}

/// Google's OpenAPI-subset `Schema` as standard JSON Schema: types lowercased, `nullable`
/// as a union with `null` (as the SDK's own `Schema.json_schema` does), snake_case keywords
/// camelCased, `example` as `examples`, `defs`/`ref` as `$defs`/`$ref`; Google-only keys
/// (`propertyOrdering`, `format: enum`) dropped. Other keys are kept.
pub(super) fn json_schema(schema: &Value, path: &str) -> Result<Value, ApiError> {
    let schema = schema
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "A schema must be an object"))?;
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in schema {
        if value.is_null() {
            continue;
        }
        let keyword = camel_case(key);
        let field = |name: &str| format!("{path}.{name}");
        match keyword.as_ref() {
            "type" => {
                if let Some(types) = schema_type(value) {
                    out.insert("type".into(), types);
                }
            }
            "nullable" => nullable = value.as_bool() == Some(true),
            "properties" | "defs" | "$defs" => {
                let name = if keyword == "properties" {
                    "properties"
                } else {
                    "$defs"
                };
                out.insert(name.into(), schema_map(value, &field(name))?);
            }
            "items" | "additionalProperties" if value.is_object() => {
                out.insert(
                    keyword.clone().into_owned(),
                    json_schema(value, &field(&keyword))?,
                );
            }
            "anyOf" | "items" => {
                out.insert(
                    keyword.clone().into_owned(),
                    schema_list(value, &field(&keyword))?,
                );
            }
            "ref" | "$ref" => {
                let reference = value
                    .as_str()
                    .unwrap_or_default()
                    .replace("#/defs/", "#/$defs/");
                out.insert("$ref".into(), Value::String(reference));
            }
            "format" if value.as_str() == Some("enum") => {}
            "propertyOrdering" => {}
            "example" => {
                out.insert("examples".into(), Value::Array(vec![value.clone()]));
            }
            "maxItems" | "minItems" | "maxLength" | "minLength" | "maxProperties"
            | "minProperties" => {
                let count = as_int(value)
                    .map(Value::from)
                    .unwrap_or_else(|| value.clone());
                out.insert(keyword.into_owned(), count);
            }
            "additionalProperties"
            | "description"
            | "enum"
            | "format"
            | "maximum"
            | "minimum"
            | "pattern"
            | "required"
            | "title"
            | "default" => {
                out.insert(keyword.into_owned(), value.clone());
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if nullable {
        add_null(&mut out);
    }
    Ok(Value::Object(out))
}

fn camel_case(key: &str) -> Cow<'_, str> {
    if !key.contains('_') || key.starts_with('_') {
        return Cow::Borrowed(key);
    }
    let mut camel = String::with_capacity(key.len());
    for (index, word) in key.split('_').enumerate() {
        let mut chars = word.chars();
        match (index, chars.next()) {
            (0, Some(first)) => camel.push(first),
            (_, Some(first)) => camel.extend(first.to_uppercase()),
            (_, None) => {}
        }
        camel.push_str(chars.as_str());
    }
    Cow::Owned(camel)
}

/// `"STRING"` → `"string"`; `TYPE_UNSPECIFIED` is no type.
fn schema_type(value: &Value) -> Option<Value> {
    let lower = |name: &str| {
        (!name.eq_ignore_ascii_case("TYPE_UNSPECIFIED"))
            .then(|| Value::String(name.to_ascii_lowercase()))
    };
    match value {
        Value::String(name) => lower(name),
        Value::Array(names) => Some(Value::Array(
            names
                .iter()
                .filter_map(|name| name.as_str().and_then(lower))
                .collect(),
        )),
        _ => None,
    }
}

fn add_null(schema: &mut Map<String, Value>) {
    let null = Value::String("null".into());
    match schema.get_mut("type") {
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null),
        Some(Value::Array(_)) => {}
        Some(single) => *single = Value::Array(vec![single.take(), null]),
        None => {
            if let Some(Value::Array(choices)) = schema.get_mut("anyOf") {
                choices.push(json!({"type": "null"}));
            }
        }
    }
}

fn schema_map(value: &Value, path: &str) -> Result<Value, ApiError> {
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::invalid(path, "Must be an object of schemas"))?;
    map.iter()
        .map(|(name, schema)| {
            Ok((
                name.clone(),
                json_schema(schema, &format!("{path}.{name}"))?,
            ))
        })
        .collect::<Result<Map<_, _>, ApiError>>()
        .map(Value::Object)
}

fn schema_list(value: &Value, path: &str) -> Result<Value, ApiError> {
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::invalid(path, "Must be a schema or an array of schemas"))?;
    list.iter()
        .enumerate()
        .map(|(index, schema)| json_schema(schema, &format!("{path}[{index}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `toolConfig.functionCallingConfig` as a tool choice: `AUTO` → auto, `NONE` → none, `ANY`
/// → required (named when one function is allowed), `VALIDATED` → auto (the schema check
/// Google adds is not available). `allowedFunctionNames` keeps only those tools, which
/// limits the calls exactly as Gemini does.
pub(super) fn read_tool_config(
    request: &Map<String, Value>,
    prefix: &str,
    tools: Vec<ToolDef>,
) -> Result<(Vec<ToolDef>, Option<ToolChoice>), ApiError> {
    let path = format!("{prefix}toolConfig.functionCallingConfig");
    let Some(config) = get(request, "toolConfig", "tool_config").and_then(|config| {
        get(
            config.as_object()?,
            "functionCallingConfig",
            "function_calling_config",
        )
    }) else {
        return Ok((tools, None));
    };
    let config = config
        .as_object()
        .ok_or_else(|| ApiError::invalid(&path, "`functionCallingConfig` must be an object"))?;
    let allowed = allowed_names(config, &path, &tools)?;
    let mode = config
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    let tools = match allowed {
        Some(allowed) => tools
            .into_iter()
            .filter(|tool| allowed.contains(&tool.name))
            .collect(),
        None => tools,
    };
    let choice = match mode.as_str() {
        "NONE" => ToolChoice::None,
        "AUTO" | "MODE_UNSPECIFIED" | "VALIDATED" => ToolChoice::Auto,
        "ANY" if tools.is_empty() => {
            return Err(ApiError::invalid(
                format!("{path}.mode"),
                "Mode `ANY` needs `functionDeclarations` in `tools`",
            ))
        }
        "ANY" if tools.len() == 1 => ToolChoice::Named(tools[0].name.clone()),
        "ANY" => ToolChoice::Required,
        _ => {
            return Err(ApiError::invalid(
                format!("{path}.mode"),
                "`mode` must be `AUTO`, `ANY`, `NONE` or `VALIDATED`",
            ))
        }
    };
    Ok((tools, Some(choice)))
}

fn allowed_names<'r>(
    config: &'r Map<String, Value>,
    path: &str,
    tools: &[ToolDef],
) -> Result<Option<NameSet<'r>>, ApiError> {
    let path = format!("{path}.allowedFunctionNames");
    let names = match get(config, "allowedFunctionNames", "allowed_function_names") {
        None => return Ok(None),
        Some(Value::Array(names)) if names.is_empty() => return Ok(None),
        Some(Value::Array(names)) => names,
        Some(_) => {
            return Err(ApiError::invalid(
                path,
                "Must be an array of function names",
            ))
        }
    };
    let declared: NameSet = tools.iter().map(|tool| tool.name.as_str()).collect();
    let mut allowed = NameSet::with_capacity(names.len());
    for name in names {
        let name = name
            .as_str()
            .ok_or_else(|| ApiError::invalid(&path, "Must be an array of function names"))?;
        if !declared.contains(name) {
            return Err(ApiError::invalid(
                &path,
                format!(
                    "`{}` is not among the declared functions",
                    crate::error::truncate_for_message(name)
                ),
            ));
        }
        allowed.insert(name);
    }
    Ok(Some(allowed))
}
