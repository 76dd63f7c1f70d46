//! [`Scheduler`]: the jobs of a platform, each a timer of its own.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zato_core::claims::ClaimItem;
use zato_core::metrics::{ChannelMeter, Collector, Scrape};
use zato_core::tasks::ChannelTasks;
use zato_core::{
    ChannelAdapter, ChannelError, ChannelInfo, ChannelKind, ChannelSummary, Cid, ConfigError,
    DataFormat, Platform, RawRequest, ServiceError,
};

use crate::clock::{Clock, SystemClock};
use crate::config::JobConfig;

/// How often a job's timer asks the claim store to forget the claims of old due runs.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How long the claim of a due run lasts: twice the job's interval, at least an hour and at most
/// a week. Within it no node runs that due time again, not even a node catching up after a
/// restart (the latest due time it makes up for is at most one interval old); after it the
/// claim store prunes the row.
fn run_claim(config: &JobConfig) -> Duration {
    let interval = match config.kind {
        crate::config::JobKind::Interval => config.interval_secs(),
        // A day covers the daily jobs cron mostly names; a week any.
        crate::config::JobKind::Cron => 86_400,
        crate::config::JobKind::OneTime => 3600,
    };
    Duration::from_secs(interval.saturating_mul(2).clamp(3600, 7 * 86_400))
}

/// What one job has done.
#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    elsewhere: AtomicU64,
    running: AtomicU64,
    last: Mutex<Option<LastRun>>,
    /// When the job is due next, while its timer runs.
    next: Mutex<Option<DateTime<Utc>>>,
}

