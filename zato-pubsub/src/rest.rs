//! The pub/sub REST API as services the plug-in deploys, for HTTP channels to expose under a
//! security definition:
//!
//! | service | input | output |
//! | --- | --- | --- |
//! | `zato.pubsub.publish` | `topic`, `data`, optional `priority` (0-9) and `expiration` (ms) | `msg_id` |
//! | `zato.pubsub.pull` | `subscription`, optional `max` | `messages`: `msg_id`, `topic`, `data`, `publisher`, `published_at`, `delivery_count` |
//! | `zato.pubsub.ack` | `subscription`, `msg_ids` | `acked` |
//! | `zato.pubsub.stats` | | `topics`, `subscriptions`: depth, oldest age, counters (internal callers only) |
//! | `zato.pubsub.browse` | `subscription`, optional `max` | `messages`, not taken (internal callers only) |
//!
//! `topic` and `subscription` usually come from the channel's path (`/pubsub/topic/{topic}`).
//! Over HTTP the channel's security definition must be allowed by a `pubsub.permissions`
//! object to publish to the topic or pull from the subscription, or the call is refused with a
//! 403; a channel without a security definition is refused too. Internal callers (services,
//! the admin API's `zato service invoke`) are trusted.

use zato_core::sio::{Raw, RawKind};
use zato_core::{ChannelKind, Context, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};

use crate::error::PubSubError;
use crate::store::{NewMessage, now_ms};

/// A publication over the REST API.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct PublishInput {
    /// The topic.
    pub topic: String,
    /// The message's data: any JSON value.
    pub data: Raw,
    /// 0 to 9.
    pub priority: Option<i64>,
    /// How long it may wait for delivery, in milliseconds.
    pub expiration: Option<i64>,
}

/// The id of what was published.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Published {
    /// The message's id; absent when no subscription takes the topic.
    pub msg_id: Option<i64>,
}

/// A pull.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct PullInput {
    /// The pull subscription.
    pub subscription: String,
    /// The most messages to take; the subscription's batch size by default.
    pub max: Option<i64>,
}

/// One message pulled.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct PulledMessage {
    /// Its id, to acknowledge it by.
    pub msg_id: i64,
    /// The topic it was published to.
    pub topic: String,
    /// Its data.
    pub data: Raw,
    /// Who published it.
    pub publisher: String,
    /// When, in milliseconds since the epoch.
    pub published_at: i64,
    /// How many times it was handed out, this time included.
    pub delivery_count: i64,
}

/// What a pull took.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Pulled {
    /// The messages, in publication order.
    pub messages: Vec<PulledMessage>,
}

/// An acknowledgement.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct AckInput {
    /// The pull subscription.
    pub subscription: String,
    /// The ids of the messages taken.
    pub msg_ids: Vec<i64>,
}

/// What an acknowledgement removed.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Acked {
    /// How many messages were still held and are now gone.
    pub acked: i64,
}

/// One topic or subscription as the operator sees it.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct StatsRow {
    /// Its name.
    pub name: String,
    /// Messages it holds.
    pub depth: i64,
    /// The age of the oldest, in milliseconds.
    pub oldest_age_ms: Option<i64>,
    /// Of those it holds, how many are dead (attempts ran out, no dead-letter topic).
    pub dead_held: i64,
    /// Delivered by this node since it started.
    pub delivered: i64,
    /// Of those, delivered again.
    pub redelivered: i64,
    /// Failed deliveries on this node.
    pub failed: i64,
    /// Messages whose attempts ran out on this node.
    pub dead: i64,
}

/// The operator's view.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct PubSubStats {
    /// The topics.
    pub topics: Vec<StatsRow>,
    /// The subscriptions.
    pub subscriptions: Vec<StatsRow>,
}

/// A look at a subscription's queue.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct BrowseInput {
    /// The subscription.
    pub subscription: String,
    /// The most messages to show; 100 by default.
    pub max: Option<i64>,
}

const HTTP: ChannelKind = ChannelKind::new("http");

fn internal_only<I>(req: &Request<I>) -> Result<(), ServiceError> {
    if req.channel.kind == ChannelKind::INTERNAL {
        Ok(())
    } else {
        Err(
            PubSubError::Forbidden("the operator's view is for the admin API and the CLI".into())
                .into(),
        )
    }
}

fn row(s: crate::Stats) -> StatsRow {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    StatsRow {
        depth: n(s.queue.depth),
        oldest_age_ms: s.oldest_age_ms,
        dead_held: n(s.queue.dead),
        delivered: n(s.delivered),
        redelivered: n(s.redelivered),
        failed: n(s.failed),
        dead: n(s.dead),
        name: s.name,
    }
}

/// The topics and subscriptions with their depths, the age of their oldest messages and this
/// node's counters: for internal callers only (the admin API, `zato pubsub stats`).
#[service(name = "zato.pubsub.stats", crate = "zato_core")]
pub async fn stats(req: Request<()>, ctx: &Context) -> Result<PubSubStats, ServiceError> {
    internal_only(&req)?;
    let pubsub = crate::ext::of(ctx.outgoing())?;
    let failed = |e: crate::StoreError| ServiceError::from(PubSubError::from(e));
    Ok(PubSubStats {
        topics: pubsub
            .topic_stats()
            .await
            .map_err(failed)?
            .into_iter()
            .map(row)
            .collect(),
        subscriptions: pubsub
            .subscription_stats()
            .await
            .map_err(failed)?
            .into_iter()
            .map(row)
            .collect(),
    })
}

