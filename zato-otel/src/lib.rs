//! OpenTelemetry tracing for zato-rs: one trace from the channel through the service to every
//! outgoing call, exported over OTLP.
//!
//! zato-core carries W3C trace context across every hop and starts spans through its
//! [`Tracer`](zato_core::telemetry::Tracer) seam; this crate is the OpenTelemetry SDK behind it,
//! configured by a `telemetry.otlp` object of the config document and the `OTEL_*` environment
//! variables, and changed live like any other object:
//!
//! ```toml
//! [[telemetry.otlp]]
//! name = "collector"
//! endpoint = "http://127.0.0.1:4318"
//! protocol = "http/protobuf"        # or "grpc" (the default, port 4317)
//! sampler = "parentbased_traceidratio"
//! ratio = 0.1
//! service_name = "invoices"
//! headers = { "x-api-key" = "..." } # a secret: never shown
//! ```
//!
//! Export is batched by a bounded queue drained by one task: when the collector is down or slow
//! the queue fills and further spans are dropped and counted in `zato_otel_spans_dropped_total`;
//! a request never waits for the collector. With no endpoint, no tracer is set, and a request
//! builds no span at all.
//!
//! # Examples
//!
//! ```
//! use zato_core::kind::Kind;
//! use zato_otel::{OtlpConfig, OtlpKind, OtlpProtocol};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let platform = zato_core::Platform::new();
//! let kind = OtlpKind::new(&platform);
//! let config = OtlpConfig::new("collector", "http://127.0.0.1:4318", OtlpProtocol::HttpProtobuf);
//! kind.apply(std::sync::Arc::new(config)).await.unwrap();
//! assert!(platform.tracer().is_some());
//! kind.remove("collector").await.unwrap();
//! assert!(platform.tracer().is_none());
//! # });
//! ```

mod config;
mod export;
mod kind;
pub mod logging;
mod tracer;

pub use config::{OtlpConfig, OtlpProtocol, SamplerKind};
pub use kind::{ENV, OtelPlugin, OtlpKind, plugin};
pub use tracer::{EnvReader, OtelTracer};
