//! Interoperability with an independent client, Python's redis-py, against the Redis at
//! `ZATO_TEST_REDIS_URL`: redis-py writes invoices to a stream a channel reads, and reads back
//! the dead letters and the keys the outgoing connection wrote. Needs `python3` with redis-py
//! (`pip install redis==5.2.1`, as `.ci/run` does).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::kind::Plugin;
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_redis::RedisOutgoing;

fn url() -> String {
    std::env::var("ZATO_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_REDIS_URL names the Redis this test needs (redis://127.0.0.1:6379)")
}

/// Runs `script` with redis-py; its standard output.
async fn python(script: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("this test needs python3 with redis-py (pip install redis==5.2.1)");
    assert!(
        out.status.success(),
        "redis-py failed (pip install redis==5.2.1): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
    amount: i64,
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Total {
    total: i64,
}

/// Adds each invoice's amount to a counter through the outgoing connection; refuses negative
/// amounts.
#[derive(Clone, Default)]
struct Ledger {
    seen: Arc<Mutex<Vec<String>>>,
    counter: String,
}

impl Service for Ledger {
    const NAME: &'static str = "test.ledger";
    type Input = Invoice;
    type Output = Total;

    async fn handle(
        &self,
        req: Request<Invoice>,
        ctx: &Context,
    ) -> Result<Response<Total>, ServiceError> {
        if req.input.amount < 0 {
            return Err(ServiceError::internal(format!(
                "invoice {} has a negative amount",
                req.input.id
            )));
        }
        let total = ctx
            .outgoing()
            .redis("cache")?
            .incr(&self.counter, req.input.amount)
            .await?;
        self.seen.lock().unwrap().push(req.input.id);
        Ok(Response::new(Total { total }))
    }
}

const WRITE: &str = r#"
import json, sys, redis
r = redis.Redis.from_url(sys.argv[1])
stream = sys.argv[2]
for i, amount in enumerate([10, 20, -5, 30]):
    r.xadd(stream, {"body": json.dumps({"id": f"py{i}", "amount": amount}), "source": "redis-py"})
"#;

const READ: &str = r#"
import json, sys, redis
r = redis.Redis.from_url(sys.argv[1], decode_responses=True)
prefix, dead = sys.argv[2], sys.argv[3]
letters = [fields for _, fields in r.xrange(dead)]
ttl = r.pttl(prefix + ":greeting")
print(json.dumps({"total": r.get(prefix + ":total"), "greeting": r.get(prefix + ":greeting"),
    "ttl_set": ttl > 0, "letters": letters}))
r.incrby(prefix + ":total", 1000)
r.delete(dead)
"#;

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL) and python3 with redis-py"]
async fn redis_py_feeds_a_stream_and_reads_what_the_node_wrote() {
    let url = url();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let prefix = format!("zato-test.interop.{}.{nanos}", std::process::id());
    let stream = format!("{prefix}:invoices");
    let dead = format!("{stream}.dead");
    let ledger = Ledger {
        counter: format!("{prefix}:total"),
        ..Ledger::default()
    };
    let platform = Platform::new();
    platform.services().deploy(ledger.clone()).unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    for kind in zato_redis::plugin().attach(&platform).await.unwrap() {
        runtime.register(kind);
    }
    let put = |section, kind: &'static str, object: serde_json::Value| {
        let runtime = runtime.clone();
        async move {
            let name = object["name"].as_str().unwrap().to_owned();
            runtime
                .put(
                    &ObjectKey::new(section, kind, name.as_str()),
                    object,
                    PutMode::Create,
                    None,
                    "test",
                )
                .await
                .unwrap();
        }
    };
    put(
        Section::Outgoing,
        "redis",
        serde_json::json!({"name": "cache", "url": url}),
    )
    .await;
    put(
        Section::Channels,
        "redis_stream",
        serde_json::json!({
            "name": "ledger", "connection": "cache", "stream": stream, "service": Ledger::NAME,
            "consumer": "interop", "max_deliveries": 1, "block": 0.2
        }),
    )
    .await;
    platform.start().await.unwrap();

    python(WRITE, &[&url, &stream]).await;
    let started = Instant::now();
    while ledger.seen.lock().unwrap().len() < 3 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cache = platform.outgoing().redis("cache").unwrap();
    cache
        .set(
            &format!("{prefix}:greeting"),
            "hello from zato",
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    // The dead letter is written in the same transaction as the acknowledgement: wait for it.
    let started = Instant::now();
    loop {
        let n: u64 = cache.command(redis::cmd("XLEN").arg(&dead)).await.unwrap();
        if n >= 1 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read: serde_json::Value =
        serde_json::from_str(&python(READ, &[&url, &prefix, &dead]).await).unwrap();
    assert_eq!(read["total"], "60");
    assert_eq!(read["greeting"], "hello from zato");
    assert_eq!(read["ttl_set"], true);
    let letters = read["letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{read}");
    assert!(
        letters[0]["zato_error"]
            .as_str()
            .unwrap()
            .contains("invoice py2 has a negative amount"),
        "{read}"
    );
    assert_eq!(letters[0]["source"], "redis-py");
    // What redis-py added, the node reads.
    assert_eq!(
        cache.incr(&format!("{prefix}:total"), 0).await.unwrap(),
        1060
    );
    platform.shutdown().await;
    for key in [
        stream.as_str(),
        &format!("{prefix}:total"),
        &format!("{prefix}:greeting"),
    ] {
        cache.delete(key).await.unwrap();
    }
}
