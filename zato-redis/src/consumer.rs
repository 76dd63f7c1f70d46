//! One Redis Streams channel at work: a consumer of its group that reads its own pending
//! entries first, then new ones, claims the entries left idle by dead consumers, hands each to
//! its service and acknowledges it only once the outcome is safe in Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use tokio::sync::{oneshot, watch};
use zato_core::sio::SioError;
use zato_core::{ChannelInfo, Cid, Platform, RawRequest, ServiceError};

use crate::config::RedisStreamConfig;
use crate::connection::RedisConnection;

/// The field of a dead letter saying why it was dead-lettered.
pub const ERROR_FIELD: &str = "zato_error";
/// The field of a dead letter with the service's status.
pub const STATUS_FIELD: &str = "zato_status";
/// The field of a dead letter with the entry's id in its stream.
pub const ID_FIELD: &str = "zato_id";
/// The field of a dead letter with how many times the entry was delivered.
pub const DELIVERIES_FIELD: &str = "zato_deliveries";
/// The field of a dead letter with the cid of its last invocation.
pub const CID_FIELD: &str = "zato_cid";

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_ERROR_FIELD: usize = 1000;

/// What one channel has done, for metrics.
#[derive(Debug, Default)]
pub(crate) struct ChannelStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) claimed: AtomicU64,
    pub(crate) unsettled: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) consuming: AtomicBool,
}

/// Everything a channel's task shares.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) config: Arc<RedisStreamConfig>,
    pub(crate) info: Arc<ChannelInfo>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<ChannelStats>,
}

enum Ended {
    Stopped,
    Changed,
    Failed { error: String, consumed: bool },
}

fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// The name the channel's connection gives itself (`CLIENT SETNAME`), so an operator can
/// tell it in `CLIENT LIST`: `zato.redis_stream.<channel>.<consumer>`, no spaces allowed.
pub(crate) fn client_name(channel: &str, consumer: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect()
    };
    format!("zato.redis_stream.{}.{}", safe(channel), safe(consumer))
}

