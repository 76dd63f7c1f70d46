//! One AMQP channel at work: a consumer that reconnects with backoff and jitter, hands each
//! message to its service, and settles it only once the outcome is safe with the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use zato_core::sio::SioError;
use zato_core::telemetry::{Parent, Span, SpanKind, SpanStart, TraceContext, attr};
use zato_core::{ChannelInfo, Cid, Platform, RawRequest, ServiceError, render_error};

use super::config::{AmqpChannelConfig, OnError};
use super::connection::{AmqpConnection, open, publish_confirmed};

/// The header counting how many times a failed message was put back on its queue. It is read
/// only on the copies the channel published itself, whose `user_id` is the channel's own user
/// (RabbitMQ lets no other user publish that): a sender's own is ignored.
pub const REDELIVERIES_HEADER: &str = "x-zato-redeliveries";
/// The header of a dead letter saying why it was dead-lettered.
pub const ERROR_HEADER: &str = "x-zato-error";
/// The header carrying the status of a reply or a dead letter.
pub const STATUS_HEADER: &str = "x-zato-status";
/// The header carrying the cid of the invocation.
pub const CID_HEADER: &str = "x-zato-cid";

/// The longest reconnect delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first reconnect delay.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// How long a failed settlement (the dead letter or the copy not confirmed) waits before the
/// message goes back to the broker, so a broken dead-letter route does not spin.
const SETTLE_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest error message put in a dead letter's header.
const MAX_ERROR_HEADER: usize = 1000;

/// What one channel has done, for metrics.
#[derive(Debug, Default)]
pub(crate) struct ChannelStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) requeued: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) unsettled: AtomicU64,
    pub(crate) too_large: AtomicU64,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) replies_lost: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) consuming: AtomicBool,
}

/// Everything a channel's tasks share.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) config: Arc<AmqpChannelConfig>,
    pub(crate) info: Arc<ChannelInfo>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<ChannelStats>,
}

/// Why a session with the broker ended.
enum Ended {
    /// The channel was stopped.
    Stopped,
    /// The connection's configuration changed: connect again at once.
    Changed,
    /// The broker went away or refused; `consumed` when it had been consuming.
    Failed { error: String, consumed: bool },
}

/// The delay before reconnect attempt `attempt` (0 first): doubling from 200 ms up to 30 s, each
/// drawn between half and all of it, so channels cut off together do not come back together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// Runs the channel until `stop` says so (or its sender goes). `ready` hears once whether the
/// first session began consuming.
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
                tracing::warn!(
                    channel = %worker.config.name,
                    error = ?error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "amqp channel lost its broker; reconnecting"
                );
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

async fn session(
    worker: &Arc<Worker>,
    stop: &mut watch::Receiver<bool>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let name = &worker.config.connection;
    let Some(conn) = worker.platform.outgoing().get::<AmqpConnection>(name) else {
        return Ended::Failed {
            error: format!("no AMQP connection named `{name}`"),
            consumed: false,
        };
    };
    let mut changes = conn.subscribe();
    changes.borrow_and_update();
    let config = conn.config();
    drop(conn);
    if !config.is_active {
        tracing::info!(channel = %worker.config.name, connection = %name, "amqp connection inactive: the channel waits");
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        return tokio::select! {
            _ = stop.changed() => Ended::Stopped,
            _ = changes.changed() => Ended::Changed,
        };
    }
    let broker = match open(&config, &format!("channel {}", worker.config.name)).await {
        Ok(broker) => broker,
        Err(e) => {
            return Ended::Failed {
                error: e.to_string(),
                consumed: false,
            };
        }
    };
    let ended = consume(worker, &broker, &config.username, stop, &mut changes, ready).await;
    worker.stats.consuming.store(false, Ordering::Relaxed);
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        broker.close(200, "channel stopped".into()),
    )
    .await;
    ended
}

fn failed(what: &str, e: &lapin::Error, consumed: bool) -> Ended {
    Ended::Failed {
        error: format!("{what}: {e}"),
        consumed,
    }
}

