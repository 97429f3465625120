//! Strict JSON parsing that names the offending field in its errors.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

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

/// A field that is one string or a list of `T`, such as a message's `content` in OpenAI's and
/// Anthropic's requests, or `null`, which the caller takes or refuses.
pub enum StringOrList<T> {
    Null,
    String(String),
    List(Vec<T>),
}

/// Reads a [`StringOrList`]. `expecting` ends serde's message for any other value ("invalid
/// type: number, expected ...").
pub fn string_or_list<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<StringOrList<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(StringOrListVisitor {
        expecting,
        items: PhantomData,
    })
}

struct StringOrListVisitor<T> {
    expecting: &'static str,
    items: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for StringOrListVisitor<T> {
    type Value = StringOrList<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(StringOrList::String(text.to_string()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(StringOrList::String(text))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StringOrList::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(StringOrList::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(StringOrList::List(items))
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

    struct Texts(StringOrList<String>);

    impl<'de> Deserialize<'de> for Texts {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            string_or_list(deserializer, "a string or a list of strings").map(Texts)
        }
    }

    #[test]
    fn string_or_list_reads_each_shape_and_names_what_it_expects() {
        let read = |body: &str| serde_json::from_str::<Texts>(body).map(|texts| texts.0);
        assert!(matches!(read(r#""hi""#), Ok(StringOrList::String(text)) if text == "hi"));
        assert!(matches!(read(r#"["a","b"]"#), Ok(StringOrList::List(list)) if list == ["a", "b"]));
        assert!(matches!(read("null"), Ok(StringOrList::Null)));
        let error = read("7")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("invalid type: integer `7`, expected a string or a list of strings"),
            "{error}"
        );
        assert!(read("[1]").is_err());
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
