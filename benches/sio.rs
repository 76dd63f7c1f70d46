//! SimpleIO decoding of the seed request, against a hand-written serde baseline, in one run.
//!
//! Run with `cargo bench --bench sio`. Each case decodes the seed's input —
//! `target=CRM&target=Billing` plus the body — into the same struct.

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a bench panics on any setup error; criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use zato::channels::HTTP_KIND;
use zato::prelude::*;
use zato::sio;
use zato::{ChannelInfo, Cid, DataFormat, HttpInfo, RawRequest};

#[derive(SimpleIo, serde::Deserialize, Debug, PartialEq)]
struct Dispatch {
    #[serde(default)]
    target: Vec<String>,
}

const QUERY_URI: &str = "/invoice.dispatcher?target=CRM&target=Billing";
const JSON: &str = r#"{"id":"123"}"#;
const XML: &str = "<request><target>CRM</target><target>Billing</target></request>";
const SOAP11: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><inv:request xmlns:inv="urn:invoices"><inv:target>CRM</inv:target><inv:target>Billing</inv:target></inv:request></soapenv:Body></soapenv:Envelope>"#;

fn raw(format: DataFormat, uri: &str, body: &'static str) -> RawRequest {
    let channel = Arc::new(ChannelInfo::new("bench", HTTP_KIND, format));
    let http = HttpInfo {
        uri: uri.parse().expect("uri"),
        ..Default::default()
    };
    RawRequest::new(Cid::new(), channel, Bytes::from_static(body.as_bytes())).with_transport(http)
}

/// One decode through the SimpleIO path; not inlined, so profilers (callgrind) can count it.
#[inline(never)]
fn zato(raw: &RawRequest) -> Dispatch {
    sio::decode::<Dispatch>(&raw.sio_source())
        .result
        .expect("decodes")
}

/// What a careful developer would write by hand for the same input and the same priority rule
/// (channel parameters over the body).
#[inline(never)]
fn hand_written(uri: &http::Uri, body: &[u8]) -> Dispatch {
    let mut from_body: Dispatch = serde_json::from_slice(body).expect("valid json");
    let mut from_query = Vec::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "target" {
                from_query.push(v.into_owned());
            }
        }
    }
    if !from_query.is_empty() {
        from_body.target = from_query;
    }
    from_body
}

fn bench(c: &mut Criterion) {
    let expected = Dispatch {
        target: vec!["CRM".into(), "Billing".into()],
    };
    let json = raw(DataFormat::Json, QUERY_URI, JSON);
    let xml = raw(DataFormat::Xml, "/x", XML);
    let soap = raw(DataFormat::Soap, "/s", SOAP11);
    for r in [&json, &xml, &soap] {
        assert_eq!(
            sio::decode::<Dispatch>(&r.sio_source())
                .result
                .expect("decodes"),
            expected
        );
    }
    let uri: http::Uri = QUERY_URI.parse().expect("uri");
    assert_eq!(hand_written(&uri, JSON.as_bytes()), expected);

    let mut g = c.benchmark_group("sio_seed");
    g.bench_function("baseline_serde_json_form_urlencoded", |b| {
        b.iter(|| hand_written(black_box(&uri), black_box(JSON.as_bytes())))
    });
    g.bench_function("zato_query_json", |b| b.iter(|| zato(black_box(&json))));
    g.bench_function("zato_xml", |b| b.iter(|| zato(black_box(&xml))));
    g.bench_function("zato_soap11", |b| b.iter(|| zato(black_box(&soap))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
