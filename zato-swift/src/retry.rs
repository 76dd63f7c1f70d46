//! When and how long to wait before retrying a request.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use rand::Rng;

use crate::config::SwiftConfig;

/// The retry policy of a connection, from Zato's `retries`, `starting_backoff` and
/// `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    pub(crate) retries: u32,
    pub(crate) starting_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) should_retr_ratelimit: bool,
}

impl RetryPolicy {
    pub(crate) fn from_config(c: &SwiftConfig) -> Self {
        let d = zato_core::config::bounds::duration;
        RetryPolicy {
            retries: c.retries,
            starting_backoff: d(c.starting_backoff),
            max_backoff: d(c.max_backoff),
            should_retr_ratelimit: c.should_retr_ratelimit,
        }
    }

    /// Whether an answer with this status is worth another try: 5xx always, 429 and 498
    /// (Rackspace) when configured, never another 4xx.
    pub(crate) fn retries_status(&self, status: StatusCode) -> bool {
        status.is_server_error()
            || (self.should_retr_ratelimit && matches!(status.as_u16(), 429 | 498))
    }

    /// How long to wait before retry number `attempt` (0 for the first retry): the server's
    /// `Retry-After` if it sent one, else exponential backoff with equal jitter. Never more than
    /// `max_backoff`.
    pub(crate) fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        if let Some(after) = headers.and_then(retry_after) {
            return after.min(self.max_backoff);
        }
        let exp = self
            .starting_backoff
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }
}

/// Parses `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(at.timestamp()).ok()?))?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            starting_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            should_retr_ratelimit: false,
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        for _ in 0..20 {
            let d0 = p.delay(0, None);
            assert!(d0 >= Duration::from_millis(500) && d0 <= Duration::from_secs(1));
            let d2 = p.delay(2, None);
            assert!(d2 >= Duration::from_secs(2) && d2 <= Duration::from_secs(4));
            assert!(p.delay(20, None) <= Duration::from_secs(10));
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(p.delay(0, Some(&h)), Duration::from_secs(3));
        h.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(p.delay(0, Some(&h)), Duration::from_secs(10));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(p.delay(0, Some(&h)), Duration::ZERO);
    }

    #[test]
    fn which_statuses_are_retried() {
        let mut p = policy();
        assert!(p.retries_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!p.retries_status(StatusCode::NOT_FOUND));
        assert!(!p.retries_status(StatusCode::TOO_MANY_REQUESTS));
        p.should_retr_ratelimit = true;
        assert!(p.retries_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(p.retries_status(StatusCode::from_u16(498).unwrap()));
    }
}