/// A unique consumer tag within this process.
fn consumer_tag(config: &AmqpChannelConfig) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}.{}.{}.{}",
        config.consumer_tag_prefix,
        config.name,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Consumes the channel's queue on `broker`, logged in as `user`.
async fn consume(
    worker: &Arc<Worker>,
    broker: &Connection,
    user: &str,
    stop: &mut watch::Receiver<bool>,
    changes: &mut watch::Receiver<u64>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let config = &worker.config;
    if config.declare
        && let Err(e) = declare(broker, config).await
    {
        return failed("cannot declare the queues", &e, false);
    }
    let channel = match broker.create_channel().await {
        Ok(c) => c,
        Err(e) => return failed("cannot open a channel", &e, false),
    };
    if let Err(e) = channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
    {
        return failed("cannot turn on publisher confirms", &e, false);
    }
    if let Err(e) = channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
    {
        return failed("cannot set the prefetch", &e, false);
    }
    let tag = consumer_tag(config);
    let mut consumer = match channel
        .basic_consume(
            ShortString::from(config.queue.as_str()),
            ShortString::from(tag.as_str()),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            return failed(
                &format!("cannot consume queue {:?}", config.queue),
                &e,
                false,
            );
        }
    };
    worker.stats.consuming.store(true, Ordering::Relaxed);
    tracing::info!(channel = %config.name, queue = %config.queue, prefetch = config.prefetch, "amqp channel consuming");
    if let Some(r) = ready.take() {
        let _ = r.send(Ok(()));
    }
    let slots = Arc::new(Semaphore::new(usize::from(config.prefetch)));
    let user: Arc<str> = Arc::from(user);
    let mut running = JoinSet::new();
    let ended = loop {
        while running.try_join_next().is_some() {}
        tokio::select! {
            biased;
            _ = stop.changed() => break Ended::Stopped,
            _ = changes.changed() => break Ended::Changed,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    // The broker sends no more than `prefetch` unsettled messages; the
                    // semaphore keeps the bound explicit.
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        break Ended::Stopped;
                    };
                    let worker = worker.clone();
                    let channel = channel.clone();
                    let user = user.clone();
                    running.spawn(async move {
                        handle(&worker, &channel, &user, delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => break failed("the consumer failed", &e, true),
                None => break Ended::Failed {
                    error: "the broker cancelled the consumer".to_owned(),
                    consumed: true,
                },
            },
        }
    };
    if matches!(ended, Ended::Stopped | Ended::Changed) {
        // No new deliveries; those already here are handled and settled before the connection
        // closes. Any the broker sent after the cancel stay unacknowledged and go back to the
        // queue when the connection closes.
        let _ = channel
            .basic_cancel(
                ShortString::from(tag.as_str()),
                BasicCancelOptions::default(),
            )
            .await;
    }
    // Handlers of a lost connection finish too: their settlement fails and the broker
    // redelivers, at least once.
    let drain = config.timeout_duration() + Duration::from_secs(10);
    if tokio::time::timeout(drain, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(channel = %config.name, "amqp channel: messages still being handled after {drain:?}; they go back to the queue");
        running.abort_all();
    }
    ended
}

/// Declares the queue, durable with its dead-letter route, when it is missing, and the
/// dead-letter queue (on the default exchange). Each declaration uses a channel of its own: a
/// refused one closes its channel.
async fn declare(broker: &Connection, config: &AmqpChannelConfig) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    if config.dead_letter_exchange.is_empty() {
        let ch = broker.create_channel().await?;
        if let Err(e) = ch
            .queue_declare(
                ShortString::from(config.dead_letter_key().as_str()),
                durable,
                FieldTable::default(),
            )
            .await
        {
            // It exists with other arguments: it is there, which is what counts.
            tracing::debug!(error = %e, "dead-letter queue not declared");
        }
        let _ = ch.close(200, "declared".into()).await;
    }
    let probe = broker.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let exists = probe
        .queue_declare(
            ShortString::from(config.queue.as_str()),
            passive,
            FieldTable::default(),
        )
        .await
        .is_ok();
    if exists {
        let _ = probe.close(200, "checked".into()).await;
        return Ok(());
    }
    let ch = broker.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(config.dead_letter_exchange.as_bytes())),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(LongString::from(config.dead_letter_key().as_bytes())),
    );
    ch.queue_declare(ShortString::from(config.queue.as_str()), durable, args)
        .await?;
    tracing::info!(queue = %config.queue, dead_letters = %config.dead_letter_key(), "amqp queue declared");
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// A header or property value as text, when it is a scalar.
fn text_of(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}

