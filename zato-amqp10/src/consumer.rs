//! The consumer of one AMQP 1.0 channel: its own connection and receiver link, and the handling
//! and settlement of each message.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fe2o3_amqp::link::delivery::DeliveryInfo;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::definitions;
use fe2o3_amqp::types::messaging::{Body, Modified};
use fe2o3_amqp::types::primitives::{OrderedMap, Symbol, Value};
use fe2o3_amqp::{Delivery, Receiver};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use zato_core::sio::SioError;
use zato_core::{ChannelInfo, Cid, Platform, RawRequest, ServiceError};

use crate::config::{Amqp10ChannelConfig, Amqp10ConnectionConfig, FailedOutcome};
use crate::connection::{self, Amqp10Connection};
use crate::jms::{self, Amqp10Message, Amqp10Received};

/// The application property of a dead letter or a reply holding the error, one line.
pub const ERROR_PROPERTY: &str = "zato_error";
/// The application property of a dead letter or a reply holding the HTTP-like status.
pub const STATUS_PROPERTY: &str = "zato_status";
/// The application property of a dead letter or a reply holding the invocation's cid.
pub const CID_PROPERTY: &str = "zato_cid";
/// The error condition a message is rejected with after its last failed delivery.
pub const REJECT_CONDITION: &str = "zato:service-failed";

/// The longest error line carried by a dead letter or a rejection, in bytes.
const MAX_ERROR_LINE: usize = 1024;
/// The first pause after a failure to consume; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stopping consumer waits for its settlements and its link's close, beyond the
/// service's own timeout.
const SETTLE_MARGIN: Duration = Duration::from_secs(10);
/// The most messages whose failed deliveries a channel remembers (for brokers whose
/// `delivery-count` stays 0); past that it forgets them all and counts afresh.
const MAX_REMEMBERED: usize = 10_000;

/// What a channel has done, counted as it goes.
#[derive(Debug, Default)]
pub(crate) struct ChannelStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) unsettled: AtomicU64,
    pub(crate) too_large: AtomicU64,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) replies_lost: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) consuming: AtomicBool,
}

/// What one running consumer needs.
pub(crate) struct Worker {
    pub(crate) config: Arc<Amqp10ChannelConfig>,
    pub(crate) info: Arc<ChannelInfo>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<ChannelStats>,
    pub(crate) connection: Arc<Amqp10Connection>,
    /// Failed deliveries by message, for brokers that do not count them in the header.
    pub(crate) failures: Mutex<HashMap<u64, u32>>,
}

/// How a session of the consumer ended.
enum Ended {
    Stopped,
    Changed,
    Failed(String),
}

/// How a message is settled.
enum Settle {
    Accept,
    /// Given back for redelivery, as failed.
    Modify,
    /// Accepted once its copy with the error went to `dead_letter_address`.
    Forwarded,
    /// Rejected with an error, for the broker's dead-lettering.
    Reject(definitions::Error),
}

/// A pause of about `FIRST_BACKOFF * 2^attempt`, at most [`MAX_BACKOFF`], drawn between half
/// and all of it so that channels do not come back in step.
fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = full / 2;
    half + half.mul_f64((random % 1000) as f64 / 1000.0)
}

