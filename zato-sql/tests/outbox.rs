//! `channels.sql_outbox`: 1,000 rows handled exactly once by two channels on two nodes, on the
//! PostgreSQL and MariaDB of `ZATO_TEST_PG_URL` and `ZATO_TEST_MYSQL_URL` (ignored unless run
//! with `--include-ignored`); a failing row ending as failed with its error, on SQLite and
//! PostgreSQL; a `LISTEN` channel waking the poller before its interval.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zato_core::kind::Kind;
use zato_core::{ChannelAdapter, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};
use zato_sql::outbox::create_table_sql;
use zato_sql::{Engine, SqlConfig, SqlKind, SqlOutboxAdapter, SqlOutboxConfig, SqlOutgoing};

use support::{unique, with_db};

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Row {
    id: i64,
    payload: String,
}

/// Each row handled: (table, id) → the nodes that handled it, in order.
static SEEN: Mutex<BTreeMap<(String, i64), Vec<char>>> = Mutex::new(BTreeMap::new());

fn seen(node: char, payload: &str, id: i64) {
    let table = payload.split(':').next().unwrap_or_default().to_owned();
    SEEN.lock()
        .unwrap()
        .entry((table, id))
        .or_default()
        .push(node);
}

#[service(name = "outbox.record", crate = "zato_core")]
async fn record_a(req: Request<Row>) -> Result<(), ServiceError> {
    seen('a', &req.input.payload, req.input.id);
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[service(name = "outbox.record", crate = "zato_core")]
async fn record_b(req: Request<Row>) -> Result<(), ServiceError> {
    seen('b', &req.input.payload, req.input.id);
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

/// Fails the rows whose payload ends with `:bad`.
#[service(name = "outbox.picky", crate = "zato_core")]
async fn picky(req: Request<Row>) -> Result<(), ServiceError> {
    if req.input.payload.ends_with(":bad") {
        return Err(ServiceError::bad_request(format!(
            "row {} is not acceptable",
            req.input.id
        )));
    }
    seen('a', &req.input.payload, req.input.id);
    Ok(())
}

/// A node: a platform with the connection and an outbox adapter, serving.
async fn node(config: &SqlConfig, deploy: impl FnOnce(&Platform)) -> (Platform, SqlOutboxAdapter) {
    let platform = Platform::new();
    deploy(&platform);
    SqlKind::new(&platform)
        .apply(Arc::new(config.clone()))
        .await
        .unwrap();
    let adapter = SqlOutboxAdapter::attach(&platform).unwrap();
    adapter.start().await.unwrap();
    (platform, adapter)
}

fn ph(engine: Engine, n: usize) -> String {
    if engine == Engine::Postgresql {
        format!("${n}")
    } else {
        "?".into()
    }
}

/// Inserts `n` rows with payloads `table:i`, `table:bad` for the `bad` ones.
async fn fill(platform: &Platform, engine: Engine, table: &str, n: usize, bad: &[usize]) {
    let db = platform.outgoing().sql("Outbox DB").unwrap();
    db.execute(&create_table_sql(engine, table), &[])
        .await
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let values: Vec<String> = (1..=chunk.len())
            .map(|i| format!("({})", ph(engine, i)))
            .collect();
        let params: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                if bad.contains(i) {
                    format!("{table}:bad").into()
                } else {
                    format!("{table}:{i}").into()
                }
            })
            .collect();
        let sql = format!("INSERT INTO {table} (payload) VALUES {}", values.join(", "));
        db.execute(&sql, &params).await.unwrap();
    }
}

/// Counts the rows by status.
async fn statuses(platform: &Platform, table: &str) -> BTreeMap<String, i64> {
    let db = platform.outgoing().sql("Outbox DB").unwrap();
    db.fetch_json(
        &format!("SELECT status, COUNT(*) AS n FROM {table} GROUP BY status"),
        &[],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r["status"].as_str().unwrap().to_owned(),
            r["n"].as_i64().unwrap(),
        )
    })
    .collect()
}

