//! The deliverer of one service or push subscription: takes a batch from the head of its queue,
//! hands each message over in order, acknowledges what succeeded, and on the first failure
//! records it (retry after backoff, or dead letter) and gives back the rest untried.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use zato_core::{ChannelInfo, ChannelKind, Cid, DataFormat, RawRequest};
use zato_rest::RestOutgoing;

use crate::config::{Delivery, SubscriptionConfig};
use crate::pubsub::PubSub;
use crate::store::{Failed, Message, now_ms};

/// The channel kind a subscription's service sees.
pub const CHANNEL_KIND: ChannelKind = ChannelKind::new("pubsub");

/// The longest a deliverer sleeps with nothing to do before looking again.
const IDLE: Duration = Duration::from_secs(1);

/// Runs until `stop` says so (after the batch in hand) or the task is aborted.
pub(crate) async fn run(
    pubsub: PubSub,
    config: Arc<SubscriptionConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let mut wake = pubsub.inner.wake.subscribe();
    let info = Arc::new(ChannelInfo::new(
        config.name.as_str(),
        CHANNEL_KIND,
        DataFormat::Json,
    ));
    loop {
        if *stop.borrow() {
            break;
        }
        let store = &pubsub.inner.store;
        let claimed = store
            .claim(
                &config.name,
                &pubsub.inner.holder,
                config.batch_size,
                config.lease,
            )
            .await;
        let retry_at = match claimed {
            Ok(c) if !c.messages.is_empty() => {
                deliver_batch(&pubsub, &config, &info, c.messages).await;
                continue;
            }
            Ok(c) => c.retry_at,
            Err(e) => {
                tracing::warn!(subscription = %config.name, error = %e, "pub/sub: cannot take messages");
                Some(now_ms() + 1000)
            }
        };
        let wait = retry_at
            .map(|at| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0) + 1))
            .unwrap_or(IDLE)
            .min(IDLE);
        tokio::select! {
            _ = wake.changed() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn deliver_batch(
    pubsub: &PubSub,
    config: &SubscriptionConfig,
    info: &Arc<ChannelInfo>,
    messages: Vec<Message>,
) {
    let holder = pubsub.inner.holder.as_str();
    let store = &pubsub.inner.store;
    let counters = pubsub.counters(&config.name);
    // Each message must be done well within the lease, or another node would take it too.
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(config.lease.saturating_mul(4) / 5);
    let mut done = Vec::with_capacity(messages.len());
    let mut failure = None;
    for (i, message) in messages.iter().enumerate() {
        if message.expires_at.is_some_and(|at| at <= now_ms()) {
            done.push(message.id);
            continue;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            failure = Some((i, None));
            break;
        }
        let outcome =
            match tokio::time::timeout(left, deliver_one(pubsub, config, info, message)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!(
                    "not delivered within the lease of {} ms",
                    config.lease
                )),
            };
        match outcome {
            Ok(()) => {
                done.push(message.id);
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                if message.deliveries > 1 {
                    counters.redelivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(error) => {
                failure = Some((i, Some(error)));
                break;
            }
        }
    }
    if let Err(e) = store.ack(&config.name, holder, &done).await {
        tracing::warn!(subscription = %config.name, error = %e, "pub/sub: cannot acknowledge; the messages will be delivered again");
    }
    let Some((at, error)) = failure else {
        return;
    };
    let mut untried: Vec<i64> = messages.iter().skip(at).map(|m| m.id).collect();
    if let (Some(error), Some(message)) = (error, messages.get(at)) {
        untried.remove(0);
        counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(subscription = %config.name, msg_id = message.id, %error, "pub/sub: delivery failed");
        match pubsub.record_failure(config, holder, message, &error).await {
            Ok(Failed::Dead) => {
                counters.dead.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subscription = %config.name, msg_id = message.id, %error, "pub/sub: attempts ran out; the message is dead");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(subscription = %config.name, error = %e, "pub/sub: cannot record a failed delivery")
            }
        }
    }
    if let Err(e) = store.release(&config.name, holder, &untried).await {
        tracing::warn!(subscription = %config.name, error = %e, "pub/sub: cannot give back messages; they return after their lease");
    }
}

/// Hands one message to the subscriber: the error's text on failure.
async fn deliver_one(
    pubsub: &PubSub,
    config: &SubscriptionConfig,
    info: &Arc<ChannelInfo>,
    message: &Message,
) -> Result<(), String> {
    match config.delivery {
        Delivery::Service => {
            let service = config.service.as_deref().unwrap_or_default();
            let mut raw = RawRequest::new(Cid::new(), info.clone(), message.data.clone());
            raw.content_type = Some("application/json".into());
            raw.channel_params = params(message);
            let invocation = pubsub.inner.platform.invoke_raw(service, raw).await;
            invocation.result.map(drop).map_err(|e| e.to_string())
        }
        Delivery::Push => {
            let name = config.outgoing.as_deref().unwrap_or_default();
            let conn = pubsub
                .inner
                .platform
                .outgoing()
                .http(name)
                .map_err(|e| e.to_string())?;
            let mut call = conn
                .post(&config.push_path, &())
                .raw(message.data.clone(), "application/json");
            for (name, value) in params(message) {
                call = call.header(&format!("X-Zato-PubSub-{name}"), &value);
            }
            call.send()
                .await
                .and_then(|r| r.error_for_status())
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Delivery::Pull => Err("a pull subscription is not delivered".into()),
    }
}

/// What a subscriber learns of a message beside its data: as channel parameters for a service,
/// as `X-Zato-PubSub-*` headers for a partner.
fn params(message: &Message) -> Vec<(String, String)> {
    vec![
        ("msg_id".into(), message.id.to_string()),
        ("topic".into(), message.topic.clone()),
        ("publisher".into(), message.publisher.clone()),
        ("pub_cid".into(), message.cid.clone()),
        ("published_at".into(), message.published_at.to_string()),
        ("delivery_count".into(), message.deliveries.to_string()),
    ]
}
