//! A platform's metrics, in the Prometheus text format: requests per channel by status with
//! their latency, invocations and errors per service, and whatever the adapter crates collect
//! (pools of outgoing connections).
//!
//! The types are our own ([`Counter`], [`Gauge`], [`FloatGauge`], [`Histogram`], their families
//! keyed by string [`Labels`], [`Collector`]): the Prometheus library behind them is not part
//! of the public API.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::registry::Registry;

use crate::message::ChannelKind;

mod family;

use family::{Adapter, AnyFamily};
pub use family::{
    Buckets, Collector, Counter, CounterFamily, FloatGauge, FloatGaugeFamily, Gauge, GaugeFamily,
    Histogram, HistogramFamily, Labels, Scrape,
};

fn latency_buckets() -> Buckets {
    // 0.5 ms to about 16 s.
    Buckets::exponential(0.0005, 2.0, 16)
}

/// The metrics of one platform: a registry of metric families under the `zato_` prefix, and
/// the meters of channels and services recording into it.
///
/// Adapter crates add families of their own, recorded as events happen
/// ([`counters`](Self::counters), [`gauges`](Self::gauges), [`histograms`](Self::histograms)),
/// or [`Collector`]s that report state at each scrape.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use zato_core::Platform;
/// use zato_core::metrics::Labels;
///
/// let platform = Platform::new();
/// let sent = platform.metrics().counters("mail_sent", "Mails sent, by server");
/// let labels: Labels = vec![("server", Cow::Borrowed("smtp.example.com"))];
/// sent.get_or_create(&labels).inc();
/// let text = platform.metrics().render();
/// assert!(text.contains("# HELP zato_mail_sent Mails sent, by server."), "{text}");
/// assert!(text.contains(r#"zato_mail_sent_total{server="smtp.example.com"} 1"#), "{text}");
/// ```
pub struct Metrics {
    registry: Mutex<Registry>,
    collectors: Mutex<std::collections::HashSet<&'static str>>,
    requests: CounterFamily,
    latency: HistogramFamily,
    invocations: CounterFamily,
    errors: CounterFamily,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("zato")),
            collectors: Mutex::default(),
            requests: CounterFamily::default(),
            latency: HistogramFamily::new(latency_buckets()),
            invocations: CounterFamily::default(),
            errors: CounterFamily::default(),
        };
        let registry = metrics
            .registry
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, help, family) in [
            (
                "channel_requests",
                "Requests answered per channel, by status",
                AnyFamily::Counter(metrics.requests.clone()),
            ),
            (
                "channel_request_duration_seconds",
                "Time from a request's arrival to its answer, per channel",
                AnyFamily::Histogram(metrics.latency.clone()),
            ),
            (
                "service_invocations",
                "Invocations per service",
                AnyFamily::Counter(metrics.invocations.clone()),
            ),
            (
                "service_errors",
                "Invocations per service that ended in an error",
                AnyFamily::Counter(metrics.errors.clone()),
            ),
        ] {
            family.register(registry, name, help);
        }
        metrics
    }
}

