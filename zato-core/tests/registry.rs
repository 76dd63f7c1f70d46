//! Deploying, redeploying and undeploying services while calls are in flight; invoking services
//! from services.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::*;
use tokio::sync::{Notify, mpsc};
use zato_core::sio::TypeDesc;
use zato_core::{
    Context, DataFormat, DeployError, Platform, Request, Response, Service, ServiceError,
};
use zato_macros::{SimpleIo, service};

#[derive(SimpleIo, Debug, Clone, PartialEq)]
#[sio(crate = "zato_core")]
struct Numbers {
    a: i64,
    b: i64,
}

#[derive(SimpleIo, Debug, Clone, PartialEq)]
#[sio(crate = "zato_core")]
struct Sum {
    sum: i64,
}

#[service(name = "math.add", crate = "zato_core")]
async fn add(req: Request<Numbers>) -> Result<Sum, ServiceError> {
    Ok(Sum {
        sum: req.input.a + req.input.b,
    })
}

/// Answers with its version, after waiting for `gate` when it has one.
struct Versioned {
    version: &'static str,
    gate: Option<Arc<Notify>>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Version {
    version: String,
}

impl Service for Versioned {
    const NAME: &'static str = "demo.version";
    type Input = ();
    type Output = Version;

    async fn handle(&self, _: Request<()>, _: &Context) -> Result<Response<Version>, ServiceError> {
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        Ok(Response::new(Version {
            version: self.version.into(),
        }))
    }
}

fn version_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["version"].as_str().unwrap().to_owned()
}

#[test]
fn duplicate_names_are_refused() {
    let p = Platform::new();
    p.services().deploy(add).unwrap();
    assert_eq!(
        p.services().deploy(add),
        Err(DeployError::Duplicate("math.add".into()))
    );
}

#[tokio::test]
async fn redeploy_while_a_call_is_in_flight() {
    let p = Platform::new();
    let gate = Arc::new(Notify::new());
    p.services()
        .deploy(Versioned {
            version: "v1",
            gate: Some(gate.clone()),
        })
        .unwrap();

    let p1 = p.clone();
    let old = tokio::spawn(async move {
        p1.dispatch("demo.version", request(DataFormat::Json, None, "", None))
            .await
    });
    // Let the first call reach the gate, then replace the service under it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(p.services().redeploy(Versioned {
        version: "v2",
        gate: None
    }));

    let new = p
        .dispatch("demo.version", request(DataFormat::Json, None, "", None))
        .await;
    assert_eq!(version_of(&new.body), "v2");

    gate.notify_one();
    let old = old.await.unwrap();
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(version_of(&old.body), "v1");
    assert_eq!(p.services().list()[0].version, 2);
}