async fn wait_for(platform: &Platform, table: &str, want: &BTreeMap<String, i64>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = statuses(platform, table).await;
        if &now == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {now:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn thousand_rows_exactly_once_on_two_nodes(engine: Engine) {
    with_db(engine, "Outbox DB", |config| async move {
        let table = unique("outbox");
        let (a, outbox_a) = node(&config, |p| p.services().deploy(record_a).unwrap()).await;
        let (b, outbox_b) = node(&config, |p| p.services().deploy(record_b).unwrap()).await;
        fill(&a, engine, &table, 1000, &[]).await;
        let mut channel =
            SqlOutboxConfig::new("orders.outbox", "Outbox DB", &table, "outbox.record");
        channel.batch_size = 20;
        channel.concurrency = 4;
        channel.poll_interval = 0.05;
        outbox_a.upsert(channel.clone()).await.unwrap();
        outbox_b.upsert(channel).await.unwrap();
        wait_for(&a, &table, &BTreeMap::from([("done".to_owned(), 1000)])).await;
        let sa = outbox_a.stats("orders.outbox").unwrap();
        let sb = outbox_b.stats("orders.outbox").unwrap();
        outbox_a.stop().await;
        outbox_b.stop().await;
        let seen: Vec<(i64, Vec<char>)> = SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), _)| t == &table)
            .map(|((_, id), nodes)| (*id, nodes.clone()))
            .collect();
        assert_eq!(seen.len(), 1000);
        let twice: Vec<_> = seen.iter().filter(|(_, n)| n.len() != 1).collect();
        assert!(twice.is_empty(), "handled more than once: {twice:?}");
        let by_a = seen.iter().filter(|(_, n)| n[0] == 'a').count();
        assert!(
            by_a > 0 && by_a < 1000,
            "both nodes took rows: a {by_a}, b {}",
            1000 - by_a
        );
        assert_eq!(sa.done + sb.done, 1000, "{sa:?} {sb:?}");
        assert_eq!(sa.failed + sb.failed + sa.retried + sb.retried, 0);
        drop((a, b));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_1000_rows_exactly_once_on_two_nodes() {
    thousand_rows_exactly_once_on_two_nodes(Engine::Postgresql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB or MySQL (ZATO_TEST_MYSQL_URL)"]
async fn mysql_1000_rows_exactly_once_on_two_nodes() {
    thousand_rows_exactly_once_on_two_nodes(Engine::Mysql).await;
}

async fn a_failing_row_ends_failed_with_its_error(engine: Engine) {
    with_db(engine, "Outbox DB", |config| async move {
        let table = unique("outbox");
        let (p, outbox) = node(&config, |p| p.services().deploy(picky).unwrap()).await;
        fill(&p, engine, &table, 5, &[2]).await;
        let mut channel = SqlOutboxConfig::new("picky.outbox", "Outbox DB", &table, "outbox.picky");
        channel.poll_interval = 0.05;
        channel.max_attempts = 3;
        channel.backoff = 0.05;
        channel.max_backoff = 0.2;
        outbox.upsert(channel).await.unwrap();
        wait_for(
            &p,
            &table,
            &BTreeMap::from([("done".to_owned(), 4), ("failed".to_owned(), 1)]),
        )
        .await;
        let db = p.outgoing().sql("Outbox DB").unwrap();
        let failed = db
            .fetch_json(
                &format!("SELECT id, attempts, last_error FROM {table} WHERE status = 'failed'"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(failed[0]["id"], 3);
        assert_eq!(failed[0]["attempts"], 3);
        assert_eq!(
            failed[0]["last_error"],
            "bad request: row 3 is not acceptable"
        );
        let stats = outbox.stats("picky.outbox").unwrap();
        assert_eq!((stats.done, stats.retried, stats.failed), (4, 2, 1));
        outbox.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_failing_row_ends_failed_with_its_error() {
    a_failing_row_ends_failed_with_its_error(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_a_failing_row_ends_failed_with_its_error() {
    a_failing_row_ends_failed_with_its_error(Engine::Postgresql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_listen_wakes_the_poller_before_its_interval() {
    with_db(Engine::Postgresql, "Outbox DB", |config| async move {
        let table = unique("outbox");
        let (p, outbox) = node(&config, |p| p.services().deploy(record_a).unwrap()).await;
        fill(&p, Engine::Postgresql, &table, 0, &[]).await;
        let mut channel =
            SqlOutboxConfig::new("woken.outbox", "Outbox DB", &table, "outbox.record");
        channel.poll_interval = 600.0;
        channel.listen = Some(table.clone());
        outbox.upsert(channel).await.unwrap();
        // Its first poll finds nothing; then only a notification can wake it in time.
        let deadline = Instant::now() + Duration::from_secs(60);
        while outbox.stats("woken.outbox").unwrap().polls == 0 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let db = p.outgoing().sql("Outbox DB").unwrap();
        db.execute(
            &format!("INSERT INTO {table} (payload) VALUES ('{table}:1')"),
            &[],
        )
        .await
        .unwrap();
        loop {
            db.execute(&format!("NOTIFY {table}"), &[]).await.unwrap();
            if statuses(&p, &table).await.get("done") == Some(&1) {
                break;
            }
            assert!(Instant::now() < deadline, "not woken by NOTIFY");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        outbox.stop().await;
    })
    .await;
}
