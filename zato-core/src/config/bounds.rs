//! The documented ranges of configured numbers, and the bounds of what a document may hold.
//!
//! A document is at most [`MAX_DOCUMENT_BYTES`] long and holds at most
//! [`MAX_OBJECTS_PER_KIND`] objects of one kind; a name is at most [`MAX_NAME_BYTES`] long, and
//! any text of an object at most [`MAX_TEXT_BYTES`]. The checker refuses what is over them with
//! its path, before anything is applied.
//!
//! Every number a kind turns into a [`Duration`], a size or a count is checked against a range
//! before the object is applied, and refused with its path when outside it: a value in a config
//! document never reaches a conversion that panics or falls back to zero. The kinds' checks use
//! these helpers so that the same words name the same ranges everywhere.
//!
//! # Examples
//!
//! ```
//! use zato_core::config::bounds;
//!
//! let problem = bounds::positive_seconds("pool_wait", 1e300, 3600.0).unwrap();
//! assert_eq!(problem.path, "pool_wait");
//! assert_eq!(problem.message, "must be 0.001 to 3600 seconds");
//! assert!(bounds::positive_seconds("pool_wait", 5.0, 3600.0).is_none());
//! assert!(bounds::count("pool_size", 0u32, 1, 1000).is_some());
//! assert_eq!(bounds::duration(2.5).as_millis(), 2500);
//! ```

use std::time::Duration;

use super::ConfigProblem;

/// The longest duration any built-in kind accepts: a day.
pub const MAX_SECONDS: f64 = 86_400.0;

/// The largest message or body a built-in kind holds in memory: 1 GiB.
pub const MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// The most items of a list a built-in kind takes (`max_items`).
pub const MAX_ITEMS: u64 = 1_000_000;

/// The highest queue high-water mark a built-in kind takes, in messages.
pub const MAX_QUEUE: u64 = 1_000_000;

/// The shortest timeout or wait: a millisecond. Shorter ones round to nothing on the way to
/// the timers, and a pool refuses a zero wait.
pub const MIN_SECONDS: f64 = 0.001;

/// The largest config document read, in bytes: 4 MiB, some 30,000 channels. A larger one is
/// refused before it is parsed (a 413 on the admin API, whose bodies are bounded by it).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The most objects of one kind a document holds (`channels.http`, `outgoing.swift`, the
/// security definitions, the services' settings), and so a node: an import without `replace`
/// is counted with the objects the node keeps.
pub const MAX_OBJECTS_PER_KIND: usize = 20_000;

/// The longest object name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 256;

/// The longest text any field of an object holds, in bytes of UTF-8: 64 KiB, room for a
/// certificate chain.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A problem at `field` unless `value` is from [`MIN_SECONDS`] to `max` seconds (a timeout, a
/// wait).
pub fn positive_seconds(field: &str, value: f64, max: f64) -> Option<ConfigProblem> {
    seconds(field, value, MIN_SECONDS, max)
}

/// A problem at `field` unless `value` is from `min` to `max` seconds, both included (an
/// interval, a backoff).
pub fn seconds(field: &str, value: f64, min: f64, max: f64) -> Option<ConfigProblem> {
    (!(value.is_finite() && value >= min && value <= max))
        .then(|| ConfigProblem::new(field, format!("must be {min} to {max} seconds")))
}

/// A problem at `field` unless the count or size `value` is from `min` to `max`, both included.
pub fn count(field: &str, value: impl Into<u64>, min: u64, max: u64) -> Option<ConfigProblem> {
    let value = value.into();
    (!(min..=max).contains(&value))
        .then(|| ConfigProblem::new(field, format!("must be {min} to {max}")))
}

/// A checked number of seconds as a [`Duration`]. Numbers the checks refuse are clamped to
/// zero to [`MAX_SECONDS`] here rather than panicking: this is the one conversion the kinds use.
pub fn duration(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(secs.clamp(0.0, MAX_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_numbers_are_refused_and_never_panic_in_conversion() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            -1.0,
            0.0,
            1e-308,
            0.0009,
            1e300,
            2e19,
            3600.5,
        ] {
            assert!(positive_seconds("t", v, 3600.0).is_some(), "{v}");
            assert!(duration(v) <= Duration::from_secs(86_400), "{v}");
        }
        assert!(positive_seconds("t", 3600.0, 3600.0).is_none());
        assert!(seconds("t", 0.0, 0.0, 60.0).is_none());
        assert_eq!(
            seconds("t", 61.0, 0.0, 60.0).map(|p| p.message),
            Some("must be 0 to 60 seconds".to_owned())
        );
        assert_eq!(
            count("n", u64::MAX, 1, 1000).map(|p| p.message),
            Some("must be 1 to 1000".to_owned())
        );
        assert_eq!(duration(-5.0), Duration::ZERO);
        assert_eq!(duration(1e300), Duration::from_secs(86_400));
    }
}
