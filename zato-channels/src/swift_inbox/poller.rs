//! One Swift inbox channel at work: it lists its inbox page by page, claims each object, hands
//! it to its service, and moves it on.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use zato_core::claims::{ClaimItem, ClaimStore};
use zato_core::metrics::ChannelMeter;
use zato_core::telemetry::{Parent, Span, SpanKind, SpanStart, TraceContext, attr};
use zato_core::{ChannelInfo, Cid, DataFormat, Platform, RawRequest, ServiceError};
use zato_swift::{
    ListOptions, Metadata, ObjectEntry, ObjectSummary, SwiftConnection, SwiftError, SwiftOutgoing,
    check_object,
};

use super::claims::SwiftClaims;
use super::config::{ClaimsMode, SwiftInboxConfig};

/// Swift's limit on a metadata value, in bytes.
pub const MAX_META_VALUE: usize = 256;

/// The metadata item an object in the error container says why in.
pub const ERROR_META: &str = "zato-error";
/// The metadata item carrying the cid of the attempt that moved the object.
pub const CID_META: &str = "zato-cid";

/// The longest pause after a failed poll.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest wait before a failed object is tried again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// How often a channel asks its claim store to forget old records.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// The most skipped names a channel remembers so as to log and count each once; past that it
/// forgets them all, and logs them again once each.
const MAX_SKIPPED_REMEMBERED: usize = 10_000;

/// What one channel has done, for metrics.
#[derive(Debug, Default)]
pub(crate) struct InboxStats {
    pub(crate) polls: AtomicU64,
    pub(crate) poll_errors: AtomicU64,
    pub(crate) claimed: AtomicU64,
    pub(crate) contended: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) gone: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) storage_errors: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) polling: AtomicBool,
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Everything a channel's tasks share.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) config: Arc<SwiftInboxConfig>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<InboxStats>,
    /// Who this channel claims as: unique to this run of this channel.
    pub(crate) holder: String,
    /// One channel description per data format, shared by the requests.
    infos: Vec<(DataFormat, Arc<ChannelInfo>)>,
    /// The names of the objects being handled here, so one poll does not claim them again.
    in_flight: Mutex<HashSet<String>>,
    /// The names skipped as no Swift request can name them, each logged and counted once.
    skipped: Mutex<HashSet<String>>,
    /// Requests (objects handed to the service) by status, and their durations.
    meter: ChannelMeter,
}

impl Worker {
    pub(crate) fn new(
        config: Arc<SwiftInboxConfig>,
        platform: Platform,
        stats: Arc<InboxStats>,
    ) -> Worker {
        let infos = [
            DataFormat::Json,
            DataFormat::Xml,
            DataFormat::Soap,
            DataFormat::Form,
        ]
        .into_iter()
        .map(|f| {
            let info = ChannelInfo::new(config.name.as_str(), super::config::SWIFT_INBOX_KIND, f);
            (f, Arc::new(info))
        })
        .collect();
        let holder = format!(
            "{}:{}:{:016x}",
            config.name,
            std::process::id(),
            rand::random::<u64>()
        );
        let meter = platform
            .metrics()
            .channel(super::config::SWIFT_INBOX_KIND, &config.name);
        Worker {
            config,
            platform,
            stats,
            holder,
            infos,
            in_flight: Mutex::new(HashSet::new()),
            skipped: Mutex::new(HashSet::new()),
            meter,
        }
    }

