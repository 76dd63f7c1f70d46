//! Scheduled jobs for zato-rs: services invoked once at a date, on an interval (weeks, days,
//! hours, minutes, seconds, from a start date, a number of times or forever), or on a cron
//! expression in an explicit time zone.
//!
//! A job is configuration, `channels.scheduler.<name>` ([`JobConfig`]): created, edited, paused
//! (`is_active = false`) and deleted live through the config store, the admin API and
//! `zato scheduler list|create|edit|pause|resume|delete|run-now`. Its `extra` is the service's
//! raw request, and the job's name and due time are channel parameters (`scheduler_job`,
//! `scheduler_due`).
//!
//! - **Overruns.** A run still going when the next is due makes that one skipped and counted,
//!   unless the job allows overlap.
//! - **Downtime.** Runs missed while the node was down are not replayed; a job with `catch_up`
//!   makes up for the latest one when it starts. A clock set forward past several due times
//!   fires the latest only.
//! - **In a cluster** every node keeps the timers, and each due run is a row of the cluster's
//!   database keyed by job and due time ([`Platform::claims`](zato_core::Platform::claims)):
//!   only the node whose insert wins runs it. No session-bound lock is involved, so a dropped
//!   connection frees nothing while its holder still runs; a node that dies only stops
//!   claiming, and the others take the next due runs.
//! - **Metrics:** `zato_scheduler_runs_total{job, outcome}` (ok, failed, skipped, elsewhere), and
//!   the last run's start, duration and outcome per job.
//!
//! Wall-clock time comes from a [`Clock`]: the [`SystemClock`], or in tests a [`ManualClock`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_scheduler::{JobConfig, Scheduler};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let platform = Platform::new();
//! let scheduler = Scheduler::attach(&platform).unwrap();
//! let job = JobConfig::cron("daily", "invoice.dispatcher", "0 6 * * *", "Europe/Warsaw")
//!     .with_extra(r#"{"target":["CRM"]}"#);
//! scheduler.upsert_channel(serde_json::to_value(job).unwrap()).await.unwrap();
//! platform.start().await.unwrap();
//! assert_eq!(scheduler.job("daily").unwrap().timezone, "Europe/Warsaw");
//! # platform.shutdown().await;
//! # });
//! ```

mod adapter;
mod clock;
mod config;
mod kind;

pub use self::adapter::{JobStats, LastRun, Scheduler};
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::config::SCHEDULER_KIND;
pub use self::config::{JobConfig, JobKind, Schedule};
pub use self::kind::{SchedulerKind, SchedulerPlugin, plugin};