/// A message's channel parameters: its properties, then its headers with a scalar value.
pub(crate) fn channel_params(delivery: &Delivery) -> Vec<(String, String)> {
    let p = &delivery.properties;
    let mut params = vec![
        ("exchange".to_owned(), delivery.exchange.as_str().to_owned()),
        (
            "routing_key".to_owned(),
            delivery.routing_key.as_str().to_owned(),
        ),
        ("redelivered".to_owned(), delivery.redelivered.to_string()),
    ];
    for (name, value) in [
        ("content_type", p.content_type()),
        ("content_encoding", p.content_encoding()),
        ("correlation_id", p.correlation_id()),
        ("reply_to", p.reply_to()),
        ("message_id", p.message_id()),
        ("type", p.kind()),
        ("user_id", p.user_id()),
        ("app_id", p.app_id()),
        ("expiration", p.expiration()),
    ] {
        if let Some(v) = value {
            params.push((name.to_owned(), v.as_str().to_owned()));
        }
    }
    if let Some(priority) = p.priority() {
        params.push(("priority".to_owned(), priority.to_string()));
    }
    if let Some(ts) = p.timestamp() {
        params.push(("timestamp".to_owned(), ts.to_string()));
    }
    if let Some(headers) = p.headers() {
        for (k, v) in headers.inner() {
            if let Some(text) = text_of(v) {
                params.push((k.as_str().to_owned(), text));
            }
        }
    }
    params
}

/// How many times the message was put back by this channel (by any node of it).
///
/// The count travels in [`REDELIVERIES_HEADER`] of the copy the channel publishes back to the
/// queue, and a sender may set that header too (999 would skip every retry), so it is believed
/// only on a message whose `user_id` property is the channel's own user: the channel sets it on
/// every copy it publishes back, and RabbitMQ refuses a message whose `user_id` is not the user
/// that published it, so another user cannot forge it. On any other message the header is
/// ignored and the count starts at 0; a forged header costs its sender nothing but the retries
/// every message gets.
///
/// Chosen over the alternatives: RabbitMQ's own `x-delivery-count` exists on quorum queues only
/// and counts the broker's redeliveries (a nack with requeue), not the copies this channel
/// publishes to keep a message's place safe; a signature of the header would need a key shared
/// by every node of the channel, which is what the broker's check of `user_id` gives for free.
/// What it cannot tell apart is a sender logged in as the channel's own user: give channels a
/// user of their own. The copy's `user_id` replaces the sender's, whose message the broker
/// would otherwise refuse when the channel publishes it again under another user.
fn redeliveries(props: &BasicProperties, own_user: &str) -> u32 {
    let ours = props
        .user_id()
        .as_ref()
        .is_some_and(|u| u.as_str() == own_user);
    if !ours {
        return 0;
    }
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(REDELIVERIES_HEADER))
        .and_then(text_of)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// The properties of a copy of `props` with extra headers.
fn with_headers(props: &BasicProperties, extra: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    for (k, v) in extra {
        headers.insert((*k).into(), v.clone());
    }
    props.clone().with_headers(headers)
}

fn long(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text.as_bytes()))
}