impl Counters {
    fn set_next(&self, next: Option<DateTime<Utc>>) {
        *self.next.lock().unwrap_or_else(PoisonError::into_inner) = next;
    }
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

struct Inner {
    platform: Platform,
    clock: Arc<dyn Clock>,
    tasks: ChannelTasks<JobConfig, Counters>,
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
            .field("tasks", &self.inner.tasks)
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
                tasks: ChannelTasks::new("scheduler"),
                info: Arc::new(ChannelInfo::new(
                    "scheduler",
                    crate::config::SCHEDULER_KIND,
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

    /// The job `name`'s configuration.
    pub fn job(&self, name: &str) -> Option<Arc<JobConfig>> {
        self.inner.tasks.get(name).map(|(config, _)| config)
    }

    /// What the job `name` has done on this node.
    pub fn stats(&self, name: &str) -> Option<JobStats> {
        self.inner.tasks.get(name).map(|(_, c)| {
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
                next: *c.next.lock().unwrap_or_else(PoisonError::into_inner),
            }
        })
    }

    /// Waits until every job due by the clock's time has run, and no run goes on, at most
    /// `limit`. Returns whether they all have. With a [`ManualClock`](crate::ManualClock), a
    /// test moves the clock, then settles, then checks what the runs did.
    pub async fn settle(&self, limit: Duration) -> bool {
        let settled = || {
            let now = self.inner.clock.now();
            self.inner.tasks.names().iter().all(|name| {
                self.stats(name)
                    .is_none_or(|s| s.running == 0 && s.next.is_none_or(|next| next > now))
            })
        };
        tokio::time::timeout(limit, async {
            while !settled() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .is_ok()
    }

    /// Runs the job `name` now, active or not, on this node, and returns the run's cid at once.
    ///
    /// # Errors
    ///
    /// When there is no such job.
    pub fn run_now(&self, name: &str) -> Result<Cid, ConfigError> {
        let (config, counters) = self
            .inner
            .tasks
            .get(name)
            .ok_or_else(|| ConfigError::one("", format!("no job named `{name}`")))?;
        let cid = Cid::new();
        let due = self.inner.clock.now();
        tokio::spawn(run(self.inner.clone(), config, counters, due, cid, false));
        Ok(cid)
    }

    /// Starts a job's timer.
    fn launcher(
        &self,
    ) -> impl Fn(Arc<JobConfig>, Arc<Counters>, watch::Receiver<bool>) -> JoinHandle<()>
    + Send
    + Sync
    + use<> {
        let inner = self.inner.clone();
        move |config, counters, stop| {
            // The clock is read when the job is launched, not when its task first runs, so a
            // clock moved right after (a test's) counts from the launch; and the next due time
            // shows at once.
            let launched = inner.clock.now();
            if let Some(schedule) = config.schedule() {
                let first = if config.catch_up {
                    schedule.last_at_or_before(launched)
                } else {
                    None
                };
                counters.set_next(first.or_else(|| schedule.next_after(launched)));
            }
            tokio::spawn(timer(inner.clone(), config, counters, stop, launched))
        }
    }
}

/// How long a change waits for a job's timer to stop (a run going on is not waited for).
const TIMER_STOP: Duration = Duration::from_secs(5);

/// A job's timer: waits for each due time and fires it, until stopped or the job is never due
/// again.
async fn timer(
    inner: Arc<Inner>,
    config: Arc<JobConfig>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    launched: DateTime<Utc>,
) {
    let Some(schedule) = config.schedule() else {
        return;
    };
    let mut cursor = launched;
    let mut pruned = Instant::now();
    if config.catch_up
        && let Some(missed) = schedule.last_at_or_before(cursor)
    {
        tracing::info!(job = %config.name, due = %missed, "catching up on a run missed while the node was down");
        fire(&inner, &config, &counters, missed);
    }
    loop {
        let Some(next) = schedule.next_after(cursor) else {
            tracing::info!(job = %config.name, "the job is not due again");
            counters.set_next(None);
            return;
        };
        counters.set_next(Some(next));
        tokio::select! {
            () = inner.clock.sleep_until(next) => {}
            _ = stop.wait_for(|s| *s) => {
                counters.set_next(None);
                return;
            }
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
        if pruned.elapsed() >= PRUNE_EVERY
            && let Some(claims) = inner.platform.claims()
        {
            pruned = Instant::now();
            let scope = format!("scheduler/{}", config.name);
            tokio::spawn(async move {
                if let Err(e) = claims.prune(&scope).await {
                    tracing::debug!(%scope, error = %e, "old run claims not pruned");
                }
            });
        }
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
        match claims.claim(&item, &inner.holder, run_claim(&config)).await {
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
        .channel(crate::config::SCHEDULER_KIND, &config.name);
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
}

/// Counts a run as going on until dropped.
struct Running(Arc<Counters>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Scheduler {
    /// Creates the job `job` names, or replaces the one of that name; the job is checked
    /// already.
    pub async fn upsert(&self, job: JobConfig) {
        let name = job.name.clone();
        let launch = self.launcher();
        self.inner
            .tasks
            .upsert(&name, job, TIMER_STOP, |c| c.is_active, &launch)
            .await;
        tracing::info!(job = %name, "job configured");
    }

    /// Removes the job `name`; a run in progress finishes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such job.
    pub async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        if !self.inner.tasks.remove(name, TIMER_STOP).await {
            return Err(ConfigError::one("", "no such job"));
        }
        tracing::info!(job = %name, "job removed");
        Ok(())
    }
}

#[async_trait]
impl ChannelAdapter for Scheduler {
    fn kind(&self) -> ChannelKind {
        crate::config::SCHEDULER_KIND
    }

    fn name(&self) -> &str {
        "scheduler"
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.inner.tasks.map(|_, c, _| {
            let when = match c.kind {
                crate::config::JobKind::OneTime => {
                    format!("once at {}", c.start_date.as_deref().unwrap_or(""))
                }
                crate::config::JobKind::Interval => format!("every {} s", c.interval_secs()),
                crate::config::JobKind::Cron => {
                    format!("cron {:?} {}", c.cron.as_deref().unwrap_or(""), c.timezone)
                }
            };
            ChannelSummary::new(crate::config::SCHEDULER_KIND, c.name.as_str(), "scheduler")
                .with_service(c.service.as_str())
                .with_active(c.is_active)
                .with_endpoint(when)
        })
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.job(name).and_then(|c| serde_json::to_value(&*c).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let (config, _) = zato_core::config::decode_as::<JobConfig>(&config, &[])?;
        ConfigError::check(config.problems())?;
        self.upsert(config).await;
        Ok(())
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.remove(name).await
    }

    async fn start(&self) -> Result<(), ChannelError> {
        let launch = self.launcher();
        self.inner.tasks.start(|c| c.is_active, &launch).await
    }

    fn is_serving(&self) -> bool {
        self.inner.tasks.is_serving()
    }

    async fn stop(&self) {
        self.inner.tasks.stop(TIMER_STOP).await;
        // Runs going on finish within their timeout; wait for them, bounded.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && self
                .inner
                .tasks
                .map(|_, _, c| c.running.load(Ordering::SeqCst))
                .iter()
                .any(|n| *n > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The jobs' counters, read at each scrape.
#[derive(Debug)]
struct JobMetrics(Weak<Inner>);

impl Collector for JobMetrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let runs = scrape.counters(
            "scheduler_runs",
            "Due runs of a job on this node, by outcome: ok, failed, skipped (the previous run still ran), elsewhere (another node ran it)",
        );
        let last_run = scrape.gauges(
            "scheduler_last_run_timestamp_seconds",
            "When a job's last run on this node started",
        );
        let last_duration = scrape.float_gauges(
            "scheduler_last_run_duration_seconds",
            "How long a job's last run on this node took",
        );
        let last_ok = scrape.gauges(
            "scheduler_last_run_ok",
            "Whether a job's last run on this node succeeded (1) or failed (0)",
        );
        inner.tasks.map(|name, _, c| {
            let job = || ("job", Cow::Owned(name.to_owned()));
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
        });
    }
}
