//! Reading proto JSON: fields by their camelCase or snake_case name, 64-bit integers written
//! as strings, bytes as base64 in either alphabet.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use serde_json::{Map, Value};

/// A field by its camelCase or snake_case name; `null` counts as absent.
pub(super) fn get<'a>(
    object: &'a Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|value| !value.is_null())
}

/// An integer, also as proto JSON writes 64-bit ones: a string of digits.
pub(super) fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 9e15)
                .map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Base64 in the standard alphabet: the Python SDK sends bytes URL-safe encoded.
pub(super) fn standard_base64(data: &str) -> Cow<'_, str> {
    if data.contains(['-', '_']) {
        Cow::Owned(data.replace('-', "+").replace('_', "/"))
    } else {
        Cow::Borrowed(data)
    }
}

/// A decoder that takes base64 with or without its padding.
pub(super) fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}
