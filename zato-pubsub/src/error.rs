//! [`PubSubError`]: why a publication, a pull or an acknowledgement was refused.

use zato_core::ServiceError;

use crate::store::StoreError;

/// Why a publication, a pull or an acknowledgement was refused; each knows its HTTP status
/// through [`ServiceError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PubSubError {
    /// No topic of that name is configured.
    #[error("no topic named `{0}`")]
    NoSuchTopic(String),
    /// The topic is configured inactive.
    #[error("topic `{0}` is inactive")]
    TopicInactive(String),
    /// The message is larger than the topic takes.
    #[error("the message is {size} bytes; topic `{topic}` takes at most {max}")]
    TooLarge {
        /// The topic.
        topic: String,
        /// The message's size.
        size: usize,
        /// The topic's bound.
        max: u64,
    },
    /// No subscription of that name is configured.
    #[error("no subscription named `{0}`")]
    NoSuchSubscription(String),
    /// The subscription is not pulled.
    #[error("subscription `{0}` is not delivered by pull")]
    NotPull(String),
    /// The caller's security definition does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The data could not be serialized.
    #[error("the data cannot be serialized: {0}")]
    Serialize(String),
    /// Publish/subscribe is not attached to this platform.
    #[error("publish/subscribe is not enabled on this node")]
    NotEnabled,
    /// The store refused or failed (a full topic among others).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PubSubError> for ServiceError {
    fn from(e: PubSubError) -> Self {
        match e {
            PubSubError::NoSuchTopic(_) | PubSubError::NoSuchSubscription(_) => {
                ServiceError::NotFound(e.to_string())
            }
            PubSubError::TooLarge { .. } | PubSubError::NotPull(_) | PubSubError::Serialize(_) => {
                ServiceError::BadRequest(e.to_string())
            }
            PubSubError::Forbidden(_) => ServiceError::Forbidden(e.to_string()),
            PubSubError::Store(StoreError::TopicFull { .. }) => {
                ServiceError::Conflict(e.to_string())
            }
            PubSubError::TopicInactive(_) | PubSubError::NotEnabled => {
                ServiceError::Unavailable(e.to_string())
            }
            // A statement the database refused as wrong is ours to fix; anything else (the
            // database away, a pool with no connection free in time) passes.
            PubSubError::Store(StoreError::Database(sqlx::Error::Database(db)))
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("23") || c.starts_with("42")) =>
            {
                let inner = StoreError::Database(sqlx::Error::Database(db));
                ServiceError::Internal {
                    message: inner.to_string(),
                    source: Some(Box::new(inner)),
                }
            }
            PubSubError::Store(inner) => ServiceError::Unavailable(format!(
                "{inner}: {}",
                std::error::Error::source(&inner).map_or_else(String::new, ToString::to_string)
            )),
        }
    }
}
