//! One MQTT channel at work: a client of its own with manual acknowledgements, subscribing to
//! the channel's filters, handing each message to its service and acknowledging it (QoS 1 and
//! 2) only once the outcome is safe: the service succeeded, or the dead letter was taken by the
//! broker.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use rumqttc::{
    AsyncClient, Event, Incoming, Outgoing, Publish, QoS, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use zato_core::{ChannelInfo, Cid, Platform, RawRequest, ServiceError};

use crate::config::{MqttChannelConfig, MqttConfig, qos_of};
use crate::connection::MqttConnection;
use crate::link::{Link, options};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_ERROR: usize = 1000;
/// How long a dead letter waits for the broker's acknowledgement.
const DEAD_LETTER_WAIT: Duration = Duration::from_secs(30);

/// What one channel has done, for metrics.
#[derive(Debug, Default)]
pub(crate) struct ChannelStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) unsettled: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) consuming: AtomicBool,
}

/// Everything a channel's task shares.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) config: Arc<MqttChannelConfig>,
    pub(crate) info: Arc<ChannelInfo>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<ChannelStats>,
    /// Filters of the channel's previous configuration that it no longer lists.
    pub(crate) unsubscribe: Vec<String>,
}

enum Ended {
    Stopped,
    Changed,
    Failed { error: String, consumed: bool },
}

/// The delay before reconnect attempt `attempt` (0 first): doubling from 200 ms up to 30 s, each
/// drawn between half and all of it.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// Runs the channel until `stop` says so. `ready` hears whether the first session subscribed.
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
                tracing::warn!(channel = %worker.config.name, error = %error, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "mqtt channel lost its broker; reconnecting");
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

