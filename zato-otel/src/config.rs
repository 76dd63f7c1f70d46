//! `telemetry.otlp`: where a node's spans go and which it keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zato_core::Secret;
use zato_core::config::{ConfigProblem, bounds};

/// The wire protocol of the OTLP exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC (tonic); the collector's port 4317 by convention.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies; port 4318, path `/v1/traces`.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// As `OTEL_EXPORTER_OTLP_PROTOCOL` spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "grpc" => Some(OtlpProtocol::Grpc),
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            _ => None,
        }
    }
}

/// Which traces are recorded, as `OTEL_TRACES_SAMPLER` names the samplers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SamplerKind {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// A share of the traces (`ratio`), decided on the trace id, ignoring the caller's decision.
    Traceidratio,
    /// The caller's decision when there is one, else every trace.
    ParentbasedAlwaysOn,
    /// The caller's decision when there is one, else none.
    ParentbasedAlwaysOff,
    /// The caller's decision when there is one, else a share of the traces (`ratio`).
    #[default]
    ParentbasedTraceidratio,
}

impl SamplerKind {
    /// As `OTEL_TRACES_SAMPLER` spells it.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_owned())).ok()
    }
}

fn yes() -> bool {
    true
}

fn default_timeout() -> f64 {
    10.0
}

fn default_queue() -> u32 {
    2048
}

fn default_batch() -> u32 {
    512
}

fn default_interval() -> f64 {
    1.0
}

/// One `telemetry.otlp` object: an OTLP exporter and the tracing it turns on. At most one is
/// active on a node; what it leaves unset comes from the `OTEL_*` environment variables.
///
/// # Examples
///
/// ```
/// let c: zato_otel::OtlpConfig = serde_json::from_value(serde_json::json!({
///     "name": "collector",
///     "endpoint": "http://127.0.0.1:4318",
///     "protocol": "http/protobuf",
///     "sampler": "parentbased_traceidratio",
///     "ratio": 0.25,
///     "headers": {"x-honeycomb-team": "abc"},
/// }))
/// .unwrap();
/// assert!(c.problems().is_empty());
/// assert!(!format!("{c:?}").contains("abc"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The object's name.
    pub name: String,
    /// Whether it exports; an inactive one turns tracing off.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The collector's URL: `http://host:4317` for gRPC, `http://host:4318` (to which
    /// `/v1/traces` is added when it has no path) for HTTP. Unset: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// or `OTEL_EXPORTER_OTLP_ENDPOINT`; with neither, tracing stays off.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`; unset: `OTEL_EXPORTER_OTLP_PROTOCOL`, else `grpc`.
    #[serde(default)]
    pub protocol: Option<OtlpProtocol>,
    /// Headers sent with every export (an API key): a secret, never shown.
    #[serde(default)]
    pub headers: Secret<BTreeMap<String, String>>,
    /// The sampler; unset: `OTEL_TRACES_SAMPLER`, else `parentbased_traceidratio`.
    #[serde(default)]
    pub sampler: Option<SamplerKind>,
    /// The share of traces a ratio sampler keeps, 0 to 1; unset: `OTEL_TRACES_SAMPLER_ARG`,
    /// else 1.
    #[serde(default)]
    pub ratio: Option<f64>,
    /// `service.name` of the spans; unset: `OTEL_SERVICE_NAME`, else `zato`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// More resource attributes, over those of `OTEL_RESOURCE_ATTRIBUTES`.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// Seconds one export may take before its spans are counted as dropped.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Spans waiting for export at most; more are dropped and counted.
    #[serde(default = "default_queue")]
    pub max_queue_size: u32,
    /// Spans per export at most.
    #[serde(default = "default_batch")]
    pub max_export_batch_size: u32,
    /// Seconds a span waits at most for its batch to fill before it is exported.
    #[serde(default = "default_interval")]
    pub export_interval: f64,
}

impl OtlpConfig {
    /// A configuration named `name` exporting to `endpoint` over `protocol`, every trace kept.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        protocol: OtlpProtocol,
    ) -> Self {
        OtlpConfig {
            name: name.into(),
            is_active: true,
            endpoint: Some(endpoint.into()),
            protocol: Some(protocol),
            headers: Secret::default(),
            sampler: None,
            ratio: None,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            timeout: default_timeout(),
            max_queue_size: default_queue(),
            max_export_batch_size: default_batch(),
            export_interval: default_interval(),
        }
    }

    /// Every problem of this configuration, each with its field.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.name.trim().is_empty() {
            p.push(ConfigProblem::new("name", "required"));
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            p.push(ConfigProblem::new(
                "endpoint",
                "expected an http:// or https:// URL",
            ));
        }
        if let Some(r) = self.ratio
            && !(0.0..=1.0).contains(&r)
        {
            p.push(ConfigProblem::new("ratio", "expected a number from 0 to 1"));
        }
        for (k, v) in self.headers.expose() {
            if http_token(k).is_none() || v.bytes().any(|b| b < 0x20 || b == 0x7f) {
                // The value is a secret: only the header's name is quoted.
                p.push(ConfigProblem::new(
                    "headers",
                    format!("`{}` is not a valid header", k.escape_debug()),
                ));
            }
        }
        p.extend(bounds::positive_seconds("timeout", self.timeout, 300.0));
        p.extend(bounds::positive_seconds(
            "export_interval",
            self.export_interval,
            300.0,
        ));
        p.extend(bounds::count(
            "max_queue_size",
            self.max_queue_size,
            1,
            bounds::MAX_QUEUE,
        ));
        p.extend(bounds::count(
            "max_export_batch_size",
            self.max_export_batch_size,
            1,
            u64::from(self.max_queue_size.max(1)),
        ));
        p
    }
}

fn http_token(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
    .then_some(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn bad_values_are_named() {
        let mut c = OtlpConfig::new("x", "ftp://collector", OtlpProtocol::Grpc);
        c.ratio = Some(1.5);
        c.max_queue_size = 0;
        c.headers = Secret::new([("bad header".to_owned(), "hunter2".to_owned())].into());
        let problems = c.problems();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "endpoint",
                "ratio",
                "headers",
                "max_queue_size",
                "max_export_batch_size"
            ]
        );
        assert!(!format!("{problems:?}").contains("hunter2"));
    }

    #[test]
    fn env_spellings() {
        assert_eq!(
            OtlpProtocol::parse("http/protobuf"),
            Some(OtlpProtocol::HttpProtobuf)
        );
        assert_eq!(OtlpProtocol::parse("http/json"), None);
        assert_eq!(
            SamplerKind::parse("traceidratio"),
            Some(SamplerKind::Traceidratio)
        );
        assert_eq!(SamplerKind::parse("jaeger_remote"), None);
    }
}
