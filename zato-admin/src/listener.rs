//! The admin listener's connections: bounded in number, closed when idle or slow, and the idle
//! ones given up first when the bound is reached, so that idle connections never lock an
//! operator out.
//!
//! A connection is *idle* while it holds no request being answered: before its first request,
//! between keep-alive requests, or while a request head trickles in. hyper closes a connection
//! whose next request head takes longer than [`READ_TIMEOUT`]; a body gets the same time in
//! [`api`](crate::api). When every slot is taken, the connection idle the longest is closed to
//! make room; when none is idle (every slot answering a request), a newcomer waits
//! [`SLOT_WAIT`] for a slot, then gets a 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long a client may take to send a request head (and, between requests, stay idle), and
/// a request body.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections the admin API keeps open at once.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// How long a connection arriving when every slot is answering a request waits for one.
pub(crate) const SLOT_WAIT: Duration = Duration::from_millis(500);

/// What a newcomer gets when no slot frees up within [`SLOT_WAIT`].
const BUSY_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-type: application/json\r\ncontent-length: 103\r\nconnection: close\r\n\r\n\
{\"error\":{\"status\":503,\"kind\":\"busy\",\"message\":\"every admin connection is answering a request; retry\"}}";

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const EVICTED: u8 = 2;

/// One open connection's state, shared by its task, its requests and the accept loop.
pub(crate) struct Slot {
    state: AtomicU8,
    /// Milliseconds since the listener started at which the connection last went idle.
    idle_since: AtomicU64,
    evicted: Notify,
    started: Instant,
}

impl Slot {
    /// Marks a request as being answered. False when the connection was given up to make room:
    /// the request is then answered 503 and the connection closes.
    pub(crate) fn begin(&self) -> bool {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Marks the connection idle again once its request is answered.
    pub(crate) fn end(&self) {
        self.idle_since
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
        let _ = self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Resolves once the accept loop gives this connection up.
    pub(crate) async fn evicted(&self) {
        let notified = self.evicted.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.state.load(Ordering::Acquire) == EVICTED {
            return;
        }
        notified.await;
    }
}

/// The open connections and their bound.
pub(crate) struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    started: Instant,
    evictions: AtomicU64,
}

/// A connection's place: its permit and its slot, freed when dropped.
pub(crate) struct Place {
    connections: Arc<Connections>,
    id: u64,
    pub(crate) slot: Arc<Slot>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(max)),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            started: Instant::now(),
            evictions: AtomicU64::new(0),
        })
    }

    /// Waits until every connection has closed, or `deadline` passes. False at the deadline.
    pub(crate) async fn drained(&self, max: usize, deadline: Duration) -> bool {
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        tokio::time::timeout(deadline, self.slots.acquire_many(all))
            .await
            .is_ok()
    }

    /// How many idle connections were given up to make room, since the listener started.
    #[cfg(test)]
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// A place for a new connection: at once when a slot is free; otherwise after giving up the
    /// connection idle the longest, or when a request ends within [`SLOT_WAIT`]. `None` when
    /// every slot stays busy.
    pub(crate) async fn admit(self: &Arc<Self>) -> Option<Place> {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.evict_longest_idle();
                tokio::time::timeout(SLOT_WAIT, Arc::clone(&self.slots).acquire_owned())
                    .await
                    .ok()?
                    .ok()?
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            state: AtomicU8::new(IDLE),
            idle_since: AtomicU64::new(self.started.elapsed().as_millis() as u64),
            evicted: Notify::new(),
            started: self.started,
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, Arc::clone(&slot));
        }
        Some(Place {
            connections: Arc::clone(self),
            id,
            slot,
            _permit: permit,
        })
    }

    /// Gives up the connection that has been idle the longest, if any is idle.
    fn evict_longest_idle(&self) {
        let Ok(open) = self.open.lock() else {
            return;
        };
        let mut idle: Vec<&Arc<Slot>> = open
            .values()
            .filter(|s| s.state.load(Ordering::Acquire) == IDLE)
            .collect();
        idle.sort_by_key(|s| s.idle_since.load(Ordering::Acquire));
        for slot in idle {
            if slot
                .state
                .compare_exchange(IDLE, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.evicted.notify_one();
                self.evictions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "admin API: every connection slot taken; closed the connection idle the longest"
                );
                return;
            }
        }
    }
}

/// Answers a connection no slot could be found for with a 503, and closes it; bounded by
/// [`SLOT_WAIT`] so a client that does not read cannot hold the accept loop.
pub(crate) async fn refuse_busy(mut stream: TcpStream) {
    let _ = tokio::time::timeout(SLOT_WAIT, async {
        let _ = stream.write_all(BUSY_REPLY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_reply_declares_its_body_length() {
        let text = std::str::from_utf8(BUSY_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }

    #[tokio::test]
    async fn a_full_listener_gives_up_its_longest_idle_connection_not_a_busy_one() {
        let conns = Connections::new(2);
        let first = conns.admit().await.unwrap();
        let second = conns.admit().await.unwrap();
        assert!(
            second.slot.begin(),
            "the second connection answers a request"
        );
        let admitting = tokio::spawn({
            let conns = Arc::clone(&conns);
            async move { conns.admit().await.is_some() }
        });
        tokio::time::timeout(Duration::from_secs(5), first.slot.evicted())
            .await
            .expect("the idle connection is given up");
        assert!(
            !first.slot.begin(),
            "a request on a given-up connection is refused"
        );
        drop(first);
        assert!(
            admitting.await.unwrap(),
            "the newcomer takes the freed slot"
        );
        assert_eq!(conns.evictions(), 1);
        second.slot.end();
    }

    #[tokio::test]
    async fn with_every_slot_answering_a_request_a_newcomer_is_refused_after_the_wait() {
        let conns = Connections::new(1);
        let only = conns.admit().await.unwrap();
        assert!(only.slot.begin());
        let started = Instant::now();
        assert!(conns.admit().await.is_none());
        assert!(started.elapsed() >= SLOT_WAIT);
        assert_eq!(conns.evictions(), 0);
    }
}