impl Metrics {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Registering and encoding leave the registry whole even if one panics.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, name: &str, help: &str, family: AnyFamily) {
        family.register(&mut self.registry(), name, help);
    }

    /// Registers a family of counters named `name` (rendered as `zato_NAME_total`), described by
    /// `help`, and gives it back to record into. Register each name once: a second family of
    /// the same name would be rendered beside the first.
    pub fn counters(&self, name: &str, help: &str) -> CounterFamily {
        let family = CounterFamily::default();
        self.register(name, help, AnyFamily::Counter(family.clone()));
        family
    }

    /// Registers a family of gauges, as [`counters`](Self::counters) does counters.
    pub fn gauges(&self, name: &str, help: &str) -> GaugeFamily {
        let family = GaugeFamily::default();
        self.register(name, help, AnyFamily::Gauge(family.clone()));
        family
    }

    /// Registers a family of gauges with fractions, as [`counters`](Self::counters) does
    /// counters.
    pub fn float_gauges(&self, name: &str, help: &str) -> FloatGaugeFamily {
        let family = FloatGaugeFamily::default();
        self.register(name, help, AnyFamily::FloatGauge(family.clone()));
        family
    }

    /// Registers a family of histograms with `buckets`, as [`counters`](Self::counters) does
    /// counters.
    pub fn histograms(&self, name: &str, help: &str, buckets: Buckets) -> HistogramFamily {
        let family = HistogramFamily::new(buckets);
        self.register(name, help, AnyFamily::Histogram(family.clone()));
        family
    }

    /// The meter of the channel `name` of `kind`: hold it for as long as the channel lives, and
    /// record each request on it.
    pub fn channel(&self, kind: ChannelKind, name: &str) -> ChannelMeter {
        let labels: Labels = vec![
            ("kind", Cow::Borrowed(kind.as_str())),
            ("channel", Cow::Owned(name.to_owned())),
        ];
        ChannelMeter {
            latency: self.latency.get_or_create(&labels),
            by_status: (0..STATUSES).map(|_| OnceLock::new()).collect(),
            requests: self.requests.clone(),
            labels,
        }
    }

    /// The meter of the service `service`: its counters, found once.
    pub(crate) fn service(&self, service: &'static str) -> ServiceMeter {
        let labels: Labels = vec![("service", Cow::Borrowed(service))];
        ServiceMeter {
            invocations: self.invocations.get_or_create(&labels),
            errors: self.errors.get_or_create(&labels),
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
            self.registry()
                .register_collector(Box::new(Adapter(collector)));
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
    requests: CounterFamily,
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
                self.requests.get_or_create(&labels)
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
        let meter = m.channel(ChannelKind::new("http"), "invoice.json");
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

    #[derive(Debug)]
    struct Pools;

    impl Collector for Pools {
        fn collect(&self, scrape: &mut Scrape) {
            let labels: Labels = vec![("connection", Cow::Borrowed("crm"))];
            let size = scrape.gauges("pool_size", "Clients a pool holds now");
            let took = scrape.float_gauges("pool_last_wait_seconds", "The last wait");
            let waits = scrape.counters("pool_waits", "Checkouts that waited");
            size.get_or_create(&labels).set(4);
            took.get_or_create(&labels).set(0.25);
            waits.get_or_create(&labels).inc_by(7);
        }
    }

    #[test]
    fn label_values_are_escaped_and_write_no_raw_control_character() {
        let m = Metrics::default();
        let odd = m.counters("odd", "Odd names");
        let labels: Labels = vec![(
            "channel",
            Cow::Borrowed("a\rb\"c\\d\ne\u{1b}]0;x\u{7}\u{202e}"),
        )];
        odd.get_or_create(&labels).inc();
        m.channel(ChannelKind::new("http"), "crm\r\u{1b}[2J")
            .record(200, std::time::Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains(
                r#"zato_odd_total{channel="a\\u000db\"c\\d\ne\\u001b]0;x\\u0007\\u202e"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"channel="crm\\u000d\\u001b[2J""#), "{text}");
        let raw: Vec<char> = text
            .chars()
            .filter(|c| *c != '\n' && crate::text::is_invisible(*c))
            .collect();
        assert!(raw.is_empty(), "{raw:?} in:\n{text}");
    }

    #[test]
    fn collectors_and_registered_families_render_under_the_prefix() {
        let m = Metrics::default();
        m.register_collector("pools", Box::new(Pools));
        // A second registration under the same key is ignored.
        m.register_collector("pools", Box::new(Pools));
        let sizes = m.histograms(
            "mail_size_bytes",
            "Sizes of mails",
            Buckets::new([10.0, 100.0]),
        );
        let labels: Labels = vec![("server", Cow::Borrowed("smtp"))];
        sizes.get_or_create(&labels).observe(50.0);
        let text = m.render();
        for line in [
            "# HELP zato_pool_size Clients a pool holds now",
            "# TYPE zato_pool_size gauge",
            r#"zato_pool_size{connection="crm"} 4"#,
            r#"zato_pool_last_wait_seconds{connection="crm"} 0.25"#,
            "# TYPE zato_pool_waits counter",
            r#"zato_pool_waits_total{connection="crm"} 7"#,
            r#"zato_mail_size_bytes_bucket{le="100.0",server="smtp"} 1"#,
            r#"zato_mail_size_bytes_count{server="smtp"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        assert_eq!(text.matches("# TYPE zato_pool_size gauge").count(), 1);
    }
}
