//! A job's configuration, `channels.scheduler.<name>`, and when it is due.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};
use zato_core::ConfigProblem;

/// When a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobKind {
    /// Once, at `start_date`.
    OneTime,
    /// Every `weeks`, `days`, `hours`, `minutes` and `seconds` from `start_date`, `repeats` times
    /// or forever.
    #[default]
    Interval,
    /// At the times the `cron` expression names, in `timezone`.
    Cron,
}

/// A scheduled job: a service invoked at a date, on an interval, or on a cron expression, with
/// `extra` as its raw request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JobConfig {
    /// The job's name, unique among jobs.
    pub name: String,
    /// Whether it runs when due; an inactive job is paused, and can still be run by hand.
    pub is_active: bool,
    /// When it runs.
    #[serde(rename = "type")]
    pub kind: JobKind,
    /// The service it invokes.
    pub service: String,
    /// The service's raw request, decoded as JSON by its SimpleIO; empty for none.
    pub extra: String,
    /// One-time: when. Interval: the first run (later runs follow at the interval); without it
    /// runs fall on multiples of the interval since 1970-01-01 UTC, the same on every node. Cron:
    /// no run before it. RFC 3339 (`2026-12-01T09:00:00+01:00`), or a local time
    /// (`2026-12-01T09:00:00`) in `timezone`.
    pub start_date: Option<String>,
    /// Interval: weeks.
    pub weeks: u64,
    /// Interval: days.
    pub days: u64,
    /// Interval: hours.
    pub hours: u64,
    /// Interval: minutes.
    pub minutes: u64,
    /// Interval: seconds.
    pub seconds: u64,
    /// Interval: how many runs in all; forever when unset.
    pub repeats: Option<u64>,
    /// Cron: the expression, five fields (minute to day of week) or six (seconds first).
    pub cron: Option<String>,
    /// The IANA time zone of `cron` and of a local `start_date`: `Europe/Berlin`, `UTC`.
    pub timezone: String,
    /// Whether a run may start while the previous one still runs; when not, the run due is
    /// skipped and counted.
    pub allow_overlap: bool,
    /// Whether, on start, one run due while the node was down is made up for (the latest
    /// one). Runs missed are never replayed otherwise.
    pub catch_up: bool,
    /// Seconds a run may take; past that it counts as failed (504).
    pub timeout: f64,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            name: String::new(),
            is_active: true,
            kind: JobKind::Interval,
            service: String::new(),
            extra: String::new(),
            start_date: None,
            weeks: 0,
            days: 0,
            hours: 0,
            minutes: 0,
            seconds: 0,
            repeats: None,
            cron: None,
            timezone: "UTC".to_owned(),
            allow_overlap: false,
            catch_up: false,
            timeout: 300.0,
        }
    }
}

/// The longest interval: 52 weeks.
const MAX_INTERVAL: u64 = 52 * 7 * 86_400;

impl JobConfig {
    /// A job `name` invoking `service` every `every`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zato_scheduler::JobConfig;
    ///
    /// let job = JobConfig::interval("ping", "demo.ping", Duration::from_secs(90));
    /// assert!(job.problems().is_empty());
    /// assert_eq!((job.minutes, job.seconds), (0, 90));
    /// ```
    pub fn interval(name: impl Into<String>, service: impl Into<String>, every: Duration) -> Self {
        JobConfig {
            name: name.into(),
            service: service.into(),
            kind: JobKind::Interval,
            seconds: every.as_secs(),
            ..JobConfig::default()
        }
    }

    /// A job `name` invoking `service` at the times of the cron expression `cron` in `timezone`.
    pub fn cron(
        name: impl Into<String>,
        service: impl Into<String>,
        cron: impl Into<String>,
        timezone: impl Into<String>,
    ) -> Self {
        JobConfig {
            name: name.into(),
            service: service.into(),
            kind: JobKind::Cron,
            cron: Some(cron.into()),
            timezone: timezone.into(),
            ..JobConfig::default()
        }
    }

