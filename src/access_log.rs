//! One structured line per request, logged under the target `access` (so `RUST_LOG=access=off`
//! silences it). Text `key=value` by default; JSON with `ARGO_BRIDGE_LOG_FORMAT=json`. Nothing
//! here names the user, carries a token, or quotes a body.

use std::io::Write;
use std::time::Duration;

use once_cell::sync::OnceCell;
use serde::Serialize;

use crate::timing::Millis;

pub const TARGET: &str = "access";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

static FORMAT: OnceCell<Format> = OnceCell::new();

impl Format {
    pub fn from_env(value: Option<&str>) -> Result<Format, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "ARGO_BRIDGE_LOG_FORMAT must be `text` or `json`, not `{other}`"
            )),
        }
    }
}

#[derive(Serialize)]
pub struct AccessRecord<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub endpoint: &'a str,
    /// The client's API format (`openai`, `anthropic`, `responses`, `google`).
    pub client: &'a str,
    pub model: &'a str,
    pub status: u16,
    /// `-` for buffered answers, else how the stream ended.
    pub stream: &'a str,
    #[serde(skip)]
    pub duration: Duration,
    #[serde(skip)]
    pub upstream: Duration,
    #[serde(skip)]
    pub overhead: Duration,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    #[serde(flatten)]
    record: &'a AccessRecord<'a>,
    duration_ms: f64,
    upstream_ms: f64,
    overhead_ms: f64,
}

impl AccessRecord<'_> {
    pub fn log(&self) {
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return;
        }
        let line = match FORMAT.get().copied().unwrap_or(Format::Text) {
            Format::Text => self.text(),
            Format::Json => self.json(),
        };
        log::info!(target: TARGET, "{line}");
    }

    fn text(&self) -> String {
        format!(
            "request_id={} method={} endpoint={} client={} model={} status={} stream={} duration_ms={} upstream_ms={} overhead_ms={}",
            self.request_id,
            self.method,
            self.endpoint,
            self.client,
            if self.model.is_empty() { "-" } else { self.model },
            self.status,
            self.stream,
            Millis(self.duration),
            Millis(self.upstream),
            Millis(self.overhead),
        )
    }

    fn json(&self) -> String {
        let millis = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let record = JsonRecord {
            record: self,
            duration_ms: millis(self.duration),
            upstream_ms: millis(self.upstream),
            overhead_ms: millis(self.overhead),
        };
        serde_json::to_string(&record).unwrap_or_default()
    }
}

/// Sets up `env_logger` from `RUST_LOG` (default `info`) in the chosen format. In JSON every
/// line is one object: `ts`, `level`, `target`, then either the access record's fields or
/// `message`.
pub fn init_logger(format: Format) {
    let _ = FORMAT.set(format);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == Format::Json {
        builder.format(|out, record| {
            let head = serde_json::json!({
                "ts": out.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
            })
            .to_string();
            let message = record.args().to_string();
            let head = head.trim_end_matches('}');
            if record.target() == TARGET && message.starts_with('{') {
                writeln!(out, "{head},{}", &message[1..])
            } else {
                let message = serde_json::Value::String(message).to_string();
                writeln!(out, "{head},\"message\":{message}}}")
            }
        });
    }
    builder.target(env_logger::Target::Pipe(Box::new(
        crate::log_writer::BatchedStderr,
    )));
    builder.init();
    crate::log_writer::start_flusher();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            request_id: "req-1",
            method: "POST",
            endpoint: "chat",
            client: "openai",
            model: "gpt-4o",
            status: 200,
            stream: "complete",
            duration: Duration::from_micros(12_345),
            upstream: Duration::from_micros(10_000),
            overhead: Duration::from_micros(2_345),
        }
    }

    #[test]
    fn text_line_has_every_field() {
        assert_eq!(
            record().text(),
            "request_id=req-1 method=POST endpoint=chat client=openai model=gpt-4o status=200 stream=complete duration_ms=12.345 upstream_ms=10.000 overhead_ms=2.345"
        );
    }

    #[test]
    fn json_line_has_every_field_as_numbers() {
        let json: serde_json::Value = serde_json::from_str(&record().json()).unwrap();
        assert_eq!(json["request_id"], "req-1");
        assert_eq!(json["status"], 200);
        assert_eq!(json["overhead_ms"], 2.345);
        assert_eq!(json["upstream_ms"], 10.0);
    }

    #[test]
    fn unknown_format_is_refused() {
        assert_eq!(Format::from_env(None), Ok(Format::Text));
        assert_eq!(Format::from_env(Some("json")), Ok(Format::Json));
        assert!(Format::from_env(Some("xml")).is_err());
    }
}
