//! The web admin's sessions: who logged in with the admin token, each with its CSRF token, the
//! message to show after a change, and the import waiting for confirmation. Bounded in number and
//! in time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde_json::Value;
use zato_core::config::{ConfigDocument, Diff};

/// How many sessions are kept at once; logging in past it ends the least recently used.
pub(crate) const MAX_SESSIONS: usize = 64;
/// A session unused this long is over.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after the login, used or not.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(8 * 60 * 60);

/// A random token: 32 bytes from the operating system's generator, as hex.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a page says after a change: what was done, the version it made and, in a cluster, what
/// each node did with it.
#[derive(Debug, Clone)]
pub(crate) struct Flash {
    pub(crate) message: String,
    pub(crate) version: Option<u64>,
    pub(crate) nodes: Option<Vec<Value>>,
    /// What is valid but will not work yet.
    pub(crate) warnings: Vec<zato_core::ConfigProblem>,
}

/// An import reviewed as a dry run, applied once confirmed.
pub(crate) struct PendingImport {
    pub(crate) id: String,
    pub(crate) doc: ConfigDocument,
    pub(crate) replace: bool,
    /// The store's version the diff was computed against.
    pub(crate) version: u64,
    pub(crate) diff: Diff,
}

impl fmt::Debug for PendingImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The document may hold secrets.
        f.debug_struct("PendingImport")
            .field("replace", &self.replace)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

struct Session {
    csrf: String,
    created: Instant,
    seen: Instant,
    flash: Option<Flash>,
    pending: Option<PendingImport>,
}

/// The sessions of one admin listener.
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Held while a refused login waits.
    pub(crate) refusals: tokio::sync::Mutex<()>,
    max: usize,
    idle: Duration,
    max_age: Duration,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Session ids are credentials: show only how many there are.
        f.debug_struct("Sessions")
            .field("open", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limits(MAX_SESSIONS, IDLE_TIMEOUT, MAX_AGE)
    }
}

impl Sessions {
    pub(crate) fn with_limits(max: usize, idle: Duration, max_age: Duration) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            refusals: tokio::sync::Mutex::new(()),
            max: max.max(1),
            idle,
            max_age,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) < self.idle && now.duration_since(s.created) < self.max_age
    }

    /// Opens a session: its id (the cookie's value).
    pub(crate) fn open(&self) -> String {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| self.live(s, now));
        while map.len() >= self.max {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        let id = token();
        map.insert(
            id.clone(),
            Session {
                csrf: token(),
                created: now,
                seen: now,
                flash: None,
                pending: None,
            },
        );
        id
    }

    /// The CSRF token of the live session `id`, marking it used; `None` when there is no such
    /// session or it expired (then it is dropped).
    pub(crate) fn csrf(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut map = self.lock();
        let live = self.live(map.get(id)?, now);
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.seen = now;
        Some(s.csrf.clone())
    }

    /// Ends the session `id`.
    pub(crate) fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    pub(crate) fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    pub(crate) fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id)?.flash.take()
    }

    /// Keeps `pending` for confirmation, replacing the one before.
    pub(crate) fn set_pending(&self, id: &str, pending: PendingImport) {
        if let Some(s) = self.lock().get_mut(id) {
            s.pending = Some(pending);
        }
    }

    /// The import waiting under `pending_id`, taken out.
    pub(crate) fn take_pending(&self, id: &str, pending_id: &str) -> Option<PendingImport> {
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if s.pending.as_ref().is_some_and(|p| p.id == pending_id) {
            s.pending.take()
        } else {
            None
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_has_its_own_csrf_token_and_ends_at_logout() {
        let sessions = Sessions::default();
        let a = sessions.open();
        let b = sessions.open();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64, "32 random bytes as hex");
        let (ca, cb) = (sessions.csrf(&a), sessions.csrf(&b));
        assert!(ca.is_some() && cb.is_some());
        assert_ne!(ca, cb);
        assert_ne!(
            ca.as_deref(),
            Some(a.as_str()),
            "the CSRF token is not the session id"
        );
        sessions.close(&a);
        assert_eq!(sessions.csrf(&a), None);
        assert!(sessions.csrf(&b).is_some());
        assert_eq!(sessions.csrf("not-a-session"), None);
    }

    #[test]
    fn an_idle_session_expires() {
        let sessions = Sessions::with_limits(8, Duration::from_millis(50), Duration::from_secs(60));
        let id = sessions.open();
        assert!(sessions.csrf(&id).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(sessions.csrf(&id), None, "expired after 50 ms unused");
        assert_eq!(sessions.len(), 0, "and dropped");
    }

    #[test]
    fn a_session_expires_at_its_maximum_age_even_when_used() {
        let sessions = Sessions::with_limits(8, Duration::from_secs(60), Duration::from_millis(60));
        let id = sessions.open();
        for _ in 0..3 {
            assert!(sessions.csrf(&id).is_some());
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.csrf(&id), None);
    }

    #[test]
    fn the_store_is_bounded_and_ends_the_least_recently_used() {
        let sessions = Sessions::with_limits(3, Duration::from_secs(60), Duration::from_secs(60));
        let first = sessions.open();
        std::thread::sleep(Duration::from_millis(2));
        let second = sessions.open();
        std::thread::sleep(Duration::from_millis(2));
        let third = sessions.open();
        std::thread::sleep(Duration::from_millis(2));
        // The first is used again: the second is now the least recently used.
        assert!(sessions.csrf(&first).is_some());
        let fourth = sessions.open();
        assert_eq!(sessions.len(), 3);
        assert_eq!(sessions.csrf(&second), None);
        for id in [&first, &third, &fourth] {
            assert!(sessions.csrf(id).is_some());
        }
    }
}
