//! Log lines for a node: text as usual, or JSON lines carrying the trace and span ids of the
//! request they were written for, so that a log search and a trace view meet on the ids.
//!
//! The format is a node setting, `ZATO_LOG_FORMAT` (`text`, the default, or `json`); the
//! filter is `RUST_LOG`'s (`info` by default).
//!
//! ```no_run
//! // In `main`, before the node starts:
//! zato_otel::logging::init(zato_otel::logging::LogFormat::from_env());
//! ```
//!
//! A JSON line: `{"timestamp":"…","level":"ERROR","target":"zato_core::platform",
//! "message":"service failed","cid":"…","service":"invoice.dispatcher",
//! "trace_id":"4bf9…","span_id":"00f0…","span":"invoke"}`. `trace_id` and `span_id` are those of
//! the service call being run when tracing is on and the call is traced.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// `tracing-subscriber`'s human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, with `trace_id` and `span_id` when the request is traced.
    Json,
}

impl LogFormat {
    /// `ZATO_LOG_FORMAT`: `json`, else text.
    pub fn from_env() -> Self {
        match std::env::var("ZATO_LOG_FORMAT").as_deref().map(str::trim) {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Installs the process's log subscriber in `format`, filtered by `RUST_LOG` (else `info`);
/// text lines are coloured only on a terminal. Does nothing if one is installed already.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
        _ => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            builder.with_ansi(ansi).try_init()
        }
    };
}

/// The JSON line format, for a `tracing_subscriber::fmt()` of your own:
/// `.event_format(JsonLines)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

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
        let mut line = Map::new();
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        line.insert("timestamp".into(), ts.into());
        let meta = event.metadata();
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        event.record(&mut Fields(&mut line));
        if let Some(cur) = zato_core::telemetry::current() {
            line.entry("cid")
                .or_insert_with(|| cur.cid.to_string().into());
            line.insert("trace_id".into(), cur.context.trace_id_hex().into());
            line.insert("span_id".into(), cur.context.span_id_hex().into());
        }
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), span.name().into());
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                && !fields.fields.is_empty()
            {
                line.insert("span_fields".into(), fields.fields.clone().into());
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use zato_core::Cid;
    use zato_core::telemetry::{Current, SpanRecord, SpanStart, TraceContext, Traced, Tracer};

    use super::*;

    #[derive(Debug)]
    struct NoTracer;
    impl Tracer for NoTracer {
        fn start(&self, _: SpanStart<'_>) -> Box<dyn SpanRecord> {
            unreachable!("no span is started")
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn json_lines_carry_the_trace_and_span_ids_and_the_cid() {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(move || out.clone())
            .finish();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cid = Cid::new();
        let current = Current {
            tracer: Arc::new(NoTracer),
            context: TraceContext::parse_traceparent(tp).unwrap(),
            cid,
        };
        let _guard = tracing::subscriber::set_default(subscriber);
        Traced::new(
            Box::pin(async {
                tracing::warn!(service = "invoice.dispatcher", "something to see");
            }),
            Some(current),
        )
        .await;
        tracing::info!(n = 1, "outside any call");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "something to see");
        assert_eq!(lines[0]["service"], "invoice.dispatcher");
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[0]["span_id"], "00f067aa0ba902b7");
        assert_eq!(lines[0]["cid"], cid.to_string());
        assert_eq!(lines[1]["n"], 1);
        assert!(lines[1].get("trace_id").is_none());
    }
}
