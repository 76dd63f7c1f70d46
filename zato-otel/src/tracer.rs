//! zato-core's [`Tracer`] on the OpenTelemetry SDK, and its settings from a `telemetry.otlp`
//! object and the `OTEL_*` environment variables.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanExporter as _};
use zato_core::ConfigError;
use zato_core::config::bounds;
use zato_core::telemetry::{Parent, SpanKind, SpanRecord, SpanStart, TraceContext, Tracer, Value};

use crate::config::{OtlpConfig, OtlpProtocol, SamplerKind};
use crate::export::{BoundedExport, ExportLimits, ExportMeters};

/// Reads an environment variable: `std::env::var` on a node, a map in a test.
pub type EnvReader = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the exporter is built from: a `telemetry.otlp` object with the environment filling
/// what it leaves unset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    pub(crate) sampler: SamplerKind,
    pub(crate) ratio: f64,
    pub(crate) service_name: Option<String>,
}

impl Settings {
    /// `None` when neither the object nor the environment names an endpoint: tracing is off.
    pub(crate) fn resolve(c: &OtlpConfig, env: &EnvReader) -> Result<Option<Self>, ConfigError> {
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let protocol = match c.protocol {
            Some(p) => p,
            None => match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                Some(p) => OtlpProtocol::parse(&p).ok_or_else(|| {
                    ConfigError::one(
                        "protocol",
                        "OTEL_EXPORTER_OTLP_PROTOCOL: expected grpc or http/protobuf",
                    )
                })?,
                None => OtlpProtocol::Grpc,
            },
        };
        let endpoint = match (&c.endpoint, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
            (Some(e), _) => http_endpoint(e, protocol),
            // The signal's own variable is used as it is, as the spec says.
            (None, Some(e)) => e,
            (None, None) => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(e) => http_endpoint(&e, protocol),
                None => return Ok(None),
            },
        };
        let sampler = match c.sampler {
            Some(s) => s,
            None => match var("OTEL_TRACES_SAMPLER") {
                Some(s) => SamplerKind::parse(&s).ok_or_else(|| {
                    ConfigError::one(
                        "sampler",
                        "OTEL_TRACES_SAMPLER: not a sampler this node has",
                    )
                })?,
                None => SamplerKind::default(),
            },
        };
        let ratio = match c.ratio {
            Some(r) => r,
            None => match var("OTEL_TRACES_SAMPLER_ARG") {
                Some(r) => r
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        ConfigError::one("ratio", "OTEL_TRACES_SAMPLER_ARG: expected 0 to 1")
                    })?,
                None => 1.0,
            },
        };
        Ok(Some(Settings {
            endpoint,
            protocol,
            sampler,
            ratio,
            service_name: c.service_name.clone().or_else(|| var("OTEL_SERVICE_NAME")),
        }))
    }

    fn sampler(&self) -> Sampler {
        let ratio = Sampler::TraceIdRatioBased(self.ratio);
        match self.sampler {
            SamplerKind::AlwaysOn => Sampler::AlwaysOn,
            SamplerKind::AlwaysOff => Sampler::AlwaysOff,
            SamplerKind::Traceidratio => ratio,
            SamplerKind::ParentbasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerKind::ParentbasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerKind::ParentbasedTraceidratio => Sampler::ParentBased(Box::new(ratio)),
        }
    }
}

/// An HTTP endpoint given as a base (`http://host:4318`) gets the traces path; gRPC endpoints
/// have none.
fn http_endpoint(base: &str, protocol: OtlpProtocol) -> String {
    if protocol != OtlpProtocol::HttpProtobuf {
        return base.to_owned();
    }
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if after_scheme.len() > i + 1 => base.to_owned(),
        _ => format!("{}/v1/traces", base.trim_end_matches('/')),
    }
}

/// The OpenTelemetry SDK behind zato-core's [`Tracer`]: spans sampled, batched and exported
/// over OTLP by a bounded queue.
#[derive(Debug)]
pub struct OtelTracer {
    tracer: SdkTracer,
    // Kept so that the provider, and with it the export task, lives as long as this tracer;
    // dropping the last span of the old tracer after a change exports what it queued.
    _provider: SdkTracerProvider,
}

