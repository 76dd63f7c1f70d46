//! An OTLP/HTTP receiver for tests and benches: a hyper server on 127.0.0.1 taking
//! `POST /v1/traces` with protobuf bodies, decoding each `ExportTraceServiceRequest` with
//! opentelemetry-proto, and keeping the spans.
#![allow(
    clippy::expect_used,
    reason = "a helper of tests and benches: its failure fails the run"
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// One span as the receiver got it, ids in hex.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "each test reads some of the fields")]
pub(crate) struct GotSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// OTLP's numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub attributes: HashMap<String, String>,
    /// OTLP's numbering: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub status_message: String,
    pub service_name: String,
}

impl GotSpan {
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The receiver: its URL and what it got.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub url: String,
    spans: Arc<Mutex<Vec<GotSpan>>>,
    requests: Arc<Mutex<usize>>,
    received: Arc<AtomicUsize>,
}

/// Spans kept for reading back; more are counted only (a load bench sends millions).
const MAX_KEPT: usize = 100_000;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn unpack(req: ExportTraceServiceRequest) -> Vec<GotSpan> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let service_name = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                let status = s.status.clone().unwrap_or_default();
                out.push(GotSpan {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    kind: s.kind,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                    status_code: status.code,
                    status_message: status.message,
                    service_name: service_name.clone(),
                });
            }
        }
    }
    out
}

impl Receiver {
    /// Starts the receiver on a port of its own; it runs until the runtime ends.
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the receiver binds");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let (s, r, n) = (
            Arc::clone(&spans),
            Arc::clone(&requests),
            Arc::clone(&received),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, r, n) = (Arc::clone(&s), Arc::clone(&r), Arc::clone(&n));
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let (s, r, n) = (Arc::clone(&s), Arc::clone(&r), Arc::clone(&n));
                        async move {
                            let ok = req.uri().path() == "/v1/traces";
                            let body = req.into_body().collect().await.map(|b| b.to_bytes());
                            let decoded = body
                                .ok()
                                .filter(|_| ok)
                                .and_then(|b| ExportTraceServiceRequest::decode(b).ok());
                            let status = match decoded {
                                Some(req) => {
                                    *r.lock().expect("lock") += 1;
                                    let got = unpack(req);
                                    n.fetch_add(got.len(), Ordering::Relaxed);
                                    let mut kept = s.lock().expect("lock");
                                    let room = MAX_KEPT.saturating_sub(kept.len());
                                    kept.extend(got.into_iter().take(room));
                                    200
                                }
                                None => 400,
                            };
                            let reply = ExportTraceServiceResponse::default().encode_to_vec();
                            let resp = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::from(reply)))
                                .expect("a response");
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            spans,
            requests,
            received,
        }
    }

    /// How many spans arrived, those not kept included.
    #[allow(dead_code, reason = "used by the load bench")]
    pub(crate) fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// Every span received so far.
    pub(crate) fn spans(&self) -> Vec<GotSpan> {
        self.spans.lock().expect("lock").clone()
    }

    /// How many export requests arrived.
    #[allow(dead_code, reason = "used by some of the tests")]
    pub(crate) fn requests(&self) -> usize {
        *self.requests.lock().expect("lock")
    }

    /// Waits, at most `limit`, until `done` holds for the spans received; returns them.
    pub(crate) async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[GotSpan]) -> bool,
    ) -> Vec<GotSpan> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let spans = self.spans();
            if done(&spans) || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