/// Runs the channel until `stop` says so. `ready` hears whether the first session consumed.
pub(crate) async fn run(
    worker: Arc<Worker>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        match session(&worker, &mut stop, &mut ready).await {
            Ended::Stopped => return,
            Ended::Changed => attempt = 0,
            Ended::Failed { error, consumed } => {
                worker.stats.consuming.store(false, Ordering::Relaxed);
                worker.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                if consumed {
                    attempt = 0;
                }
                let delay = backoff(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(channel = %worker.config.name, error = %error, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "redis stream channel lost its server; reconnecting");
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(error));
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

fn failed(what: &str, e: &redis::RedisError, consumed: bool) -> Ended {
    Ended::Failed {
        error: format!("{what}: {e}"),
        consumed,
    }
}

async fn session(
    worker: &Arc<Worker>,
    stop: &mut watch::Receiver<bool>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let config = &worker.config;
    let Some(conn) = worker
        .platform
        .outgoing()
        .get::<RedisConnection>(&config.connection)
    else {
        return Ended::Failed {
            error: format!("no redis connection named `{}`", config.connection),
            consumed: false,
        };
    };
    let mut changes = conn.subscribe();
    changes.borrow_and_update();
    let server = conn.config();
    let client = conn.client();
    drop(conn);
    if !server.is_active {
        tracing::info!(channel = %config.name, "redis connection inactive: the channel waits");
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        return tokio::select! {
            _ = stop.changed() => Ended::Stopped,
            _ = changes.changed() => Ended::Changed,
        };
    }
    let options = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(server.connect_timeout()))
        .set_response_timeout(Some(server.response_timeout() + config.block_duration()));
    let mut redis = match client
        .get_multiplexed_async_connection_with_config(&options)
        .await
    {
        Ok(c) => c,
        Err(e) => return failed("cannot connect", &e, false),
    };
    if let Err(e) = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(client_name(&config.name, &config.consumer_name()))
        .query_async::<()>(&mut redis)
        .await
    {
        return failed("cannot name the connection", &e, false);
    }
    let created = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&config.stream)
        .arg(&config.group)
        .arg(&config.start_id)
        .arg("MKSTREAM")
        .query_async::<()>(&mut redis)
        .await;
    if let Err(e) = created
        && e.code() != Some("BUSYGROUP")
    {
        return failed("cannot create the consumer group", &e, false);
    }
    worker.stats.consuming.store(true, Ordering::Relaxed);
    tracing::info!(channel = %config.name, stream = %config.stream, group = %config.group, "redis stream channel consuming");
    if let Some(r) = ready.take() {
        let _ = r.send(Ok(()));
    }
    let consumer = config.consumer_name();
    // Its own pending entries first (a restart, a lost connection), from this cursor on.
    let mut history = Some("0-0".to_owned());
    let mut claim_cursor = "0-0".to_owned();
    let claim_every = (config.claim_idle_duration() / 4).max(Duration::from_millis(100));
    let mut last_claim = Instant::now();
    loop {
        let read = async {
            if let Some(cursor) = &history {
                read_group(&mut redis, config, &consumer, cursor, None).await
            } else if last_claim.elapsed() >= claim_every {
                last_claim = Instant::now();
                let reply: Result<StreamAutoClaimReply, _> = redis::cmd("XAUTOCLAIM")
                    .arg(&config.stream)
                    .arg(&config.group)
                    .arg(&consumer)
                    .arg(
                        u64::try_from(config.claim_idle_duration().as_millis()).unwrap_or(u64::MAX),
                    )
                    .arg(&claim_cursor)
                    .arg("COUNT")
                    .arg(config.batch)
                    .query_async(&mut redis)
                    .await;
                reply.map(|r| {
                    claim_cursor = r.next_stream_id;
                    worker
                        .stats
                        .claimed
                        .fetch_add(r.claimed.len() as u64, Ordering::Relaxed);
                    r.claimed
                })
            } else {
                read_group(
                    &mut redis,
                    config,
                    &consumer,
                    ">",
                    Some(config.block_duration()),
                )
                .await
            }
        };
        // A read cut short by a stop leaves what it fetched pending for this consumer: the
        // next session reads it first.
        let entries = tokio::select! {
            biased;
            _ = stop.changed() => return Ended::Stopped,
            _ = changes.changed() => return Ended::Changed,
            entries = read => match entries {
                Ok(entries) => entries,
                Err(e) => return failed("cannot read the stream", &e, true),
            },
        };
        if let Some(cursor) = &mut history {
            match entries.last() {
                Some(last) => *cursor = last.id.clone(),
                None => history = None,
            }
        }
        if entries.is_empty() {
            continue;
        }
        // The batch is handled to the end, even when a stop comes: each entry is settled.
        let handled = futures_util::future::join_all(
            entries
                .into_iter()
                .map(|entry| handle(worker, redis.clone(), &consumer, entry)),
        )
        .await;
        if let Some(e) = handled.into_iter().find_map(Result::err) {
            return failed("cannot settle an entry", &e, true);
        }
    }
}

async fn read_group(
    redis: &mut MultiplexedConnection,
    config: &RedisStreamConfig,
    consumer: &str,
    from: &str,
    block: Option<Duration>,
) -> Result<Vec<StreamId>, redis::RedisError> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(&config.group)
        .arg(consumer)
        .arg("COUNT")
        .arg(config.batch);
    if let Some(block) = block {
        cmd.arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(60_000).max(1));
    }
    cmd.arg("STREAMS").arg(&config.stream).arg(from);
    let reply: Option<StreamReadReply> = cmd.query_async(redis).await?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .collect())
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The error as one bounded line.
fn error_line(err: &ServiceError) -> String {
    let mut line: String = err
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_ERROR_FIELD {
        let mut end = MAX_ERROR_FIELD;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

fn is_malformed(err: &ServiceError) -> bool {
    matches!(err.status().as_u16(), 400 | 413 | 415 | 422)
}

/// Handles one entry and settles it: `XACK` after success; after a failure, left pending (it
/// is claimed again after `claim_idle`) until it has been delivered `max_deliveries` times,
/// then dead-lettered. An `Err` is a failure to settle: the entry stays pending.
async fn handle(
    worker: &Worker,
    mut redis: MultiplexedConnection,
    consumer: &str,
    entry: StreamId,
) -> Result<(), redis::RedisError> {
    let stats = &worker.stats;
    let config = &worker.config;
    stats.received.fetch_add(1, Ordering::Relaxed);
    let cid = Cid::new();
    let mut params: Vec<(String, String)> = vec![
        ("stream".to_owned(), config.stream.clone()),
        ("entry_id".to_owned(), entry.id.clone()),
    ];
    let mut body = None;
    for (field, value) in &entry.map {
        if *field == config.body_field {
            body = match value {
                redis::Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
                other => text(other).map(Bytes::from),
            };
        } else if let Some(v) = text(value) {
            params.push((field.clone(), v));
        }
    }
    let result = match body {
        None => Err(ServiceError::bad_request(format!(
            "the entry has no field `{}`",
            config.body_field
        ))),
        Some(body) if body.len() as u64 > config.max_bytes => {
            let limit = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
            Err(ServiceError::from(SioError::PayloadTooLarge { limit }))
        }
        Some(body) => {
            let raw = RawRequest::new(cid, worker.info.clone(), body).with_channel_params(params);
            let limit = config.timeout_duration();
            match tokio::time::timeout(limit, worker.platform.invoke_raw(&config.service, raw))
                .await
            {
                Ok(inv) => inv.result.map(|_| ()),
                Err(_) => Err(ServiceError::Timeout(limit)),
            }
        }
    };
    let err = match result {
        Ok(()) => {
            redis::cmd("XACK")
                .arg(&config.stream)
                .arg(&config.group)
                .arg(&entry.id)
                .query_async::<u64>(&mut redis)
                .await
                .inspect_err(|_| {
                    stats.unsettled.fetch_add(1, Ordering::Relaxed);
                })?;
            stats.acked.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Err(err) => err,
    };
    let pending: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&config.stream)
        .arg(&config.group)
        .arg(&entry.id)
        .arg(&entry.id)
        .arg(1)
        .query_async(&mut redis)
        .await?;
    let deliveries = pending
        .ids
        .first()
        .map_or(1, |p| u64::try_from(p.times_delivered).unwrap_or(u64::MAX));
    let malformed = is_malformed(&err);
    if !malformed && deliveries < u64::from(config.max_deliveries) {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cid, channel = %config.name, id = %entry.id, deliveries, error = %err, "entry failed: left pending, claimed again after claim_idle");
        return Ok(());
    }
    let line = error_line(&err);
    let dead = config.dead_letter_stream();
    let mut fields: Vec<(String, Vec<u8>)> = entry
        .map
        .iter()
        .filter(|(f, _)| !f.starts_with("zato_"))
        .filter_map(|(f, v)| match v {
            redis::Value::BulkString(b) => Some((f.clone(), b.clone())),
            other => text(other).map(|t| (f.clone(), t.into_bytes())),
        })
        .collect();
    let status = err.status().as_u16().to_string();
    for (f, v) in [
        (ERROR_FIELD, line.as_str()),
        (STATUS_FIELD, status.as_str()),
        (ID_FIELD, entry.id.as_str()),
        (DELIVERIES_FIELD, &deliveries.to_string()),
        (CID_FIELD, &cid.to_string()),
    ] {
        fields.push((f.to_owned(), v.as_bytes().to_vec()));
    }
    let mut xadd = redis::cmd("XADD");
    xadd.arg(&dead)
        .arg("MAXLEN")
        .arg("~")
        .arg(config.dead_letter_max_len)
        .arg("*");
    for (f, v) in &fields {
        xadd.arg(f).arg(v);
    }
    // Both or neither: the dead letter is written and the entry acknowledged in one transaction.
    let mut tx = redis::pipe();
    tx.atomic().add_command(xadd).ignore();
    tx.cmd("XACK")
        .arg(&config.stream)
        .arg(&config.group)
        .arg(&entry.id)
        .ignore();
    tx.query_async::<()>(&mut redis).await.inspect_err(|_| {
        stats.unsettled.fetch_add(1, Ordering::Relaxed);
    })?;
    stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%cid, channel = %config.name, id = %entry.id, deliveries, dead_letters = %dead, error = %line, consumer, "entry dead-lettered");
    Ok(())
}