/// Runs the channel until `stop`: connects, consumes, and after a failure (backing off) or a
/// change of its connection connects again. `ready` hears once whether it consumes.
pub(crate) async fn run(
    worker: Arc<Worker>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut changes = worker.connection.subscribe();
    let mut attempt = 0u32;
    loop {
        changes.borrow_and_update();
        let conn = worker.connection.config();
        if !conn.is_active {
            if let Some(r) = ready.take() {
                let _ = r.send(Err("its connection is inactive".to_owned()));
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = changes.changed() => continue,
            }
        }
        let received = worker.stats.received.load(Ordering::Relaxed);
        let ended = session(&worker, &conn, &mut stop, &mut changes, &mut ready).await;
        worker.stats.consuming.store(false, Ordering::Relaxed);
        match ended {
            Ended::Stopped => break,
            Ended::Changed => {
                tracing::info!(channel = %worker.config.name, "amqp10 connection changed: consuming with its new settings");
                attempt = 0;
            }
            Ended::Failed(why) => {
                if worker.stats.received.load(Ordering::Relaxed) > received {
                    attempt = 0;
                }
                let pause = backoff(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(channel = %worker.config.name, error = %why, retry_in = ?pause, "amqp10 channel not consuming");
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(why));
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = changes.changed() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    worker.stats.consuming.store(false, Ordering::Relaxed);
}

/// One connection's worth of consuming.
async fn session(
    worker: &Arc<Worker>,
    conn: &Amqp10ConnectionConfig,
    stop: &mut watch::Receiver<bool>,
    changes: &mut watch::Receiver<u64>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let config = &worker.config;
    let container = format!(
        "{}-channel-{}-{}",
        conn.container(),
        config.name,
        Cid::new()
    );
    let mut opened = match connection::open(conn, &container).await {
        Ok(o) => o,
        Err(why) => return Ended::Failed(why),
    };
    let limit = conn.timeout_duration();
    let attached = tokio::time::timeout(
        limit,
        Receiver::builder()
            .name(format!("zato-{}-{}", config.name, Cid::new()))
            .source(connection::durable_source(&config.address))
            .credit_mode(CreditMode::Auto(config.credit))
            .auto_accept(false)
            .attach(&mut opened.session),
    )
    .await;
    let mut receiver = match attached {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            opened.close(limit).await;
            return Ended::Failed(format!("cannot receive from `{}`: {e}", config.address));
        }
        Err(_) => {
            opened.close(limit).await;
            return Ended::Failed(format!(
                "no link from `{}` within {limit:?}",
                config.address
            ));
        }
    };
    worker.stats.consuming.store(true, Ordering::Relaxed);
    tracing::info!(channel = %config.name, address = %config.address, credit = config.credit, "amqp10 channel consuming");
    if let Some(r) = ready.take() {
        let _ = r.send(Ok(()));
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(DeliveryInfo, Settle)>();
    let mut tasks = JoinSet::new();
    let most = config.credit as usize;
    let mut under_way = 0usize;
    let ended = loop {
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            biased;
            _ = stop.changed() => break Ended::Stopped,
            _ = changes.changed() => break Ended::Changed,
            Some((info, settle)) = done_rx.recv() => {
                under_way -= 1;
                if let Err(why) = dispose(worker, &receiver, info, settle).await {
                    break Ended::Failed(why);
                }
            }
            next = receiver.recv::<Body<Value>>(), if under_way < most => match next {
                Ok(delivery) => {
                    under_way += 1;
                    let worker = worker.clone();
                    let done = done_tx.clone();
                    tasks.spawn(async move {
                        let (info, settle) = handle(&worker, delivery).await;
                        let _ = done.send((info, settle));
                    });
                }
                Err(e) => break Ended::Failed(format!("receiving from `{}` failed: {e}", config.address)),
            },
        }
    };
    worker.stats.consuming.store(false, Ordering::Relaxed);
    if matches!(ended, Ended::Failed(_)) {
        worker.stats.disconnects.fetch_add(1, Ordering::Relaxed);
    }
    // The messages under way finish and are settled on this link, within a bound; those that
    // are not come again once the link closes.
    let deadline = tokio::time::Instant::now() + config.timeout_duration() + SETTLE_MARGIN;
    while under_way > 0 {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some((info, settle))) => {
                under_way -= 1;
                let _ = dispose(worker, &receiver, info, settle).await;
            }
            _ => {
                tracing::warn!(channel = %config.name, under_way, "messages still under way at the deadline: left to be delivered again");
                tasks.abort_all();
                break;
            }
        }
    }
    let _ = tokio::time::timeout(limit, receiver.close()).await;
    opened.close(limit).await;
    ended
}

