//! One HTTP request, from hyper to the platform and back: route, security, body, dispatch,
//! reply. This is the product's hot path: no lock, one route-table load, allocations only where
//! the request needs them (path parameters, the body).

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
#[cfg(test)]
use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use zato_core::sio::{ReplyFormat, SioError};
use zato_core::{Cid, DataFormat, HttpInfo, RawRequest, RawResponse, ServiceError, render_error};

use super::pattern::param_value;
use super::router::{Lookup, Route};
use super::security::mark_sensitive;
use super::shared::Shared;

/// The response header naming the request's correlation id.
pub const X_ZATO_CID: HeaderName = HeaderName::from_static("x-zato-cid");

pub(super) type HttpResponse = hyper::Response<Full<Bytes>>;

/// The format the channel answers its own errors in, before a service has looked at the body.
fn error_format(format: DataFormat, headers: &HeaderMap) -> ReplyFormat {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    ReplyFormat::decide(format, content_type, None)
}

/// Whether `HeaderValue::from_static` takes `s` without panicking: tab and visible ASCII only.
/// Anything else, non-ASCII text included, goes through the checked conversions.
fn header_safe(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'\t' | 0x20..=0x7e))
}

fn content_type_value(ct: Cow<'static, str>) -> Option<HeaderValue> {
    match ct {
        // The usual case, a format's own constant: no copy.
        Cow::Borrowed(s) if header_safe(s) => Some(HeaderValue::from_static(s)),
        Cow::Borrowed(s) => HeaderValue::from_str(s).ok(),
        Cow::Owned(s) => HeaderValue::try_from(s).ok(),
    }
}

