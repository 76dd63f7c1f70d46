//! `telemetry.otlp`, the kind that turns tracing on, and the plug-in a node takes it from.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use zato_core::config::{
    ConfigDocument, ConfigError, ConfigProblem, ObjectKind, ObjectSchema, Section,
};
use zato_core::kind::{self, AttachError, Description, Env, Kind, Plugin};
use zato_core::metrics::Labels;
use zato_core::{Platform, telemetry::Tracer};

use crate::config::{OtlpConfig, OtlpProtocol};
use crate::export::ExportMeters;
use crate::tracer::{EnvReader, OtelTracer, Settings};

/// The environment variables a node reads for tracing, as the OpenTelemetry spec names them.
pub const ENV: &[(&str, &str)] = &[
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "the collector's URL; with no `telemetry.otlp` object, turns tracing on",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "the collector's URL for traces, used as it is",
    ),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc or http/protobuf"),
    (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "headers of every export (read by the exporter)",
    ),
    (
        "OTEL_TRACES_SAMPLER",
        "the sampler, e.g. parentbased_traceidratio",
    ),
    ("OTEL_TRACES_SAMPLER_ARG", "the sampler's ratio, 0 to 1"),
    ("OTEL_SERVICE_NAME", "service.name of the spans"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "more resource attributes, key=value,...",
    ),
    ("OTEL_SDK_DISABLED", "true: no tracing from the environment"),
];

/// `telemetry.otlp`: applying an active object builds its exporter and swaps the platform's
/// tracer at once; requests under way finish with the tracer they started with, whose queue is
/// exported when its last span ends. Removing it, or making it inactive, turns tracing off.
#[derive(Clone)]
pub struct OtlpKind {
    platform: Platform,
    env: EnvReader,
    meters: ExportMeters,
    /// The name of the object whose tracer is in force.
    in_force: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for OtlpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpKind")
            .field("in_force", &self.in_force)
            .finish_non_exhaustive()
    }
}

impl OtlpKind {
    /// The kind applying to `platform`, reading the process's environment.
    pub fn new(platform: &Platform) -> Self {
        Self::with_env(platform, Arc::new(|k| std::env::var(k).ok()))
    }

    /// The kind applying to `platform`, reading variables through `env`.
    pub fn with_env(platform: &Platform, env: EnvReader) -> Self {
        let metrics = platform.metrics();
        let none: Labels = Vec::new();
        let meters = ExportMeters {
            exported: metrics
                .counters("otel_spans_exported", "Spans exported over OTLP")
                .get_or_create(&none),
            dropped: metrics
                .counters(
                    "otel_spans_dropped",
                    "Spans dropped: export queue full, export failed or timed out",
                )
                .get_or_create(&none),
        };
        OtlpKind {
            platform: platform.clone(),
            env,
            meters,
            in_force: Arc::new(Mutex::new(None)),
        }
    }

    fn set(&self, name: Option<&str>, tracer: Option<Arc<dyn Tracer>>) {
        let mut in_force = self.in_force.lock().unwrap_or_else(|p| p.into_inner());
        *in_force = name.map(str::to_owned);
        self.platform.set_tracer(tracer);
    }

    fn is_in_force(&self, name: &str) -> bool {
        let in_force = self.in_force.lock().unwrap_or_else(|p| p.into_inner());
        in_force.as_deref() == Some(name)
    }
}