/// Settles one delivery; an error means the link is gone.
async fn dispose(
    worker: &Worker,
    receiver: &Receiver,
    info: DeliveryInfo,
    settle: Settle,
) -> Result<(), String> {
    let stats = &worker.stats;
    let (result, counter) = match settle {
        Settle::Accept => (receiver.accept(info).await, &stats.acked),
        Settle::Forwarded => (receiver.accept(info).await, &stats.dead_lettered),
        Settle::Modify => (
            match worker.config.failed_outcome {
                FailedOutcome::Released => receiver.release(info).await,
                _ => {
                    receiver
                        .modify(
                            info,
                            Modified {
                                delivery_failed: Some(true),
                                undeliverable_here: None,
                                message_annotations: None,
                            },
                        )
                        .await
                }
            },
            &stats.redelivered,
        ),
        Settle::Reject(error) => (receiver.reject(info, error).await, &stats.dead_lettered),
    };
    match result {
        Ok(()) => {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            stats.unsettled.fetch_add(1, Ordering::Relaxed);
            Err(format!("settling a message failed: {e}"))
        }
    }
}

/// The key under which the failures of a message are remembered.
fn identity(message: &Amqp10Received) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match &message.message_id {
        Some(id) => id.hash(&mut h),
        None => {
            message.body.hash(&mut h);
            message.properties.hash(&mut h);
        }
    }
    h.finish()
}

/// The parameters a service sees of a message: its properties, then its application
/// properties.
fn params_of(
    config: &Amqp10ChannelConfig,
    m: &Amqp10Received,
    delivery: u32,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("address".to_owned(), config.address.clone()),
        ("delivery_count".to_owned(), delivery.to_string()),
    ];
    for (name, value) in [
        ("message_id", &m.message_id),
        ("correlation_id", &m.correlation_id),
        ("reply_to", &m.reply_to),
        ("subject", &m.subject),
        ("content_type", &m.content_type),
    ] {
        if let Some(v) = value {
            params.push((name.to_owned(), v.clone()));
        }
    }
    params.extend(m.properties.iter().cloned());
    params
}

