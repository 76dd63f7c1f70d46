//! A platform's metrics, in the Prometheus text format: requests per channel by status with
//! their latency, invocations and errors per service, and whatever the adapter crates collect
//! (pools of outgoing connections).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::message::ChannelKind;

/// The metrics crate, for adapter crates' collectors: the same version as the registry's.
pub use prometheus_client;

/// Labels: names are static, values borrowed when they can be.
pub type Labels = Vec<(&'static str, Cow<'static, str>)>;

type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics of one platform.
pub struct Metrics {
    registry: Mutex<Registry>,
    collectors: Mutex<std::collections::HashSet<&'static str>>,
    requests: Family<Labels, Counter>,
    latency: Histograms,
    invocations: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<Labels, Counter>::default();
        let latency: Histograms = Family::new_with_constructor(latency_histogram);
        let invocations = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let mut registry = Registry::with_prefix("zato");
        registry.register(
            "channel_requests",
            "Requests answered per channel, by status",
            requests.clone(),
        );
        registry.register(
            "channel_request_duration_seconds",
            "Time from a request's arrival to its answer, per channel",
            latency.clone(),
        );
        registry.register(
            "service_invocations",
            "Invocations per service",
            invocations.clone(),
        );
        registry.register(
            "service_errors",
            "Invocations per service that ended in an error",
            errors.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            collectors: Mutex::default(),
            requests,
            latency,
            invocations,
            errors,
        }
    }
}

impl Metrics {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Registering and encoding leave the registry whole even if one panics.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The meter of the channel `name` of `kind`: hold it for as long as the channel lives, and
    /// record each request on it.
    pub fn channel(&self, kind: ChannelKind, name: &str) -> ChannelMeter {
        let labels: Labels = vec![
            ("kind", Cow::Borrowed(kind.as_str())),
            ("channel", Cow::Owned(name.to_owned())),
        ];
        ChannelMeter {
            latency: self.latency.get_or_create(&labels).clone(),
            by_status: (0..STATUSES).map(|_| OnceLock::new()).collect(),
            requests: self.requests.clone(),
            labels,
        }
    }

    /// The meter of the service `service`: its counters, found once.
    pub(crate) fn service(&self, service: &'static str) -> ServiceMeter {
        let labels: Labels = vec![("service", Cow::Borrowed(service))];
        ServiceMeter {
            invocations: self.invocations.get_or_create(&labels).clone(),
            errors: self.errors.get_or_create(&labels).clone(),
        }
    }

    /// Adds a collector, asked for its metrics at each scrape: how adapter crates report state
    /// such as a pool's size. Only the first collector registered under `key` is kept, so that
    /// an adapter may register its own whenever it is set up.
    pub fn register_collector(&self, key: &'static str, collector: Box<dyn Collector>) {
        let first = self
            .collectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key);
        if first {
            self.registry().register_collector(collector);
        }
    }

    /// Every metric, in the Prometheus (OpenMetrics) text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry()) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// Where one deployed service counts its invocations.
#[derive(Debug)]
pub(crate) struct ServiceMeter {
    invocations: Counter,
    errors: Counter,
}

impl ServiceMeter {
    /// Records one invocation.
    pub(crate) fn record(&self, failed: bool) {
        self.invocations.inc();
        if failed {
            self.errors.inc();
        }
    }
}

/// Status codes 100 to 599.
const STATUSES: usize = 500;

/// Where one channel records its requests: a counter per status, made on first use, and a
/// latency histogram.
pub struct ChannelMeter {
    latency: Histogram,
    by_status: Box<[OnceLock<Counter>]>,
    requests: Family<Labels, Counter>,
    labels: Labels,
}

impl fmt::Debug for ChannelMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelMeter")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl ChannelMeter {
    /// Records a request answered with `status` after `elapsed`.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
        let slot = usize::from(status.clamp(100, 599) - 100);
        if let Some(cell) = self.by_status.get(slot) {
            cell.get_or_init(|| {
                let mut labels = self.labels.clone();
                labels.push(("status", Cow::Owned(status.to_string())));
                self.requests.get_or_create(&labels).clone()
            })
            .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_by_status_latency_and_invocations_render() {
        let m = Metrics::default();
        let meter = m.channel(ChannelKind::Http, "invoice.json");
        meter.record(200, Duration::from_millis(3));
        meter.record(200, Duration::from_millis(4));
        meter.record(503, Duration::from_millis(1));
        m.service("invoice.dispatcher").record(false);
        m.service("invoice.dispatcher").record(true);
        let text = m.render();
        for line in [
            r#"zato_channel_requests_total{kind="http",channel="invoice.json",status="200"} 2"#,
            r#"zato_channel_requests_total{kind="http",channel="invoice.json",status="503"} 1"#,
            r#"zato_channel_request_duration_seconds_count{kind="http",channel="invoice.json"} 3"#,
            r#"zato_service_invocations_total{service="invoice.dispatcher"} 2"#,
            r#"zato_service_errors_total{service="invoice.dispatcher"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