/// The error as one bounded line for a header.
fn error_line(err: &ServiceError) -> String {
    let mut line: String = err
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_ERROR_HEADER {
        let mut end = MAX_ERROR_HEADER;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// Whether the service refused the message itself: retrying cannot help.
fn is_malformed(err: &ServiceError) -> bool {
    matches!(err.status().as_u16(), 400 | 413 | 415 | 422)
}

/// How a handled message was made safe before its ack.
enum Settled {
    /// Its service succeeded.
    Acked,
    /// A counted copy is on the queue.
    Requeued,
    /// It is with the dead letters.
    DeadLettered,
}

/// Sends `answer` to the message's `reply_to`, if it has one, with its correlation id, the cid
/// and the status. The request was handled: a reply that cannot be delivered is logged and
/// counted (`replies_lost`), and the request is not handled again.
///
/// The reply is mandatory: when no queue is bound at `reply_to` (the caller gave up and its
/// queue is gone) the broker returns it before its confirm, which is how the loss is seen; an
/// optional one would be confirmed and dropped without a word.
async fn reply(
    channel: &Channel,
    worker: &Worker,
    props: &BasicProperties,
    cid: Cid,
    answer: &zato_core::RawResponse,
    limit: Duration,
) {
    let Some(reply_to) = props.reply_to() else {
        return;
    };
    let config = &worker.config;
    let mut reply = BasicProperties::default()
        .with_content_type(ShortString::from(answer.content_type.as_ref()))
        .with_headers(reply_headers(cid, answer.status.as_u16()));
    if let Some(id) = props.correlation_id() {
        reply = reply.with_correlation_id(id.clone());
    }
    let sent = publish_confirmed(
        channel,
        "",
        reply_to.as_str(),
        true,
        &answer.body,
        reply,
        limit,
    );
    match sent.await {
        Ok(()) => {
            worker.stats.replies_sent.fetch_add(1, Ordering::Relaxed);
        }
        Err((_, why)) => {
            worker.stats.replies_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%cid, channel = %config.name, reply_to = ?reply_to.as_str(), error = ?why, "amqp reply lost");
        }
    }
}

/// Handles one message: invokes the service, replies when asked, and settles it. `user` is the
/// user the channel is logged in as.
async fn handle(worker: &Worker, channel: &Channel, user: &str, mut delivery: Delivery) {
    let stats = &worker.stats;
    let config = &worker.config;
    stats.received.fetch_add(1, Ordering::Relaxed);
    let cid = Cid::new();
    let params = channel_params(&delivery);
    // When tracing is on: a consumer span continuing the publisher's trace from the headers.
    let mut otel = match worker.platform.tracer() {
        None => Span::none(),
        Some(tracer) => {
            let remote = TraceContext::from_headers(|name| {
                params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            });
            let parent = remote.as_ref().map_or(Parent::Root, Parent::Of);
            let start = SpanStart::new(
                format!("process {}", config.queue),
                SpanKind::Consumer,
                parent,
                cid,
            )
            .attr(attr::MESSAGING_SYSTEM, "rabbitmq")
            .attr(attr::MESSAGING_OPERATION_TYPE, "process")
            .attr(attr::MESSAGING_DESTINATION_NAME, config.queue.clone())
            .attr(attr::ZATO_CHANNEL, config.name.clone());
            Span::start(&tracer, start, cid)
        }
    };
    let body = Bytes::from(std::mem::take(&mut delivery.data));
    let mut raw =
        RawRequest::new(cid, worker.info.clone(), body.clone()).with_channel_params(params);
    raw.trace = otel.context();
    if let Some(ct) = delivery.properties.content_type() {
        raw = raw.with_content_type(ct.as_str());
    }
    let reply_format = raw.reply_format();
    let limit = config.timeout_duration();
    let size = u64::try_from(body.len()).unwrap_or(u64::MAX);
    let too_large = size > config.max_bytes;
    let (reply_format, result) = if too_large {
        // The sender's mistake, as an HTTP body over its limit: never handed to the service.
        drop(raw);
        stats.too_large.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cid, channel = %config.name, bytes = size, max_bytes = config.max_bytes, "message over max_bytes: dead-lettered without invoking the service");
        let limit = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
        (
            reply_format,
            Err(ServiceError::from(SioError::PayloadTooLarge { limit })),
        )
    } else {
        match tokio::time::timeout(limit, worker.platform.invoke_raw(&config.service, raw)).await {
            Ok(inv) => (inv.reply, inv.result),
            Err(_) => (reply_format, Err(ServiceError::Timeout(limit))),
        }
    };
    if let Err(e) = &result {
        otel.error(&e.to_string());
    }
    drop(otel);
    let confirm_limit = Duration::from_secs(30);
    let props = &delivery.properties;
    let settled = match result {
        Ok(resp) => {
            reply(channel, worker, props, cid, &resp, confirm_limit).await;
            Ok(Settled::Acked)
        }
        Err(err) => {
            let line = if too_large {
                format!(
                    "the message has {size} bytes, more than max_bytes ({})",
                    config.max_bytes
                )
            } else {
                error_line(&err)
            };
            let count = redeliveries(props, user);
            if !is_malformed(&err)
                && config.on_error == OnError::Requeue
                && count < config.max_redeliveries
            {
                tracing::warn!(%cid, channel = %config.name, status = err.status().as_u16(), redelivery = count + 1, error = ?line, "service failed; message requeued");
                let copy = with_headers(
                    props,
                    &[(REDELIVERIES_HEADER, AMQPValue::LongUInt(count + 1))],
                )
                .with_user_id(ShortString::from(user));
                publish_confirmed(channel, "", &config.queue, true, &body, copy, confirm_limit)
                    .await
                    .map(|()| Settled::Requeued)
                    .map_err(|(_, why)| why)
            } else {
                tracing::warn!(%cid, channel = %config.name, status = err.status().as_u16(), error = ?line, "message dead-lettered");
                let letter = with_headers(
                    props,
                    &[
                        (ERROR_HEADER, long(&line)),
                        (STATUS_HEADER, AMQPValue::ShortUInt(err.status().as_u16())),
                        (CID_HEADER, long(&cid.to_string())),
                        ("x-zato-channel", long(&config.name)),
                        ("x-zato-queue", long(&config.queue)),
                    ],
                );
                let dead = publish_confirmed(
                    channel,
                    &config.dead_letter_exchange,
                    &config.dead_letter_key(),
                    true,
                    &body,
                    letter,
                    confirm_limit,
                )
                .await;
                if dead.is_ok() {
                    // The caller of an RPC hears the failure.
                    let rendered = render_error(&err, reply_format, cid);
                    reply(channel, worker, props, cid, &rendered, confirm_limit).await;
                }
                dead.map(|()| Settled::DeadLettered).map_err(|(_, why)| why)
            }
        }
    };
    match settled {
        Ok(outcome) => match delivery.ack(BasicAckOptions::default()).await {
            Ok(_) => {
                let counter = match outcome {
                    Settled::Acked => &stats.acked,
                    Settled::Requeued => &stats.requeued,
                    Settled::DeadLettered => &stats.dead_lettered,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.unsettled.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%cid, channel = %config.name, error = %e, "ack failed: the broker will deliver the message again");
            }
        },
        Err(why) => {
            // Neither the copy nor the dead letter is safe with the broker: give the message
            // back as it was, after a pause.
            stats.unsettled.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%cid, channel = %config.name, error = ?why, "message could not be requeued or dead-lettered; returned to the queue");
            tokio::time::sleep(SETTLE_RETRY_DELAY).await;
            let _ = delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await;
        }
    }
}

fn reply_headers(cid: Cid, status: u16) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(CID_HEADER.into(), long(&cid.to_string()));
    headers.insert(STATUS_HEADER.into(), AMQPValue::ShortUInt(status));
    headers
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
        assert!(backoff(30) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn header_values_become_text() {
        assert_eq!(text_of(&long("CRM")).as_deref(), Some("CRM"));
        assert_eq!(text_of(&AMQPValue::LongUInt(3)).as_deref(), Some("3"));
        assert_eq!(text_of(&AMQPValue::FieldTable(FieldTable::default())), None);
    }

    #[test]
    fn error_headers_are_one_bounded_line() {
        let err = ServiceError::bad_request(format!("a\r\nb{}", "x".repeat(5000)));
        let line = error_line(&err);
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(line.len() <= MAX_ERROR_HEADER + '…'.len_utf8());
    }
}
