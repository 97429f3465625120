//! Strict JSON parsing that names the offending field in its errors.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a request body into `T`. Syntax errors and type errors become 400s; type errors
/// carry the JSON path of the field (`messages[2].content`) in `param`.
///
/// Valid bodies take serde_json's plain path; only a body that fails is parsed again with path
/// tracking, which costs a key copy per field and so is kept off the common path.
pub fn parse_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => Err(explain_failure::<T>(body)),
    }
}

fn explain_failure<T: DeserializeOwned>(body: &[u8]) -> ApiError {
    match parse_with_path::<T>(body) {
        Err(error) => error,
        // Unreachable in practice: both parsers accept the same bodies.
        Ok(_) => ApiError::invalid("body", "Invalid JSON body"),
    }
}

fn parse_with_path<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "body",
            "Request body is empty; send a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer
        .end()
        .map_err(|err| ApiError::invalid("body", format!("Invalid JSON body: {err}")))?;
    Ok(value)
}

fn path_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !inner.is_data() {
        return ApiError::invalid("body", format!("Invalid JSON body: {inner}"));
    }
    let detail = strip_position(&inner.to_string());
    let param = match missing_field(&detail) {
        Some(field) if path == "." => field.to_string(),
        Some(field) => format!("{path}.{field}"),
        None => path,
    };
    ApiError::invalid(
        param.clone(),
        format!("Invalid request: `{param}`: {detail}"),
    )
}

fn missing_field(detail: &str) -> Option<&str> {
    detail.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line L column C", which says nothing useful once the field is named.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[expect(dead_code, reason = "its fields are only deserialized")]
    #[derive(Deserialize, Debug)]
    struct Outer {
        model: String,
        items: Vec<Inner>,
    }

    #[expect(dead_code, reason = "its fields are only deserialized")]
    #[derive(Deserialize, Debug)]
    struct Inner {
        weight: f64,
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err =
            parse_request::<Outer>(br#"{"model":"m","items":[{"weight":1},{"weight":"heavy"}]}"#)
                .unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.param.as_deref(), Some("items[1].weight"));
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse_request::<Outer>(br#"{"items":[]}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("model"));
        let err = parse_request::<Outer>(br#"{"model":"m","items":[{}]}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("items[0].weight"));
    }

    #[test]
    fn syntax_errors_trailing_garbage_and_empty_bodies_are_rejected() {
        for body in [
            &b"{\"model\": "[..],
            br#"{"model":"m","items":[]} x"#,
            b"",
            b"  \n",
            b"\xff\xfe",
        ] {
            let err = parse_request::<Outer>(body).unwrap_err();
            assert_eq!(
                (err.status, err.param.as_deref()),
                (400, Some("body")),
                "{body:?}"
            );
        }
    }

    #[test]
    fn valid_bodies_parse_on_the_fast_path_with_the_same_result() {
        let body = br#"{"model":"m","items":[{"weight":1.5},{"weight":2}]}"#;
        let fast: Outer = parse_request(body).unwrap();
        let tracked: Outer = parse_with_path(body).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{tracked:?}"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_request::<serde_json::Value>(body.as_bytes())
                .unwrap_err()
                .status,
            400
        );
    }
}
