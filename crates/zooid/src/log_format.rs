//! How the `zooid` command logs: human-readable text (the default) or one JSON object
//! per line, chosen by `--log-format` or `ZOOID_LOG_FORMAT`; levels come from `RUST_LOG`
//! (tracing-subscriber's env-filter syntax, `info` when unset).
//!
//! A JSON line has the keys of tracing-subscriber's own JSON format, in sorted order
//! (`spans` only inside a span):
//!
//! ```text
//! {"fields":{"message":"zooid serving clients on 127.0.0.1:2181"},"level":"INFO",
//!  "spans":["..."],"target":"zooid","timestamp":"2026-01-02T03:04:05.678901Z"}
//! ```
//!
//! It is written here rather than with tracing-subscriber's `json` feature so the binary
//! needs no further crates; the fields are encoded by serde_json, so every line is valid
//! JSON whatever the message holds.
#![allow(clippy::disallowed_methods)]

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable read when `--log-format` is not given.
pub const ENV_VAR: &str = "ZOOID_LOG_FORMAT";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing-subscriber's text lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--log-format` when given, else `ZOOID_LOG_FORMAT` (`text` or `json`), else text.
pub fn resolve(flag: Option<LogFormat>) -> Result<LogFormat, String> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match std::env::var(ENV_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(LogFormat::Text),
        Ok(v) if v.eq_ignore_ascii_case("text") || v.is_empty() => Ok(LogFormat::Text),
        Ok(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
        Ok(v) => Err(format!("{ENV_VAR}={v:?}: expected text or json")),
        Err(e) => Err(format!("{ENV_VAR}: {e}")),
    }
}

/// Installs the global subscriber: `RUST_LOG` levels, written to stderr.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file (a service's, `zooid ensemble`'s children)
    // should not hold escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.event_format(JsonLines).init(),
    }
}

/// Formats each event as one JSON object.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonFields(&mut fields));
        let meta = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("fields".into(), fields.into());
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> =
                scope.from_root().map(|s| s.name().into()).collect();
            line.insert("spans".into(), spans.into());
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields as JSON values.
struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}
