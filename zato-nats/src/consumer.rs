//! The consumer of one NATS channel: its own client, a durable JetStream consumer or a core
//! subscription, and the handling of each message.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use zato_core::sio::SioError;
use zato_core::tasks::run_or_spawn;
use zato_core::{ChannelInfo, Cid, Platform, RawRequest, RawResponse, ServiceError, render_error};

use crate::config::{NatsChannelConfig, NatsConnectionConfig, NatsMode};
use crate::connection::{self, NatsConnection, headers_of};

/// The header of a dead letter holding the error, one line.
pub const ERROR_HEADER: &str = "Zato-Error";
/// The header of a dead letter or a reply holding the HTTP-like status of the outcome.
pub const STATUS_HEADER: &str = "Zato-Status";
/// The header of a dead letter or a reply holding the invocation's cid.
pub const CID_HEADER: &str = "Zato-Cid";

/// The longest error line in a dead letter's header, in bytes.
const MAX_ERROR_HEADER: usize = 1024;
/// The first pause after a failure to consume; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stopping consumer waits for a dead letter's acknowledgement or its client's
/// drain, beyond the service's own timeout.
const SETTLE_MARGIN: Duration = Duration::from_secs(30);

/// How long one pull request waits for messages before the client makes another.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// How often the server says a pull request is alive. Two missed, and the channel pulls anew:
/// with nats-server 2.9 a pull request sometimes ends without the client hearing of it, and the
/// channel would otherwise wait for messages that never come.
const PULL_HEARTBEAT: Duration = Duration::from_secs(1);

/// What a channel has done, counted as it goes.
#[derive(Debug, Default)]
pub(crate) struct ChannelStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) naked: AtomicU64,
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
    pub(crate) config: Arc<NatsChannelConfig>,
    pub(crate) info: Arc<ChannelInfo>,
    pub(crate) platform: Platform,
    pub(crate) stats: Arc<ChannelStats>,
    pub(crate) connection: Arc<NatsConnection>,
}

/// How a session of the consumer ended.
enum Ended {
    Stopped,
    Changed,
    Failed(String),
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

/// Runs the channel until `stop`: connects, consumes, and after a failure or a change of its
/// connection connects again. `ready` hears once whether it consumes.
pub(crate) async fn run(
    worker: Arc<Worker>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut changes = worker.connection.subscribe();
    'generations: loop {
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
        let client = match make_client(&worker, &conn).await {
            Ok(client) => client,
            Err(why) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(why));
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = changes.changed() => continue,
                }
            }
        };
        let mut attempt = 0;
        loop {
            let received = worker.stats.received.load(Ordering::Relaxed);
            let ended = match worker.config.mode {
                NatsMode::Jetstream => {
                    jetstream_session(&worker, &client, &mut stop, &mut changes, &mut ready).await
                }
                _ => core_session(&worker, &client, &mut stop, &mut changes, &mut ready).await,
            };
            worker.stats.consuming.store(false, Ordering::Relaxed);
            match ended {
                Ended::Stopped => {
                    close(client).await;
                    break 'generations;
                }
                Ended::Changed => {
                    tracing::info!(channel = %worker.config.name, "nats connection changed: consuming with its new settings");
                    close(client).await;
                    continue 'generations;
                }
                Ended::Failed(why) => {
                    // A session that handled messages was working: start the backoff over.
                    if worker.stats.received.load(Ordering::Relaxed) > received {
                        attempt = 0;
                    }
                    let pause = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(channel = %worker.config.name, error = %why, retry_in = ?pause, "nats channel not consuming");
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(why));
                    }
                    tokio::select! {
                        _ = stop.changed() => {
                            close(client).await;
                            break 'generations;
                        }
                        _ = changes.changed() => {
                            close(client).await;
                            continue 'generations;
                        }
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
    worker.stats.consuming.store(false, Ordering::Relaxed);
}

async fn close(client: async_nats::Client) {
    let _ = tokio::time::timeout(SETTLE_MARGIN, client.drain()).await;
}

/// The channel's own client, counting its disconnects.
async fn make_client(
    worker: &Arc<Worker>,
    conn: &NatsConnectionConfig,
) -> Result<async_nats::Client, String> {
    let stats = worker.stats.clone();
    let name = worker.config.name.clone();
    let options = connection::options(conn, &format!("channel {}", worker.config.name))
        .event_callback(move |event| {
            if matches!(event, async_nats::Event::Disconnected) {
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %name, "nats channel disconnected; reconnecting");
            } else if matches!(event, async_nats::Event::Connected) {
                tracing::info!(channel = %name, "nats channel connected");
            }
            async {}
        });
    connection::client(conn, options)
        .await
        .map_err(|e| e.to_string())
}