    /// A job `name` invoking `service` once, at `at` (RFC 3339).
    pub fn one_time(
        name: impl Into<String>,
        service: impl Into<String>,
        at: impl Into<String>,
    ) -> Self {
        JobConfig {
            name: name.into(),
            service: service.into(),
            kind: JobKind::OneTime,
            start_date: Some(at.into()),
            ..JobConfig::default()
        }
    }

    /// The same job with `extra` as the service's raw request.
    pub fn with_extra(mut self, extra: impl Into<String>) -> Self {
        self.extra = extra.into();
        self
    }

    /// The same job starting at `start_date`.
    pub fn with_start(mut self, start_date: impl Into<String>) -> Self {
        self.start_date = Some(start_date.into());
        self
    }

    /// The interval in seconds.
    pub fn interval_secs(&self) -> u64 {
        self.weeks
            .saturating_mul(7 * 86_400)
            .saturating_add(self.days.saturating_mul(86_400))
            .saturating_add(self.hours.saturating_mul(3600))
            .saturating_add(self.minutes.saturating_mul(60))
            .saturating_add(self.seconds)
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        zato_core::config::bounds::duration(self.timeout)
    }

    /// Every problem of the job, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut bad =
            |path: &str, message: String| problems.push(ConfigProblem::new(path, message));
        if self.name.trim().is_empty() {
            bad("name", "required".into());
        }
        if self.service.trim().is_empty() {
            bad("service", "required".into());
        }
        let tz = Tz::from_str(&self.timezone);
        if tz.is_err() {
            bad(
                "timezone",
                format!(
                    "{:?} is not an IANA time zone (Europe/Berlin, UTC)",
                    self.timezone
                ),
            );
        }
        if let (Some(start), Ok(tz)) = (&self.start_date, tz)
            && parse_date(start, tz).is_none()
        {
            bad(
                "start_date",
                "expected RFC 3339 (2026-12-01T09:00:00+01:00) or a local time (2026-12-01T09:00:00)"
                    .into(),
            );
        }
        match self.kind {
            JobKind::OneTime => {
                if self.start_date.is_none() {
                    bad("start_date", "required for a one-time job".into());
                }
            }
            JobKind::Interval => {
                let every = self.interval_secs();
                if every == 0 {
                    bad(
                        "seconds",
                        "an interval job needs weeks, days, hours, minutes or seconds".into(),
                    );
                } else if every > MAX_INTERVAL {
                    bad("weeks", "the interval is at most 52 weeks".into());
                }
                if self.repeats == Some(0) {
                    bad("repeats", "at least 1, or unset for forever".into());
                }
            }
            JobKind::Cron => match &self.cron {
                None => bad("cron", "required for a cron job".into()),
                Some(expr) => {
                    if let Err(e) = Cron::from_str(expr) {
                        bad("cron", format!("not a cron expression: {e}"));
                    }
                }
            },
        }
        problems.extend(zato_core::config::bounds::positive_seconds(
            "timeout",
            self.timeout,
            zato_core::config::bounds::MAX_SECONDS,
        ));
        problems
    }

    /// When the job runs, or `None` for an invalid job.
    pub fn schedule(&self) -> Option<Schedule> {
        if !self.problems().is_empty() {
            return None;
        }
        let tz = Tz::from_str(&self.timezone).ok()?;
        let start = match &self.start_date {
            Some(s) => Some(parse_date(s, tz)?),
            None => None,
        };
        Some(match self.kind {
            JobKind::OneTime => Schedule::Once(start?),
            JobKind::Interval => Schedule::Every {
                start: start.unwrap_or(DateTime::UNIX_EPOCH),
                every: TimeDelta::seconds(i64::try_from(self.interval_secs()).ok()?),
                repeats: self.repeats,
            },
            JobKind::Cron => Schedule::Cron {
                cron: Box::new(Cron::from_str(self.cron.as_deref()?).ok()?),
                tz,
                start,
            },
        })
    }
}

fn parse_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .ok()?;
    // A local time in a gap of a daylight-saving change does not exist; in an overlap, the
    // earlier of the two is taken.
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.to_utc())
}

