//! The scheduler on an injected clock (tokio's paused time does not move the date): interval,
//! cron across both daylight-saving changes, one-time, pause and resume, overruns skipped,
//! an edit while a run goes on, run-now, catch-up; and two nodes sharing the PostgreSQL at
//! `ZATO_TEST_PG_URL` (ignored unless run with `--include-ignored`), on the system clock: a 1-second job runs once per
//! second in all, and when one node is gone the other takes the next runs.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use zato_cluster::testing::TestDb;
use zato_core::{ChannelAdapter, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};
use zato_scheduler::{JobConfig, ManualClock, Scheduler};

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Due {
    scheduler_job: String,
    scheduler_due: String,
}

/// Every run: job, due time, and which node's platform ran it.
static RUNS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

#[service(name = "job.record", crate = "zato_core")]
async fn record(req: Request<Due>) -> Result<(), ServiceError> {
    RUNS.lock().unwrap().push((
        req.input.scheduler_job.clone(),
        req.input.scheduler_due.clone(),
    ));
    Ok(())
}

/// Jobs whose blocking runs may end.
static RELEASED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records, then runs until its job is released.
#[service(name = "job.block", crate = "zato_core")]
async fn block(req: Request<Due>) -> Result<(), ServiceError> {
    RUNS.lock().unwrap().push((
        req.input.scheduler_job.clone(),
        req.input.scheduler_due.clone(),
    ));
    while !RELEASED.lock().unwrap().contains(&req.input.scheduler_job) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn runs(job: &str) -> Vec<String> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(j, _)| j == job)
        .map(|(_, d)| d.clone())
        .collect()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A due time as the service sees it.
