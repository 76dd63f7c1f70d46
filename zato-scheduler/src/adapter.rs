//! [`Scheduler`]: the jobs of a platform, each a timer of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zato_core::claims::ClaimItem;
use zato_core::metrics::prometheus_client::collector::Collector;
use zato_core::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use zato_core::metrics::prometheus_client::metrics::counter::Counter;
use zato_core::metrics::prometheus_client::metrics::family::Family;
use zato_core::metrics::prometheus_client::metrics::gauge::Gauge;
use zato_core::metrics::{ChannelMeter, Labels};
use zato_core::{
    ChannelAdapter, ChannelError, ChannelInfo, ChannelKind, ChannelSummary, Cid, ConfigError,
    DataFormat, Platform, RawRequest, ServiceError,
};

use crate::clock::{Clock, SystemClock};
use crate::job::JobConfig;

/// How long a claim on a due run is kept: a due time is claimed once, and its row is pruned
/// after this.
const RUN_CLAIM: Duration = Duration::from_secs(86_400);

/// What one job has done.
#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    elsewhere: AtomicU64,
    running: AtomicU64,
    last: Mutex<Option<LastRun>>,
}

/// The last run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastRun {
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it was due (for a run by hand, when it was asked for).
    pub due: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// `Ok`, or the error's status and message.
    pub outcome: Result<(), (u16, String)>,
    /// Its cid.
    pub cid: Cid,
}

/// What a job has done since it was created on this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JobStats {
    /// Runs started on this node, due or by hand.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Due runs skipped because the previous one still ran.
    pub skipped: u64,
    /// Due runs another node of the cluster took.
    pub elsewhere: u64,
    /// Runs going on now.
    pub running: u64,
    /// The last run.
    pub last: Option<LastRun>,
    /// When it is due next, while it is scheduled.
    pub next: Option<DateTime<Utc>>,
}

struct Entry {
    config: Arc<JobConfig>,
    counters: Arc<Counters>,
    next: Arc<Mutex<Option<DateTime<Utc>>>>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

struct Inner {
    platform: Platform,
    clock: Arc<dyn Clock>,
    jobs: Mutex<BTreeMap<String, Entry>>,
    changing: tokio::sync::Mutex<()>,
    serving: AtomicBool,
    stopped: AtomicBool,
    info: Arc<ChannelInfo>,
    /// Who this node claims due runs as.
    holder: String,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("holder", &self.holder)
            .finish()
    }
}

