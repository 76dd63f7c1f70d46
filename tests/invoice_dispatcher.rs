//! The InvoiceDispatcher example end to end: real HTTP in, Swift out, against wiremock (exact
//! requests) and against the local Swift-compatible endpoint (objects read back).
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use invoice_dispatcher as app;

use std::time::Duration;

use app::{AppConfig, Running};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request as MockRequest, ResponseTemplate};

const SEED_BODY: &str = r#"{"id":"123"}"#;

fn config() -> AppConfig {
    AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .expect("the example's config parses")
}

async fn start(config: AppConfig) -> (Running, String) {
    let running = app::start(config, "127.0.0.1:0", None)
        .await
        .expect("the example starts");
    let base = format!("http://{}", running.http.local_addr());
    (running, base)
}

/// The seed's own command: `curl "…/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'`,
/// which sends a form media type.
async fn seed_curl(base: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{base}/invoice.dispatcher?target=CRM&target=Billing"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(SEED_BODY)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn seed_request_stores_the_invoice_in_each_target_on_the_local_endpoint() {
    let (running, base) = start(config()).await;
    let resp = seed_curl(&base).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-zato-cid"));
    let body: serde_json::Value = resp.json().await.expect("json reply");
    assert_eq!(body, serde_json::json!({"stored": ["CRM", "Billing"]}));

    let local = running
        .local
        .as_ref()
        .expect("the local endpoint was started");
    for target in ["CRM", "Billing"] {
        let stored = local.object(target, app::OBJECT).expect("object stored");
        assert_eq!(&stored[..], SEED_BODY.as_bytes(), "{target}");
    }
    running.shutdown().await;
}

/// The stored object and its content type, read back through the example's Swift connection.
async fn stored(running: &Running, container: &str) -> (String, Option<String>) {
    use zato::swift::SwiftOutgoing;
    let conn = running
        .platform
        .outgoing()
        .swift("Invoice Dispatcher")
        .expect("the connection");
    let client = conn.client().await.expect("a client");
    let object = client
        .get_object(container, app::OBJECT)
        .await
        .expect("the object");
    let text = String::from_utf8(object.data.to_vec()).expect("utf-8");
    (text, object.info.content_type)
}

/// What is stored is the invoice, not its transport: an XML body as it came, and a SOAP
/// envelope's request element (with the namespaces it relies on), each with the request's
/// content type where it fits; the seed's JSON, which `curl -d` labels a form, as JSON.
#[tokio::test]
async fn each_channel_stores_the_invoice_itself_with_its_content_type() {
    let (running, base) = start(config()).await;
    let client = reqwest::Client::new();
    let xml = "<request><target>ERP</target></request>";
    let resp = client
        .post(format!("{base}/xml/invoice.dispatcher"))
        .header("content-type", "application/xml; charset=utf-8")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<stored>ERP</stored>"));

    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><request><target>CRM</target></request></s:Body></s:Envelope>"#;
    let soap12 = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:i="urn:invoices"><e:Body><i:request a="1"><target>Billing</target></i:request></e:Body></e:Envelope>"#;
    for (envelope, ct, ns) in [
        (
            soap11,
            "text/xml",
            "http://schemas.xmlsoap.org/soap/envelope/",
        ),
        (
            soap12,
            "application/soap+xml",
            "http://www.w3.org/2003/05/soap-envelope",
        ),
    ] {
        let resp = client
            .post(format!("{base}/soap/invoice.dispatcher"))
            .header("content-type", ct)
            .body(envelope)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.contains(ns), "{text}");
    }
    assert_eq!(
        stored(&running, "ERP").await,
        (
            xml.to_owned(),
            Some("application/xml; charset=utf-8".to_owned())
        )
    );
    assert_eq!(
        stored(&running, "CRM").await,
        (
            "<request><target>CRM</target></request>".to_owned(),
            Some("text/xml".to_owned())
        )
    );
    assert_eq!(
        stored(&running, "Billing").await,
        (
            r#"<i:request xmlns:i="urn:invoices" a="1"><target>Billing</target></i:request>"#
                .to_owned(),
            Some("application/xml".to_owned())
        )
    );
    let resp = seed_curl(&base).await;
    assert_eq!(resp.status(), 200);
    for target in ["CRM", "Billing"] {
        assert_eq!(
            stored(&running, target).await,
            (SEED_BODY.to_owned(), Some("application/json".to_owned())),
            "{target}"
        );
    }
    running.shutdown().await;
}

