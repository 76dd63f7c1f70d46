//! The SQL connection against raw sqlx, on PostgreSQL at `ZATO_TEST_PG_URL`, same pool size and
//! query, side by side: one `SELECT $1::int8 + 1` at a time, through the typed helper
//! (`fetch_all` into a serde struct), through plain sqlx on the handle's pool, and through raw
//! sqlx on a pool of its own with the same options (and with sqlx's defaults, which ping each
//! connection at checkout). Then the outbox channel's rows per second at concurrency 1 and 8:
//! 2,000 rows inserted (not timed), timed from the channel's creation to the last row done.
//!
//! `ZATO_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p zato-sql --bench sql`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark fails loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use serde::Deserialize;
use zato_core::kind::Kind;
use zato_core::{ChannelAdapter, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};
use zato_sql::outbox::create_table_sql;
use zato_sql::{SqlConfig, SqlKind, SqlOutboxAdapter, SqlOutboxConfig, SqlOutgoing};

const POOL: u32 = 4;
const ROWS: usize = 2000;

fn url() -> Option<String> {
    std::env::var("ZATO_TEST_PG_URL").ok()
}

#[derive(Deserialize)]
struct N {
    n: i64,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn queries(c: &mut Criterion) {
    let Some(url) = url() else {
        eprintln!("ZATO_TEST_PG_URL is not set: the SQL bench needs PostgreSQL, skipped");
        return;
    };
    let rt = rt();
    let platform = Platform::new();
    let config = SqlConfig::from_url("Bench DB", &url)
        .unwrap()
        .with_pool(POOL, 10.0);
    rt.block_on(SqlKind::new(&platform).apply(Arc::new(config)))
        .unwrap();
    // The same pool options as the connection's: no ping before each checkout.
    let raw = rt
        .block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(POOL)
                .test_before_acquire(false)
                .connect(&url),
        )
        .unwrap();
    // sqlx's defaults, which ping each connection as it is checked out.
    let raw_default = rt
        .block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(POOL)
                .connect(&url),
        )
        .unwrap();
    let outgoing = platform.outgoing().clone();
    let mut group = c.benchmark_group("select");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("raw sqlx", |b| {
        b.to_async(&rt).iter(|| async {
            let (n,): (i64,) = sqlx::query_as("SELECT $1::int8 + 1 AS n")
                .bind(41i64)
                .fetch_one(&raw)
                .await
                .unwrap();
            assert_eq!(n, 42);
        });
    });
    group.bench_function("raw sqlx, default pool options", |b| {
        b.to_async(&rt).iter(|| async {
            let (n,): (i64,) = sqlx::query_as("SELECT $1::int8 + 1 AS n")
                .bind(41i64)
                .fetch_one(&raw_default)
                .await
                .unwrap();
            assert_eq!(n, 42);
        });
    });
    group.bench_function("zato handle, plain sqlx", |b| {
        b.to_async(&rt).iter(|| async {
            let db = outgoing.sql("Bench DB").unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT $1::int8 + 1 AS n")
                .bind(41i64)
                .fetch_one(db.postgres().unwrap())
                .await
                .unwrap();
            assert_eq!(n, 42);
        });
    });
    group.bench_function("zato handle, typed helper", |b| {
        b.to_async(&rt).iter(|| async {
            let db = outgoing.sql("Bench DB").unwrap();
            let rows: Vec<N> = db
                .fetch_all("SELECT $1::int8 + 1 AS n", &[41.into()])
                .await
                .unwrap();
            assert_eq!(rows[0].n, 42);
        });
    });
    group.finish();
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Row {
    id: i64,
}

#[service(name = "bench.row", crate = "zato_core")]
async fn row(req: Request<Row>) -> Result<(), ServiceError> {
    std::hint::black_box(req.input.id);
    Ok(())
}

/// Rows per second of an outbox channel with `concurrency`, on a table of its own.
async fn outbox(url: &str, concurrency: u32) -> f64 {
    let platform = Platform::new();
    platform.services().deploy(row).unwrap();
    let config = SqlConfig::from_url("Outbox DB", url)
        .unwrap()
        .with_pool(POOL, 10.0);
    SqlKind::new(&platform)
        .apply(Arc::new(config))
        .await
        .unwrap();
    let db = platform.outgoing().sql("Outbox DB").unwrap();
    let table = format!("zato_bench_outbox_{}_{concurrency}", std::process::id());
    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
        .await
        .unwrap();
    db.execute(&create_table_sql(zato_sql::Engine::Postgresql, &table), &[])
        .await
        .unwrap();
    db.execute(
        &format!("INSERT INTO {table} (payload) SELECT 'x' FROM generate_series(1, {ROWS})"),
        &[],
    )
    .await
    .unwrap();
    let adapter = SqlOutboxAdapter::attach(&platform).unwrap();
    adapter.start().await.unwrap();
    let mut channel = SqlOutboxConfig::new("bench", "Outbox DB", &table, "bench.row");
    channel.concurrency = concurrency;
    channel.batch_size = 100;
    channel.poll_interval = 0.01;
    let started = Instant::now();
    adapter.upsert(channel).await.unwrap();
    while adapter.stats("bench").unwrap().done < ROWS as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    adapter.stop().await;
    db.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .unwrap();
    ROWS as f64 / took.as_secs_f64()
}

fn outbox_rows_per_second(_c: &mut Criterion) {
    let Some(url) = url() else {
        return;
    };
    let rt = rt();
    for concurrency in [1, 8] {
        let runs: Vec<f64> = (0..3)
            .map(|_| rt.block_on(outbox(&url, concurrency)))
            .collect();
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "outbox on PostgreSQL, concurrency {concurrency}: median {:.0} rows/s (runs {:?})",
            sorted[1],
            runs.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
    }
}

criterion_group!(benches, queries, outbox_rows_per_second);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