/// Handles one message: invokes the service and says how to settle it.
async fn handle(worker: &Worker, delivery: Delivery<Body<Value>>) -> (DeliveryInfo, Settle) {
    let stats = &worker.stats;
    let config = &worker.config;
    stats.received.fetch_add(1, Ordering::Relaxed);
    let cid = Cid::new();
    let message = jms::received(delivery.message());
    let info = DeliveryInfo::from(delivery);
    let key = identity(&message);
    let remembered = worker
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .copied()
        .unwrap_or(0);
    // This delivery's number: the broker's count of earlier ones, or ours when it keeps none.
    let delivery_no = message.delivery_count.max(remembered).saturating_add(1);
    let correlation = message
        .correlation_id
        .clone()
        .or_else(|| message.message_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("amqp10", %cid, channel = %config.name, correlation_id = %correlation, delivery = delivery_no);
    let settle = async {
        let size = message.body.len();
        let result = if u64::try_from(size).unwrap_or(u64::MAX) > config.max_bytes {
            stats.too_large.fetch_add(1, Ordering::Relaxed);
            let limit = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
            Err(ServiceError::from(SioError::PayloadTooLarge { limit }))
        } else {
            let mut raw = RawRequest::new(cid, worker.info.clone(), message.body.clone())
                .with_channel_params(params_of(config, &message, delivery_no));
            // A JMS bytes or text message says octet-stream or text/plain whatever it holds: the
            // channel's data format reads it then; a structured type (JSON, XML, SOAP, a form)
            // is taken at its word.
            if let Some(ct) = &message.content_type
                && !is_opaque(ct)
            {
                raw = raw.with_content_type(ct.clone());
            }
            let limit = config.timeout_duration();
            match tokio::time::timeout(limit, worker.platform.invoke_raw(&config.service, raw)).await {
                Ok(inv) => inv.result,
                Err(_) => Err(ServiceError::Timeout(limit)),
            }
        };
        let err = match result {
            Ok(resp) => {
                if let Some(reply_to) = &message.reply_to {
                    let mut reply = if resp.content_type.starts_with("application/octet-stream") {
                        Amqp10Message::bytes(resp.body)
                    } else {
                        Amqp10Message::text(String::from_utf8_lossy(&resp.body).into_owned())
                    }
                    .with_content_type(resp.content_type.to_string())
                    .with_property(STATUS_PROPERTY, resp.status.as_u16().to_string())
                    .with_property(CID_PROPERTY, cid.to_string());
                    reply.correlation_id = Some(correlation.clone());
                    if let Err(e) = worker.connection.send(reply_to, reply).await {
                        // The request comes again rather than go unanswered.
                        stats.replies_lost.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(reply_to = %reply_to, error = %e, "amqp10 reply lost; the request comes again");
                        return Settle::Modify;
                    }
                    stats.replies_sent.fetch_add(1, Ordering::Relaxed);
                }
                forget(worker, key);
                return Settle::Accept;
            }
            Err(err) => err,
        };
        stats.failed.fetch_add(1, Ordering::Relaxed);
        let line = error_line(&err);
        let last = delivery_no >= config.max_deliveries;
        if !last && !is_malformed(&err) {
            tracing::warn!(status = err.status().as_u16(), error = %line, "service failed; the message comes again");
            worker
                .failures
                .lock()
                .map(|mut f| {
                    if f.len() >= MAX_REMEMBERED {
                        f.clear();
                    }
                    f.insert(key, delivery_no);
                })
                .ok();
            return Settle::Modify;
        }
        forget(worker, key);
        let status = err.status().as_u16().to_string();
        if let Some(dead_letters) = &config.dead_letter_address {
            let mut copy = match message.is_text {
                true => Amqp10Message::text(String::from_utf8_lossy(&message.body).into_owned()),
                false => Amqp10Message::bytes(message.body.clone()),
            };
            copy.message_id = message.message_id.clone();
            copy.correlation_id = message.correlation_id.clone();
            copy.reply_to = message.reply_to.clone();
            copy.subject = message.subject.clone();
            copy.content_type = message.content_type.clone();
            copy.properties = message.properties.clone();
            let copy = copy
                .with_property(ERROR_PROPERTY, line.clone())
                .with_property(STATUS_PROPERTY, status)
                .with_property(CID_PROPERTY, cid.to_string())
                .with_property("zato_channel", config.name.clone())
                .with_property("zato_delivery_count", delivery_no.to_string());
            return match worker.connection.send(dead_letters, copy).await {
                Ok(()) => {
                    tracing::warn!(dead_letter = %dead_letters, error = %line, "message dead-lettered");
                    Settle::Forwarded
                }
                Err(e) => {
                    tracing::error!(dead_letter = %dead_letters, error = %e, "message could not be dead-lettered; it comes again");
                    Settle::Modify
                }
            };
        }
        tracing::warn!(error = %line, "message rejected for the broker's dead-lettering");
        let mut info_fields = OrderedMap::new();
        info_fields.insert(Symbol::from(STATUS_PROPERTY), Value::String(status));
        info_fields.insert(Symbol::from(CID_PROPERTY), Value::String(cid.to_string()));
        Settle::Reject(definitions::Error::new(
            fe2o3_amqp::types::definitions::ErrorCondition::Custom(Symbol::from(REJECT_CONDITION)),
            Some(line),
            Some(info_fields),
        ))
    }
    .instrument(span)
    .await;
    (info, settle)
}

fn forget(worker: &Worker, key: u64) {
    worker
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&key);
}

/// The error as one bounded line.
fn error_line(err: &ServiceError) -> String {
    let mut line: String = err
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_ERROR_LINE {
        let mut end = MAX_ERROR_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}

/// Whether a content type says nothing of the body's structure.
fn is_opaque(content_type: &str) -> bool {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        base.as_str(),
        "application/octet-stream" | "text/plain" | ""
    )
}

/// Whether the service refused the message itself: delivering it again cannot help.
fn is_malformed(err: &ServiceError) -> bool {
    matches!(err.status().as_u16(), 400 | 413 | 415 | 422)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            let full = FIRST_BACKOFF
                .saturating_mul(1u32 << attempt.min(16))
                .min(MAX_BACKOFF);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?} of {full:?}");
        }
    }

    #[test]
    fn error_lines_are_one_bounded_line() {
        let err = ServiceError::bad_request(format!("a\r\nb{}", "x".repeat(5000)));
        let line = error_line(&err);
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(line.len() <= MAX_ERROR_LINE + 3);
        assert!(is_malformed(&err));
        assert!(!is_malformed(&ServiceError::internal("down")));
    }
}
