//! The platform's channel adapters: one list of every channel of every kind, and each change
//! handed to the adapter that owns the channel.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use zato_core::{
    ChannelAdapter, ChannelChange, ChannelError, ChannelKind, ChannelSummary, ConfigError, Platform,
};
use zato_macros::service;

const HTTP: ChannelKind = ChannelKind::new("http");
const AMQP: ChannelKind = ChannelKind::new("amqp");
const ZMQ: ChannelKind = ChannelKind::new("zmq");

/// An adapter keeping its channels as JSON in memory; a channel needs a `service`.
#[derive(Debug)]
struct Memory {
    name: &'static str,
    kind: ChannelKind,
    channels: Mutex<Vec<serde_json::Value>>,
    serving: AtomicBool,
}

impl Memory {
    fn new(name: &'static str, kind: ChannelKind) -> Self {
        Memory {
            name,
            kind,
            channels: Mutex::new(Vec::new()),
            serving: AtomicBool::new(false),
        }
    }
}

fn name_of(v: &serde_json::Value) -> &str {
    v["name"].as_str().unwrap_or_default()
}

#[async_trait::async_trait]
impl ChannelAdapter for Memory {
    fn kind(&self) -> ChannelKind {
        self.kind
    }
    fn name(&self) -> &str {
        self.name
    }
    fn channels(&self) -> Vec<ChannelSummary> {
        let channels = self.channels.lock().unwrap();
        channels
            .iter()
            .map(|c| {
                ChannelSummary::new(self.kind, name_of(c), self.name)
                    .with_service(c["service"].as_str().unwrap_or_default())
            })
            .collect()
    }
    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        let channels = self.channels.lock().unwrap();
        channels.iter().find(|c| name_of(c) == name).cloned()
    }
    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        if config["service"].as_str().is_none() {
            return Err(ConfigError::one("service", "required"));
        }
        let mut channels = self.channels.lock().unwrap();
        channels.retain(|c| name_of(c) != name_of(&config));
        channels.push(config);
        Ok(())
    }
    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.channels.lock().unwrap().retain(|c| name_of(c) != name);
        Ok(())
    }
    async fn start(&self) -> Result<(), ChannelError> {
        if self.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing(self.name.to_owned()));
        }
        Ok(())
    }
    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }
    async fn stop(&self) {
        self.serving.store(false, Ordering::SeqCst);
    }
}

fn upsert(kind: ChannelKind, config: serde_json::Value, adapter: Option<&str>) -> ChannelChange {
    ChannelChange::Upsert {
        kind,
        config,
        adapter: adapter.map(str::to_owned),
    }
}

#[tokio::test]
async fn changes_reach_the_adapter_that_owns_the_channel() {
    let platform = Platform::new();
    let front = std::sync::Arc::new(Memory::new("front", HTTP));
    let back = std::sync::Arc::new(Memory::new("back", HTTP));
    let broker = std::sync::Arc::new(Memory::new("broker", AMQP));
    platform.channels().add(front.clone()).unwrap();
    platform.channels().add(back.clone()).unwrap();
    platform.channels().add(broker.clone()).unwrap();

    let duplicate = platform
        .channels()
        .add(std::sync::Arc::new(Memory::new("front", HTTP)))
        .unwrap_err();
    assert!(matches!(duplicate, ChannelError::DuplicateAdapter(ref n) if n == "front"));

    // A new channel of a kind with several adapters must name one; with one, it goes there.
    let err = platform
        .channels()
        .apply(upsert(
            HTTP,
            json!({"name": "orders", "service": "a"}),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.problems()[0].path, "channels.http.orders");
    platform
        .channels()
        .apply(upsert(
            HTTP,
            json!({"name": "orders", "service": "a"}),
            Some("back"),
        ))
        .await
        .unwrap();
    platform
        .channels()
        .apply(upsert(
            AMQP,
            json!({"name": "in.queue", "service": "b"}),
            None,
        ))
        .await
        .unwrap();

    // An existing channel stays in its adapter: naming another is refused, naming none or its
    // own changes it there.
    let err = platform
        .channels()
        .apply(upsert(
            HTTP,
            json!({"name": "orders", "service": "c"}),
            Some("front"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: channels.http.orders: the channel is served by adapter `back`, not `front`; remove it there first"
    );
    platform
        .channels()
        .apply(upsert(
            HTTP,
            json!({"name": "orders", "service": "c"}),
            None,
        ))
        .await
        .unwrap();
    assert!(front.channels().is_empty());
    assert_eq!(
        platform.channels().config(HTTP, "orders").unwrap()["service"],
        "c"
    );

    let listed: Vec<(String, String, String)> = platform
        .channels()
        .list()
        .into_iter()
        .map(|c| (c.kind.to_string(), c.name, c.adapter))
        .collect();
    assert_eq!(
        listed,
        [
            ("amqp".into(), "in.queue".into(), "broker".into()),
            ("http".into(), "orders".into(), "back".into()),
        ]
    );

    // A channel is addressed by its name: a config without one is refused before any adapter.
    let err = platform
        .channels()
        .apply(upsert(AMQP, json!({"service": "b"}), None))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: channels.amqp: a channel needs a `name`, as text"
    );

    // The adapter's own problems come back placed in the document.
    let err = platform
        .channels()
        .apply(upsert(AMQP, json!({"name": "in.queue"}), None))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid configuration: channels.amqp."in.queue".service: required"#
    );

    platform
        .channels()
        .apply(ChannelChange::Remove {
            kind: HTTP,
            name: "orders".into(),
        })
        .await
        .unwrap();
    let err = platform
        .channels()
        .apply(ChannelChange::Remove {
            kind: HTTP,
            name: "orders".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: channels.http.orders: no such channel"
    );
}

#[tokio::test]
async fn the_platform_starts_and_stops_every_adapter() {
    let platform = Platform::new();
    let a = std::sync::Arc::new(Memory::new("a", HTTP));
    let b = std::sync::Arc::new(Memory::new("b", ZMQ));
    platform.channels().add(a.clone()).unwrap();
    platform.channels().add(b.clone()).unwrap();
    platform.start().await.unwrap();
    assert!(a.is_serving() && b.is_serving());
    // Starting again leaves the serving adapters alone.
    platform.start().await.unwrap();
    platform.shutdown().await;
    assert!(!a.is_serving() && !b.is_serving());
    assert!(platform.channels().names().is_empty());
}

#[service(name = "demo.slow", crate = "zato_core")]
async fn slow(_req: zato_core::Request<()>) -> Result<(), zato_core::ServiceError> {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    FINISHED.store(true, Ordering::SeqCst);
    Ok(())
}

static FINISHED: AtomicBool = AtomicBool::new(false);

#[tokio::test]
async fn shutdown_waits_for_background_invocations_and_their_number_is_bounded() {
    let platform = Platform::with_max_background(1);
    platform.services().deploy(slow).unwrap();
    let ctx = platform.context();
    ctx.invoke_async("demo.slow", json!({})).unwrap();
    // The one slot is taken: the next background call is refused, not queued without bound.
    let refused = ctx.invoke_async("demo.slow", json!({})).unwrap_err();
    assert_eq!(refused.status().as_u16(), 503, "{refused}");
    assert!(refused.to_string().contains("at most 1"), "{refused}");

    assert!(
        platform
            .shutdown_within(std::time::Duration::from_secs(30))
            .await
    );
    assert!(
        FINISHED.load(Ordering::SeqCst),
        "shutdown returned before the call finished"
    );
    // The slot is free again.
    ctx.invoke_async("demo.slow", json!({})).unwrap();
}