/// Waits for a free slot, unless the channel stops or its connection changes first.
async fn slot(
    semaphore: &Arc<Semaphore>,
    stop: &mut watch::Receiver<bool>,
    changes: &mut watch::Receiver<u64>,
) -> Result<OwnedSemaphorePermit, Ended> {
    tokio::select! {
        biased;
        _ = stop.changed() => Err(Ended::Stopped),
        _ = changes.changed() => Err(Ended::Changed),
        permit = semaphore.clone().acquire_owned() => permit.map_err(|_| Ended::Stopped),
    }
}

/// Lets the messages under way finish, within the service's timeout and a margin.
async fn finish(worker: &Worker, tasks: &mut JoinSet<()>) {
    let limit = worker.config.timeout_duration() + SETTLE_MARGIN;
    if tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(channel = %worker.config.name, "messages still under way after {limit:?}: left to be delivered again");
        tasks.abort_all();
    }
}

async fn jetstream_session(
    worker: &Arc<Worker>,
    client: &async_nats::Client,
    stop: &mut watch::Receiver<bool>,
    changes: &mut watch::Receiver<u64>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let config = &worker.config;
    let js = jetstream::new(client.clone());
    let stream = if config.declare {
        js.get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![config.subject.clone(), config.dead_letter()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create the stream `{}`: {e}", config.stream))
    } else {
        js.get_stream(&config.stream)
            .await
            .map_err(|e| format!("cannot find the stream `{}`: {e}", config.stream))
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(why) => return Ended::Failed(why),
    };
    let concurrency = config.concurrency.max(1);
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(config.durable_name()),
            filter_subject: config.subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: config.ack_wait(),
            // The channel counts deliveries itself and dead-letters the last failure: a server
            // limit would drop a message whose last delivery was cut short by a crash.
            max_deliver: -1,
            // Those handled and those fetched ahead, with room for acks still on their way: at
            // the limit the server refuses a pull, and the client would wait for it to expire.
            max_ack_pending: i64::from(concurrency) * 4,
            ..Default::default()
        })
        .await;
    let consumer: jetstream::consumer::PullConsumer = match consumer {
        Ok(c) => c,
        Err(e) => {
            return Ended::Failed(format!(
                "cannot create the durable consumer `{}` on `{}`: {e}",
                config.durable_name(),
                config.stream
            ));
        }
    };
    let messages = consumer
        .stream()
        .max_messages_per_batch(usize::try_from(concurrency).unwrap_or(10))
        // A pull the server dropped is made again within this, rather than 30 s.
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await;
    let mut messages = match messages {
        Ok(m) => m,
        Err(e) => return Ended::Failed(format!("cannot pull messages: {e}")),
    };
    worker.stats.consuming.store(true, Ordering::Relaxed);
    tracing::info!(channel = %config.name, stream = %config.stream, consumer = %config.durable_name(), subject = %config.subject, "nats channel consuming");
    if let Some(r) = ready.take() {
        let _ = r.send(Ok(()));
    }
    let semaphore = Arc::new(Semaphore::new(usize::try_from(concurrency).unwrap_or(10)));
    let mut tasks = JoinSet::new();
    let ended = loop {
        let permit = match slot(&semaphore, stop, changes).await {
            Ok(p) => p,
            Err(ended) => break ended,
        };
        while tasks.try_join_next().is_some() {}
        let next = tokio::select! {
            biased;
            _ = stop.changed() => break Ended::Stopped,
            _ = changes.changed() => break Ended::Changed,
            next = messages.next() => next,
        };
        match next {
            Some(Ok(message)) => {
                let worker = worker.clone();
                let js = js.clone();
                run_or_spawn(&mut tasks, async move {
                    handle_jetstream(&worker, &js, message).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => break Ended::Failed(format!("pulling messages failed: {e}")),
            None => break Ended::Failed("the consumer's messages ended".to_owned()),
        }
    };
    worker.stats.consuming.store(false, Ordering::Relaxed);
    finish(worker, &mut tasks).await;
    // Messages fetched ahead and never handled go back at once, not after `ack_wait`.
    let mut returned = 0u32;
    while returned < concurrency.saturating_mul(2) {
        match messages.next().now_or_never() {
            Some(Some(Ok(message))) => {
                let _ = message.ack_with(AckKind::Nak(None)).await;
                returned += 1;
            }
            _ => break,
        }
    }
    ended
}

/// The parameters a service sees of a message: its subject, and its headers.
fn params_of(subject: &str, headers: Option<&async_nats::HeaderMap>) -> Vec<(String, String)> {
    let mut params = vec![("subject".to_owned(), subject.to_owned())];
    params.extend(headers_of(headers));
    params
}

/// A request for the service, and the message's size.
fn request_of(
    worker: &Worker,
    cid: Cid,
    payload: Bytes,
    mut params: Vec<(String, String)>,
    headers: Option<&async_nats::HeaderMap>,
) -> RawRequest {
    let content_type = headers
        .and_then(|h| h.get("Content-Type"))
        .map(|v| v.as_str().to_owned());
    params.shrink_to_fit();
    let mut raw = RawRequest::new(cid, worker.info.clone(), payload).with_channel_params(params);
    if let Some(ct) = content_type {
        raw = raw.with_content_type(ct);
    }
    raw
}

/// Invokes the service on `raw`, within the channel's timeout, unless the message is too
/// large: the reply format, and the outcome.
async fn invoke(
    worker: &Worker,
    cid: Cid,
    raw: RawRequest,
    size: usize,
) -> (
    zato_core::sio::ReplyFormat,
    Result<RawResponse, ServiceError>,
    bool,
) {
    let config = &worker.config;
    let format = raw.reply_format();
    if u64::try_from(size).unwrap_or(u64::MAX) > config.max_bytes {
        worker.stats.too_large.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cid, channel = %config.name, bytes = size, max_bytes = config.max_bytes, "message over max_bytes: not handed to the service");
        let limit = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
        return (
            format,
            Err(ServiceError::from(SioError::PayloadTooLarge { limit })),
            true,
        );
    }
    let limit = config.timeout_duration();
    match tokio::time::timeout(limit, worker.platform.invoke_raw(&config.service, raw)).await {
        Ok(inv) => (inv.reply, inv.result, false),
        Err(_) => (format, Err(ServiceError::Timeout(limit)), false),
    }
}

/// Handles one JetStream message: invokes the service, then acks it, naks it with a delay, or
/// dead-letters it.
async fn handle_jetstream(worker: &Worker, js: &jetstream::Context, message: jetstream::Message) {
    let stats = &worker.stats;
    let config = &worker.config;
    stats.received.fetch_add(1, Ordering::Relaxed);
    let cid = Cid::new();
    let (delivered, sequence) = message
        .info()
        .map(|i| (i.delivered.max(1), i.stream_sequence))
        .unwrap_or((1, 0));
    let mut params = params_of(message.subject.as_str(), message.headers.as_ref());
    params.push(("stream_sequence".to_owned(), sequence.to_string()));
    params.push(("delivered".to_owned(), delivered.to_string()));
    let payload = message.payload.clone();
    let size = payload.len();
    let raw = request_of(worker, cid, payload, params, message.headers.as_ref());
    let (_, result, too_large) = invoke(worker, cid, raw, size).await;
    let err = match result {
        Ok(_) => {
            match message.ack().await {
                Ok(()) => stats.acked.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(%cid, channel = %config.name, error = %e, "ack failed: the message comes again");
                    stats.unsettled.fetch_add(1, Ordering::Relaxed)
                }
            };
            return;
        }
        Err(err) => err,
    };
    stats.failed.fetch_add(1, Ordering::Relaxed);
    let line = if too_large {
        format!(
            "the message has {size} bytes, more than max_bytes ({})",
            config.max_bytes
        )
    } else {
        error_line(&err)
    };
    let last = i64::from(config.max_deliver) <= delivered;
    if !too_large && !is_malformed(&err) && !last {
        tracing::warn!(%cid, channel = %config.name, status = err.status().as_u16(), delivered, error = %line, "service failed; message comes again");
        let delay = config.nak_delay_duration();
        match message.ack_with(AckKind::Nak(Some(delay))).await {
            Ok(()) => stats.naked.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.unsettled.fetch_add(1, Ordering::Relaxed),
        };
        return;
    }
    let mut headers = async_nats::HeaderMap::new();
    if let Some(original) = &message.headers {
        for (name, values) in original.iter() {
            // `Nats-Msg-Id` and the like belong to the original: a dead letter in the same
            // stream would be dropped as its duplicate.
            if AsRef::<str>::as_ref(name).starts_with("Nats-") {
                continue;
            }
            for value in values {
                headers.append(name.clone(), value.clone());
            }
        }
    }
    headers.insert(ERROR_HEADER, line.as_str());
    headers.insert(STATUS_HEADER, err.status().as_u16().to_string().as_str());
    headers.insert(CID_HEADER, cid.to_string().as_str());
    headers.insert("Zato-Channel", config.name.as_str());
    headers.insert("Zato-Subject", message.subject.as_str());
    headers.insert("Zato-Delivered", delivered.to_string().as_str());
    let dead_letter = config.dead_letter();
    let published = async {
        let ack = js
            .publish_with_headers(dead_letter.clone(), headers, message.payload.clone())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(SETTLE_MARGIN, ack)
            .await
            .map_err(|_| "no acknowledgement in time".to_owned())?
            .map_err(|e| e.to_string())
    }
    .await;
    match published {
        Ok(_) => {
            tracing::warn!(%cid, channel = %config.name, status = err.status().as_u16(), delivered, dead_letter = %dead_letter, error = %line, "message dead-lettered");
            match message.ack_with(AckKind::Term).await {
                Ok(()) => stats.dead_lettered.fetch_add(1, Ordering::Relaxed),
                Err(_) => stats.unsettled.fetch_add(1, Ordering::Relaxed),
            };
        }
        Err(why) => {
            // Not safe with the dead letters: the message stays, and comes again.
            tracing::error!(%cid, channel = %config.name, dead_letter = %dead_letter, error = %why, "message could not be dead-lettered; it comes again");
            stats.unsettled.fetch_add(1, Ordering::Relaxed);
            let _ = message
                .ack_with(AckKind::Nak(Some(config.nak_delay_duration())))
                .await;
        }
    }
}

