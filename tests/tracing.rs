//! OpenTelemetry tracing end to end: the seed request's spans exported over OTLP to a receiver
//! running in the test, the caller's trace continued, a collector that is down, the sampler.
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
use serde_json::json;
use support::otlp::{GotSpan, Receiver};

const SEED_BODY: &str = r#"{"id":"123"}"#;
const WAIT: Duration = Duration::from_secs(15);
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const INTERNAL: i32 = 1;

/// The example's node, with `telemetry` as its one `telemetry.otlp` object.
async fn start(telemetry: serde_json::Value) -> (app::Running, String) {
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .expect("the example's config parses");
    config
        .document
        .telemetry
        .entry("otlp".to_owned())
        .or_default()
        .push(telemetry);
    let running = app::start(config, "127.0.0.1:0", None)
        .await
        .expect("the example starts");
    let base = format!("http://{}", running.http.local_addr());
    (running, base)
}

fn exporting_to(receiver: &Receiver) -> serde_json::Value {
    json!({
        "name": "collector",
        "endpoint": receiver.url,
        "protocol": "http/protobuf",
        "sampler": "parentbased_always_on",
        "service_name": "invoices",
        "resource_attributes": {"deployment.environment": "test"},
        "export_interval": 0.05,
    })
}

/// The seed's curl, with `headers` besides.
async fn seed(base: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!(
            "{base}/invoice.dispatcher?target=CRM&target=Billing"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(SEED_BODY);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request sent")
}

fn one<'a>(spans: &'a [GotSpan], what: &str, pick: impl Fn(&GotSpan) -> bool) -> &'a GotSpan {
    let found: Vec<_> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} span: {spans:#?}");
    found[0]
}

/// The spans of the request `cid`, once its server span (the last to end) has arrived.
async fn spans_of(receiver: &Receiver, cid: &str) -> Vec<GotSpan> {
    receiver
        .wait_for(WAIT, |s| {
            s.iter()
                .any(|s| s.kind == SERVER && s.attr("zato.cid") == Some(cid))
        })
        .await
        .into_iter()
        .filter(|s| s.attr("zato.cid") == Some(cid))
        .collect()
}

