//! Rate limits: per caller (the security definition's user, else the address) and per channel,
//! a 429 with `Retry-After` past them, recovery once the window has passed, and a limit changed
//! while serving.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use zato_channels::{HttpChannelConfig, HttpConfig, RateLimit, SecurityDef};

async fn as_user(s: &TestServer, path: &str, user: &str) -> Reply {
    let resp = s
        .client
        .get(s.url(path))
        .basic_auth(user, Some("pw"))
        .send()
        .await
        .unwrap();
    Reply::from(resp).await
}

fn users() -> Vec<SecurityDef> {
    ["crm", "billing"]
        .iter()
        .map(|u| {
            serde_json::from_value(
                json!({"type": "basic_auth", "name": u, "username": u, "password": "pw"}),
            )
            .unwrap()
        })
        .collect()
}

fn channels(per_caller: RateLimit, whole: Option<RateLimit>) -> Vec<HttpChannelConfig> {
    vec![
        HttpChannelConfig::new("crm", "/crm", "demo.lookup")
            .with_security("crm")
            .with_rate_limits(None, Some(per_caller)),
        HttpChannelConfig::new("billing", "/billing", "demo.lookup")
            .with_security("billing")
            .with_rate_limits(None, Some(per_caller)),
        HttpChannelConfig::new("open", "/open", "demo.lookup").with_rate_limits(whole, None),
    ]
}

#[tokio::test]
async fn a_caller_past_its_limit_gets_429_and_recovers_after_the_window() {
    let s = TestServer::start(
        platform(),
        channels(RateLimit::new(2, 0.6), Some(RateLimit::new(3, 60.0))),
        users(),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(as_user(&s, "/crm?id=1", "crm").await.status, 200);
    }
    let limited = as_user(&s, "/crm?id=1", "crm").await;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_eq!(limited.header("retry-after"), "1");
    assert_eq!(limited.json()["cid"], limited.cid());
    // Another caller has a bucket of its own.
    assert_eq!(as_user(&s, "/billing?id=1", "billing").await.status, 200);
    // After the window, the caller is let in again.
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(as_user(&s, "/crm?id=1", "crm").await.status, 200);

    // The channel-wide limit: 3 a minute, whoever calls.
    for _ in 0..3 {
        assert_eq!(s.get("/open?id=1").await.status, 200);
    }
    let limited = s.get("/open?id=1").await;
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");

    // Changed live: a larger limit lets the next request in; other channels keep their state.
    s.server
        .apply_config(HttpConfig::new(
            channels(RateLimit::new(2, 0.6), Some(RateLimit::new(100, 60.0))),
            users(),
        ))
        .unwrap();
    assert_eq!(s.get("/open?id=1").await.status, 200);
    // A bad limit is refused, naming the field.
    let bad = HttpChannelConfig::new("x", "/x", "demo.lookup")
        .with_rate_limits(Some(RateLimit::new(0, 1.0)), None);
    let err = s
        .server
        .apply_config(HttpConfig::new(vec![bad], vec![]))
        .unwrap_err();
    assert!(err.to_string().contains("rate_limit.requests"), "{err}");
    s.stop().await;
}
