//! What reaches the logs: failures of background invocations, with both cids.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zato_core::{Platform, Request, ServiceError};
use zato_macros::service;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[service(name = "demo.broken", crate = "zato_core")]
async fn broken(_req: Request<()>) -> Result<(), ServiceError> {
    Err(ServiceError::internal("disk on fire"))
}

#[tokio::test]
async fn background_failures_are_logged_with_both_cids() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let platform = Platform::new();
    platform.services().deploy(broken).unwrap();
    let ctx = platform.context();
    let cid = ctx
        .invoke_async("demo.broken", serde_json::json!({}))
        .unwrap();

    let mut logged = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        if logged.contains("background invocation failed") {
            break;
        }
    }
    let line = logged
        .lines()
        .find(|l| l.contains("background invocation failed"))
        .unwrap_or_else(|| panic!("no failure logged: {logged}"));
    assert!(line.contains(&format!("cid={cid}")), "{line}");
    assert!(
        line.contains(&format!("parent_cid={}", ctx.cid())),
        "{line}"
    );
    assert!(line.contains("disk on fire"), "{line}");
}

#[service(name = "demo.inner", crate = "zato_core")]
async fn inner(_req: Request<()>) -> Result<(), ServiceError> {
    tracing::info!("inside the inner service");
    Ok(())
}

#[service(name = "demo.outer", crate = "zato_core")]
async fn outer(_req: Request<()>, ctx: &zato_core::Context) -> Result<(), ServiceError> {
    ctx.invoke("demo.inner", serde_json::json!({})).await?;
    Ok(())
}

#[tokio::test]
async fn the_span_of_an_invoked_service_nests_in_its_callers() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let platform = Platform::new();
    platform.services().deploy(inner).unwrap();
    platform.services().deploy(outer).unwrap();
    let ctx = platform.context();
    ctx.invoke("demo.outer", serde_json::json!({}))
        .await
        .unwrap();

    let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("inside the inner service"))
        .unwrap_or_else(|| panic!("nothing logged from the inner service: {logged}"));
    let cid = ctx.cid();
    let outer_span = format!("invoke{{cid={cid} service=\"demo.outer\"}}");
    let inner_span = format!("invoke{{cid={cid} service=\"demo.inner\" caller=\"demo.outer\"}}");
    assert!(
        line.contains(&format!("{outer_span}:{inner_span}")),
        "{line}"
    );
}