/// The messages queued for a subscription, oldest first, without taking them: for internal
/// callers only (`zato pubsub browse`).
#[service(name = "zato.pubsub.browse", crate = "zato_core")]
pub async fn browse(req: Request<BrowseInput>, ctx: &Context) -> Result<Pulled, ServiceError> {
    internal_only(&req)?;
    let pubsub = crate::ext::of(ctx.outgoing())?;
    let max = u32::try_from(req.input.max.unwrap_or(100))
        .unwrap_or(1)
        .clamp(1, 1000);
    let messages = pubsub
        .store()
        .browse(&req.input.subscription, max)
        .await
        .map_err(|e| ServiceError::from(PubSubError::from(e)))?;
    Ok(Pulled {
        messages: messages.into_iter().map(pulled).collect(),
    })
}

fn pulled(m: crate::Message) -> PulledMessage {
    let text = String::from_utf8_lossy(&m.data).into_owned();
    let kind = if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() {
        RawKind::Json
    } else {
        RawKind::Text
    };
    PulledMessage {
        msg_id: m.id,
        topic: m.topic,
        data: Raw { text, kind },
        publisher: m.publisher,
        published_at: m.published_at,
        delivery_count: i64::from(m.deliveries),
    }
}

/// The security definition of the HTTP channel a request came through: `Ok(None)` for a
/// trusted internal caller.
fn caller<I>(req: &Request<I>, ctx: &Context) -> Result<Option<String>, ServiceError> {
    if req.channel.kind == ChannelKind::INTERNAL {
        return Ok(None);
    }
    if req.channel.kind != HTTP {
        return Err(PubSubError::Forbidden(format!(
            "the pub/sub API is not served over {} channels",
            req.channel.kind.as_str()
        ))
        .into());
    }
    let config = ctx.platform().channels().config(HTTP, &req.channel.name);
    match config
        .as_ref()
        .and_then(|c| c.get("security"))
        .and_then(|s| s.as_str())
    {
        Some(security) => Ok(Some(security.to_owned())),
        None => Err(PubSubError::Forbidden(format!(
            "channel `{}` has no security definition; the pub/sub API needs one",
            req.channel.name
        ))
        .into()),
    }
}

/// Publishes the data to the topic.
#[service(name = "zato.pubsub.publish", crate = "zato_core")]
pub async fn publish(req: Request<PublishInput>, ctx: &Context) -> Result<Published, ServiceError> {
    let pubsub = crate::ext::of(ctx.outgoing())?;
    let input = &req.input;
    let publisher = match caller(&req, ctx)? {
        Some(security) => {
            if !pubsub.may_publish(&security, &input.topic) {
                return Err(PubSubError::Forbidden(format!(
                    "security definition `{security}` may not publish to `{}`",
                    input.topic
                ))
                .into());
            }
            security
        }
        None => ctx.service().unwrap_or("internal").to_owned(),
    };
    let priority = input.priority.unwrap_or(5);
    if !(0..=9).contains(&priority) {
        return Err(ServiceError::bad_request(
            "priority must be between 0 and 9",
        ));
    }
    if input.expiration.is_some_and(|e| e <= 0) {
        return Err(ServiceError::bad_request(
            "expiration must be a positive number of milliseconds",
        ));
    }
    let message = NewMessage {
        data: input.data.text.clone().into_bytes().into(),
        publisher,
        cid: req.cid.to_string(),
        priority: i32::try_from(priority).unwrap_or(5),
        expires_at: input.expiration.map(|e| now_ms().saturating_add(e)),
        ..NewMessage::default()
    };
    let ids = pubsub.publish_many(&input.topic, vec![message]).await?;
    Ok(Published {
        msg_id: ids.first().copied(),
    })
}

fn check_subscriber<I>(
    req: &Request<I>,
    ctx: &Context,
    subscription: &str,
) -> Result<std::sync::Arc<crate::PubSub>, ServiceError> {
    let pubsub = crate::ext::of(ctx.outgoing())?;
    if let Some(security) = caller(req, ctx)?
        && !pubsub.may_subscribe(&security, subscription)
    {
        return Err(PubSubError::Forbidden(format!(
            "security definition `{security}` may not take from subscription `{subscription}`"
        ))
        .into());
    }
    Ok(pubsub)
}

/// Takes a batch from a pull subscription, leased until acknowledged.
#[service(name = "zato.pubsub.pull", crate = "zato_core")]
pub async fn pull(req: Request<PullInput>, ctx: &Context) -> Result<Pulled, ServiceError> {
    let pubsub = check_subscriber(&req, ctx, &req.input.subscription)?;
    let max = u32::try_from(
        req.input
            .max
            .unwrap_or(i64::from(crate::config::MAX_BATCH_SIZE)),
    )
    .unwrap_or(1);
    let messages = pubsub.pull(&req.input.subscription, max).await?;
    Ok(Pulled {
        messages: messages.into_iter().map(pulled).collect(),
    })
}

/// Acknowledges pulled messages by id.
#[service(name = "zato.pubsub.ack", crate = "zato_core")]
pub async fn ack(req: Request<AckInput>, ctx: &Context) -> Result<Acked, ServiceError> {
    let pubsub = check_subscriber(&req, ctx, &req.input.subscription)?;
    let acked = pubsub
        .ack(&req.input.subscription, &req.input.msg_ids)
        .await?;
    Ok(Acked {
        acked: i64::try_from(acked).unwrap_or(i64::MAX),
    })
}

/// Deploys the three services into `platform`, unless they are already: the plug-in does it
/// when it attaches; a platform assembled by hand calls it.
///
/// # Errors
///
/// When another service holds one of their names.
pub fn deploy_into(platform: &Platform) -> Result<(), zato_core::kind::AttachError> {
    let services = platform.services();
    if !services.contains("zato.pubsub.publish") {
        services.deploy(publish)?;
        services.deploy(pull)?;
        services.deploy(ack)?;
        services.deploy(stats)?;
        services.deploy(browse)?;
    }
    Ok(())
}