impl OtelTracer {
    /// Builds the exporter and the SDK's provider; the export task runs on the current Tokio
    /// runtime.
    pub(crate) fn build(
        config: &OtlpConfig,
        settings: &Settings,
        meters: ExportMeters,
    ) -> Result<Self, ConfigError> {
        let timeout = bounds::duration(config.timeout);
        let bad = |e: opentelemetry_otlp::ExporterBuildError| {
            ConfigError::one("endpoint", format!("the exporter cannot be built: {e}"))
        };
        let mut resource = Resource::builder();
        if let Some(name) = &settings.service_name {
            resource = resource.with_service_name(name.clone());
        } else if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("zato");
        }
        let resource = resource
            .with_attributes(
                config
                    .resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let limits = ExportLimits {
            queue: usize::try_from(config.max_queue_size).unwrap_or(usize::MAX),
            batch: usize::try_from(config.max_export_batch_size).unwrap_or(usize::MAX),
            interval: bounds::duration(config.export_interval),
            timeout,
        };
        let headers: &BTreeMap<String, String> = config.headers.expose();
        let processor = match settings.protocol {
            OtlpProtocol::Grpc => {
                let mut map = http::HeaderMap::new();
                for (k, v) in headers {
                    let key = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                        .map_err(|_| ConfigError::one("headers", "not a valid header name"))?;
                    let value = http::HeaderValue::from_str(v)
                        .map_err(|_| ConfigError::one("headers", "not a valid header value"))?;
                    map.insert(key, value);
                }
                let metadata =
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map);
                let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(settings.endpoint.clone())
                    .with_timeout(timeout)
                    .with_metadata(metadata)
                    .build()
                    .map_err(bad)?;
                exporter.set_resource(&resource);
                BoundedExport::start(exporter, limits, meters)
            }
            OtlpProtocol::HttpProtobuf => {
                let headers: HashMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(settings.endpoint.clone())
                    .with_timeout(timeout)
                    .with_headers(headers)
                    .build()
                    .map_err(bad)?;
                exporter.set_resource(&resource);
                BoundedExport::start(exporter, limits, meters)
            }
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(settings.sampler())
            .with_resource(resource)
            .build();
        Ok(OtelTracer {
            tracer: provider.tracer("zato"),
            _provider: provider,
        })
    }
}

impl Tracer for OtelTracer {
    fn start(&self, start: SpanStart<'_>) -> Box<dyn SpanRecord> {
        let (cx, baggage) = match start.parent {
            Parent::Of(parent) => (
                Context::new().with_remote_span_context(span_context(parent)),
                parent.baggage.clone(),
            ),
            _ => (Context::new(), None),
        };
        let name = start.name;
        let attributes = start
            .attributes
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, otel_value(v)))
            .collect::<Vec<_>>();
        let builder = SpanBuilder::from_name(name)
            .with_kind(otel_kind(start.kind))
            .with_attributes(attributes);
        Box::new(Record {
            span: self.tracer.build_with_context(builder, &cx),
            baggage,
        })
    }
}

fn span_context(t: &TraceContext) -> SpanContext {
    let state = t
        .trace_state
        .as_deref()
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let flags = if t.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        TraceId::from_bytes(t.trace_id),
        SpanId::from_bytes(t.span_id),
        flags,
        true,
        state,
    )
}

fn otel_kind(k: SpanKind) -> opentelemetry::trace::SpanKind {
    use opentelemetry::trace::SpanKind as K;
    match k {
        SpanKind::Server => K::Server,
        SpanKind::Client => K::Client,
        SpanKind::Producer => K::Producer,
        SpanKind::Consumer => K::Consumer,
        _ => K::Internal,
    }
}

fn otel_value(v: Value) -> opentelemetry::Value {
    match v {
        Value::Str(Cow::Borrowed(s)) => s.into(),
        Value::Str(Cow::Owned(s)) => s.into(),
        Value::I64(i) => i.into(),
        Value::Bool(b) => b.into(),
        _ => opentelemetry::Value::from(""),
    }
}

/// One span of the SDK, with the baggage its parent carried (the SDK's span context has none).
struct Record {
    span: opentelemetry_sdk::trace::Span,
    baggage: Option<Arc<str>>,
}

impl SpanRecord for Record {
    fn set(&mut self, key: &'static str, value: Value) {
        self.span
            .set_attribute(KeyValue::new(key, otel_value(value)));
    }

    fn error(&mut self, description: &str) {
        self.span.set_status(Status::error(description.to_owned()));
    }

    fn context(&self) -> TraceContext {
        let sc = self.span.span_context();
        let state = sc.trace_state().header();
        TraceContext {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
            trace_state: (!state.is_empty()).then(|| Arc::from(state.as_str())),
            baggage: self.baggage.clone(),
        }
    }

    fn end(&mut self) {
        self.span.end();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn env(vars: &[(&str, &str)]) -> EnvReader {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Arc::new(move |k| vars.get(k).cloned())
    }

    #[test]
    fn the_object_wins_over_the_environment() {
        let c = OtlpConfig::new("t", "http://a:4318", OtlpProtocol::HttpProtobuf);
        let s = Settings::resolve(
            &c,
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:4317")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.endpoint, "http://a:4318/v1/traces");
        assert_eq!(s.sampler, SamplerKind::ParentbasedTraceidratio);
        assert!((s.ratio - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn the_environment_fills_what_the_object_leaves_unset() {
        let mut c = OtlpConfig::new("t", "", OtlpProtocol::Grpc);
        c.endpoint = None;
        c.protocol = None;
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "billing"),
        ]);
        let s = Settings::resolve(&c, &e).unwrap().unwrap();
        assert_eq!(s.endpoint, "http://c:4318/v1/traces");
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(s.sampler, SamplerKind::Traceidratio);
        assert!((s.ratio - 0.25).abs() < f64::EPSILON);
        assert_eq!(s.service_name.as_deref(), Some("billing"));
        assert!(Settings::resolve(&c, &env(&[])).unwrap().is_none());
        let bad = Settings::resolve(
            &c,
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ]),
        );
        assert!(bad.unwrap_err().to_string().contains("SAMPLER_ARG"));
    }
}