/// The scheduler of one platform: its jobs (`channels.scheduler`), each invoking its service
/// when due. In a cluster every node keeps every job's timer, and each due run is claimed in
/// the cluster's database ([`Platform::claims`]): the node whose claim is first runs it, the
/// others count it as run elsewhere. A node that dies only stops claiming; the others go on.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("jobs", &self.job_names())
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl Scheduler {
    /// The scheduler of `platform`, on the system clock, idle until started.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has one already.
    pub fn attach(platform: &Platform) -> Result<Scheduler, ChannelError> {
        Self::attach_with_clock(platform, Arc::new(SystemClock))
    }

    /// The scheduler of `platform` on `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    ///
    /// # Errors
    ///
    /// As [`attach`](Self::attach).
    pub fn attach_with_clock(
        platform: &Platform,
        clock: Arc<dyn Clock>,
    ) -> Result<Scheduler, ChannelError> {
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                platform: platform.clone(),
                clock,
                jobs: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
                serving: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                info: Arc::new(ChannelInfo::new(
                    "scheduler",
                    ChannelKind::Scheduler,
                    DataFormat::Json,
                )),
                holder: format!("{}:{:016x}", std::process::id(), rand::random::<u64>()),
            }),
        };
        platform.channels().add(Arc::new(scheduler.clone()))?;
        platform.metrics().register_collector(
            "channels.scheduler",
            Box::new(JobMetrics(Arc::downgrade(&scheduler.inner))),
        );
        Ok(scheduler)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn job_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The job `name`'s configuration.
    pub fn job(&self, name: &str) -> Option<Arc<JobConfig>> {
        self.lock().get(name).map(|e| e.config.clone())
    }

    /// What the job `name` has done on this node.
    pub fn stats(&self, name: &str) -> Option<JobStats> {
        self.lock().get(name).map(|e| {
            let c = &e.counters;
            let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
            JobStats {
                runs: n(&c.runs),
                failures: n(&c.failures),
                skipped: n(&c.skipped),
                elsewhere: n(&c.elsewhere),
                running: n(&c.running),
                last: c
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
                next: *e.next.lock().unwrap_or_else(PoisonError::into_inner),
            }
        })
    }

    /// Runs the job `name` now, active or not, on this node, and returns the run's cid at once.
    ///
    /// # Errors
    ///
    /// When there is no such job.
    pub fn run_now(&self, name: &str) -> Result<Cid, ConfigError> {
        let (config, counters) = self
            .lock()
            .get(name)
            .map(|e| (e.config.clone(), e.counters.clone()))
            .ok_or_else(|| ConfigError::one("", format!("no job named `{name}`")))?;
        let cid = Cid::new();
        let due = self.inner.clock.now();
        tokio::spawn(run(self.inner.clone(), config, counters, due, cid, false));
        Ok(cid)
    }

    fn launch(&self, name: &str) {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(name) else {
            return;
        };
        if !entry.config.is_active || entry.running.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(timer(
            self.inner.clone(),
            entry.config.clone(),
            entry.counters.clone(),
            entry.next.clone(),
            stopped,
        ));
        entry.running = Some((stop, task));
    }

    /// Stops the job's timer; a run going on finishes on its own.
    async fn halt(&self, name: &str) {
        let running = self.lock().get_mut(name).and_then(|e| {
            *e.next.lock().unwrap_or_else(PoisonError::into_inner) = None;
            e.running.take()
        });
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// A job's timer: waits for each due time and fires it, until stopped or the job is never due
/// again.
async fn timer(
    inner: Arc<Inner>,
    config: Arc<JobConfig>,
    counters: Arc<Counters>,
    next_slot: Arc<Mutex<Option<DateTime<Utc>>>>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(schedule) = config.schedule() else {
        return;
    };
    let mut cursor = inner.clock.now();
    if config.catch_up
        && let Some(missed) = schedule.last_at_or_before(cursor)
    {
        tracing::info!(job = %config.name, due = %missed, "catching up on a run missed while the node was down");
        fire(&inner, &config, &counters, missed);
    }
    loop {
        let Some(next) = schedule.next_after(cursor) else {
            tracing::info!(job = %config.name, "the job is not due again");
            *next_slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
            return;
        };
        *next_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(next);
        tokio::select! {
            () = inner.clock.sleep_until(next) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        cursor = next;
        // A clock set forward past several due times fires the latest only: runs missed are
        // not replayed.
        let now = inner.clock.now();
        if let Some(latest) = schedule.last_at_or_before(now).filter(|l| *l > cursor) {
            tracing::warn!(job = %config.name, skipped_from = %cursor, to = %latest, "the clock jumped: runs in between are not replayed");
            cursor = latest;
        }
        fire(&inner, &config, &counters, cursor);
    }
}

/// Starts the run due at `due`, unless the previous one still runs and overlap is not allowed.
fn fire(inner: &Arc<Inner>, config: &Arc<JobConfig>, counters: &Arc<Counters>, due: DateTime<Utc>) {
    if !config.allow_overlap && counters.running.load(Ordering::SeqCst) > 0 {
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(job = %config.name, %due, "the previous run still runs: this one is skipped");
        return;
    }
    // Counted before the task starts, so that the next due time sees it running.
    counters.running.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(run(
        inner.clone(),
        config.clone(),
        counters.clone(),
        due,
        Cid::new(),
        true,
    ));
}

/// One run: claimed first when due in a cluster, then the service invoked.
async fn run(
    inner: Arc<Inner>,
    config: Arc<JobConfig>,
    counters: Arc<Counters>,
    due: DateTime<Utc>,
    cid: Cid,
    scheduled: bool,
) {
    if !scheduled {
        counters.running.fetch_add(1, Ordering::SeqCst);
    }
    let _running = Running(counters.clone());
    let scope = format!("scheduler/{}", config.name);
    let key = due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let item = ClaimItem {
        scope: &scope,
        key: &key,
        version: "due",
    };
    let claims = inner.platform.claims().filter(|_| scheduled);
    if let Some(claims) = &claims {
        match claims.claim(&item, &inner.holder, RUN_CLAIM).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                counters.elsewhere.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                // Not knowing whether another node runs it, this one does not.
                tracing::warn!(job = %config.name, %due, error = %e, "the run could not be claimed; not run here");
                counters.failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    counters.runs.fetch_add(1, Ordering::Relaxed);
    let started_at = inner.clock.now();
    let started = Instant::now();
    let params = vec![
        ("scheduler_job".to_owned(), config.name.clone()),
        ("scheduler_due".to_owned(), key.clone()),
    ];
    let raw = RawRequest::new(cid, inner.info.clone(), Bytes::from(config.extra.clone()))
        .with_channel_params(params);
    let limit = config.timeout_duration();
    let result =
        match tokio::time::timeout(limit, inner.platform.invoke_raw(&config.service, raw)).await {
            Ok(invocation) => invocation.result.map(drop),
            Err(_) => Err(ServiceError::Timeout(limit)),
        };
    let duration = started.elapsed();
    let meter: ChannelMeter = inner
        .platform
        .metrics()
        .channel(ChannelKind::Scheduler, &config.name);
    let outcome = match &result {
        Ok(()) => {
            meter.record(200, duration);
            Ok(())
        }
        Err(e) => {
            meter.record(e.status().as_u16(), duration);
            counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%cid, job = %config.name, %due, error = ?e.to_string(), "scheduled run failed");
            Err((e.status().as_u16(), e.to_string()))
        }
    };
    *counters.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(LastRun {
        started: started_at,
        due,
        duration,
        outcome,
        cid,
    });
    if let Some(claims) = claims
        && let Err(e) = claims.finish(&item, &inner.holder).await
    {
        tracing::debug!(job = %config.name, error = %e, "the run's claim was not marked done; it runs out");
    }
}

/// Counts a run as going on until dropped.
struct Running(Arc<Counters>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ChannelAdapter for Scheduler {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Scheduler
    }

    fn name(&self) -> &str {
        "scheduler"
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.lock()
            .values()
            .map(|e| {
                let c = &e.config;
                let when = match c.kind {
                    crate::JobKind::OneTime => {
                        format!("once at {}", c.start_date.as_deref().unwrap_or(""))
                    }
                    crate::JobKind::Interval => format!("every {} s", c.interval_secs()),
                    crate::JobKind::Cron => {
                        format!("cron {:?} {}", c.cron.as_deref().unwrap_or(""), c.timezone)
                    }
                };
                ChannelSummary::new(ChannelKind::Scheduler, c.name.as_str(), "scheduler")
                    .with_service(c.service.as_str())
                    .with_active(c.is_active)
                    .with_endpoint(when)
            })
            .collect()
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.lock()
            .get(name)
            .and_then(|e| serde_json::to_value(&*e.config).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let config: JobConfig =
            serde_json::from_value(config).map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(config.problems())?;
        let _one_at_a_time = self.inner.changing.lock().await;
        let name = config.name.clone();
        self.halt(&name).await;
        {
            let mut map = self.lock();
            let (counters, next) = map
                .get(&name)
                .map(|e| (e.counters.clone(), e.next.clone()))
                .unwrap_or_default();
            map.insert(
                name.clone(),
                Entry {
                    config: Arc::new(config),
                    counters,
                    next,
                    running: None,
                },
            );
        }
        tracing::info!(job = %name, "job configured");
        if self.is_serving() {
            self.launch(&name);
        }
        Ok(())
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        let _one_at_a_time = self.inner.changing.lock().await;
        if !self.lock().contains_key(name) {
            return Err(ConfigError::one("", "no such job"));
        }
        self.halt(name).await;
        self.lock().remove(name);
        tracing::info!(job = %name, "job removed");
        Ok(())
    }

    async fn start(&self) -> Result<(), ChannelError> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(ChannelError::Stopped("scheduler".into()));
        }
        if self.inner.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing("scheduler".into()));
        }
        let _one_at_a_time = self.inner.changing.lock().await;
        for name in self.job_names() {
            self.launch(&name);
        }
        Ok(())
    }

    fn is_serving(&self) -> bool {
        self.inner.serving.load(Ordering::SeqCst)
    }

    async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let _one_at_a_time = self.inner.changing.lock().await;
        self.inner.serving.store(false, Ordering::SeqCst);
        for name in self.job_names() {
            self.halt(&name).await;
        }
        // Runs going on finish within their timeout; wait for them, bounded.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && self
                .lock()
                .values()
                .any(|e| e.counters.running.load(Ordering::SeqCst) > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The jobs' counters, read at each scrape.
#[derive(Debug)]
struct JobMetrics(Weak<Inner>);

impl Collector for JobMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(inner) = self.0.upgrade() else {
            return Ok(());
        };
        let runs = Family::<Labels, Counter>::default();
        let last_run = Family::<Labels, Gauge>::default();
        let last_duration = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let last_ok = Family::<Labels, Gauge>::default();
        {
            let map = inner.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            for (name, e) in map.iter() {
                let c = &e.counters;
                let job = || ("job", Cow::Owned(name.clone()));
                let ok = c
                    .runs
                    .load(Ordering::Relaxed)
                    .saturating_sub(c.failures.load(Ordering::Relaxed));
                for (outcome, value) in [
                    ("ok", ok),
                    ("failed", c.failures.load(Ordering::Relaxed)),
                    ("skipped", c.skipped.load(Ordering::Relaxed)),
                    ("elsewhere", c.elsewhere.load(Ordering::Relaxed)),
                ] {
                    runs.get_or_create(&vec![job(), ("outcome", Cow::Borrowed(outcome))])
                        .inc_by(value);
                }
                if let Some(last) = c
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    last_run
                        .get_or_create(&vec![job()])
                        .set(last.started.timestamp());
                    last_duration
                        .get_or_create(&vec![job()])
                        .set(last.duration.as_secs_f64());
                    last_ok
                        .get_or_create(&vec![job()])
                        .set(i64::from(last.outcome.is_ok()));
                }
            }
        }
        let m = encoder.encode_descriptor(
            "scheduler_runs",
            "Due runs of a job on this node, by outcome: ok, failed, skipped (the previous run still ran), elsewhere (another node ran it)",
            None,
            runs.metric_type(),
        )?;
        runs.encode(m)?;
        let m = encoder.encode_descriptor(
            "scheduler_last_run_timestamp_seconds",
            "When a job's last run on this node started",
            None,
            last_run.metric_type(),
        )?;
        last_run.encode(m)?;
        let m = encoder.encode_descriptor(
            "scheduler_last_run_duration_seconds",
            "How long a job's last run on this node took",
            None,
            last_duration.metric_type(),
        )?;
        last_duration.encode(m)?;
        let m = encoder.encode_descriptor(
            "scheduler_last_run_ok",
            "Whether a job's last run on this node succeeded (1) or failed (0)",
            None,
            last_ok.metric_type(),
        )?;
        last_ok.encode(m)
    }
}
