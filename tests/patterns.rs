//! Invocation patterns on `Context`: parallel calls with partial failure and a limit that
//! limits, fan-out/fan-in calling its completion exactly once after the caller returned, and
//! invoke-retry retrying, succeeding, and giving up after its limit.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato::core::patterns::{Call, RetryPolicy};
use zato::prelude::*;

#[derive(SimpleIo, Debug)]
struct Number {
    n: i64,
}

#[derive(SimpleIo, Debug)]
struct Doubled {
    n: i64,
}

/// Doubles `n`; fails with a 500 for odd numbers.
#[service(name = "p.double")]
async fn double(req: Request<Number>) -> Result<Doubled, ServiceError> {
    if req.input.n % 2 != 0 {
        return Err(ServiceError::internal(format!("{} is odd", req.input.n)));
    }
    Ok(Doubled { n: req.input.n * 2 })
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

/// Takes 50 ms, counting how many run at once.
#[service(name = "p.slow")]
async fn slow(req: Request<Number>) -> Result<Doubled, ServiceError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    Ok(Doubled { n: req.input.n * 2 })
}

/// Takes 50 ms, for the fan-out (the limit test counts `p.slow` alone).
#[service(name = "p.pause")]
async fn pause(req: Request<Number>) -> Result<Doubled, ServiceError> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(Doubled { n: req.input.n * 2 })
}

/// What the completion and callback services were given, with the cid they ran under.
static RECEIVED: Mutex<Vec<(String, Value, String)>> = Mutex::new(Vec::new());

fn received(tag: &str) -> Vec<(Value, String)> {
    RECEIVED
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| t == tag)
        .map(|(_, v, c)| (v.clone(), c.clone()))
        .collect()
}

#[service(name = "p.collect")]
async fn collect(req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let payload: Value = serde_json::from_slice(&req.raw_request).unwrap();
    RECEIVED.lock().unwrap().push((
        payload["results"][0]["service"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        payload,
        ctx.cid().to_string(),
    ));
    Ok(())
}

#[service(name = "p.callback")]
async fn callback(req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let payload: Value = serde_json::from_slice(&req.raw_request).unwrap();
    RECEIVED.lock().unwrap().push((
        payload["service"].as_str().unwrap_or("").to_owned(),
        payload,
        ctx.cid().to_string(),
    ));
    Ok(())
}

static FAILING: AtomicUsize = AtomicUsize::new(0);

/// Always a 503, counting its calls.
#[service(name = "p.down")]
async fn down(_req: Request<()>) -> Result<(), ServiceError> {
    FAILING.fetch_add(1, Ordering::SeqCst);
    Err(ServiceError::Unavailable("the backend is down".into()))
}

static FLAKY: AtomicUsize = AtomicUsize::new(0);

/// A 503 twice, then a success.
#[service(name = "p.flaky")]
async fn flaky(_req: Request<()>) -> Result<Doubled, ServiceError> {
    if FLAKY.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(ServiceError::Unavailable("starting".into()));
    }
    Ok(Doubled { n: 1 })
}

static REFUSING: AtomicUsize = AtomicUsize::new(0);

/// A 400: retrying cannot help.
#[service(name = "p.refuse")]
async fn refuse(_req: Request<()>) -> Result<(), ServiceError> {
    REFUSING.fetch_add(1, Ordering::SeqCst);
    Err(ServiceError::bad_request("never"))
}

/// Starts a fan-out of five slow calls and one failing call, and returns at once.
#[service(name = "p.start")]
async fn start(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let mut calls: Vec<Call> = (0..5)
        .map(|n| Call::new("p.pause", json!({"n": n})))
        .collect();
    calls.push(Call::new("p.double", json!({"n": 3})));
    ctx.fan_out(calls, 2, "p.collect")?;
    Ok(())
}

