//! Wall-clock time for the scheduler, injectable: jobs are due at dates, which tokio's paused
//! time does not move, so tests drive a [`ManualClock`] instead.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The longest a [`SystemClock`] sleeps before looking at the time again, so that a clock set
/// forward or back (NTP) is noticed.
const RECHECK: Duration = Duration::from_secs(30);

/// Where the scheduler reads the time and waits for a date.
#[async_trait::async_trait]
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;

    /// Returns once the time is `at` or later.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        loop {
            let left = at - Utc::now();
            let Ok(left) = left.to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(RECHECK)).await;
        }
    }
}

/// A clock that moves only when told: [`advance`](Self::advance) and [`set`](Self::set) wake
/// whoever sleeps until a date now reached.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zato_scheduler::{Clock, ManualClock};
///
/// let clock = ManualClock::new("2026-03-29T00:00:00Z".parse().unwrap());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().to_rfc3339(), "2026-03-29T00:01:30+00:00");
/// ```
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    tick: watch::Sender<DateTime<Utc>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(now),
            tick: watch::channel(now).0,
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        let next = self.now() + by;
        self.set(next);
    }

    /// Sets the clock to `now`, forward or back.
    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
        self.tick.send_replace(now);
    }
}

#[async_trait::async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut ticks = self.tick.subscribe();
        loop {
            if *ticks.borrow_and_update() >= at {
                return;
            }
            if ticks.changed().await.is_err() {
                return;
            }
        }
    }
}