#[async_trait]
impl Kind for OtlpKind {
    type Config = OtlpConfig;
    const SECTION: Section = Section::Telemetry;
    const NAME: &'static str = "otlp";
    const SECRETS: &'static [&'static str] = &["headers"];

    fn describe() -> Description<OtlpConfig> {
        Description::new(
            "OpenTelemetry tracing: spans of every request exported over OTLP (gRPC or HTTP/protobuf) to a collector",
            OtlpConfig::new("collector", "http://127.0.0.1:4317", OtlpProtocol::Grpc),
        )
    }

    fn check(config: &OtlpConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn check_among(configs: &[&OtlpConfig]) -> Vec<(usize, ConfigProblem)> {
        let mut seen = false;
        let mut problems = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            if c.is_active && std::mem::replace(&mut seen, true) {
                problems.push((
                    i,
                    ConfigProblem::new(
                        "is_active",
                        "another telemetry.otlp object is active: a node exports to one",
                    ),
                ));
            }
        }
        problems
    }

    async fn apply(&self, config: Arc<OtlpConfig>) -> Result<(), ConfigError> {
        if !config.is_active {
            if self.is_in_force(&config.name) {
                self.set(None, None);
                tracing::info!(object = ?config.name, "tracing off: the otlp object is inactive");
            }
            return Ok(());
        }
        let Some(settings) = Settings::resolve(&config, &self.env)? else {
            self.set(Some(&config.name), None);
            tracing::info!(object = ?config.name, "tracing off: no endpoint configured");
            return Ok(());
        };
        let tracer = OtelTracer::build(&config, &settings, self.meters.clone())?;
        self.set(Some(&config.name), Some(Arc::new(tracer)));
        tracing::info!(
            object = ?config.name,
            endpoint = ?settings.endpoint,
            protocol = ?settings.protocol,
            sampler = ?settings.sampler,
            ratio = settings.ratio,
            "tracing on"
        );
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        if self.is_in_force(name) {
            self.set(None, None);
            tracing::info!(object = ?name, "tracing off: the otlp object was removed");
        }
        Ok(())
    }
}

/// The tracing plug-in: `telemetry.otlp`, and the `OTEL_*` variables. With no `telemetry.otlp`
/// object in the document and `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set, it
/// adds one named `env` whose settings all come from the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtelPlugin;

/// The tracing plug-in, for `zato::compiled_in()`.
pub fn plugin() -> OtelPlugin {
    OtelPlugin
}

#[async_trait]
impl Plugin for OtelPlugin {
    fn name(&self) -> &str {
        "otel"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![kind::schema::<OtlpKind>()]
    }

    fn env(&self) -> Vec<(&'static str, &'static str)> {
        ENV.to_vec()
    }

    fn prepare(&self, doc: &mut ConfigDocument, env: Env<'_>) -> Result<(), ConfigError> {
        let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
        let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true");
        let has_object = doc.telemetry.get("otlp").is_some_and(|l| !l.is_empty());
        if !has_object
            && !disabled
            && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            doc.telemetry
                .entry("otlp".to_owned())
                .or_default()
                .push(json!({"name": "env"}));
        }
        Ok(())
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        Ok(vec![kind::live(OtlpKind::new(platform))])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn vars(
        v: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Send + Sync {
        move |k| {
            v.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_alone_turns_tracing_on_unless_disabled() {
        let mut doc = ConfigDocument::default();
        let env = vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")]);
        OtelPlugin.prepare(&mut doc, &env).unwrap();
        assert_eq!(doc.telemetry["otlp"], vec![json!({"name": "env"})]);

        let mut doc = ConfigDocument::default();
        let env = vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        OtelPlugin.prepare(&mut doc, &env).unwrap();
        assert!(doc.telemetry.is_empty());

        let mut doc = ConfigDocument::default();
        OtelPlugin.prepare(&mut doc, &vars(&[])).unwrap();
        assert!(doc.telemetry.is_empty());
    }

    #[test]
    fn one_active_object_at_most_and_headers_are_secret() {
        let a = OtlpConfig::new("a", "http://x:4317", OtlpProtocol::Grpc);
        let mut b = OtlpConfig::new("b", "http://y:4317", OtlpProtocol::Grpc);
        assert_eq!(OtlpKind::check_among(&[&a, &b]).len(), 1);
        b.is_active = false;
        assert!(OtlpKind::check_among(&[&a, &b]).is_empty());
        let schema = kind::schema::<OtlpKind>();
        let info = schema.describe();
        assert!(info.fields.iter().any(|f| f.name == "headers" && f.secret));
    }

    #[tokio::test]
    async fn without_an_endpoint_tracing_stays_off() {
        let platform = Platform::new();
        let kind = OtlpKind::with_env(&platform, Arc::new(|_| None));
        let mut c = OtlpConfig::new("c", "http://x:4318", OtlpProtocol::HttpProtobuf);
        c.endpoint = None;
        kind.apply(Arc::new(c)).await.unwrap();
        assert!(platform.tracer().is_none());
    }
}
