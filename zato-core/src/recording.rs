//! [`Recording`]: what a broker connection's test double was asked to send, and whether it fails.
//!
//! Each broker kind (AMQP, NATS, MQTT, …) offers a `recording` constructor that builds its
//! connection with no broker behind it: a service publishes as it would in production, and the
//! test reads what was sent here, or makes the next publications fail.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::{OutgoingError, OutgoingErrorKind};

/// The most messages a [`Recording`] keeps; older ones are dropped first.
pub const MAX_RECORDED: usize = 10_000;

/// The messages a test double was asked to send, oldest first, at most [`MAX_RECORDED`] of them,
/// and the failure it answers with, if it was told to fail.
///
/// # Examples
///
/// ```
/// use zato_core::{OutgoingErrorKind, Recording};
///
/// let sent: Recording<String> = Recording::default();
/// sent.record("Billing", "one".to_owned()).unwrap();
/// sent.fail(OutgoingErrorKind::Timeout, "no confirmation");
/// let err = sent.record("Billing", "two".to_owned()).unwrap_err();
/// assert_eq!(err.kind(), OutgoingErrorKind::Timeout);
/// sent.succeed();
/// assert_eq!(sent.messages(), ["one"]);
/// ```
pub struct Recording<M> {
    messages: Mutex<VecDeque<M>>,
    failure: Mutex<Option<(OutgoingErrorKind, String)>>,
}

impl<M> Default for Recording<M> {
    fn default() -> Self {
        Recording {
            messages: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
        }
    }
}

impl<M> fmt::Debug for Recording<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("messages", &self.len())
            .field("failing", &self.failure().is_some())
            .finish()
    }
}

impl<M> Recording<M> {
    /// How many messages are kept.
    pub fn len(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every send from now on fail with `kind` (502, 503 or 504) and `reason`, as a broker
    /// that cannot be reached or does not confirm would; none is recorded.
    pub fn fail(&self, kind: OutgoingErrorKind, reason: impl Into<String>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some((kind, reason.into()));
    }

    /// Makes sends succeed again.
    pub fn succeed(&self) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Forgets the messages kept so far.
    pub fn clear(&self) {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn failure(&self) -> Option<(OutgoingErrorKind, String)> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fails as told to, naming `connection`, or keeps `message`: what a double's send does.
    ///
    /// # Errors
    ///
    /// The failure set by [`fail`](Self::fail).
    pub fn record(&self, connection: &str, message: M) -> Result<(), OutgoingError> {
        if let Some((kind, reason)) = self.failure() {
            return Err(OutgoingError::new(connection, kind, reason));
        }
        let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        if messages.len() == MAX_RECORDED {
            messages.pop_front();
        }
        messages.push_back(message);
        Ok(())
    }
}

impl<M: Clone> Recording<M> {
    /// The messages sent so far, oldest first (at most [`MAX_RECORDED`]).
    pub fn messages(&self) -> Vec<M> {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}