/// The channel's client options: the connection's broker and credentials, the channel's own
/// client id and session, manual acknowledgements, no will.
pub(crate) fn channel_options(
    server: &MqttConfig,
    config: &MqttChannelConfig,
    clean_session: bool,
) -> Result<rumqttc::MqttOptions, String> {
    let mut server = server.clone();
    server.will = None;
    let mut options =
        options(&server, &config.client_id(), clean_session).map_err(|e| e.to_string())?;
    options.set_manual_acks(true);
    Ok(options)
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
        .get::<MqttConnection>(&config.connection)
    else {
        return Ended::Failed {
            error: format!("no mqtt connection named `{}`", config.connection),
            consumed: false,
        };
    };
    let mut changes = conn.subscribe();
    changes.borrow_and_update();
    let server = conn.config();
    drop(conn);
    if !server.is_active {
        tracing::info!(channel = %config.name, "mqtt connection inactive: the channel waits");
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        return tokio::select! {
            _ = stop.changed() => Ended::Stopped,
            _ = changes.changed() => Ended::Changed,
        };
    }
    let options = match channel_options(&server, config, !config.persistent) {
        Ok(o) => o,
        Err(error) => {
            return Ended::Failed {
                error,
                consumed: false,
            };
        }
    };
    let in_flight = usize::from(config.max_in_flight);
    let (client, eventloop) = AsyncClient::new(options, in_flight.saturating_mul(2).max(100));
    let link = Arc::new(Link::new(client.clone()));
    // The event loop runs in a task of its own, never cancelled halfway through a packet (its
    // `poll` is not cancel-safe); it ends at the first error, and the session with it.
    let (events_tx, mut events) = mpsc::channel(64);
    let driver = tokio::spawn(drive(eventloop, link.clone(), events_tx));
    let slots = Arc::new(Semaphore::new(in_flight));
    // Messages received and not yet settled; more than this many (QoS 0 only, since the broker
    // sends no more unacknowledged QoS 1 and 2 messages than its in-flight limit) are dropped.
    let max_held = in_flight.saturating_mul(10).max(1000);
    let (unsettled_tx, mut unsettled_rx) = mpsc::channel::<()>(1);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut first = true;
    let mut ended: Option<Ended> = None;
    let mut deadline = None;
    let mut disconnecting = false;
    // QoS 2 messages acknowledged (PUBREC queued), PUBRECs sent, and exchanges not yet
    // completed (PUBCOMP): the session is left only once every exchange completed, since the
    // client of the next session would refuse the broker's PUBREL of an exchange it does not
    // know.
    let qos2_acked = Arc::new(AtomicU64::new(0));
    let mut pubrecs = 0u64;
    let mut open: HashSet<u16> = HashSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let exchanges_done = open.is_empty() && pubrecs >= qos2_acked.load(Ordering::SeqCst);
        if ended.is_some() && running.is_empty() && exchanges_done && !disconnecting {
            // Everything held is settled: say goodbye, so the broker keeps the session as is.
            disconnecting = true;
            let _ = client.try_disconnect();
            deadline = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        }
        let until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = stop.changed(), if ended.is_none() => {
                ended = Some(Ended::Stopped);
                deadline = Some(tokio::time::Instant::now() + config.timeout_duration() + Duration::from_secs(10));
            }
            _ = changes.changed(), if ended.is_none() => {
                ended = Some(Ended::Changed);
                deadline = Some(tokio::time::Instant::now() + config.timeout_duration() + Duration::from_secs(10));
            }
            Some(()) = unsettled_rx.recv(), if ended.is_none() => {
                // A message could not be settled: only a new session makes the broker send it
                // again.
                ended = Some(Ended::Failed { error: "a message could not be settled".to_owned(), consumed: true });
                deadline = Some(tokio::time::Instant::now() + config.timeout_duration() + Duration::from_secs(10));
            }
            () = tokio::time::sleep_until(until), if deadline.is_some() => {
                // What is still held goes unacknowledged: the broker sends it again.
                running.abort_all();
                break;
            }
            event = events.recv() => match event.unwrap_or_else(|| Err("the event loop ended".to_owned())) {
                Ok(event) => {
                    match event {
                        Event::Incoming(Incoming::ConnAck(ack)) => {
                            if first || !ack.session_present {
                                let filters: Vec<SubscribeFilter> = config
                                    .topics
                                    .iter()
                                    .map(|t| SubscribeFilter::new(t.clone(), qos_of(config.qos)))
                                    .collect();
                                if let Err(e) = client.try_subscribe_many(filters) {
                                    ended.get_or_insert(Ended::Failed { error: format!("cannot subscribe: {e}"), consumed: false });
                                }
                                if first && !worker.unsubscribe.is_empty() {
                                    for topic in &worker.unsubscribe {
                                        let _ = client.try_unsubscribe(topic.clone());
                                    }
                                }
                            }
                            first = false;
                        }
                        Event::Incoming(Incoming::SubAck(ack)) => {
                            if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                                let error = format!("the broker refused a subscription to {:?}", config.topics);
                                if let Some(r) = ready.take() {
                                    let _ = r.send(Err(error.clone()));
                                }
                                ended.get_or_insert(Ended::Failed { error, consumed: false });
                                deadline.get_or_insert(tokio::time::Instant::now());
                            } else {
                                worker.stats.consuming.store(true, Ordering::Relaxed);
                                tracing::info!(channel = %config.name, topics = ?config.topics, qos = config.qos, "mqtt channel subscribed");
                                if let Some(r) = ready.take() {
                                    let _ = r.send(Ok(()));
                                }
                            }
                        }
                        Event::Incoming(Incoming::Publish(publish)) => {
                            if ended.is_some() {
                                // Not handled, not acknowledged: the broker sends it again.
                                continue;
                            }
                            worker.stats.received.fetch_add(1, Ordering::Relaxed);
                            if running.len() >= max_held {
                                worker.stats.dropped.fetch_add(1, Ordering::Relaxed);
                                if publish.qos == QoS::AtMostOnce {
                                    tracing::warn!(channel = %config.name, topic = %publish.topic, "mqtt channel holds {max_held} messages: a QoS 0 message dropped");
                                } else {
                                    let _ = unsettled_tx.try_send(());
                                }
                                continue;
                            }
                            let (worker, link, slots, unsettled, stop, qos2_acked) = (worker.clone(), link.clone(), slots.clone(), unsettled_tx.clone(), stop.clone(), qos2_acked.clone());
                            running.spawn(async move {
                                let Ok(_permit) = slots.acquire_owned().await else { return };
                                let qos2 = publish.qos == QoS::ExactlyOnce;
                                match handle(&worker, &link, publish, stop).await {
                                    Outcome::Unsettled => {
                                        let _ = unsettled.try_send(());
                                    }
                                    Outcome::Settled if qos2 => {
                                        qos2_acked.fetch_add(1, Ordering::SeqCst);
                                    }
                                    _ => {}
                                }
                            });
                        }
                        Event::Outgoing(Outgoing::PubRec(pkid)) => {
                            pubrecs += 1;
                            open.insert(pkid);
                        }
                        Event::Outgoing(Outgoing::PubComp(pkid)) => {
                            open.remove(&pkid);
                        }
                        Event::Outgoing(Outgoing::Disconnect) if disconnecting => break,
                        _ => {}
                    }
                }
                Err(e) => {
                    if disconnecting {
                        break;
                    }
                    worker.stats.consuming.store(false, Ordering::Relaxed);
                    if ended.is_none() {
                        ended = Some(Ended::Failed { error: format!("the connection failed: {e}"), consumed: !first });
                    }
                    // Their acknowledgements could no longer reach the broker: the handlers are
                    // stopped, and the broker sends those messages again to the next session.
                    running.abort_all();
                    break;
                }
            },
        }
    }
    driver.abort();
    worker.stats.consuming.store(false, Ordering::Relaxed);
    ended.unwrap_or(Ended::Stopped)
}

