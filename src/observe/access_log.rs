//! One structured line per request, logged under the target `access` (so `RUST_LOG=access=off`
//! silences it). Text `key=value` by default; JSON with `ARGO_BRIDGE_LOG_FORMAT=json`. Nothing
//! here names the user, carries a token, or quotes a body.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use once_cell::sync::OnceCell;
use serde::Serialize;

use crate::observe::log_writer;
use crate::observe::metrics;
use crate::observe::timing::Millis;

pub const TARGET: &str = "access";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

static FORMAT: OnceCell<Format> = OnceCell::new();

thread_local! {
    /// The line being written, kept per worker thread so that logging allocates nothing.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

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
    /// Records the answered request in the metrics (called once, from the access-log hook).
    pub fn observe(&self) {
        let mut status = itoa::Buffer::new();
        let status = status.format(self.status);
        let requests = [self.endpoint, self.client, self.model, status];
        metrics::count(&metrics::REQUESTS, &requests, 1);
        let duration = self.duration.as_secs_f64();
        metrics::time(
            &metrics::REQUEST_DURATION,
            &[self.endpoint, self.model],
            duration,
        );
        metrics::time(
            &metrics::OVERHEAD,
            &[self.endpoint],
            self.overhead.as_secs_f64(),
        );
    }

    /// Queues the line for the log writer directly, in the shape `env_logger` gives every
    /// other line (`[ts LEVEL target] message`, or one JSON object): the line is the one log
    /// record of every request, and `env_logger`'s own formatting of it showed in the profile.
    pub fn log(&self) {
        // No format before `init_logger`: the logger is not ours (unit tests), write nothing.
        let Some(&format) = FORMAT.get() else {
            return;
        };
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return;
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            match format {
                Format::Text => self.write_text_line(line),
                Format::Json => self.write_json_line(line),
            }
            line.push('\n');
            log_writer::queue(line.as_bytes());
        });
    }

    /// `[2026-11-26T12:48:25Z INFO  access] request_id=... overhead_ms=0.098`
    fn write_text_line(&self, line: &mut String) {
        line.push('[');
        timestamp(SystemTime::now(), false, line);
        line.push_str(" INFO  ");
        line.push_str(TARGET);
        line.push_str("] ");
        self.write_text(line);
    }

    /// `{"level":"INFO","target":"access","ts":"2026-11-26T12:48:25.597Z","request_id":...}`
    fn write_json_line(&self, line: &mut String) {
        line.push_str(r#"{"level":"INFO","target":""#);
        line.push_str(TARGET);
        line.push_str(r#"","ts":""#);
        timestamp(SystemTime::now(), true, line);
        line.push_str("\",");
        let record = self.json();
        line.push_str(record.strip_prefix('{').unwrap_or(&record));
    }

    fn write_text(&self, out: &mut String) {
        let model = if self.model.is_empty() {
            "-"
        } else {
            self.model
        };
        let mut status = itoa::Buffer::new();
        let words = [
            ("request_id=", self.request_id),
            (" method=", self.method),
            (" endpoint=", self.endpoint),
            (" client=", self.client),
            (" model=", model),
            (" status=", status.format(self.status)),
            (" stream=", self.stream),
        ];
        for (key, value) in words {
            out.push_str(key);
            out.push_str(value);
        }
        let figures = [
            (" duration_ms=", self.duration),
            (" upstream_ms=", self.upstream),
            (" overhead_ms=", self.overhead),
        ];
        for (key, figure) in figures {
            out.push_str(key);
            Millis(figure).write_to(out);
        }
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

/// `now` in RFC 3339, UTC, to the second or the millisecond: as `env_logger` writes its
/// timestamps (`2026-11-26T12:48:25Z`, `2026-11-26T12:48:25.597Z`).
fn timestamp(now: SystemTime, millis: bool, out: &mut String) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let of_day = seconds % 86_400;
    out.push_str(itoa::Buffer::new().format(year));
    let fields = [
        ('-', month),
        ('-', day),
        ('T', of_day / 3600),
        (':', of_day / 60 % 60),
        (':', of_day % 60),
    ];
    for (separator, value) in fields {
        out.push(separator);
        two_digits(value, out);
    }
    if millis {
        let millis = u64::from(since_epoch.subsec_millis());
        out.push('.');
        out.push(char::from(b'0' + (millis / 100) as u8));
        two_digits(millis % 100, out);
    }
    out.push('Z');
}

fn two_digits(value: u64, out: &mut String) {
    out.push(char::from(b'0' + (value / 10 % 10) as u8));
    out.push(char::from(b'0' + (value % 10) as u8));
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
pub(crate) fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Sets up `env_logger` from `RUST_LOG` (default `info`) in the chosen format. In JSON every
/// line is one object: `level`, `target`, `ts`, then `message` (the access record's fields
/// instead, written by [`AccessRecord::log`]).
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
            let head = head.trim_end_matches('}');
            let message = serde_json::Value::String(record.args().to_string()).to_string();
            writeln!(out, "{head},\"message\":{message}}}")
        });
    }
    builder.target(env_logger::Target::Pipe(Box::new(
        log_writer::BatchedStderr,
    )));
    builder.init();
    log_writer::count_drops_in(metrics::LOG_LINES_DROPPED.clone());
    log_writer::start_flusher();
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
        let mut text = String::new();
        record().write_text(&mut text);
        assert_eq!(
            text,
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
    fn timestamps_are_written_as_env_logger_writes_them() {
        let at = |seconds: u64, millis: u64, precise: bool| {
            let mut out = String::new();
            let now = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis);
            timestamp(now, precise, &mut out);
            out
        };
        // Checked with `date -u -d @N`.
        assert_eq!(at(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400, 0, false), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199, 0, false), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_795_956_505, 597, true), "2026-11-29T12:48:25.597Z");
        assert_eq!(at(4_102_444_800, 5, true), "2100-01-01T00:00:00.005Z");
    }

    #[test]
    fn unknown_format_is_refused() {
        assert_eq!(Format::from_env(None), Ok(Format::Text));
        assert_eq!(Format::from_env(Some("json")), Ok(Format::Json));
        assert!(Format::from_env(Some("xml")).is_err());
    }
}