/// A SOAP 1.1 invoice is stored as its request element, `text/xml` as it came.
#[tokio::test]
async fn a_soap_11_invoice_is_stored_as_its_request_element() {
    let (running, base) = start(config()).await;
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body>
        <request><target>CRM</target></request></s:Body></s:Envelope>"#;
    let resp = reqwest::Client::new()
        .post(format!("{base}/soap/invoice.dispatcher"))
        .header("content-type", "text/xml; charset=utf-8")
        .body(soap11)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        stored(&running, "CRM").await,
        (
            "<request><target>CRM</target></request>".to_owned(),
            Some("text/xml; charset=utf-8".to_owned())
        )
    );
    running.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_a_400_and_stores_nothing() {
    let (running, base) = start(config()).await;
    let client = reqwest::Client::new();
    for url in [
        format!("{base}/invoice.dispatcher"),
        format!("{base}/invoice.dispatcher?target=a/b"),
    ] {
        let resp = client.post(&url).body(SEED_BODY).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{url}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(v["cid"].is_string());
    }
    assert!(running.local.as_ref().unwrap().object_names("a").is_empty());
    running.shutdown().await;
}

/// An empty `target` is refused by SimpleIO (`#[sio(min_items = 1)]`) before the service runs,
/// in every format; a caller handing typed input over (`invoke_typed`, which bypasses SimpleIO)
/// meets the service's own checks.
#[tokio::test]
async fn an_empty_target_is_a_400_from_simpleio_and_from_the_service_for_typed_callers() {
    let (running, base) = start(config()).await;
    let resp = post(&format!("{base}/invoice.dispatcher"), r#"{"target":[]}"#).await;
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(v["code"], "invalid_input");
    assert_eq!(
        v["elements"],
        serde_json::json!([{"name": "target", "problem": "too_few_items", "minimum": 1}])
    );
    assert_eq!(
        v["message"],
        "invalid input: element `target` needs at least 1 item, got 0"
    );
    // In XML an empty list is no element: a missing one.
    let resp = reqwest::Client::new()
        .post(format!("{base}/xml/invoice.dispatcher"))
        .header("content-type", "application/xml")
        .body("<request></request>")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.expect("body");
    assert!(text.contains("missing required element `target`"), "{text}");

    let ctx = running.platform.context();
    let err = ctx
        .invoke_typed::<app::invoice_dispatcher>(app::Dispatch { target: vec![] })
        .await
        .expect_err("refused");
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(
        err.to_string(),
        "bad request: at least one target is required"
    );
    // The same for too many.
    let crm = zato::swift::ContainerName::new("CRM").expect("a container name");
    let err = ctx
        .invoke_typed::<app::invoice_dispatcher>(app::Dispatch {
            target: vec![crm; app::MAX_TARGETS + 1],
        })
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "bad request: too many values of `target`: 101, at most 100"
    );
    running.shutdown().await;
}

/// A wiremock Swift with auth v1.0 answering a storage URL on itself.
async fn mock_swift() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Storage-Url", format!("{}/v1/AUTH_test", server.uri()))
                .insert_header("X-Auth-Token", "tk-1"),
        )
        .mount(&server)
        .await;
    server
}

fn config_for(server: &MockServer) -> AppConfig {
    let mut config = config();
    config.swift.auth_url = Some(format!("{}/auth/v1.0", server.uri()));
    config.swift.user = Some("test:tester".into());
    config.swift.key = Some("testing".into());
    config.swift.retries = 0;
    config
}