#[tokio::test]
async fn undeploy_lets_the_running_call_finish_and_then_answers_404() {
    let p = Platform::new();
    let gate = Arc::new(Notify::new());
    p.services()
        .deploy(Versioned {
            version: "v1",
            gate: Some(gate.clone()),
        })
        .unwrap();
    let p1 = p.clone();
    let running = tokio::spawn(async move {
        p1.dispatch("demo.version", request(DataFormat::Json, None, "", None))
            .await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.services().undeploy("demo.version").unwrap();
    let after = p
        .dispatch("demo.version", request(DataFormat::Json, None, "", None))
        .await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    gate.notify_one();
    assert_eq!(version_of(&running.await.unwrap().body), "v1");
    assert_eq!(
        p.services().undeploy("demo.version"),
        Err(DeployError::NotDeployed("demo.version".into()))
    );
}

#[test]
fn listing_describes_input_and_output() {
    let p = Platform::new();
    p.services().deploy(add).unwrap();
    let list = p.services().list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "math.add");
    let names: Vec<&str> = list[0].input.iter().map(|e| e.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(list[0].input[0].ty, TypeDesc::Integer);
    assert!(list[0].input[0].required);
    assert_eq!(list[0].output[0].name, "sum");
    let json = serde_json::to_value(&list[0]).unwrap();
    assert_eq!(json["input"][0]["type"]["scalar"], "integer");
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Total {
    total: i64,
}

#[service(name = "math.total", crate = "zato_core")]
async fn total(_req: Request<()>, ctx: &Context) -> Result<Total, ServiceError> {
    let by_name = ctx
        .invoke("math.add", serde_json::json!({"a": 1, "b": 2}))
        .await?;
    let typed = ctx.invoke_typed::<add>(Numbers { a: 10, b: 20 }).await?;
    Ok(Total {
        total: by_name["sum"].as_i64().unwrap_or(0) + typed.output.sum,
    })
}

#[tokio::test]
async fn a_service_invokes_others_by_name_and_by_type() {
    let p = Platform::new();
    p.services().deploy(add).unwrap();
    p.services().deploy(total).unwrap();
    let reply = p
        .dispatch("math.total", request(DataFormat::Json, None, "", None))
        .await;
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(v["total"], 33);
}

#[tokio::test]
async fn invoking_by_name_passes_on_the_targets_input_errors() {
    let p = Platform::new();
    p.services().deploy(add).unwrap();
    let err = p
        .context()
        .invoke("math.add", serde_json::json!({"a": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        err.to_string(),
        "invalid input: element `a` should be integer, got `x`; missing required element `b`"
    );
    let err = p
        .context()
        .invoke("nope", serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    let err = p
        .context()
        .invoke_typed::<add>(Numbers { a: 1, b: 1 })
        .await;
    assert!(err.is_ok());
}

#[tokio::test]
async fn invoke_async_runs_in_the_background_with_a_new_cid() {
    struct Record(mpsc::UnboundedSender<String>);
    impl Service for Record {
        const NAME: &'static str = "demo.record";
        type Input = Numbers;
        type Output = ();
        async fn handle(
            &self,
            req: Request<Numbers>,
            _: &Context,
        ) -> Result<Response<()>, ServiceError> {
            let _ = self.0.send(format!("{} {}", req.cid, req.input.a));
            Ok(Response::new(()))
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = Platform::new();
    p.services().deploy(Record(tx)).unwrap();
    let ctx = p.context();
    let cid = ctx
        .invoke_async("demo.record", serde_json::json!({"a": 5, "b": 0}))
        .unwrap();
    assert_ne!(cid, ctx.cid());
    let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, format!("{cid} 5"));
    assert_eq!(
        ctx.invoke_async("demo.missing", serde_json::json!({}))
            .unwrap_err()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[service(name = "demo.created", crate = "zato_core")]
async fn created(_req: Request<()>) -> Result<Response<Sum>, ServiceError> {
    let mut resp = Response::new(Sum { sum: 1 }).with_status(StatusCode::CREATED);
    resp.headers
        .insert("x-demo", http::HeaderValue::from_static("yes"));
    Ok(resp)
}

#[service(name = "demo.fails", crate = "zato_core")]
async fn fails(_req: Request<()>) -> Result<(), ServiceError> {
    Err(ServiceError::internal("the ledger is closed"))
}

#[tokio::test]
async fn status_headers_and_errors_reach_the_reply_with_the_cid() {
    let p = Platform::new();
    p.services().deploy(created).unwrap();
    p.services().deploy(fails).unwrap();
    let reply = p
        .dispatch("demo.created", request(DataFormat::Xml, None, "", None))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.headers["x-demo"], "yes");
    assert!(reply.content_type.starts_with("application/xml"));
    assert!(
        std::str::from_utf8(&reply.body)
            .unwrap()
            .contains("<sum>1</sum>")
    );

    let raw = request(DataFormat::Json, None, "", None);
    let cid = raw.cid;
    let reply = p.dispatch("demo.fails", raw).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(v["cid"], cid.as_str());
    assert_eq!(v["message"], "internal error: the ledger is closed");
}

#[tokio::test]
async fn soap_errors_answer_in_the_requests_version() {
    let p = Platform::new();
    p.services().deploy(add).unwrap();
    for (ns, needle) in [
        (SOAP11, "<faultcode>soapenv:Client</faultcode>"),
        (SOAP12, "soapenv:Sender"),
    ] {
        let env = soap_prefixed(ns, "<add><a>1</a></add>");
        let reply = p
            .dispatch("math.add", request(DataFormat::Soap, None, &env, None))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let text = std::str::from_utf8(&reply.body).unwrap();
        assert!(text.contains(ns) && text.contains(needle), "{text}");
        assert!(
            text.contains("<name>b</name><problem>missing</problem>"),
            "{text}"
        );
    }
    // Malformed: the version comes from the media type.
    let reply = p
        .dispatch(
            "math.add",
            request(
                DataFormat::Soap,
                None,
                "<oops",
                Some("application/soap+xml"),
            ),
        )
        .await;
    assert!(std::str::from_utf8(&reply.body).unwrap().contains(SOAP12));
}

#[service(name = "demo.panics", crate = "zato_core")]
async fn panics(_req: Request<()>) -> Result<(), ServiceError> {
    let empty: Vec<u8> = Vec::new();
    // An out-of-bounds index: a bug in a service, not the caller's fault.
    let _ = empty[std::hint::black_box(3)];
    Ok(())
}

#[tokio::test]
async fn a_panicking_service_is_a_500_with_the_cid_and_the_platform_keeps_serving() {
    let p = Platform::new();
    p.services().deploy(panics).unwrap();
    p.services().deploy(add).unwrap();
    let raw = request(DataFormat::Xml, None, "", None);
    let cid = raw.cid;
    let reply = p.dispatch("demo.panics", raw).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let text = std::str::from_utf8(&reply.body).unwrap();
    assert!(text.contains(cid.as_str()), "{text}");
    assert!(
        !text.contains("index out of bounds"),
        "the panic stays in the logs: {text}"
    );
    let reply = p
        .dispatch(
            "math.add",
            request(DataFormat::Json, Some("a=1&b=2"), "", None),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct SeenCid {
    cid: String,
}

#[service(name = "demo.whoami", crate = "zato_core")]
async fn whoami(req: Request<()>, ctx: &Context) -> Result<SeenCid, ServiceError> {
    // What the service reads from its request and from its context must agree.
    if req.cid != ctx.cid() {
        return Err(ServiceError::internal(
            "request and context disagree on the cid",
        ));
    }
    Ok(SeenCid {
        cid: req.cid.to_string(),
    })
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Seen {
    by_name: String,
    by_type: String,
}

#[service(name = "demo.caller", crate = "zato_core")]
async fn caller(_req: Request<()>, ctx: &Context) -> Result<Seen, ServiceError> {
    let by_name = ctx.invoke("demo.whoami", serde_json::json!({})).await?;
    let by_type = ctx.invoke_typed::<whoami>(()).await?;
    Ok(Seen {
        by_name: by_name["cid"].as_str().unwrap_or_default().to_owned(),
        by_type: by_type.output.cid,
    })
}

#[tokio::test]
async fn a_service_invoked_from_another_runs_under_the_callers_cid() {
    let p = Platform::new();
    p.services().deploy(whoami).unwrap();
    p.services().deploy(caller).unwrap();
    let raw = request(DataFormat::Json, None, "", None);
    let cid = raw.cid;
    let reply = p.dispatch("demo.caller", raw).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(v["by_name"], cid.as_str());
    assert_eq!(v["by_type"], cid.as_str());
}

#[service(name = "demo.panics_when_invoked", crate = "zato_core")]
async fn panics_when_invoked(_req: Request<()>) -> Result<(), ServiceError> {
    panic!("invoked and broken")
}

#[tokio::test]
async fn a_panic_in_a_service_invoked_by_type_is_an_error_for_its_caller() {
    let p = Platform::new();
    p.services().deploy(panics_when_invoked).unwrap();
    let ctx = p.context();
    let err = ctx
        .invoke_typed::<panics_when_invoked>(())
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let err = ctx
        .invoke("demo.panics_when_invoked", serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// A transport without HTTP (AMQP, ZeroMQ) hands its headers or leading frames over as channel
/// parameters: SimpleIO reads the input from them as from path parameters, and the service sees
/// them too.
#[tokio::test]
async fn channel_params_of_other_transports_feed_the_input_and_reach_the_service() {
    #[service(name = "math.add.params", crate = "zato_core")]
    async fn add_params(req: Request<Numbers>) -> Result<Sum, ServiceError> {
        let extra = req.channel_params.len() as i64;
        Ok(Sum {
            sum: req.input.a + req.input.b + extra * 1000,
        })
    }
    let p = Platform::new();
    p.services().deploy(add_params).unwrap();
    let channel = Arc::new(zato_core::ChannelInfo::new(
        "queue",
        zato_core::ChannelKind::new("amqp"),
        DataFormat::Json,
    ));
    let raw = zato_core::RawRequest::new(zato_core::Cid::new(), channel, r#"{"a": 1}"#)
        .with_channel_params(vec![("b".to_owned(), "2".to_owned())]);
    let reply = p.dispatch("math.add.params", raw).await;
    assert_eq!(reply.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(v["sum"], 1003);
}
