//! What every section shares: the error that names the bad field, and the readers of the
//! environment overrides.

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn err(field: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("config field `{field}`: {message}"))
}

pub fn set_text(env: &dyn Fn(&str) -> Option<String>, key: &str, field: &mut String) {
    if let Some(value) = env(key) {
        *field = value;
    }
}

pub fn set_number<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    field: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = env(key) {
        *field = value
            .parse()
            .map_err(|_| err(key, "must be a whole number"))?;
    }
    Ok(())
}

pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}
