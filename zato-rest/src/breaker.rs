//! The circuit breaker of one connection: open after N consecutive failures, answering at once
//! while open, one probe through after a cool-down.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The breaker's state, as metrics and the web admin show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are answered at once with a 503.
    Open,
    /// One probe is through; the others are answered at once.
    HalfOpen,
}

impl BreakerState {
    /// 0 closed, 1 open, 2 half-open: the metric's value.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { since: Instant, failures: u32 },
}

#[derive(Debug)]
pub(crate) struct Breaker {
    phase: Mutex<Phase>,
}

/// Why a call is refused: the failures that opened it and when it lets a probe through.
pub(crate) struct Refused {
    pub(crate) failures: u32,
    pub(crate) retry_in: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call may go: `threshold` 0 means the breaker is off.
    pub(crate) fn allow(&self, threshold: u32, cooldown: Duration) -> Result<(), Refused> {
        if threshold == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut phase = self.lock();
        match *phase {
            Phase::Closed { .. } => Ok(()),
            Phase::Open { until, failures } if now >= until => {
                *phase = Phase::HalfOpen {
                    since: now,
                    failures,
                };
                Ok(())
            }
            Phase::Open { until, failures } => Err(Refused {
                failures,
                retry_in: until - now,
            }),
            // A probe that never reported (its caller gave up) does not hold the breaker
            // half-open for ever: after another cool-down, another probe goes.
            Phase::HalfOpen { since, failures } if now >= since + cooldown => {
                *phase = Phase::HalfOpen {
                    since: now,
                    failures,
                };
                Ok(())
            }
            Phase::HalfOpen { since, failures } => Err(Refused {
                failures,
                retry_in: (since + cooldown).saturating_duration_since(now),
            }),
        }
    }

    /// Records how a call that was let through ended.
    pub(crate) fn record(&self, ok: bool, threshold: u32, cooldown: Duration) {
        if threshold == 0 {
            return;
        }
        let mut phase = self.lock();
        let failures = match *phase {
            Phase::Closed { failures }
            | Phase::Open { failures, .. }
            | Phase::HalfOpen { failures, .. } => failures,
        };
        *phase = if ok {
            Phase::Closed { failures: 0 }
        } else {
            let failures = failures.saturating_add(1);
            match *phase {
                Phase::Closed { .. } if failures < threshold => Phase::Closed { failures },
                _ => {
                    tracing::warn!(failures, "circuit breaker opened");
                    Phase::Open {
                        until: Instant::now() + cooldown,
                        failures,
                    }
                }
            }
        };
    }

    pub(crate) fn state(&self) -> BreakerState {
        match *self.lock() {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_and_a_probe_closes_it() {
        let b = Breaker::default();
        let cool = Duration::from_millis(50);
        for _ in 0..3 {
            assert!(b.allow(3, cool).is_ok());
            b.record(false, 3, cool);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow(3, cool).is_err());
        std::thread::sleep(cool * 2);
        assert!(b.allow(3, cool).is_ok(), "the probe");
        assert!(b.allow(3, cool).is_err(), "only one probe");
        b.record(true, 3, cool);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
