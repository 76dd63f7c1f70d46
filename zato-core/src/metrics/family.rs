//! The metric types of [`Metrics`](super::Metrics): counters, gauges and histograms, in families
//! keyed by string labels, and [`Collector`]s that report state at each scrape.
//!
//! They wrap the `prometheus-client` crate, which stays an implementation detail: no type of it
//! appears here, so it can be upgraded or replaced without touching an adapter crate.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter as PCounter;
use prometheus_client::metrics::family::{Family as PFamily, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge as PGauge;
use prometheus_client::metrics::histogram::Histogram as PHistogram;

/// Labels: names are static, values borrowed when they can be.
pub type Labels = Vec<(&'static str, Cow<'static, str>)>;

/// `labels` with the characters that do not show escaped in their values (`\u000d`), when
/// any has one; `None` when they are fine as they are. The text encoder escapes only
/// backslash, double quote and line feed, as the Prometheus text format says: a carriage return
/// or an escape sequence in a channel's name would otherwise reach the scraper and the terminal
/// of whoever reads the page raw.
fn shown_labels(labels: &Labels) -> Option<Labels> {
    if !labels
        .iter()
        .any(|(_, v)| v.chars().any(|c| c != '\n' && crate::text::is_invisible(c)))
    {
        return None;
    }
    Some(
        labels
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    Cow::Owned(crate::text::escape_invisible(v, &['\n']).into_owned()),
                )
            })
            .collect(),
    )
}

/// A count that only goes up, shown as `NAME_total`. Clones count into the same value.
#[derive(Debug, Clone, Default)]
pub struct Counter(PCounter);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A whole number that goes up and down. Clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Gauge(PGauge);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.set(value);
    }

    /// Adds `n` (which may be negative).
    pub fn add(&self, n: i64) {
        self.0.inc_by(n);
    }

    /// The value now.
    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// A number with a fraction that goes up and down (a duration in seconds). Clones share the
/// value.
#[derive(Debug, Clone, Default)]
pub struct FloatGauge(PGauge<f64, AtomicU64>);

impl FloatGauge {
    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }

    /// The value now.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A distribution of observed values (latencies) over fixed buckets, shown as `NAME_bucket`,
/// `NAME_sum` and `NAME_count`. Clones observe into the same distribution.
#[derive(Debug, Clone)]
pub struct Histogram(PHistogram);

impl Histogram {
    /// Records one value.
    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }
}

/// The upper bounds of a histogram's buckets.
#[derive(Debug, Clone)]
pub struct Buckets(Arc<[f64]>);

impl Buckets {
    /// Buckets with these upper bounds, in increasing order.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        Buckets(bounds.into_iter().collect())
    }

    /// `count` buckets, the first bounded by `start`, each next one `factor` times the last:
    /// `exponential(0.0005, 2.0, 16)` goes from 0.5 ms to about 16 s.
    pub fn exponential(start: f64, factor: f64, count: u16) -> Self {
        Buckets::new(prometheus_client::metrics::histogram::exponential_buckets(
            start, factor, count,
        ))
    }
}

impl MetricConstructor<PHistogram> for Buckets {
    fn new_metric(&self) -> PHistogram {
        PHistogram::new(self.0.iter().copied())
    }
}

macro_rules! family {
    ($(#[$doc:meta])* $family:ident, $metric:ident, $inner:ty $(, $ctor:ty)?) => {
        $(#[$doc])*
        ///
        /// Clones share the metrics: a family registered with [`Metrics`](super::Metrics) or a
        /// [`Scrape`] and filled through a clone shows what was filled.
        #[derive(Clone)]
        pub struct $family(PFamily<Labels, $inner $(, $ctor)?>);

        impl $family {
            /// The metric of `labels`, made at its first use.
            pub fn get_or_create(&self, labels: &Labels) -> $metric {
                match shown_labels(labels) {
                    Some(shown) => $metric(self.0.get_or_create(&shown).clone()),
                    None => $metric(self.0.get_or_create(labels).clone()),
                }
            }
        }

        impl fmt::Debug for $family {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($family)).finish_non_exhaustive()
            }
        }
    };
}

family!(
    /// [`Counter`]s by labels.
    #[derive(Default)]
    CounterFamily,
    Counter,
    PCounter
);
family!(
    /// [`Gauge`]s by labels.
    #[derive(Default)]
    GaugeFamily,
    Gauge,
    PGauge
);
family!(
    /// [`FloatGauge`]s by labels.
    #[derive(Default)]
    FloatGaugeFamily,
    FloatGauge,
    PGauge<f64, AtomicU64>
);
family!(
    /// [`Histogram`]s by labels, all with the same buckets.
    HistogramFamily,
    Histogram,
    PHistogram,
    Buckets
);

impl HistogramFamily {
    /// A family whose histograms have `buckets`.
    pub fn new(buckets: Buckets) -> Self {
        HistogramFamily(PFamily::new_with_constructor(buckets))
    }
}