fn due(s: &str) -> String {
    t(s).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn node(clock: Arc<ManualClock>) -> (Platform, Scheduler) {
    let platform = Platform::new();
    platform.services().deploy(record).unwrap();
    platform.services().deploy(block).unwrap();
    let scheduler = Scheduler::attach_with_clock(&platform, clock).unwrap();
    scheduler.start().await.unwrap();
    (platform, scheduler)
}

/// Creates or replaces `job`, and for an active job waits until its timer is armed, so that the
/// clock moved next is seen by it.
async fn put(scheduler: &Scheduler, job: &JobConfig) {
    scheduler
        .upsert_channel(serde_json::to_value(job).unwrap())
        .await
        .unwrap();
    if job.is_active {
        let armed = eventually(Duration::from_secs(5), || {
            scheduler.stats(&job.name).unwrap().next.is_some()
        })
        .await;
        assert!(armed, "the timer of {} was not armed", job.name);
    }
}

/// Moves the clock `seconds` forward one second at a time, letting due runs start and finish.
async fn tick(clock: &ManualClock, seconds: u64) {
    for _ in 0..seconds {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

#[tokio::test]
async fn an_interval_job_runs_on_its_grid_and_stops_after_its_repeats() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T10:00:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    let every = JobConfig::interval("every10", "job.record", Duration::from_secs(10))
        .with_start("2026-11-30T10:00:05Z");
    put(&scheduler, &every).await;
    let mut twice = JobConfig::interval("twice", "job.record", Duration::from_secs(10))
        .with_start("2026-11-30T10:00:05Z");
    twice.repeats = Some(2);
    put(&scheduler, &twice).await;
    tick(&clock, 40).await;
    assert_eq!(
        runs("every10"),
        [
            due("2026-11-30T10:00:05Z"),
            due("2026-11-30T10:00:15Z"),
            due("2026-11-30T10:00:25Z"),
            due("2026-11-30T10:00:35Z"),
        ]
    );
    assert_eq!(runs("twice").len(), 2);
    assert!(scheduler.stats("twice").unwrap().next.is_none());
    assert_eq!(
        scheduler.stats("every10").unwrap().next,
        Some(t("2026-11-30T10:00:45Z"))
    );
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(r#"zato_scheduler_runs_total{job="every10",outcome="ok"} 4"#),
        "{metrics}"
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn a_cron_job_follows_its_time_zone_across_both_daylight_saving_changes() {
    // 02:30 in Berlin: on 2026-03-29 the clocks jump from 02:00 to 03:00, so there is no 02:30
    // (it runs at 03:00, as cron does); on 2026-10-25 02:30 comes twice, and it runs once.
    for (start, hours, expected) in [
        (
            "2026-03-28T00:00:00Z",
            72,
            [
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ],
        ),
        (
            "2026-10-24T00:00:00Z",
            72,
            [
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ],
        ),
    ] {
        let clock = Arc::new(ManualClock::new(t(start)));
        let (platform, scheduler) = node(clock.clone()).await;
        let name = format!("berlin-{}", &start[..7]);
        let job = JobConfig::cron(&name, "job.record", "30 2 * * *", "Europe/Berlin");
        put(&scheduler, &job).await;
        // An hour at a time: a due time within a step runs once, at the step's end.
        for _ in 0..hours {
            clock.advance(Duration::from_secs(3600));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let expected: Vec<String> = expected.iter().map(|e| due(e)).collect();
        assert_eq!(runs(&name), expected, "{name}");
        platform.shutdown().await;
    }
}

#[tokio::test]
async fn a_one_time_job_runs_once() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T10:00:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    let job = JobConfig::one_time("once", "job.record", "2026-11-30T11:00:30+01:00");
    put(&scheduler, &job).await;
    tick(&clock, 29).await;
    assert!(runs("once").is_empty());
    tick(&clock, 60).await;
    assert_eq!(runs("once"), [due("2026-11-30T10:00:30Z")]);
    assert!(scheduler.stats("once").unwrap().next.is_none());
    platform.shutdown().await;
}

#[tokio::test]
async fn a_paused_job_does_not_run_and_resumed_it_does_not_replay_what_it_missed() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T10:00:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    let mut job = JobConfig::interval("paused", "job.record", Duration::from_secs(10));
    put(&scheduler, &job).await;
    tick(&clock, 20).await;
    assert_eq!(runs("paused").len(), 2);
    job.is_active = false;
    put(&scheduler, &job).await;
    tick(&clock, 50).await;
    assert_eq!(runs("paused").len(), 2);
    assert_eq!(scheduler.stats("paused").unwrap().next, None);
    job.is_active = true;
    put(&scheduler, &job).await;
    tick(&clock, 10).await;
    assert_eq!(
        runs("paused"),
        [
            due("2026-11-30T10:00:10Z"),
            due("2026-11-30T10:00:20Z"),
            due("2026-11-30T10:01:20Z"),
        ]
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn a_run_still_going_when_the_next_is_due_makes_it_skipped_unless_overlap_is_allowed() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T10:00:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    put(
        &scheduler,
        &JobConfig::interval("overrun", "job.block", Duration::from_secs(10)),
    )
    .await;
    let mut overlap = JobConfig::interval("overlap", "job.block", Duration::from_secs(10));
    overlap.allow_overlap = true;
    put(&scheduler, &overlap).await;
    tick(&clock, 30).await;
    assert_eq!(runs("overrun"), [due("2026-11-30T10:00:10Z")]);
    let stats = scheduler.stats("overrun").unwrap();
    assert_eq!((stats.skipped, stats.running), (2, 1));
    assert_eq!(runs("overlap").len(), 3);
    assert_eq!(scheduler.stats("overlap").unwrap().running, 3);
    RELEASED
        .lock()
        .unwrap()
        .extend(["overrun".to_owned(), "overlap".to_owned()]);
    assert!(
        eventually(Duration::from_secs(5), || scheduler
            .stats("overrun")
            .unwrap()
            .running
            == 0)
        .await
    );
    tick(&clock, 10).await;
    assert_eq!(runs("overrun").len(), 2);
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(r#"zato_scheduler_runs_total{job="overrun",outcome="skipped"} 2"#),
        "{metrics}"
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn an_edit_while_a_run_goes_on_lets_it_finish_and_takes_effect_for_the_next() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T10:00:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    let mut job = JobConfig::interval("edited", "job.block", Duration::from_secs(30));
    put(&scheduler, &job).await;
    tick(&clock, 30).await;
    assert_eq!(scheduler.stats("edited").unwrap().running, 1);
    job.seconds = 7;
    job.service = "job.record".into();
    put(&scheduler, &job).await;
    RELEASED.lock().unwrap().push("edited".to_owned());
    assert!(
        eventually(Duration::from_secs(5), || scheduler
            .stats("edited")
            .unwrap()
            .last
            .is_some())
        .await
    );
    assert!(
        scheduler
            .stats("edited")
            .unwrap()
            .last
            .unwrap()
            .outcome
            .is_ok()
    );
    tick(&clock, 14).await;
    // 10:00:30 ran on the old schedule; then on multiples of 7 s since 1970: :33 and :40.
    assert_eq!(
        runs("edited"),
        [
            due("2026-11-30T10:00:30Z"),
            due("2026-11-30T10:00:33Z"),
            due("2026-11-30T10:00:40Z"),
        ]
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn run_now_runs_an_inactive_job_and_catch_up_makes_up_for_one_missed_run() {
    let clock = Arc::new(ManualClock::new(t("2026-11-30T12:30:00Z")));
    let (platform, scheduler) = node(clock.clone()).await;
    let mut paused = JobConfig::interval("by-hand", "job.record", Duration::from_secs(3600));
    paused.is_active = false;
    put(&scheduler, &paused).await;
    scheduler.run_now("by-hand").unwrap();
    assert!(eventually(Duration::from_secs(5), || runs("by-hand").len() == 1).await);
    assert!(scheduler.run_now("no-such-job").is_err());

    // Hourly since 10:00: 11:00 and 12:00 were missed; only the latest is made up for.
    let mut catch_up = JobConfig::interval("catch-up", "job.record", Duration::from_secs(3600))
        .with_start("2026-11-30T10:00:00Z");
    catch_up.catch_up = true;
    put(&scheduler, &catch_up).await;
    let plain = JobConfig::interval("no-catch-up", "job.record", Duration::from_secs(3600))
        .with_start("2026-11-30T10:00:00Z");
    put(&scheduler, &plain).await;
    assert!(eventually(Duration::from_secs(5), || !runs("catch-up").is_empty()).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(runs("catch-up"), [due("2026-11-30T12:00:00Z")]);
    assert!(runs("no-catch-up").is_empty());
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn two_nodes_sharing_postgresql_run_each_second_once_and_one_goes_on_alone() {
    let db = TestDb::new("scheduler").await;
    db.sql("CREATE SCHEMA zato").await;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let platform = Platform::new();
        platform.services().deploy(record).unwrap();
        let settings = zato_cluster::PgSettings::new(db.url.clone(), "x".repeat(32));
        platform.set_claims(Arc::new(zato_cluster::PgClaims::new(settings)));
        let scheduler = Scheduler::attach(&platform).unwrap();
        scheduler.start().await.unwrap();
        put(
            &scheduler,
            &JobConfig::interval("every-second", "job.record", Duration::from_secs(1)),
        )
        .await;
        nodes.push((platform, scheduler));
    }
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let both = runs("every-second");
    let distinct: HashSet<&String> = both.iter().collect();
    assert_eq!(distinct.len(), both.len(), "a due time ran twice: {both:?}");
    assert!(
        (4..=7).contains(&both.len()),
        "{} runs in 5.5 s: {both:?}",
        both.len()
    );
    let per_node: Vec<u64> = nodes
        .iter()
        .map(|(_, s)| s.stats("every-second").unwrap().runs)
        .collect();
    let elsewhere: u64 = nodes
        .iter()
        .map(|(_, s)| s.stats("every-second").unwrap().elsewhere)
        .sum();
    assert_eq!(per_node.iter().sum::<u64>() as usize, both.len());
    eprintln!(
        "2 nodes, 5.5 s: {} runs (node a {}, node b {}), {elsewhere} due times left to the other",
        both.len(),
        per_node[0],
        per_node[1]
    );

    // One node goes away; the other runs every second alone.
    let (gone, _) = nodes.remove(0);
    gone.shutdown().await;
    let before = runs("every-second").len();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after = runs("every-second");
    assert!(
        after.len() - before >= 3,
        "{} runs in 3.5 s alone",
        after.len() - before
    );
    let distinct: HashSet<&String> = after.iter().collect();
    assert_eq!(distinct.len(), after.len());
    let per_second: BTreeMap<&str, usize> = after.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(&d[..19]).or_default() += 1;
        m
    });
    assert!(per_second.values().all(|n| *n == 1));
    for (platform, _) in nodes {
        platform.shutdown().await;
    }
    db.drop().await;
}
