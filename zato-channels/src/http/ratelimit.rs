//! Rate limits of HTTP channels: one for the whole channel, one per caller (the identity its
//! security definition found, else its address), each a GCRA (the token bucket's arithmetic
//! in one number per bucket: the time its next request is due).
//!
//! A caller's bucket whose due time has passed holds nothing a new bucket would not, so it is
//! dropped freely: memory is bounded by [`MAX_CALLERS`] buckets per channel. When that many
//! callers are all inside their window, the table is thinned (half of a full shard forgotten),
//! which gives those callers a fresh bucket rather than growing without bound. A bucket is
//! 16 bytes in a hash table of at most twice as many slots as [`MAX_CALLERS`] (17 bytes a slot
//! with its control byte): at most 3.4 MB per channel with a per-caller limit, whatever the
//! number of callers. Limits survive configuration changes that leave them unchanged.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::HeaderValue;
use http::header;
use serde::{Deserialize, Serialize};
use zato_core::security::Caller;
use zato_core::sio::ReplyFormat;
use zato_core::{Cid, ConfigProblem, ServiceError};

use super::config::HttpChannelConfig;
use super::handle::{HttpResponse, error_reply};

/// The most callers whose buckets a channel keeps.
pub const MAX_CALLERS: usize = 100_000;
/// Shards of a channel's caller table, each behind its own lock.
const SHARDS: usize = 16;

/// At most `requests` requests every `per` seconds, up to `requests` of them at once.
///
/// # Examples
///
/// ```
/// use zato_channels::RateLimit;
///
/// let limit: RateLimit = serde_json::from_str(r#"{"requests": 100, "per": 60}"#).unwrap();
/// assert_eq!(limit, RateLimit::new(100, 60.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimit {
    /// How many requests (1 to 1,000,000).
    pub requests: u32,
    /// In how many seconds (more than 0, at most 86400; fractions allowed).
    pub per: f64,
}

impl RateLimit {
    /// `requests` every `per` seconds.
    pub fn new(requests: u32, per: f64) -> RateLimit {
        RateLimit { requests, per }
    }

    /// The problems of the limit, at `path`.
    pub(super) fn problems(&self, path: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !(1..=1_000_000).contains(&self.requests) {
            problems.push(ConfigProblem::new(
                format!("{path}.requests"),
                "must be 1 to 1000000",
            ));
        }
        if !(self.per > 0.0 && self.per <= 86_400.0) {
            problems.push(ConfigProblem::new(
                format!("{path}.per"),
                "must be more than 0 and at most 86400 seconds",
            ));
        }
        problems
    }

    /// The time between two requests, and the burst tolerance, in nanoseconds.
    fn gcra(&self) -> (u64, u64) {
        let period = Duration::from_secs_f64(self.per.clamp(0.001, 86_400.0));
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let interval = (period / u64::from(self.requests.max(1))).max(1);
        (interval, period.saturating_sub(interval))
    }
}

/// One bucket's decision at `now`, given its due time `tat`: the new due time, or how long
/// until a request would be let in.
fn decide(tat: u64, now: u64, interval: u64, tolerance: u64) -> Result<u64, u64> {
    let tat = tat.max(now);
    let ahead = tat - now;
    if ahead > tolerance {
        Err(ahead - tolerance)
    } else {
        Ok(tat + interval)
    }
}

/// A limit for the whole channel.
struct Bucket {
    limit: RateLimit,
    interval: u64,
    tolerance: u64,
    tat: AtomicU64,
}

impl Bucket {
    fn new(limit: RateLimit) -> Bucket {
        let (interval, tolerance) = limit.gcra();
        Bucket {
            limit,
            interval,
            tolerance,
            tat: AtomicU64::new(0),
        }
    }

    fn take(&self, now: u64) -> Result<(), u64> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = decide(tat, now, self.interval, self.tolerance)?;
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }
}

/// A limit per caller: the callers' due times, by a keyed hash of their identity.
pub(super) struct CallerBuckets {
    limit: RateLimit,
    interval: u64,
    tolerance: u64,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<u64, u64, PassThrough>>>,
    per_shard: usize,
}

/// The keys are already hashes (keyed, so callers cannot aim at one shard or bucket).
#[derive(Default, Clone, Copy)]
struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

#[derive(Default)]
struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Who a caller is for its limit: the identity its security definition found, else its address.
pub(super) enum CallerKey<'a> {
    Subject(&'a str),
    Address(IpAddr),
}

impl CallerBuckets {
    pub(super) fn new(limit: RateLimit, max_callers: usize) -> CallerBuckets {
        let (interval, tolerance) = limit.gcra();
        CallerBuckets {
            limit,
            interval,
            tolerance,
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: (max_callers / SHARDS).max(1),
        }
    }

    pub(super) fn take(&self, key: &CallerKey<'_>, now: u64) -> Result<(), u64> {
        let hash = match key {
            CallerKey::Subject(s) => self.hasher.hash_one((0u8, s)),
            CallerKey::Address(ip) => self.hasher.hash_one((1u8, ip)),
        };
        // The high bits pick the shard, the map uses all of them.
        let shard = usize::try_from(hash >> 60).unwrap_or(0) % SHARDS;
        let mut map = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tat = map.get(&hash).copied().unwrap_or(0);
        let next = decide(tat, now, self.interval, self.tolerance)?;
        if map.len() >= self.per_shard && !map.contains_key(&hash) {
            // Buckets already due are as good as new: forget them first.
            map.retain(|_, due| *due > now);
            if map.len() >= self.per_shard {
                let mut keep = false;
                map.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
            // A fresh table without the removed slots' tombstones, which would otherwise make
            // the next inserts grow it: its size stays that of `per_shard` entries.
            map.shrink_to(self.per_shard);
        }
        map.insert(hash, next);
        Ok(())
    }

    /// How many callers have a bucket.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// The bytes the tables hold for their buckets: each slot a key and a due time (16 bytes)
    /// and hashbrown's control byte.
    #[cfg(test)]
    pub(super) fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).capacity() * 17)
            .sum()
    }
}

