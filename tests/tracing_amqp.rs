//! One trace across AMQP: a service publishes an invoice through an outgoing AMQP connection,
//! the example's AMQP channel consumes it into `invoice.dispatcher`, which stores it in Swift;
//! the spans, exported to an OTLP receiver in the test, are one trace. Needs RabbitMQ at
//! `ZATO_TEST_AMQP_URL` (ignored otherwise).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking"
)]

mod support {
    pub(crate) mod otlp;
}

use std::time::Duration;

use invoice_dispatcher as app;
use lapin::options::QueueDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use serde_json::json;
use support::otlp::{GotSpan, Receiver};
use zato::prelude::*;

#[derive(SimpleIo, Debug)]
struct Forward {
    queue: String,
    id: String,
    target: Vec<String>,
}

/// Publishes the invoice to `queue` on the example's AMQP connection.
#[service(name = "invoice.forward")]
async fn invoice_forward(req: Request<Forward>, ctx: &Context) -> Result<(), ServiceError> {
    let body = json!({"id": req.input.id, "target": req.input.target}).to_string();
    let mut message = AmqpMessage::new("", req.input.queue, body);
    message.content_type = Some("application/json".to_owned());
    ctx.outgoing()
        .amqp(app::AMQP_CONNECTION)?
        .publish(&message)
        .await?;
    Ok(())
}

fn one<'a>(spans: &'a [GotSpan], what: &str, pick: impl Fn(&GotSpan) -> bool) -> &'a GotSpan {
    let found: Vec<_> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} span: {spans:#?}");
    found[0]
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_trace_crosses_amqp_from_the_publishing_service_to_the_consuming_one() {
    let url = std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_AMQP_URL names the RabbitMQ this test needs");
    let queue = format!("zato-test.tracing.{}", std::process::id());
    let receiver = Receiver::start().await;
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap()
    .with_amqp(&url, &queue);
    config
        .document
        .telemetry
        .entry("otlp".to_owned())
        .or_default()
        .push(json!({
            "name": "collector",
            "endpoint": receiver.url,
            "protocol": "http/protobuf",
            "sampler": "always_on",
            "export_interval": 0.05,
        }));
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    running.platform.services().deploy(invoice_forward).unwrap();

    running
        .platform
        .context()
        .invoke(
            "invoice.forward",
            json!({"queue": queue, "id": "700", "target": ["CRM"]}),
        )
        .await
        .expect("published");

    // The dispatcher's span ends after its Swift calls: wait for it.
    let spans = receiver
        .wait_for(Duration::from_secs(30), |s| {
            s.iter().any(|s| s.name == "invoice.dispatcher")
        })
        .await;
    let forward = one(&spans, "forward", |s| s.name == "invoice.forward");
    let trace: Vec<GotSpan> = spans
        .iter()
        .filter(|s| s.trace_id == forward.trace_id)
        .cloned()
        .collect();
    let publish = one(&trace, "publish", |s| s.kind == 4);
    assert_eq!(publish.name, format!("publish {queue}"));
    assert_eq!(publish.parent_span_id, forward.span_id);
    assert_eq!(publish.attr("messaging.system"), Some("rabbitmq"));
    assert_eq!(
        publish.attr("messaging.destination.name"),
        Some(queue.as_str())
    );
    let process = one(&trace, "process", |s| s.kind == 5);
    assert_eq!(process.name, format!("process {queue}"));
    assert_eq!(
        process.parent_span_id, publish.span_id,
        "continued from the headers"
    );
    let dispatcher = one(&trace, "dispatcher", |s| s.name == "invoice.dispatcher");
    assert_eq!(dispatcher.parent_span_id, process.span_id);
    assert!(
        trace
            .iter()
            .any(|s| s.kind == 3 && s.parent_span_id == dispatcher.span_id),
        "the Swift calls in the same trace: {trace:#?}"
    );
    // Two cids (the message was a new request) in one trace.
    assert_ne!(process.attr("zato.cid"), forward.attr("zato.cid"));

    running.shutdown().await;
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    for q in [queue.clone(), format!("{queue}.dead")] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "done".into()).await;
}