fn puts(requests: &[MockRequest]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| {
            (
                r.url.path().to_owned(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn against_wiremock_the_exact_puts_are_sent_with_the_token() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    assert!(running.local.is_none());
    assert_eq!(seed_curl(&base).await.status(), 200);

    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        puts(&requests),
        [
            ("/v1/AUTH_test/CRM/Invoice".to_owned(), SEED_BODY.to_owned()),
            (
                "/v1/AUTH_test/Billing/Invoice".to_owned(),
                SEED_BODY.to_owned()
            ),
        ]
    );
    for r in requests.iter().filter(|r| r.method.as_str() == "PUT") {
        assert_eq!(r.headers["x-auth-token"], "tk-1");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn a_missing_container_is_created_then_the_invoice_stored() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .and(path("/v1/AUTH_test/CRM/Invoice"))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/invoice.dispatcher?target=CRM"))
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        puts(&requests),
        [
            ("/v1/AUTH_test/CRM/Invoice".to_owned(), SEED_BODY.to_owned()),
            ("/v1/AUTH_test/CRM".to_owned(), String::new()),
            ("/v1/AUTH_test/CRM/Invoice".to_owned(), SEED_BODY.to_owned()),
        ]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_failing_target_is_an_error_naming_what_was_stored_and_what_was_not() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .and(path("/v1/AUTH_test/Billing/Invoice"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let resp = seed_curl(&base).await;
    assert_eq!(
        resp.status(),
        502,
        "a failing Swift is not the caller's fault"
    );
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["connection"], "Invoice Dispatcher");
    let message = dispatch_report(&v);
    assert!(
        message.starts_with(
            r#"stored for: "CRM"; not stored for: "Billing"; reasons: "Billing": swift answered 503 Service Unavailable to PUT object Billing/Invoice: overloaded"#
        ),
        "{message}"
    );
    assert!(
        !message.contains("testing") && !message.contains("tk-1"),
        "{message}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn swift_unreachable_is_a_5xx_naming_the_connection_and_what_was_not_stored() {
    // The whole Swift is gone: authentication points at a port nothing listens on. (A dropped
    // wiremock server goes back to wiremock's pool and keeps answering, with 404s.)
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = config();
    config.swift.auth_url = Some(format!("http://127.0.0.1:{port}/auth/v1.0"));
    config.swift.user = Some("test:tester".into());
    config.swift.key = Some("testing".into());
    config.swift.retries = 0;
    config.swift.timeout = 2.0;
    let (running, base) = start(config).await;
    let resp = tokio::time::timeout(Duration::from_secs(20), seed_curl(&base))
        .await
        .expect("answered in time");
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["connection"], "Invoice Dispatcher");
    let message = dispatch_report(&v);
    assert!(
        message.starts_with(
            r#"stored for: none; not stored for: "CRM", "Billing"; reasons: "CRM", "Billing": swift is unreachable"#
        ),
        "{message}"
    );
    running.shutdown().await;
}

/// The dispatcher's report in an error body: what follows the connection's name.
fn dispatch_report(v: &serde_json::Value) -> &str {
    let message = v["message"].as_str().unwrap_or_default();
    message
        .strip_prefix("outgoing connection `Invoice Dispatcher`: ")
        .unwrap_or(message)
}

async fn post(url: &str, body: &'static str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn dot_targets_are_a_400_and_nothing_is_sent_to_swift() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    for query in [
        "target=.",
        "target=..",
        "target=CRM&target=..",
        "target=%2E%2E",
        "target=a%2Fb",
        "target=",
        "target=CRM%0D%0AX",
    ] {
        let resp = post(&format!("{base}/invoice.dispatcher?{query}"), SEED_BODY).await;
        assert_eq!(resp.status(), 400, "{query}");
        let v: serde_json::Value = resp.json().await.unwrap();
        // Refused by SimpleIO, as the wrong type: each target is a `ContainerName`.
        assert_eq!(v["code"], "invalid_input", "{query}: {v}");
        let element = &v["elements"][0];
        assert!(
            element["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("target[")),
            "{query}: {v}"
        );
        assert_eq!(element["problem"], "wrong_type", "{query}: {v}");
        assert!(
            element["expected"]
                .as_str()
                .is_some_and(|e| e.starts_with("container name")),
            "{query}: {v}"
        );
        let message = v["message"].as_str().unwrap_or_default();
        assert!(!message.contains('\n'), "{query}: {v}");
    }
    // Not even an authentication: the targets are checked before a client is taken.
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.is_empty(),
        "{:?}",
        sent.iter().map(|r| r.url.path()).collect::<Vec<_>>()
    );
    running.shutdown().await;
}

#[tokio::test]
async fn more_targets_than_the_limit_is_a_400_naming_target_and_the_limit() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let query = |n: usize| {
        (0..n)
            .map(|i| format!("target=t{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let over = app::MAX_TARGETS + 1;
    let resp = reqwest::Client::new()
        .post(format!("{base}/invoice.dispatcher?{}", query(over)))
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    // Refused by SimpleIO (`max_items = 100`), before the service runs.
    assert_eq!(
        v["message"].as_str().unwrap_or_default(),
        "invalid input: element `target` has more than 100 items"
    );
    assert_eq!(
        v["elements"],
        serde_json::json!([{"name": "target", "problem": "too_many_items", "limit": 100}])
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    // At the limit, every target is stored.
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/invoice.dispatcher?{}",
            query(app::MAX_TARGETS)
        ))
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["stored"].as_array().map(Vec::len), Some(app::MAX_TARGETS));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(puts(&requests).len(), app::MAX_TARGETS);
    running.shutdown().await;
}

#[tokio::test]
async fn a_target_named_twice_is_stored_once() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let resp = post(
        &format!("{base}/invoice.dispatcher?target=CRM&target=Billing&target=CRM"),
        SEED_BODY,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"stored": ["CRM", "Billing"]}));
    let mut paths: Vec<String> = puts(&server.received_requests().await.unwrap())
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/v1/AUTH_test/Billing/Invoice", "/v1/AUTH_test/CRM/Invoice"]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn an_empty_invoice_is_stored_with_content_length_zero() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201).insert_header("etag", "d41d8cd98f00b204e9800998ecf8427e"),
        )
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let resp = post(&format!("{base}/invoice.dispatcher?target=CRM"), "").await;
    assert_eq!(resp.status(), 200);
    let requests = server.received_requests().await.unwrap();
    let put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .expect("a PUT was sent");
    assert_eq!(put.url.path(), "/v1/AUTH_test/CRM/Invoice");
    assert_eq!(
        put.headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    assert!(put.body.is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn an_empty_invoice_is_stored_on_the_local_endpoint() {
    let (running, base) = start(config()).await;
    let resp = post(
        &format!("{base}/invoice.dispatcher?target=CRM&target=Billing"),
        "",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"stored": ["CRM", "Billing"]}));
    let local = running.local.as_ref().expect("the local endpoint");
    for target in ["CRM", "Billing"] {
        assert_eq!(
            local.object(target, app::OBJECT).as_deref(),
            Some(&b""[..]),
            "{target}"
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn an_html_error_page_from_swift_is_summarised_not_relayed() {
    let server = mock_swift().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("content-type", "text/html")
                .set_body_string(
                    "<html>\n<head><title>Oops</title></head>\r\n<body><h1>Internal Server \
                     Error</h1>\n<p>Something   broke.</p></body></html>",
                ),
        )
        .mount(&server)
        .await;
    let (running, base) = start(config_for(&server)).await;
    let resp = post(&format!("{base}/invoice.dispatcher?target=CRM"), SEED_BODY).await;
    assert_eq!(resp.status(), 502);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        dispatch_report(&v),
        r#"stored for: none; not stored for: "CRM"; reasons: "CRM": swift answered 500 Internal Server Error to PUT object CRM/Invoice: Oops Internal Server Error Something broke."#
    );
    running.shutdown().await;
}

/// `ZATO_SWIFT_INBOX=invoices-in`: an invoice dropped into the inbox is dispatched to its
/// targets as an HTTP call would store it, then archived; one without targets is set aside with
/// the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_dispatches_dropped_invoices_and_sets_bad_ones_aside() {
    use zato::swift::{PutOptions, SwiftOutgoing};

    let (running, _base) = start(config().with_swift_inbox("invoices-in")).await;
    let local = running.local.as_ref().expect("the local endpoint");
    let conn = running
        .platform
        .outgoing()
        .swift(app::CONNECTION)
        .expect("the connection");
    let client = conn.client().await.expect("a client");
    client
        .create_container("invoices-in", &zato::swift::Metadata::new())
        .await
        .expect("the inbox");
    let good = r#"{"id":"500","target":["CRM","Billing"]}"#;
    let bad = r#"{"id":"501","target":[]}"#;
    // Decoded as JSON whatever the content type says.
    let opts = PutOptions::default().content_type("application/octet-stream");
    client
        .put_object("invoices-in", "500.json", good, &opts)
        .await
        .expect("dropped");
    client
        .put_object("invoices-in", "501.json", bad, &opts)
        .await
        .expect("dropped");
    drop(client);
    // Polled every 5 s at most.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline
        && (local.object(app::INBOX_ARCHIVE, "500.json").is_none()
            || local.object(app::INBOX_ERRORS, "501.json").is_none())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        local.object(app::INBOX_ARCHIVE, "500.json").as_deref(),
        Some(good.as_bytes())
    );
    for target in ["CRM", "Billing"] {
        let stored = local.object(target, app::OBJECT).expect("stored");
        assert_eq!(&stored[..], good.as_bytes(), "{target}");
    }
    assert!(local.object_names("invoices-in").is_empty());
    let client = conn.client().await.expect("a client");
    let info = client
        .head_object(app::INBOX_ERRORS, "501.json")
        .await
        .expect("set aside");
    let error = &info.metadata["zato-error"];
    assert!(error.contains("target"), "{error}");
    assert_eq!(info.metadata["zato-status"], "400");
    drop(client);
    running.shutdown().await;
}