async fn core_session(
    worker: &Arc<Worker>,
    client: &async_nats::Client,
    stop: &mut watch::Receiver<bool>,
    changes: &mut watch::Receiver<u64>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    let config = &worker.config;
    let subscribed = match &config.queue_group {
        Some(group) => {
            client
                .queue_subscribe(config.subject.clone(), group.clone())
                .await
        }
        None => client.subscribe(config.subject.clone()).await,
    };
    let mut subscriber = match subscribed {
        Ok(s) => s,
        Err(e) => return Ended::Failed(format!("cannot subscribe to `{}`: {e}", config.subject)),
    };
    // Consuming once the server has the subscription: a message to ourselves after it comes
    // back only once the server handled what came before.
    if let Err(why) = round_trip(client, worker.connection.config().timeout_duration()).await {
        return Ended::Failed(why);
    }
    worker.stats.consuming.store(true, Ordering::Relaxed);
    tracing::info!(channel = %config.name, subject = %config.subject, "nats channel subscribed");
    if let Some(r) = ready.take() {
        let _ = r.send(Ok(()));
    }
    let concurrency = usize::try_from(config.concurrency.max(1)).unwrap_or(10);
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let ended = loop {
        let permit = match slot(&semaphore, stop, changes).await {
            Ok(p) => p,
            Err(ended) => break ended,
        };
        while tasks.try_join_next().is_some() {}
        let next = tokio::select! {
            biased;
            _ = stop.changed() => break Ended::Stopped,
            _ = changes.changed() => break Ended::Changed,
            next = subscriber.next() => next,
        };
        let Some(message) = next else {
            break Ended::Failed("the subscription ended".to_owned());
        };
        let worker = worker.clone();
        let client = client.clone();
        run_or_spawn(&mut tasks, async move {
            handle_core(&worker, &client, message).await;
            drop(permit);
        });
    };
    let _ = subscriber.unsubscribe().await;
    worker.stats.consuming.store(false, Ordering::Relaxed);
    finish(worker, &mut tasks).await;
    ended
}