/// Polls `eventloop`, settling `link`'s publications, and forwards each event until the first
/// error (forwarded too) or until no one listens.
async fn drive(
    mut eventloop: rumqttc::EventLoop,
    link: Arc<Link>,
    events: mpsc::Sender<Result<Event, String>>,
) {
    loop {
        let event = eventloop.poll().await;
        if let Ok(event) = &event {
            link.on_event(event);
        }
        let failed = event.is_err();
        if events.send(event.map_err(|e| e.to_string())).await.is_err() || failed {
            return;
        }
    }
}

/// How a message ended.
enum Outcome {
    /// Acknowledged, after its service succeeded or its dead letter was taken.
    Settled,
    /// Left unacknowledged because the channel stops: the broker sends it again.
    Abandoned,
    /// The acknowledgement or the dead letter failed.
    Unsettled,
}

fn error_line(err: &ServiceError) -> String {
    let mut line: String = err
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
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

/// Hands `publish` to the service, up to `max_deliveries` times `retry_delay` apart, then
/// dead-letters it; acknowledges it once settled.
async fn handle(
    worker: &Worker,
    link: &Link,
    publish: Publish,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let config = &worker.config;
    let stats = &worker.stats;
    let params = vec![
        ("topic".to_owned(), publish.topic.clone()),
        ("qos".to_owned(), (publish.qos as u8).to_string()),
        ("retain".to_owned(), publish.retain.to_string()),
        ("dup".to_owned(), publish.dup.to_string()),
    ];
    let body = Bytes::clone(&publish.payload);
    let mut deliveries = 0u32;
    let (cid, err) = loop {
        deliveries += 1;
        let cid = Cid::new();
        let raw = RawRequest::new(cid, worker.info.clone(), body.clone())
            .with_channel_params(params.clone());
        let limit = config.timeout_duration();
        let result =
            match tokio::time::timeout(limit, worker.platform.invoke_raw(&config.service, raw))
                .await
            {
                Ok(inv) => inv.result.map(|_| ()),
                Err(_) => Err(ServiceError::Timeout(limit)),
            };
        let err = match result {
            Ok(()) => {
                if link.client.ack(&publish).await.is_err() {
                    stats.unsettled.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Unsettled;
                }
                stats.acked.fetch_add(1, Ordering::Relaxed);
                return Outcome::Settled;
            }
            Err(err) => err,
        };
        if is_malformed(&err) || deliveries >= config.max_deliveries {
            break (cid, err);
        }
        stats.retried.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cid, channel = %config.name, topic = %publish.topic, deliveries, error = %err, "mqtt message failed: tried again after retry_delay");
        tokio::select! {
            () = tokio::time::sleep(config.retry_delay_duration()) => {}
            _ = stop.changed() => return Outcome::Abandoned,
        }
    };
    let line = error_line(&err);
    let mut letter = serde_json::json!({
        "topic": publish.topic,
        "error": line,
        "status": err.status().as_u16(),
        "deliveries": deliveries,
        "cid": cid.to_string(),
        "channel": config.name,
    });
    match std::str::from_utf8(&publish.payload) {
        Ok(text) => letter["payload"] = text.into(),
        Err(_) => {
            letter["payload_base64"] = base64::engine::general_purpose::STANDARD
                .encode(&publish.payload)
                .into()
        }
    }
    let dead = config.dead_letter_topic();
    let sent = link
        .publish(
            &dead,
            QoS::AtLeastOnce,
            false,
            letter.to_string().into_bytes(),
            DEAD_LETTER_WAIT,
        )
        .await;
    if let Err(why) = sent {
        stats.unsettled.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cid, channel = %config.name, dead_letters = %dead, error = ?why, "mqtt dead letter not acknowledged: the message stays unacknowledged");
        return Outcome::Unsettled;
    }
    if link.client.ack(&publish).await.is_err() {
        stats.unsettled.fetch_add(1, Ordering::Relaxed);
        return Outcome::Unsettled;
    }
    stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%cid, channel = %config.name, topic = %publish.topic, deliveries, dead_letters = %dead, error = %line, "mqtt message dead-lettered");
    Outcome::Settled
}

/// Ends the persistent session of a removed channel: connects once with a clean session under
/// its client id, so that the broker stops queueing messages for it. Best effort, within a few
/// seconds.
pub(crate) async fn forget_session(platform: &Platform, config: &MqttChannelConfig) {
    let Some(conn) = platform
        .outgoing()
        .get::<MqttConnection>(&config.connection)
    else {
        return;
    };
    let Ok(options) = channel_options(&conn.config(), config, true) else {
        return;
    };
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let _ = client.try_disconnect();
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    if done.is_err() {
        tracing::warn!(channel = %config.name, "mqtt channel removed; its session at the broker could not be ended");
    }
}