/// A channel's limits.
pub(super) struct ChannelLimits {
    channel: Option<Bucket>,
    callers: Option<CallerBuckets>,
}

/// The limits of every channel of a server, by channel name, and the clock they count on.
pub(super) struct RateLimits {
    by_channel: ArcSwap<HashMap<Box<str>, Arc<ChannelLimits>>>,
    epoch: Instant,
}

impl RateLimits {
    pub(super) fn new() -> RateLimits {
        RateLimits {
            by_channel: ArcSwap::from_pointee(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// Takes the limits of `channels`, keeping the buckets of a limit that did not change.
    /// Call with the server's writer lock held.
    pub(super) fn sync(&self, channels: &[HttpChannelConfig]) {
        let old = self.by_channel.load_full();
        let mut next = HashMap::new();
        for ch in channels {
            if ch.rate_limit.is_none() && ch.caller_rate_limit.is_none() {
                continue;
            }
            let previous = old.get(ch.name.as_str());
            let same = previous.is_some_and(|p| {
                p.channel.as_ref().map(|b| b.limit) == ch.rate_limit
                    && p.callers.as_ref().map(|c| c.limit) == ch.caller_rate_limit
            });
            let limits = match previous {
                Some(previous) if same => Arc::clone(previous),
                _ => Arc::new(ChannelLimits {
                    channel: ch.rate_limit.map(Bucket::new),
                    callers: ch
                        .caller_rate_limit
                        .map(|limit| CallerBuckets::new(limit, MAX_CALLERS)),
                }),
            };
            next.insert(ch.name.as_str().into(), limits);
        }
        self.by_channel.store(Arc::new(next));
    }

    /// Counts a request on `channel` from `caller` (or the address `ip`); the time to wait
    /// when a limit is exceeded.
    pub(super) fn take(
        &self,
        channel: &str,
        caller: Option<&Caller>,
        ip: IpAddr,
    ) -> Result<(), Duration> {
        let map = self.by_channel.load();
        let Some(limits) = map.get(channel) else {
            return Ok(());
        };
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(bucket) = &limits.channel {
            bucket.take(now).map_err(Duration::from_nanos)?;
        }
        if let Some(callers) = &limits.callers {
            let key = match caller.and_then(|c| c.subject.as_deref()) {
                Some(subject) => CallerKey::Subject(subject),
                None => CallerKey::Address(ip),
            };
            callers.take(&key, now).map_err(Duration::from_nanos)?;
        }
        Ok(())
    }
}

/// The 429 of an exceeded limit, with `Retry-After` in whole seconds (rounded up).
pub(super) fn too_many(
    wait: Duration,
    channel: &str,
    format: ReplyFormat,
    cid: Cid,
) -> HttpResponse {
    tracing::debug!(%cid, channel, wait_ms = wait.as_millis(), "rate limit exceeded");
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = error_reply(
        &ServiceError::TooManyRequests { retry_after: wait },
        format,
        cid,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_bucket_lets_a_burst_through_then_one_per_interval() {
        let bucket = Bucket::new(RateLimit::new(3, 3.0));
        for _ in 0..3 {
            assert!(bucket.take(0).is_ok());
        }
        let wait = bucket.take(0).unwrap_err();
        assert_eq!(wait, SEC);
        assert!(bucket.take(SEC).is_ok());
        assert!(bucket.take(SEC).is_err());
        // After a whole window idle, the whole burst again.
        for _ in 0..3 {
            assert!(bucket.take(10 * SEC).is_ok());
        }
    }

    #[test]
    fn callers_have_buckets_of_their_own() {
        let callers = CallerBuckets::new(RateLimit::new(1, 60.0), 1000);
        let a = CallerKey::Subject("a");
        let b = CallerKey::Subject("b");
        assert!(callers.take(&a, 0).is_ok());
        assert!(callers.take(&a, 0).is_err());
        assert!(callers.take(&b, 0).is_ok());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(callers.take(&CallerKey::Address(ip), 0).is_ok());
        assert_eq!(callers.len(), 3);
    }

    #[test]
    fn a_million_distinct_callers_stay_within_the_bound() {
        let callers = CallerBuckets::new(RateLimit::new(1, 60.0), MAX_CALLERS);
        let mut name = String::new();
        for i in 0..1_000_000u32 {
            use std::fmt::Write as _;
            name.clear();
            let _ = write!(name, "caller-{i}");
            // All of them inside their window: nothing is due, so the table is thinned.
            assert!(
                callers
                    .take(&CallerKey::Subject(&name), u64::from(i))
                    .is_ok()
            );
        }
        let (len, bytes) = (callers.len(), callers.table_bytes());
        // The documented bound: at most MAX_CALLERS buckets, and their tables at most
        // 17 bytes a slot, with at most twice as many slots as buckets (3.4 MB a channel).
        eprintln!("1,000,000 callers: {len} buckets, {bytes} bytes of table");
        assert!(len <= MAX_CALLERS, "{len} buckets");
        assert!(bytes <= MAX_CALLERS * 17 * 2, "{bytes} bytes");
        // The last caller still has its bucket, spent.
        assert!(callers.take(&CallerKey::Subject(&name), 1_000_000).is_err());
    }
}