fn platform() -> Platform {
    let platform = Platform::new();
    platform.services().deploy(double).unwrap();
    platform.services().deploy(slow).unwrap();
    platform.services().deploy(pause).unwrap();
    platform.services().deploy(collect).unwrap();
    platform.services().deploy(callback).unwrap();
    platform.services().deploy(down).unwrap();
    platform.services().deploy(flaky).unwrap();
    platform.services().deploy(refuse).unwrap();
    platform.services().deploy(start).unwrap();
    platform
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
async fn parallel_calls_return_every_result_in_order_despite_failures() {
    let ctx = platform().context();
    let calls = vec![
        Call::new("p.double", json!({"n": 2})),
        Call::new("p.double", json!({"n": 3})),
        Call::new("p.missing", json!({})),
        Call::new("p.double", json!({"n": "x"})),
        Call::new("p.double", json!({"n": 10})),
    ];
    let results = ctx.parallel(calls, 3).await;
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap(), &json!({"n": 4}));
    assert_eq!(results[1].as_ref().unwrap_err().status().as_u16(), 500);
    assert_eq!(results[2].as_ref().unwrap_err().status().as_u16(), 404);
    assert_eq!(results[3].as_ref().unwrap_err().status().as_u16(), 400);
    assert_eq!(results[4].as_ref().unwrap(), &json!({"n": 20}));
    let inputs = (0..4).map(|n| json!({"n": n * 2})).collect();
    let doubled = ctx.parallel_inputs("p.double", inputs, 2).await;
    let values: Vec<i64> = doubled
        .iter()
        .map(|r| r.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [0, 4, 8, 12]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_limits_how_many_run_at_once() {
    let ctx = platform().context();
    MOST.store(0, Ordering::SeqCst);
    let inputs = (0..12).map(|n| json!({"n": n})).collect();
    let started = Instant::now();
    let results = ctx.parallel_inputs("p.slow", inputs, 3).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        MOST.load(Ordering::SeqCst),
        3,
        "at most 3, and 3 were reached"
    );
    // Four rounds of 50 ms: not one round (unbounded), not twelve (sequential).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_in_is_called_exactly_once_with_every_result_after_the_caller_returned() {
    let platform = platform();
    let ctx = platform.context();
    let returned = Instant::now();
    ctx.invoke("p.start", json!({})).await.unwrap();
    // The caller returned before the three rounds of 50 ms the calls take.
    assert!(returned.elapsed() < Duration::from_millis(100));
    assert!(eventually(Duration::from_secs(10), || !received("p.pause").is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = received("p.pause");
    assert_eq!(
        got.len(),
        1,
        "the completion was called {} times",
        got.len()
    );
    let (payload, completion_cid) = &got[0];
    let results = payload["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for (n, r) in results.iter().take(5).enumerate() {
        assert_eq!(r["ok"], true);
        assert_eq!(r["response"]["n"], n as i64 * 2);
    }
    assert_eq!(results[5]["ok"], false);
    assert_eq!(results[5]["status"], 500);
    // The cid chain: the completion runs under the fan-out's cid, whose parent is the caller's.
    assert_eq!(payload["cid"].as_str().unwrap(), completion_cid);
    assert_eq!(
        payload["parent_cid"].as_str().unwrap(),
        ctx.cid().to_string()
    );
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_retry_retries_then_succeeds_gives_up_after_its_limit_and_never_retries_a_400() {
    let platform = platform();
    let ctx = platform.context();
    let policy = RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    };
    ctx.invoke_retry("p.down", json!({}), policy, "p.callback")
        .unwrap();
    ctx.invoke_retry("p.flaky", json!({}), policy, "p.callback")
        .unwrap();
    ctx.invoke_retry("p.refuse", json!({}), policy, "p.callback")
        .unwrap();
    let all_called = eventually(Duration::from_secs(10), || {
        ["p.down", "p.flaky", "p.refuse"]
            .iter()
            .all(|s| !received(s).is_empty())
    })
    .await;
    assert!(all_called);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gave_up = received("p.down");
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0].0["ok"], false);
    assert_eq!(gave_up[0].0["attempts"], 4);
    assert_eq!(gave_up[0].0["status"], 503);
    assert_eq!(FAILING.load(Ordering::SeqCst), 4);
    let recovered = received("p.flaky");
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].0["ok"], true);
    assert_eq!(recovered[0].0["attempts"], 3);
    assert_eq!(recovered[0].0["response"]["n"], 1);
    let refused = received("p.refuse");
    assert_eq!(refused[0].0["attempts"], 1);
    assert_eq!(REFUSING.load(Ordering::SeqCst), 1);
    assert_eq!(
        gave_up[0].0["parent_cid"].as_str().unwrap(),
        ctx.cid().to_string()
    );
    // Unknown services are refused up front.
    let err = ctx
        .invoke_retry("p.nope", json!({}), policy, "p.callback")
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 404);
    platform.shutdown().await;
}