/// Turns the platform's reply into hyper's, adding `X-Zato-CID`.
pub(super) fn into_http(raw: RawResponse, cid: Cid) -> HttpResponse {
    let has_body = !raw.body.is_empty();
    let mut resp = hyper::Response::new(Full::new(raw.body));
    *resp.status_mut() = raw.status;
    *resp.headers_mut() = raw.headers;
    let headers = resp.headers_mut();
    if has_body && let Some(ct) = content_type_value(raw.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Ok(v) = HeaderValue::from_str(cid.as_str()) {
        headers.insert(X_ZATO_CID, v);
    }
    resp
}

/// The channel's own error, rendered in `format`.
pub(super) fn error_reply(err: &ServiceError, format: ReplyFormat, cid: Cid) -> HttpResponse {
    into_http(render_error(err, format, cid), cid)
}

/// Answers one request.
pub(super) async fn handle(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> HttpResponse {
    let cid = Cid::new();
    // Counted before the draining flag is read, so a shutdown either sees this request or this
    // request sees the shutdown.
    let Some(_in_flight) = shared.enter() else {
        let err = ServiceError::Unavailable("the server is shutting down".into());
        let mut resp = error_reply(&err, ReplyFormat::Json, cid);
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    };

    let (parts, body) = req.into_parts();
    let (route, path_params) = {
        let table = shared.routes.load();
        match table.lookup(parts.uri.path(), &parts.method) {
            Lookup::Found(route, raw_params) => {
                let params: Vec<(String, String)> = route
                    .param_names
                    .iter()
                    .zip(raw_params)
                    .map(|(name, value)| (name.to_string(), param_value(value)))
                    .collect();
                (Arc::clone(route), params)
            }
            Lookup::WrongMethod(allow, format) => {
                let allow = allow
                    .as_deref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let err = ServiceError::MethodNotAllowed { allow };
                return error_reply(&err, error_format(format, &parts.headers), cid);
            }
            Lookup::NotFound => {
                let err = ServiceError::not_found(format!("no channel for `{}`", parts.uri.path()));
                return error_reply(&err, ReplyFormat::Json, cid);
            }
        }
    };
    let format = error_format(route.data_format(), &parts.headers);

    if !route.is_active {
        let err =
            ServiceError::Unavailable(format!("channel `{}` is inactive", route.channel.name));
        return error_reply(&err, format, cid);
    }
    if let Some(security) = &route.security
        && !security.check(&parts.headers)
    {
        tracing::debug!(%cid, channel = %route.channel.name, security = security.name(), "authentication failed");
        let err = ServiceError::Unauthorized("authentication required".into());
        let mut resp = error_reply(&err, format, cid);
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, security.challenge().clone());
        return resp;
    }

    // The channel's timeout bounds reading the body too: a client that declares a body and
    // stops sending it would otherwise hold the request, and a graceful shutdown, forever. The
    // timer exists only on channels with a timeout.
    let read = read_body(&route, &parts.headers, body);
    let read = match route.timeout {
        None => read.await,
        Some(limit) => match tokio::time::timeout(limit, read).await {
            Ok(read) => read,
            Err(_) => {
                tracing::debug!(%cid, channel = %route.channel.name, "request body not received in time");
                // The caller's fault: 408. The rest of the body is never read, so the connection
                // is closed.
                let mut resp = error_reply(&ServiceError::RequestTimeout(limit), format, cid);
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return resp;
            }
        },
    };
    let body = match read {
        Ok(body) => body,
        Err(err) => return error_reply(&err, format, cid),
    };

    let mut headers = parts.headers;
    mark_sensitive(
        &mut headers,
        route.security.as_ref().and_then(|s| s.secret_header()),
    );
    let http = HttpInfo {
        method: parts.method,
        uri: parts.uri,
        headers,
        path_params,
    };
    let raw = RawRequest::new(cid, Arc::clone(&route.channel), body).with_http(http);
    let dispatch = shared.platform.dispatch(&route.service, raw);
    let reply = match route.timeout {
        None => dispatch.await,
        Some(limit) => match tokio::time::timeout(limit, dispatch).await {
            Ok(reply) => reply,
            Err(_) => {
                tracing::warn!(%cid, channel = %route.channel.name, service = %route.service, "service timed out");
                return error_reply(&ServiceError::Timeout(limit), format, cid);
            }
        },
    };
    into_http(reply, cid)
}

/// Collects the body, refusing one over the channel's limit by its Content-Length at once, or
/// while reading when the length is not declared or is a lie.
async fn read_body(
    route: &Route,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, ServiceError> {
    let limit = usize::try_from(route.max_body_size).unwrap_or(usize::MAX);
    let too_large = || ServiceError::from(SioError::PayloadTooLarge { limit });
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > route.max_body_size) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ServiceError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// A reply with only a status, for tests of the conversion.
#[cfg(test)]
fn status_only(status: StatusCode) -> RawResponse {
    RawResponse::new(status, "application/json", Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zato_core::sio::SoapVersion;

    #[test]
    fn soap_errors_follow_the_media_type() {
        let mut h = HeaderMap::new();
        assert_eq!(
            error_format(DataFormat::Soap, &h),
            ReplyFormat::Soap(SoapVersion::V11)
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/SOAP+xml; charset=utf-8"),
        );
        assert_eq!(
            error_format(DataFormat::Soap, &h),
            ReplyFormat::Soap(SoapVersion::V12)
        );
        assert_eq!(error_format(DataFormat::Form, &h), ReplyFormat::Json);
    }

    #[test]
    fn a_non_ascii_static_content_type_is_sent_not_panicked_on() {
        let cid = Cid::new();
        let ct = "application/json; profile=\"caf\u{e9}\"";
        let raw = RawResponse::new(StatusCode::OK, ct, Bytes::from_static(b"{}"));
        let resp = into_http(raw, cid);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE].as_bytes(),
            ct.as_bytes()
        );

        // One no header value may hold: no Content-Type, still no panic.
        let raw = RawResponse::new(
            StatusCode::OK,
            "text/plain\r\nx: y",
            Bytes::from_static(b"x"),
        );
        let resp = into_http(raw, cid);
        assert!(resp.headers().get(header::CONTENT_TYPE).is_none());
        assert!(!header_safe("caf\u{e9}") && !header_safe("a\u{7f}") && header_safe("a\tb ~"));
    }

    #[test]
    fn empty_replies_carry_the_cid_but_no_content_type() {
        let cid = Cid::new();
        let resp = into_http(status_only(StatusCode::NO_CONTENT), cid);
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(resp.headers()[X_ZATO_CID], cid.as_str());
        assert!(resp.headers().get(header::CONTENT_TYPE).is_none());
    }
}