/// A message to ourselves through the server, within `limit`: the server has handled all this
/// client sent before.
async fn round_trip(client: &async_nats::Client, limit: Duration) -> Result<(), String> {
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    let back = tokio::time::timeout(limit, probe.next()).await;
    let _ = probe.unsubscribe().await;
    match back {
        Ok(Some(_)) => Ok(()),
        _ => Err(format!("no answer from the server within {limit:?}")),
    }
}

/// Handles one core message: invokes the service, and answers its reply subject when it has
/// one.
async fn handle_core(worker: &Worker, client: &async_nats::Client, message: async_nats::Message) {
    let stats = &worker.stats;
    let config = &worker.config;
    stats.received.fetch_add(1, Ordering::Relaxed);
    let cid = Cid::new();
    let mut params = params_of(message.subject.as_str(), message.headers.as_ref());
    if let Some(reply) = &message.reply {
        params.push(("reply".to_owned(), reply.to_string()));
    }
    let size = message.payload.len();
    let raw = request_of(
        worker,
        cid,
        message.payload.clone(),
        params,
        message.headers.as_ref(),
    );
    let (format, result, _) = invoke(worker, cid, raw, size).await;
    let answer = match result {
        Ok(resp) => {
            stats.acked.fetch_add(1, Ordering::Relaxed);
            resp
        }
        Err(err) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%cid, channel = %config.name, status = err.status().as_u16(), error = %error_line(&err), "service failed on a core nats message");
            render_error(&err, format, cid)
        }
    };
    let Some(reply) = message.reply else {
        return;
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(STATUS_HEADER, answer.status.as_u16().to_string().as_str());
    headers.insert(CID_HEADER, cid.to_string().as_str());
    headers.insert("Content-Type", answer.content_type.as_ref());
    match client
        .publish_with_headers(reply.clone(), headers, answer.body)
        .await
    {
        Ok(()) => stats.replies_sent.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            tracing::warn!(%cid, channel = %config.name, reply = %reply, error = %e, "nats reply lost");
            stats.replies_lost.fetch_add(1, Ordering::Relaxed)
        }
    };
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
        line.push_str("...");
    }
    line
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
    fn error_headers_are_one_bounded_line() {
        let err = ServiceError::bad_request(format!("a\r\nb{}", "x".repeat(5000)));
        let line = error_line(&err);
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(line.len() <= MAX_ERROR_HEADER + 3);
        assert!(is_malformed(&err));
        assert!(!is_malformed(&ServiceError::internal("down")));
    }
}
