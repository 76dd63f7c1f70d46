//! Objects per second through a Swift inbox channel into a trivial service, against the local
//! Swift endpoint on loopback, with concurrency 1 and 8, and the same work done by hand in the
//! same run as the baseline: list the inbox page by page, then for each object GET it, copy it
//! to the archive and DELETE it, with no claim and no service.
//!
//! The channel claims each object too: in Swift (a claim object written, read back when needed
//! and deleted: two requests more per object), and, when `ZATO_TEST_PG_URL` is set, in
//! PostgreSQL (two statements per object), in a database of its own that is dropped after.
//!
//! Run with `cargo bench --bench swift_inbox` (`ZATO_BENCH_OBJECTS` sets the count, 2000).
#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a bench panics on any setup error"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use zato::ChannelAdapter;
use zato::channels::swift_inbox::{ClaimsMode, SwiftInboxAdapter, SwiftInboxConfig};
use zato::core::claims::ClaimStore;
use zato::prelude::*;
use zato::swift::local::{LocalSwift, LocalSwiftConfig};
use zato::swift::{ListOptions, Metadata, ObjectEntry, PutOptions, SwiftConfig, SwiftConnection};

#[derive(SimpleIo, Debug)]
struct Doc {
    id: String,
}

#[service(name = "bench.noop")]
async fn noop(req: Request<Doc>) -> Result<(), ServiceError> {
    let _ = req.input.id;
    Ok(())
}

const PAGE: u32 = 100;

async fn fill(objects: usize) -> (LocalSwift, SwiftConfig) {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let mut config = SwiftConfig::v1("swift", local.auth_url(), local.user(), local.key());
    config.pool_size = 32;
    let conn = SwiftConnection::new(config.clone()).unwrap();
    let client = conn.client().await.unwrap();
    for c in ["in", "archive", "error", "in-claims"] {
        client.create_container(c, &Metadata::new()).await.unwrap();
    }
    let opts = PutOptions::default().content_type("application/json");
    stream::iter(0..objects)
        .map(|i| {
            let conn = &conn;
            let opts = &opts;
            async move {
                let client = conn.client().await.unwrap();
                client
                    .put_object(
                        "in",
                        &format!("{i:06}.json"),
                        format!(r#"{{"id":"{i}"}}"#),
                        opts,
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    (local, config)
}

/// The same Swift work by hand: objects per second.
async fn by_hand(objects: usize, concurrency: usize) -> f64 {
    let (local, config) = fill(objects).await;
    let conn = SwiftConnection::new(config).unwrap();
    let started = Instant::now();
    let names: Vec<String> = {
        let client = conn.client().await.unwrap();
        client
            .objects("in", ListOptions::default().limit(PAGE))
            .map_ok(|e| match e {
                ObjectEntry::Object(o) => o.name,
                ObjectEntry::Subdir { subdir } => subdir,
            })
            .try_collect()
            .await
            .unwrap()
    };
    stream::iter(names)
        .map(|name| {
            let conn = &conn;
            async move {
                let client = conn.client().await.unwrap();
                let object = client.get_object("in", &name).await.unwrap();
                assert!(!object.data.is_empty());
                let mut meta = Metadata::new();
                meta.insert("zato-cid".into(), "x".into());
                client
                    .copy_object("in", &name, "archive", &name, &meta)
                    .await
                    .unwrap();
                client.delete_object("in", &name).await.unwrap();
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let rate = objects as f64 / started.elapsed().as_secs_f64();
    assert_eq!(local.object_names("archive").len(), objects);
    local.shutdown().await;
    rate
}

/// Through the channel: objects per second, from the channel's start to the last object
/// archived.
async fn channel(objects: usize, concurrency: u32, claims: Option<Arc<dyn ClaimStore>>) -> f64 {
    let (local, config) = fill(objects).await;
    let platform = Platform::new();
    platform.services().deploy(noop).unwrap();
    platform
        .outgoing()
        .add_swift(SwiftConnection::new(config).unwrap());
    let mode = if let Some(claims) = claims {
        platform.set_claims(claims);
        ClaimsMode::Cluster
    } else {
        ClaimsMode::Swift
    };
    let adapter = SwiftInboxAdapter::attach(&platform).unwrap();
    adapter.start().await.unwrap();
    let channel = SwiftInboxConfig::new("bench", "swift", "in", "bench.noop", "error")
        .with_archive("archive")
        .with_batch_size(PAGE)
        .with_concurrency(concurrency)
        .with_poll_interval(0.05)
        .with_claims(mode);
    let started = Instant::now();
    adapter
        .upsert_channel(serde_json::to_value(channel).unwrap())
        .await
        .unwrap();
    let deadline = started + Duration::from_secs(600);
    while adapter.stats("bench").unwrap().succeeded < objects as u64 {
        assert!(Instant::now() < deadline, "{:?}", adapter.stats("bench"));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = objects as f64 / started.elapsed().as_secs_f64();
    let stats = adapter.stats("bench").unwrap();
    assert_eq!((stats.failed, stats.malformed), (0, 0));
    platform.shutdown().await;
    assert_eq!(local.object_names("archive").len(), objects);
    local.shutdown().await;
    rate
}

/// A database of the bench's own, with the claims' schema; dropped by [`drop_db`].
async fn pg_claims() -> Option<(String, String, Arc<dyn ClaimStore>)> {
    let admin = std::env::var("ZATO_TEST_PG_URL").ok()?;
    let name = format!("zato_bench_inbox_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let base = admin.split('?').next().unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute("CREATE SCHEMA inbox").await.unwrap();
    let settings = zato::cluster::PgSettings::new(url, "x".repeat(32)).with_schema("inbox");
    Some((
        admin,
        name,
        Arc::new(zato::cluster::PgClaims::new(settings)),
    ))
}

async fn drop_db(admin: &str, name: &str) {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

fn main() {
    let objects: usize = std::env::var("ZATO_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("{objects} objects of 16 bytes, local Swift endpoint on loopback, 2 worker threads");
        println!("| concurrency | by hand (obj/s) | channel, Swift claims (obj/s, ratio) | channel, PostgreSQL claims (obj/s, ratio) |");
        println!("| --- | --- | --- | --- |");
        for concurrency in [1u32, 8] {
            let base = by_hand(objects, concurrency as usize).await;
            let swift = channel(objects, concurrency, None).await;
            let pg = match pg_claims().await {
                Some((admin, name, claims)) => {
                    let rate = channel(objects, concurrency, Some(claims)).await;
                    drop_db(&admin, &name).await;
                    format!("{rate:.0} ({:.2})", rate / base)
                }
                None => "skipped: ZATO_TEST_PG_URL is not set".to_owned(),
            };
            println!(
                "| {concurrency} | {base:.0} | {swift:.0} ({:.2}) | {pg} |",
                swift / base
            );
        }
    });
}