/// A family of any type, as registered.
#[derive(Debug, Clone)]
pub(super) enum AnyFamily {
    Counter(CounterFamily),
    Gauge(GaugeFamily),
    FloatGauge(FloatGaugeFamily),
    Histogram(HistogramFamily),
}

impl AnyFamily {
    /// Registers the family in `registry` under `name` and `help`.
    pub(super) fn register(
        self,
        registry: &mut prometheus_client::registry::Registry,
        name: &str,
        help: &str,
    ) {
        match self {
            AnyFamily::Counter(f) => registry.register(name, help, f.0),
            AnyFamily::Gauge(f) => registry.register(name, help, f.0),
            AnyFamily::FloatGauge(f) => registry.register(name, help, f.0),
            AnyFamily::Histogram(f) => registry.register(name, help, f.0),
        }
    }

    fn encode(&self, encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str) -> fmt::Result {
        fn one(
            encoder: &mut DescriptorEncoder<'_>,
            name: &str,
            help: &str,
            family: &impl EncodeMetric,
        ) -> fmt::Result {
            let metric = encoder.encode_descriptor(name, help, None, family.metric_type())?;
            family.encode(metric)
        }
        match self {
            AnyFamily::Counter(f) => one(encoder, name, help, &f.0),
            AnyFamily::Gauge(f) => one(encoder, name, help, &f.0),
            AnyFamily::FloatGauge(f) => one(encoder, name, help, &f.0),
            AnyFamily::Histogram(f) => one(encoder, name, help, &f.0),
        }
    }
}

/// Reports state at each scrape (a pool's size, a consumer's counts) rather than recording
/// events as they happen: registered with
/// [`Metrics::register_collector`](super::Metrics::register_collector), it is asked to fill a
/// [`Scrape`] each time the metrics are rendered.
///
/// # Examples
///
/// ```
/// use std::borrow::Cow;
/// use zato_core::Platform;
/// use zato_core::metrics::{Collector, Labels, Scrape};
///
/// #[derive(Debug)]
/// struct Queue;
///
/// impl Collector for Queue {
///     fn collect(&self, scrape: &mut Scrape) {
///         let depth = scrape.gauges("queue_depth", "Messages waiting in a queue");
///         let labels: Labels = vec![("queue", Cow::Borrowed("orders"))];
///         depth.get_or_create(&labels).set(3);
///     }
/// }
///
/// let platform = Platform::new();
/// platform.metrics().register_collector("queue", Box::new(Queue));
/// let text = platform.metrics().render();
/// assert!(text.contains("# TYPE zato_queue_depth gauge"), "{text}");
/// assert!(text.contains(r#"zato_queue_depth{queue="orders"} 3"#), "{text}");
/// ```
pub trait Collector: fmt::Debug + Send + Sync + 'static {
    /// Fills `scrape` with the metrics as they are now.
    fn collect(&self, scrape: &mut Scrape);
}

/// The metrics a [`Collector`] reports at one scrape, rendered in the order they were added,
/// under the platform's `zato_` prefix.
#[derive(Debug, Default)]
pub struct Scrape {
    families: Vec<(Cow<'static, str>, Cow<'static, str>, AnyFamily)>,
}

impl Scrape {
    fn add(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        family: AnyFamily,
    ) {
        self.families.push((name.into(), help.into(), family));
    }

    /// A family of counters named `name` (rendered as `zato_NAME_total`) described by `help`,
    /// to fill.
    pub fn counters(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> CounterFamily {
        let family = CounterFamily::default();
        self.add(name, help, AnyFamily::Counter(family.clone()));
        family
    }

    /// A family of gauges named `name` described by `help`, to fill.
    pub fn gauges(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> GaugeFamily {
        let family = GaugeFamily::default();
        self.add(name, help, AnyFamily::Gauge(family.clone()));
        family
    }

    /// A family of gauges with fractions named `name` described by `help`, to fill.
    pub fn float_gauges(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> FloatGaugeFamily {
        let family = FloatGaugeFamily::default();
        self.add(name, help, AnyFamily::FloatGauge(family.clone()));
        family
    }

    /// A family of histograms with `buckets` named `name` described by `help`, to fill.
    pub fn histograms(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        buckets: Buckets,
    ) -> HistogramFamily {
        let family = HistogramFamily::new(buckets);
        self.add(name, help, AnyFamily::Histogram(family.clone()));
        family
    }
}

/// A [`Collector`] as the registry asks it.
#[derive(Debug)]
pub(super) struct Adapter(pub(super) Box<dyn Collector>);

impl prometheus_client::collector::Collector for Adapter {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut scrape = Scrape::default();
        self.0.collect(&mut scrape);
        for (name, help, family) in &scrape.families {
            family.encode(&mut encoder, name, help)?;
        }
        Ok(())
    }
}