    fn info(&self, format: DataFormat) -> Arc<ChannelInfo> {
        self.infos
            .iter()
            .find(|(f, _)| *f == format)
            .map_or_else(|| self.infos[0].1.clone(), |(_, i)| i.clone())
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `object` can be handled at all: a name Swift's API cannot carry (`.`, `..`,
    /// `a/../b`, a control character, over 1024 bytes: another client put it there) is refused
    /// by the client before any request, so it could be neither claimed (a Swift claim is named
    /// after it), read, nor moved. It is left where it is, logged and counted once, and never
    /// fails the pass: the other objects go on as ever.
    fn servable(&self, object: &ObjectSummary) -> bool {
        let Err(error) = check_object(&object.name) else {
            return true;
        };
        let first = {
            let mut skipped = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
            if skipped.len() >= MAX_SKIPPED_REMEMBERED {
                skipped.clear();
            }
            skipped.insert(object.name.clone())
        };
        if first {
            add(&self.stats.skipped);
            // `?` escapes the name: a CR or LF in it cannot start a log line of its own.
            tracing::warn!(channel = %self.config.name, object = ?object.name, error = %error, "object skipped: its name cannot be used in a Swift request; it stays in the inbox until removed by hand");
        }
        false
    }

    fn connection(&self) -> Result<Arc<SwiftConnection>, String> {
        self.platform
            .outgoing()
            .swift(&self.config.connection)
            .map_err(|e| e.to_string())
    }

    fn claims(&self, conn: &Arc<SwiftConnection>) -> Result<Arc<dyn ClaimStore>, String> {
        let swift = || -> Arc<dyn ClaimStore> {
            Arc::new(SwiftClaims::new(
                conn.clone(),
                self.config.claims_container(),
            ))
        };
        match self.config.claims {
            ClaimsMode::Auto => Ok(self.platform.claims().unwrap_or_else(swift)),
            ClaimsMode::Swift => Ok(swift()),
            ClaimsMode::Cluster => self.platform.claims().ok_or_else(|| {
                "claims = \"cluster\", but this node has no claim store: it is not in a cluster"
                    .to_owned()
            }),
        }
    }
}

/// The delay after the `n`th failure in a row (1 first): from `base`, doubling up to `cap`.
fn backoff(base: Duration, n: u32, cap: Duration) -> Duration {
    base.saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(cap)
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs the channel until `stop` says so, then waits (at most `drain`) for the objects it
/// holds; what is still running then is dropped, and its claims run out with their leases.
pub(crate) async fn run(worker: Arc<Worker>, mut stop: watch::Receiver<bool>, drain: Duration) {
    let config = &worker.config;
    let permits = Arc::new(Semaphore::new(config.concurrency as usize));
    let mut tasks = JoinSet::new();
    let mut failures = 0u32;
    let mut ready = !config.create_containers;
    let mut last_prune: Option<Instant> = None;
    worker.stats.polling.store(true, Ordering::Relaxed);
    loop {
        while tasks.try_join_next().is_some() {}
        if *stop.borrow() {
            break;
        }
        let outcome = if ready {
            poll(&worker, &permits, &mut tasks, &mut stop).await
        } else {
            create_containers(&worker).await.map(|()| {
                ready = true;
                1
            })
        };
        let pause = match outcome {
            Ok(found) => {
                add(&worker.stats.polls);
                failures = 0;
                if found > 0 {
                    // Work was there: more may be. Poll again at once.
                    continue;
                }
                if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(Instant::now());
                    prune(&worker).await;
                }
                config.poll_every()
            }
            Err(error) => {
                add(&worker.stats.poll_errors);
                failures = failures.saturating_add(1);
                let delay = backoff(config.poll_every(), failures, MAX_BACKOFF);
                tracing::warn!(
                    channel = %config.name,
                    error = ?error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "swift inbox poll failed"
                );
                delay
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stopped(&mut stop) => break,
        }
    }
    worker.stats.polling.store(false, Ordering::Relaxed);
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(channel = %config.name, "swift inbox stopped with objects still being handled; their claims run out with their leases");
        tasks.abort_all();
    }
}

async fn create_containers(worker: &Worker) -> Result<(), String> {
    let config = &worker.config;
    let conn = worker.connection()?;
    let client = conn.client().await.map_err(|e| e.to_string())?;
    let mut names = vec![config.container.clone(), config.error_container.clone()];
    names.extend(config.archive_container.clone());
    if config.claims == ClaimsMode::Swift
        || (config.claims == ClaimsMode::Auto && worker.platform.claims().is_none())
    {
        names.push(config.claims_container());
    }
    for name in names {
        if let Err(e) = client.head_container(&name).await {
            if !e.is_not_found() {
                return Err(e.to_string());
            }
            client
                .create_container(&name, &Metadata::new())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(channel = %config.name, container = %name, "swift inbox created a missing container");
        }
    }
    Ok(())
}

async fn prune(worker: &Worker) {
    let Ok(conn) = worker.connection() else {
        return;
    };
    if let Ok(claims) = worker.claims(&conn)
        && let Err(e) = claims.prune(&worker.config.container).await
    {
        tracing::debug!(channel = %worker.config.name, error = %e, "claims not pruned");
    }
}

/// One pass over the inbox: every page, each object not handled here claimed and handed to a
/// task. Returns how many objects it claimed.
async fn poll(
    worker: &Arc<Worker>,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
    stop: &mut watch::Receiver<bool>,
) -> Result<usize, String> {
    let config = &worker.config;
    let conn = worker.connection()?;
    let claims = worker.claims(&conn)?;
    let mut opts = ListOptions::default().limit(config.batch_size);
    if !config.prefix.is_empty() {
        opts = opts.prefix(config.prefix.clone());
    }
    let mut claimed = 0;
    loop {
        let page = {
            let list = async {
                let client = conn.client().await?;
                client.list_objects(&config.container, &opts).await
            };
            tokio::select! {
                page = list => page.map_err(|e: SwiftError| e.to_string())?,
                () = stopped(stop) => return Ok(claimed),
            }
        };
        let full = page.len() >= config.batch_size as usize;
        let last = page.last().map(|e| e.name().to_owned());
        let candidates = page.into_iter().filter_map(|entry| match entry {
            ObjectEntry::Object(o)
                if !worker.in_flight().contains(&o.name) && worker.servable(&o) =>
            {
                Some(o)
            }
            _ => None,
        });
        // Up to `concurrency` claims at once, each holding a permit first, so that what is
        // claimed can be handled at once. Once a permit is held its claim runs to its end:
        // stopping only drops the claims still waiting for a permit.
        let waiting = stop.clone();
        let attempts = candidates.map(|object| {
            let mut stop = waiting.clone();
            let claims = &claims;
            async move {
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.ok()?,
                    () = stopped(&mut stop) => return None,
                };
                let version = format!("{}/{}", object.hash, object.last_modified);
                let item = ClaimItem {
                    scope: &config.container,
                    key: &object.name,
                    version: &version,
                };
                let won = claims
                    .claim(&item, &worker.holder, config.lease_duration())
                    .await;
                Some((object, version, permit, won))
            }
        });
        let mut attempts =
            std::pin::pin!(stream::iter(attempts).buffer_unordered(config.concurrency as usize));
        // One object's claim failing does not fail the pass: the store answered for the
        // others, so they are handled, and that one is tried again by the next pass. Only a
        // page on which no claim got an answer (the store is unreachable) fails it.
        let mut failures = Vec::new();
        let mut answered = false;
        while let Some(attempt) = attempts.next().await {
            let Some((object, version, permit, won)) = attempt else {
                continue;
            };
            answered |= won.is_ok();
            match won {
                Ok(Some(attempt)) => {
                    add(&worker.stats.claimed);
                    claimed += 1;
                    worker.in_flight().insert(object.name.clone());
                    let job = Job {
                        worker: worker.clone(),
                        conn: conn.clone(),
                        claims: claims.clone(),
                        version,
                        object,
                        attempt,
                    };
                    tasks.spawn(job.run(permit));
                    while tasks.try_join_next().is_some() {}
                }
                Ok(None) => add(&worker.stats.contended),
                Err(e) => failures.push((object.name, e)),
            }
        }
        if !answered && let Some((_, e)) = failures.first() {
            return Err(format!("claims ({}): {e}", claims.kind()));
        }
        for (name, e) in failures {
            tracing::warn!(channel = %config.name, object = ?name, error = %e, "object not claimed; the next pass tries again");
        }
        if *stop.borrow() {
            return Ok(claimed);
        }
        match last {
            Some(last) if full => opts.marker = Some(last),
            _ => return Ok(claimed),
        }
    }
}

