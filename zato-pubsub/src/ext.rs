//! [`PubSubExt`]: publishing from a service in one line, `ctx.publish("invoices.stored",
//! &invoice).await?`.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::{Context, OutgoingConnections, ServiceError};

use crate::error::PubSubError;
use crate::pubsub::PubSub;

/// The name the node's [`PubSub`] is registered under among its outgoing connections.
pub(crate) const KEY: &str = "zato.pubsub";

/// Publish/subscribe from a service's [`Context`].
#[async_trait]
pub trait PubSubExt {
    /// The node's publish/subscribe.
    ///
    /// # Errors
    ///
    /// A 503 when the node has no pub/sub plug-in.
    fn pubsub(&self) -> Result<Arc<PubSub>, PubSubError>;

    /// Publishes `data`, serialized as JSON, to `topic`, under this call's cid and with the
    /// service as its publisher. Returns the message's id, `None` when no subscription takes
    /// the topic.
    ///
    /// # Errors
    ///
    /// A [`ServiceError`]: 404 for no such topic, 400 for a message too large, 409 for a full
    /// topic, 503 for an inactive one.
    async fn publish<T: serde::Serialize + Sync + ?Sized>(
        &self,
        topic: &str,
        data: &T,
    ) -> Result<Option<i64>, ServiceError>;
}

/// The node's pub/sub among `outgoing`.
pub(crate) fn of(outgoing: &OutgoingConnections) -> Result<Arc<PubSub>, PubSubError> {
    outgoing.get::<PubSub>(KEY).ok_or(PubSubError::NotEnabled)
}

#[async_trait]
impl PubSubExt for Context {
    fn pubsub(&self) -> Result<Arc<PubSub>, PubSubError> {
        of(self.outgoing())
    }

    async fn publish<T: serde::Serialize + Sync + ?Sized>(
        &self,
        topic: &str,
        data: &T,
    ) -> Result<Option<i64>, ServiceError> {
        let pubsub = self.pubsub()?;
        let data = serde_json::to_vec(data).map_err(|e| PubSubError::Serialize(e.to_string()))?;
        let message = crate::NewMessage {
            data: data.into(),
            publisher: self.service().unwrap_or("internal").to_owned(),
            cid: self.cid().to_string(),
            ..crate::NewMessage::default()
        };
        let ids = pubsub.publish_many(topic, vec![message]).await?;
        Ok(ids.first().copied())
    }
}
