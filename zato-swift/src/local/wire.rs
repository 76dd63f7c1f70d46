//! The HTTP plumbing the routing (`server.rs`) and the object operations (`objects.rs`) share:
//! building responses, reading headers, the clock. A leaf, so that `objects.rs` needs nothing
//! from `server.rs`, which dispatches to it.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use percent_encoding::percent_decode_str;

use crate::client::{Metadata, read_meta};

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) fn reply(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

pub(super) fn text(status: StatusCode) -> Resp {
    if status == StatusCode::NO_CONTENT {
        return reply(status, "");
    }
    reply(status, status.canonical_reason().unwrap_or("").to_string())
}

pub(super) fn set(r: &mut Resp, name: &str, value: impl AsRef<str>) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        http::HeaderValue::from_bytes(value.as_ref().as_bytes()),
    ) {
        r.headers_mut().insert(n, v);
    }
}

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub(super) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

pub(super) fn http_date(t: f64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

pub(super) fn meta_from(h: &HeaderMap, kind: &str, into: &mut Metadata) {
    into.extend(read_meta(h, kind));
    into.retain(|_, v| !v.is_empty());
}