/// When a job is due, as instants.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Schedule {
    /// Once.
    Once(DateTime<Utc>),
    /// `start`, then every `every`, `repeats` times in all or forever.
    Every {
        /// The first run.
        start: DateTime<Utc>,
        /// The interval.
        every: TimeDelta,
        /// How many runs in all.
        repeats: Option<u64>,
    },
    /// The times of a cron expression in a time zone, none before `start`.
    Cron {
        /// The expression.
        cron: Box<Cron>,
        /// Its time zone.
        tz: Tz,
        /// No run before this.
        start: Option<DateTime<Utc>>,
    },
}

impl Schedule {
    /// The first time the job is due strictly after `after`, or `None` when it never is again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Once(at) => (*at > after).then_some(*at),
            Schedule::Every {
                start,
                every,
                repeats,
            } => {
                let n = if after < *start {
                    0
                } else {
                    let since = (after - *start).num_milliseconds();
                    since / every.num_milliseconds().max(1) + 1
                };
                let n = u64::try_from(n).ok()?;
                if repeats.is_some_and(|r| n >= r) {
                    return None;
                }
                start.checked_add_signed(every.checked_mul(i32::try_from(n).ok()?)?)
            }
            Schedule::Cron { cron, tz, start } => {
                let from = match start {
                    Some(s) if *s > after => *s - TimeDelta::milliseconds(1),
                    _ => after,
                };
                cron.find_next_occurrence(&from.with_timezone(tz), false)
                    .ok()
                    .map(|t| t.to_utc())
            }
        }
    }

    /// The last time the job was due at or before `at`, or `None` when it never was.
    pub fn last_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Once(when) => (*when <= at).then_some(*when),
            Schedule::Every {
                start,
                every,
                repeats,
            } => {
                if at < *start {
                    return None;
                }
                let mut n = (at - *start).num_milliseconds() / every.num_milliseconds().max(1);
                if let Some(r) = repeats {
                    n = n.min(i64::try_from(*r).ok()? - 1);
                }
                start.checked_add_signed(every.checked_mul(i32::try_from(n).ok()?)?)
            }
            Schedule::Cron { cron, tz, start } => {
                let last = cron
                    .find_previous_occurrence(&at.with_timezone(tz), true)
                    .ok()?
                    .to_utc();
                (start.is_none_or(|s| last >= s)).then_some(last)
            }
        }
    }
}

/// The kind of scheduled jobs: `channels.scheduler` in the config document.
pub const SCHEDULER_KIND: zato_core::ChannelKind = zato_core::ChannelKind::new("scheduler");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn intervals_fall_on_their_grid_and_stop_after_their_repeats() {
        let job = JobConfig::interval("j", "s", Duration::from_secs(10))
            .with_start("2026-01-01T00:00:05Z");
        let mut job = job;
        job.repeats = Some(3);
        let s = job.schedule().unwrap();
        assert_eq!(
            s.next_after(t("2025-12-31T00:00:00Z")),
            Some(t("2026-01-01T00:00:05Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:05Z")),
            Some(t("2026-01-01T00:00:15Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:16Z")),
            Some(t("2026-01-01T00:00:25Z"))
        );
        assert_eq!(s.next_after(t("2026-01-01T00:00:25Z")), None);
        assert_eq!(
            s.last_at_or_before(t("2026-01-01T09:00:00Z")),
            Some(t("2026-01-01T00:00:25Z"))
        );
        // Without a start date, on multiples of the interval: the same on every node.
        let aligned = JobConfig::interval("j", "s", Duration::from_secs(60))
            .schedule()
            .unwrap();
        assert_eq!(
            aligned.next_after(t("2026-01-01T10:00:30Z")),
            Some(t("2026-01-01T10:01:00Z"))
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let job = JobConfig {
            kind: JobKind::Cron,
            cron: Some("61 * * * *".into()),
            timezone: "Mars/Olympus".into(),
            timeout: 0.0,
            ..JobConfig::default()
        };
        let paths: Vec<String> = job.problems().into_iter().map(|p| p.path).collect();
        for p in ["name", "service", "timezone", "cron", "timeout"] {
            assert!(paths.contains(&p.to_owned()), "{p} in {paths:?}");
        }
        let once = JobConfig {
            kind: JobKind::OneTime,
            ..JobConfig::interval("j", "s", Duration::from_secs(1))
        };
        assert_eq!(once.problems()[0].path, "start_date");
    }
}