/// One claimed object.
struct Job {
    worker: Arc<Worker>,
    conn: Arc<SwiftConnection>,
    claims: Arc<dyn ClaimStore>,
    version: String,
    object: ObjectSummary,
    attempt: u32,
}

/// What became of a claimed object.
enum Outcome {
    /// Its service succeeded and it was archived or deleted.
    Done,
    /// It went to the error container.
    SetAside { malformed: bool },
    /// Its service failed; it is tried again later.
    Retry(String),
    /// Swift failed while reading or moving it: it stays, and the attempt is not counted.
    Storage(String),
    /// It was no longer there.
    Gone,
}

/// Aborts the lease renewal when the object is done with.
struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Job {
    fn item(&self) -> ClaimItem<'_> {
        ClaimItem {
            scope: &self.worker.config.container,
            key: &self.object.name,
            version: &self.version,
        }
    }

    async fn run(self, permit: OwnedSemaphorePermit) {
        let stats = self.worker.stats.clone();
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = Renewal(tokio::spawn(renew(
            self.worker.clone(),
            self.claims.clone(),
            self.object.name.clone(),
            self.version.clone(),
            lost.clone(),
        )));
        let cid = Cid::new();
        let outcome = self.handle(cid).await;
        drop(renewal);
        self.settle(cid, outcome, lost.load(Ordering::Relaxed))
            .await;
        self.worker.in_flight().remove(&self.object.name);
        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
    }

    /// Records the outcome with the claim store and the counters.
    async fn settle(&self, cid: Cid, outcome: Outcome, lost: bool) {
        let config = &self.worker.config;
        let stats = &self.worker.stats;
        let name = &self.object.name;
        if lost {
            add(&stats.leases_lost);
            tracing::warn!(%cid, channel = %config.name, object = ?name, "the claim ran out while the object was handled: another node may have handled it too");
        }
        let holder = &self.worker.holder;
        let settled = match outcome {
            Outcome::Done => {
                add(&stats.succeeded);
                self.claims.finish(&self.item(), holder).await
            }
            Outcome::SetAside { malformed } => {
                add(if malformed {
                    &stats.malformed
                } else {
                    &stats.failed
                });
                self.claims.finish(&self.item(), holder).await
            }
            Outcome::Gone => {
                add(&stats.gone);
                self.claims.finish(&self.item(), holder).await
            }
            Outcome::Retry(error) => {
                add(&stats.retried);
                let delay = backoff(config.poll_every(), self.attempt, MAX_RETRY_DELAY);
                tracing::warn!(%cid, channel = %config.name, object = ?name, attempt = self.attempt, max_attempts = config.max_attempts, error = ?error, "service failed; the object will be tried again");
                self.claims.release(&self.item(), holder, delay, true).await
            }
            Outcome::Storage(error) => {
                add(&stats.storage_errors);
                tracing::warn!(%cid, channel = %config.name, object = ?name, error = ?error, "swift failed while handling the object; it stays in the inbox");
                self.claims
                    .release(&self.item(), holder, config.poll_every(), false)
                    .await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(%cid, channel = %config.name, object = ?name, error = %e, "the claim could not be settled; it runs out with its lease");
        }
    }

    async fn handle(&self, cid: Cid) -> Outcome {
        let config = &self.worker.config;
        let name = &self.object.name;
        if self.attempt > config.max_attempts {
            let error = format!(
                "no outcome after {} attempts: each ended without settling (the node handling it stopped)",
                self.attempt - 1
            );
            return self.set_aside(cid, &error, None, false).await;
        }
        if self.object.bytes > config.max_bytes {
            let error = format!(
                "the object has {} bytes, more than max_bytes ({})",
                self.object.bytes, config.max_bytes
            );
            self.worker.meter.record(413, Duration::ZERO);
            return self.set_aside(cid, &error, Some(413), true).await;
        }
        let object = {
            let client = match self.conn.client().await {
                Ok(c) => c,
                Err(e) => return Outcome::Storage(e.to_string()),
            };
            match client.get_object(&config.container, name).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => return Outcome::Gone,
                Err(e) => return Outcome::Storage(e.to_string()),
            }
        };
        let content_type = object.info.content_type.as_deref();
        let Some(format) = config.data_format.for_content_type(content_type) else {
            let error = format!(
                "no data format for the content type {:?}",
                content_type.unwrap_or("")
            );
            self.worker.meter.record(415, Duration::ZERO);
            return self.set_aside(cid, &error, Some(415), true).await;
        };
        let mut params = vec![
            ("swift_container".to_owned(), config.container.clone()),
            ("swift_object".to_owned(), name.clone()),
            (
                "swift_etag".to_owned(),
                object.info.etag.clone().unwrap_or_default(),
            ),
            (
                "swift_content_type".to_owned(),
                content_type.unwrap_or_default().to_owned(),
            ),
            (
                "swift_last_modified".to_owned(),
                object.info.last_modified.clone().unwrap_or_default(),
            ),
            ("swift_bytes".to_owned(), object.data.len().to_string()),
            ("swift_attempt".to_owned(), self.attempt.to_string()),
        ];
        // When tracing is on: a consumer span continuing the trace the object's writer put in
        // its metadata (`X-Object-Meta-Traceparent`, ...).
        let mut otel = match self.worker.platform.tracer() {
            None => Span::none(),
            Some(tracer) => {
                let remote = TraceContext::from_headers(|n| {
                    object
                        .info
                        .metadata
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.as_str())
                });
                let parent = remote.as_ref().map_or(Parent::Root, Parent::Of);
                let start = SpanStart::new(
                    format!("process {}", config.container),
                    SpanKind::Consumer,
                    parent,
                    cid,
                )
                .attr(attr::MESSAGING_SYSTEM, "openstack_swift")
                .attr(attr::MESSAGING_OPERATION_TYPE, "process")
                .attr(attr::MESSAGING_DESTINATION_NAME, config.container.clone())
                .attr("messaging.message.id", name.clone())
                .attr(attr::ZATO_CHANNEL, config.name.clone());
                Span::start(&tracer, start, cid)
            }
        };
        for (key, value) in &object.info.metadata {
            params.push((
                format!("swift_meta_{}", key.replace('-', "_")),
                value.clone(),
            ));
        }
        let mut raw =
            RawRequest::new(cid, self.worker.info(format), object.data).with_channel_params(params);
        raw.trace = otel.context();
        // A fixed format reads any content type; only SOAP needs it, for its version.
        if let Some(ct) = content_type.filter(|_| {
            format == DataFormat::Soap
                || config.data_format == super::config::InboxFormat::ByContentType
        }) {
            raw = raw.with_content_type(ct);
        }
        let limit = config.timeout_duration();
        let started = Instant::now();
        let invoke = self.worker.platform.invoke_raw(&config.service, raw);
        let result = match tokio::time::timeout(limit, invoke).await {
            Ok(invocation) => invocation.result,
            Err(_) => Err(ServiceError::Timeout(limit)),
        };
        let status = result
            .as_ref()
            .map_or_else(|e| e.status().as_u16(), |_| 200);
        self.worker.meter.record(status, started.elapsed());
        if let Err(e) = &result {
            otel.error(&e.to_string());
        }
        drop(otel);
        match result {
            Ok(_) => self.succeed(cid).await,
            Err(err) => {
                let status = err.status().as_u16();
                let line = err.to_string();
                let malformed = matches!(status, 400 | 413 | 415 | 422);
                if malformed || self.attempt >= config.max_attempts {
                    self.set_aside(cid, &line, Some(status), malformed).await
                } else {
                    Outcome::Retry(line)
                }
            }
        }
    }

    /// Archives the object (copy, then delete) or deletes it.
    async fn succeed(&self, cid: Cid) -> Outcome {
        let config = &self.worker.config;
        let mut meta = Metadata::new();
        meta.insert(CID_META.to_owned(), cid.to_string());
        meta.insert("zato-archived".to_owned(), now());
        meta.insert("zato-channel".to_owned(), header_safe(&config.name));
        match &config.archive_container {
            Some(archive) => self.move_to(archive, &meta).await,
            None => self.delete().await,
        }
        .map_or_else(Outcome::Storage, |()| Outcome::Done)
    }

    /// Moves the object to the error container with why.
    async fn set_aside(
        &self,
        cid: Cid,
        error: &str,
        status: Option<u16>,
        malformed: bool,
    ) -> Outcome {
        let config = &self.worker.config;
        tracing::warn!(%cid, channel = %config.name, object = ?self.object.name, attempt = self.attempt, error = ?error, "object moved to the error container");
        let mut meta = Metadata::new();
        meta.insert(ERROR_META.to_owned(), meta_value(error));
        meta.insert(CID_META.to_owned(), cid.to_string());
        meta.insert("zato-failed".to_owned(), now());
        meta.insert("zato-attempts".to_owned(), self.attempt.to_string());
        meta.insert("zato-channel".to_owned(), header_safe(&config.name));
        if let Some(status) = status {
            meta.insert("zato-status".to_owned(), status.to_string());
        }
        match self.move_to(&config.error_container, &meta).await {
            Ok(()) => Outcome::SetAside { malformed },
            Err(e) => Outcome::Storage(e),
        }
    }

    /// Server-side copy to `container` under the same name, then delete of the original.
    async fn move_to(&self, container: &str, meta: &Metadata) -> Result<(), String> {
        let config = &self.worker.config;
        let name = &self.object.name;
        let client = self.conn.client().await.map_err(|e| e.to_string())?;
        match client
            .copy_object(&config.container, name, container, name, meta)
            .await
        {
            Ok(()) => {}
            // The original is gone: someone else moved it.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        drop(client);
        self.delete().await
    }

    async fn delete(&self) -> Result<(), String> {
        let client = self.conn.client().await.map_err(|e| e.to_string())?;
        match client
            .delete_object(&self.worker.config.container, &self.object.name)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Renews the claim every third of the lease until aborted; says when it was lost.
async fn renew(
    worker: Arc<Worker>,
    claims: Arc<dyn ClaimStore>,
    key: String,
    version: String,
    lost: Arc<AtomicBool>,
) {
    let lease = worker.config.lease_duration();
    let item = ClaimItem {
        scope: &worker.config.container,
        key: &key,
        version: &version,
    };
    loop {
        tokio::time::sleep(lease / 3).await;
        match claims.renew(&item, &worker.holder, lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(channel = %worker.config.name, object = ?key, error = %e, "claim not renewed; trying again");
            }
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `text` with control characters made spaces, as a header value must be.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` as a metadata value: one line, at most [`MAX_META_VALUE`] bytes, cut on a character
/// boundary (with `…` when cut).
pub(crate) fn meta_value(text: &str) -> String {
    let mut line = header_safe(text.trim());
    if line.len() > MAX_META_VALUE {
        let ellipsis = '…';
        let mut end = MAX_META_VALUE - ellipsis.len_utf8();
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push(ellipsis);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_are_one_line_within_swifts_limit() {
        let long = format!("line one\r\nline two {}", "é".repeat(300));
        let v = meta_value(&long);
        assert!(v.len() <= MAX_META_VALUE, "{}", v.len());
        assert!(!v.chars().any(char::is_control));
        assert!(v.starts_with("line one  line two é"));
        assert!(v.ends_with('…'));
        assert_eq!(meta_value("short"), "short");
    }

    #[test]
    fn retry_delays_double_up_to_their_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1, MAX_RETRY_DELAY), base);
        assert_eq!(backoff(base, 3, MAX_RETRY_DELAY), base * 4);
        assert_eq!(backoff(base, 40, MAX_RETRY_DELAY), MAX_RETRY_DELAY);
    }
}