#[tokio::test]
async fn the_seed_request_is_one_trace_from_the_http_channel_to_both_swift_puts() {
    let receiver = Receiver::start().await;
    let (running, base) = start(exporting_to(&receiver)).await;

    // The first request finds no containers: each object's PUT is answered 404 (a failed client
    // span), the example creates the container and puts the object again.
    let first = seed(&base, &[]).await;
    assert_eq!(first.status(), 200);
    let first_cid = first.headers()["x-zato-cid"].to_str().unwrap().to_owned();
    let spans = spans_of(&receiver, &first_cid).await;
    let clients: Vec<&GotSpan> = spans.iter().filter(|s| s.kind == CLIENT).collect();
    assert_eq!(clients.len(), 6, "{clients:#?}");
    let refused: Vec<&&GotSpan> = clients
        .iter()
        .filter(|s| s.attr("http.response.status_code") == Some("404"))
        .collect();
    assert_eq!(refused.len(), 2, "{clients:#?}");
    for s in refused {
        assert_eq!(s.status_code, 2, "a 404 is a failed client call");
        assert_eq!(s.attr("error.type"), Some("404"));
    }

    // The seed request proper, the containers there.
    let resp = seed(&base, &[]).await;
    assert_eq!(resp.status(), 200);
    let cid = resp.headers()["x-zato-cid"].to_str().unwrap().to_owned();
    let spans = spans_of(&receiver, &cid).await;
    assert_eq!(
        spans.len(),
        5,
        "server, service, decode, two PUTs: {spans:#?}"
    );

    let server = one(&spans, "server", |s| s.kind == SERVER);
    assert_eq!(server.name, "POST");
    assert_eq!(server.parent_span_id, "", "a new trace: no parent");
    assert_eq!(server.attr("http.request.method"), Some("POST"));
    assert_eq!(server.attr("url.path"), Some("/invoice.dispatcher"));
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    assert_eq!(server.attr("zato.channel"), Some("invoice.dispatcher.json"));
    assert_eq!(server.status_code, 0, "unset: the request succeeded");
    assert_eq!(server.service_name, "invoices");

    let service = one(&spans, "service", |s| s.name == "invoice.dispatcher");
    assert_eq!(service.kind, INTERNAL);
    assert_eq!(service.parent_span_id, server.span_id);
    assert_eq!(service.attr("zato.service"), Some("invoice.dispatcher"));
    assert_eq!(service.status_code, 0);

    let decode = one(&spans, "decode", |s| s.name == "sio.decode");
    assert_eq!(decode.parent_span_id, service.span_id);

    let puts: Vec<&GotSpan> = spans.iter().filter(|s| s.kind == CLIENT).collect();
    assert_eq!(puts.len(), 2, "{spans:#?}");
    for target in ["CRM", "Billing"] {
        let put = puts
            .iter()
            .find(|s| {
                s.attr("url.full")
                    .is_some_and(|u| u.ends_with(&format!("/{target}/{}", app::OBJECT)))
            })
            .unwrap_or_else(|| panic!("a PUT to {target}: {puts:#?}"));
        assert_eq!(put.name, "PUT");
        assert_eq!(put.parent_span_id, service.span_id, "{target}");
        assert_eq!(put.attr("http.request.method"), Some("PUT"));
        assert_eq!(put.attr("http.response.status_code"), Some("201"));
        assert_eq!(put.attr("zato.connection"), Some("Invoice Dispatcher"));
        assert_eq!(put.attr("server.address"), Some("127.0.0.1"));
        assert_eq!(put.status_code, 0);
    }
    for s in &spans {
        assert_eq!(s.trace_id, server.trace_id, "one trace: {s:#?}");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn an_incoming_traceparent_is_continued_and_bad_input_is_an_error_span() {
    let receiver = Receiver::start().await;
    let (running, base) = start(exporting_to(&receiver)).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let tp = format!("00-{trace}-{parent}-01");
    let resp = seed(&base, &[("traceparent", &tp), ("tracestate", "vendor=x")]).await;
    assert_eq!(resp.status(), 200);

    // A missing required element: 400, the decode span failed, the server span not (a 4xx is
    // the caller's fault).
    let bad = reqwest::Client::new()
        .post(format!("{base}/invoice.dispatcher"))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .json(&json!({"id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad_cid = bad.headers()["x-zato-cid"].to_str().unwrap().to_owned();

    let spans = receiver
        .wait_for(WAIT, |s| {
            s.iter()
                .filter(|s| s.trace_id == trace && s.kind == SERVER)
                .count()
                >= 2
        })
        .await;
    let ours: Vec<&GotSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let servers: Vec<&&GotSpan> = ours.iter().filter(|s| s.kind == SERVER).collect();
    assert_eq!(servers.len(), 2, "{ours:#?}");
    for s in &servers {
        assert_eq!(s.parent_span_id, parent, "the caller's span is the parent");
    }
    let failed = ours
        .iter()
        .find(|s| s.name == "sio.decode" && s.attr("zato.cid") == Some(bad_cid.as_str()))
        .expect("the failed decode's span");
    assert_eq!(failed.status_code, 2, "error");
    assert!(failed.status_message.contains("target"), "{failed:#?}");
    let bad_server = servers
        .iter()
        .find(|s| s.attr("zato.cid") == Some(bad_cid.as_str()))
        .unwrap();
    assert_eq!(bad_server.attr("http.response.status_code"), Some("400"));
    assert_eq!(bad_server.status_code, 0);
    running.shutdown().await;
}

#[tokio::test]
async fn a_collector_that_is_down_costs_requests_nothing_and_drops_are_counted() {
    // A port nothing listens on any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for protocol in ["grpc", "http/protobuf"] {
        let (running, base) = start(json!({
            "name": "down",
            "endpoint": format!("http://{closed}"),
            "protocol": protocol,
            "sampler": "always_on",
            "timeout": 2.0,
            "max_queue_size": 8,
            "max_export_batch_size": 4,
            "export_interval": 0.05,
        }))
        .await;
        for _ in 0..10 {
            let resp = tokio::time::timeout(Duration::from_secs(5), seed(&base, &[]))
                .await
                .expect("answered without waiting for the collector");
            assert_eq!(resp.status(), 200, "{protocol}");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        let dropped = loop {
            let text = running.platform.metrics().render();
            let dropped = text
                .lines()
                .find_map(|l| l.strip_prefix("zato_otel_spans_dropped_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if dropped >= 10 || tokio::time::Instant::now() >= deadline {
                break dropped;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Five spans a request; every one of them is lost, and counted once it is.
        assert!(dropped >= 10, "{protocol}: {dropped} dropped");
        running.shutdown().await;
    }
}

#[tokio::test]
async fn the_sampler_ratio_is_honoured_and_tracing_is_turned_off_live() {
    let receiver = Receiver::start().await;
    let mut telemetry = exporting_to(&receiver);
    telemetry["sampler"] = json!("traceidratio");
    telemetry["ratio"] = json!(0.25);
    let (running, base) = start(telemetry).await;
    const N: usize = 200;
    let client = reqwest::Client::new();
    for _ in 0..N {
        let resp = client
            .post(format!("{base}/invoice.dispatcher?target=CRM"))
            .json(&json!({"id": "9"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Sampled traces come whole; wait until the exports settle.
    let mut last = usize::MAX;
    let spans = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spans = receiver.spans();
        if spans.len() == last {
            break spans;
        }
        last = spans.len();
    };
    let sampled = spans.iter().filter(|s| s.kind == SERVER).count();
    // Binomial(200, 0.25): mean 50, standard deviation about 6.1; four of them either way.
    assert!((26..=74).contains(&sampled), "{sampled} of {N} sampled");

    // Removing the object turns tracing off at once, with no restart.
    running
        .runtime
        .delete(
            &zato::config::ObjectKey::new(zato::config::Section::Telemetry, "otlp", "collector"),
            None,
            "test",
        )
        .await
        .expect("deleted");
    assert!(running.platform.tracer().is_none());
    let before = receiver.spans().len();
    for _ in 0..20 {
        let resp = client
            .post(format!("{base}/invoice.dispatcher?target=CRM"))
            .json(&json!({"id": "9"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.spans().len(), before);
    running.shutdown().await;
}

#[tokio::test]
async fn the_outgoing_rest_call_carries_traceparent_to_its_server() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/invoices/stored"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hook)
        .await;
    let receiver = Receiver::start().await;
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    for c in config.document.outgoing.get_mut("http").unwrap() {
        if c["name"] == app::WEBHOOK {
            c["is_active"] = json!(true);
            c["address"] = json!(format!("{}/invoices/stored", hook.uri()));
        }
    }
    config
        .document
        .telemetry
        .entry("otlp".to_owned())
        .or_default()
        .push(exporting_to(&receiver));
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let base = format!("http://{}", running.http.local_addr());
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let resp = seed(
        &base,
        &[
            ("traceparent", &format!("00-{trace}-b7ad6b7169203331-01")),
            ("baggage", "tenant=acme"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cid = resp.headers()["x-zato-cid"].to_str().unwrap().to_owned();

    let got = hook.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let tp = got[0].headers["traceparent"].to_str().unwrap().to_owned();
    assert_eq!(got[0].headers["baggage"].to_str().unwrap(), "tenant=acme");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[1], trace, "the caller's trace, carried on");

    let spans = spans_of(&receiver, &cid).await;
    let post = one(&spans, "webhook", |s| s.kind == CLIENT && s.name == "POST");
    assert_eq!(
        post.span_id, parts[2],
        "the webhook's parent is the client span"
    );
    assert_eq!(post.attr("http.response.status_code"), Some("204"));
    assert_eq!(post.attr("zato.connection"), Some(app::WEBHOOK));
    let service = one(&spans, "service", |s| s.name == "invoice.dispatcher");
    assert_eq!(post.parent_span_id, service.span_id);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_dropped_in_the_swift_inbox_continues_the_trace_of_its_metadata() {
    use zato::swift::{PutOptions, SwiftOutgoing};

    let receiver = Receiver::start().await;
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap()
    .with_swift_inbox("invoices-in");
    config
        .document
        .telemetry
        .entry("otlp".to_owned())
        .or_default()
        .push(exporting_to(&receiver));
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let conn = running.platform.outgoing().swift(app::CONNECTION).unwrap();
    let client = conn.client().await.unwrap();
    client
        .create_container("invoices-in", &zato::swift::Metadata::new())
        .await
        .unwrap();
    let trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    let writer = "10f067aa0ba902b7";
    let opts = PutOptions::default()
        .content_type("application/json")
        .meta("traceparent", format!("00-{trace}-{writer}-01"));
    client
        .put_object(
            "invoices-in",
            "900.json",
            r#"{"id":"900","target":["CRM"]}"#,
            &opts,
        )
        .await
        .unwrap();
    drop(client);

    // Polled every 5 s at most.
    let spans = receiver
        .wait_for(Duration::from_secs(30), |s| {
            s.iter()
                .any(|s| s.trace_id == trace && s.name == "invoice.dispatcher")
        })
        .await;
    let ours: Vec<GotSpan> = spans.into_iter().filter(|s| s.trace_id == trace).collect();
    let process = one(&ours, "process", |s| s.kind == 5);
    assert_eq!(process.name, "process invoices-in");
    assert_eq!(
        process.parent_span_id, writer,
        "the writer's span is the parent"
    );
    assert_eq!(process.attr("messaging.message.id"), Some("900.json"));
    let service = one(&ours, "service", |s| s.name == "invoice.dispatcher");
    assert_eq!(service.parent_span_id, process.span_id);
    running.shutdown().await;
}

#[tokio::test]
async fn each_swift_attempt_is_a_span_and_carries_its_own_traceparent() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let swift = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Storage-Url", format!("{}/v1/AUTH_test", swift.uri()))
                .insert_header("X-Auth-Token", "tk-1"),
        )
        .mount(&swift)
        .await;
    // The first PUT fails with a 503 and is retried.
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&swift)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&swift)
        .await;
    let receiver = Receiver::start().await;
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    config.swift.auth_url = Some(format!("{}/auth/v1.0", swift.uri()));
    config.swift.user = Some("test:tester".into());
    config.swift.key = Some("testing".into());
    config.swift.retries = 1;
    config.swift.starting_backoff = 0.01;
    config
        .document
        .telemetry
        .entry("otlp".to_owned())
        .or_default()
        .push(exporting_to(&receiver));
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let base = format!("http://{}", running.http.local_addr());
    let resp = reqwest::Client::new()
        .post(format!("{base}/invoice.dispatcher?target=CRM"))
        .json(&json!({"id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cid = resp.headers()["x-zato-cid"].to_str().unwrap().to_owned();
    let spans = spans_of(&receiver, &cid).await;

    let sent: Vec<String> = swift
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.headers["traceparent"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 2, "the first attempt and its retry");
    let attempts: Vec<&GotSpan> = spans.iter().filter(|s| s.kind == CLIENT).collect();
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    let first = one(&spans, "first attempt", |s| {
        s.kind == CLIENT && s.attr("http.request.resend_count").is_none()
    });
    let retry = one(&spans, "retry", |s| {
        s.attr("http.request.resend_count") == Some("1")
    });
    assert_eq!(first.attr("http.response.status_code"), Some("503"));
    assert_eq!(first.status_code, 2, "the refused attempt failed");
    assert_eq!(retry.attr("http.response.status_code"), Some("201"));
    assert_eq!(retry.status_code, 0);
    assert_eq!(
        sent[0],
        format!("00-{}-{}-01", first.trace_id, first.span_id)
    );
    assert_eq!(
        sent[1],
        format!("00-{}-{}-01", retry.trace_id, retry.span_id)
    );
    running.shutdown().await;
}