/// The example's binary as a user runs it, from another directory: the seed's curl, and the
/// invoice in `swift/` of the data directory `ZATO_DATA_DIR` names, not in the checkout it was
/// built from. Its log goes to a pipe: no colour codes.
#[tokio::test]
async fn the_example_binary_keeps_its_objects_in_the_data_directory() {
    let exe = std::env::current_exe().expect("this test's path");
    let examples = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/debug")
        .join("examples");
    let binary = examples.join("invoice_dispatcher");
    assert!(
        binary.exists(),
        "cargo test builds the examples: {}",
        binary.display()
    );
    let stamp = std::process::id();
    let elsewhere = std::env::temp_dir().join(format!("zato-example-cwd-{stamp}"));
    let data = std::env::temp_dir().join(format!("zato-example-data-{stamp}"));
    std::fs::create_dir_all(&elsewhere).expect("a directory to run in");
    let mut child = tokio::process::Command::new(&binary)
        .current_dir(&elsewhere)
        .env("ZATO_DATA_DIR", &data)
        .env("ZATO_HTTP_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("ZATO_ADMIN_TOKEN")
        .env_remove("ZATO_CONFIG")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example runs");
    let stdout = child.stdout.take().expect("its log");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("a log line") {
            assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split(';').next().expect("an address").to_owned();
            }
        }
        panic!("the example ended without listening");
    })
    .await
    .expect("the example listens within a minute");

    let resp = seed_curl(&base).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.expect("body"),
        r#"{"stored":["CRM","Billing"]}"#
    );
    let stored = std::fs::read_to_string(data.join("swift/data/CRM/Invoice"))
        .expect("the invoice is in the data directory");
    assert_eq!(stored, SEED_BODY);
    assert!(
        !elsewhere.join("zato-data").exists(),
        "nothing kept in the current directory when ZATO_DATA_DIR is set"
    );
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&elsewhere);
    let _ = std::fs::remove_dir_all(&data);
}
