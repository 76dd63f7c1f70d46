//! One HTTP request, from hyper to the platform and back: route, security, body, dispatch,
//! reply. This is the product's hot path: no lock, one route-table load, allocations only where
//! the request needs them (path parameters, the body).

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::task::{Unconstrained, unconstrained};
use tokio::time::Sleep;
use zato_core::sio::{ReplyFormat, SoapVersion};
use zato_core::{Cid, DataFormat, RawRequest, RawResponse, ServiceError, render_error};

use super::body::{BodyError, RETRY_AFTER_SECS, Reservation, read_body};
use super::conn::Conn;
use super::info::HttpInfo;
use super::pattern::param_value;
use super::router::Lookup;
use super::security::mark_sensitive;
use super::strict::check_request;

/// The response header naming the request's correlation id.
pub const X_ZATO_CID: HeaderName = HeaderName::from_static("x-zato-cid");

pub(super) type HttpResponse = hyper::Response<Full<Bytes>>;

/// The format the channel answers its own errors in, before a service has looked at the body.
fn error_format(format: DataFormat, headers: &HeaderMap) -> ReplyFormat {
    // Only SOAP looks at the media type: other formats skip the header lookup.
    let content_type = if format == DataFormat::Soap {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    } else {
        None
    };
    ReplyFormat::decide(format, content_type, None)
}

/// Whether `HeaderValue::from_static` takes `s` without panicking: tab and visible ASCII only.
/// Anything else, non-ASCII text included, goes through the checked conversions.
fn header_safe(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'\t' | 0x20..=0x7e))
}

/// The media types of the reply formats, as header values made (and checked) at compile time.
const REPLY_CONTENT_TYPES: [HeaderValue; 4] = [
    HeaderValue::from_static(ReplyFormat::Json.content_type()),
    HeaderValue::from_static(ReplyFormat::Xml.content_type()),
    HeaderValue::from_static(ReplyFormat::Soap(SoapVersion::V11).content_type()),
    HeaderValue::from_static(ReplyFormat::Soap(SoapVersion::V12).content_type()),
];

fn content_type_value(ct: Cow<'static, str>) -> Option<HeaderValue> {
    // The usual case, a reply format's own: no check at run time.
    if let Cow::Borrowed(s) = ct
        && let Some(value) = REPLY_CONTENT_TYPES
            .iter()
            .find(|v| v.as_bytes() == s.as_bytes())
    {
        return Some(value.clone());
    }
    match ct {
        // Another constant: no copy.
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
    if let Ok(v) = HeaderValue::from_bytes(cid.as_bytes()) {
        headers.insert(X_ZATO_CID, v);
    }
    resp
}

/// The channel's own error, rendered in `format`.
pub(super) fn error_reply(err: &ServiceError, format: ReplyFormat, cid: Cid) -> HttpResponse {
    into_http(render_error(err, format, cid), cid)
}

/// Answers one request. hyper's service itself, so that no `async` block around it moves its
/// future once more: it never fails, every error is a reply.
pub(super) async fn handle(
    conn: Arc<Conn>,
    req: hyper::Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let started = Instant::now();
    // Until this request is answered, the connection awaits no head.
    let _head = conn.request_started(req.version());
    let shared = &conn.shared;
    let cid = Cid::new();
    // Counted before the draining flag is read, so a shutdown either sees this request or this
    // request sees the shutdown.
    let Some(_in_flight) = shared.enter() else {
        let err = ServiceError::Unavailable("the server is shutting down".into());
        return Ok(closing(error_reply(&err, ReplyFormat::Json, cid)));
    };

    let (parts, body) = req.into_parts();
    let (found, format) = {
        let table = shared.routes.load();
        match table.lookup(parts.uri.path(), &parts.method) {
            Lookup::Found(route, raw_params) => {
                let params: Vec<(String, String)> = route
                    .param_names
                    .iter()
                    .zip(raw_params)
                    .map(|(name, value)| (name.to_string(), param_value(value)))
                    .collect();
                let format = error_format(route.data_format(), &parts.headers);
                (Ok((Arc::clone(route), params)), format)
            }
            Lookup::WrongMethod(allow, format) => {
                let allow = allow
                    .as_deref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let err = ServiceError::MethodNotAllowed { allow };
                (Err(err), error_format(format, &parts.headers))
            }
            Lookup::NotFound => {
                let err = ServiceError::not_found(format!("no channel for `{}`", parts.uri.path()));
                (Err(err), ReplyFormat::Json)
            }
        }
    };
    // A malformed request is refused before it is routed: 400 beats 404.
    if let Err(err) = check_request(parts.version, &parts.headers) {
        refused(&err, &parts, cid);
        let unsupported = matches!(err, ServiceError::UnsupportedContentEncoding(_));
        let mut resp = closing(error_reply(&err, format, cid));
        if unsupported {
            resp.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        return Ok(resp);
    }
    // `GET <channel>?wsdl` on a SOAP channel: its contract, as SOAP toolkits expect it.
    if parts.method == Method::GET
        && parts.uri.query() == Some("wsdl")
        && let Some(resp) = wsdl_reply(&conn, &parts, cid).await
    {
        return Ok(resp);
    }
    let (route, path_params) = match found {
        Ok(found) => found,
        Err(err) => {
            refused(&err, &parts, cid);
            return Ok(error_reply(&err, format, cid));
        }
    };

    let mut otel = super::trace::server_span(&shared.platform, &parts, &route.channel.name, cid);
    // The routed request is served in this block rather than by a function of its own: that
    // function's future, holding the service call's, was moved twice more per request.
    let resp = 'serve: {
        if !route.is_active {
            let err =
                ServiceError::Unavailable(format!("channel `{}` is inactive", route.channel.name));
            break 'serve error_reply(&err, format, cid);
        }
        let caller = match &route.security {
            None => None,
            Some(security) => match security.verify(&parts.headers, conn.peer()).await {
                Ok(caller) => Some(Arc::new(caller)),
                Err(refusal) => {
                    break 'serve security.refusal_reply(refusal, &route.channel.name, format, cid);
                }
            },
        };

        if let Err(wait) =
            shared
                .limits
                .take(&route.channel.name, caller.as_deref(), conn.peer().ip)
        {
            break 'serve super::ratelimit::too_many(wait, &route.channel.name, format, cid);
        }

        // The channel's timeout bounds reading the body too: a client that declares a body and
        // stops sending it would otherwise hold the request, its share of the body budget and a
        // graceful shutdown forever. The budget is held until the request has been answered.
        let mut reservation = Reservation::new(&shared.body_budget);
        // In a block of its own, so that the pinned read gives back the borrows it holds.
        let read = {
            let read = pin!(read_body(route.max_body_size, body, &mut reservation));
            match route.timeout {
                None => read.await,
                Some(limit) => match within(limit, read).await {
                    Some(read) => read,
                    None => {
                        tracing::debug!(%cid, channel = %route.channel.name, "request body not received in time");
                        // The caller's fault: 408. The rest of the body is never read, so the
                        // connection is closed.
                        break 'serve closing(error_reply(
                            &ServiceError::RequestTimeout(limit),
                            format,
                            cid,
                        ));
                    }
                },
            }
        };
        let body = match read {
            Ok(body) => body,
            Err(err) => {
                let over_budget = matches!(err, BodyError::OverBudget);
                let err = err.into_service_error();
                if over_budget {
                    tracing::warn!(%cid, channel = %route.channel.name, budget = shared.body_budget.limit(), "request refused: the body memory budget is spent");
                } else {
                    refused(&err, &parts, cid);
                }
                // The body is left unread: the connection cannot carry another request.
                let mut resp = closing(error_reply(&err, format, cid));
                if over_budget {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                }
                break 'serve resp;
            }
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
        let mut raw = RawRequest::new(cid, Arc::clone(&route.channel), body);
        raw.caller = caller;
        // The one allocation the transport's side of a request costs.
        raw.transport = Some(Arc::new(http));
        raw.trace = otel.context();
        // Pinned where it is, so the timeout below moves a reference, not the whole call.
        let dispatch = pin!(shared.platform.dispatch(&route.service, raw));
        let reply = match route.timeout {
            None => dispatch.await,
            Some(limit) => match within(limit, dispatch).await {
                Some(reply) => reply,
                None => {
                    tracing::warn!(%cid, channel = %route.channel.name, service = %route.service, "service timed out");
                    break 'serve error_reply(&ServiceError::Timeout(limit), format, cid);
                }
            },
        };
        drop(reservation);
        into_http(reply, cid)
    };
    super::trace::finish(&mut otel, resp.status());
    route
        .meter
        .get_or_init(|| {
            shared
                .platform
                .metrics()
                .channel(super::HTTP_KIND, &route.channel.name)
        })
        .record(resp.status().as_u16(), started.elapsed());
    Ok(resp)
}

/// The WSDL of the SOAP channel at the request's path, or `None` when there is none there. The
/// channel's security applies; the `soap:address` is the channel's `public_url`, else the URL
/// the WSDL was fetched from.
async fn wsdl_reply(conn: &Conn, parts: &http::request::Parts, cid: Cid) -> Option<HttpResponse> {
    let shared = &conn.shared;
    let route = {
        let table = shared.routes.load();
        match table.lookup(parts.uri.path(), &Method::POST) {
            Lookup::Found(route, _) if route.data_format() == DataFormat::Soap => Arc::clone(route),
            _ => return None,
        }
    };
    let format = ReplyFormat::Json;
    if let Some(security) = &route.security
        && let Err(refusal) = security.verify(&parts.headers, conn.peer()).await
    {
        return Some(security.refusal_reply(refusal, &route.channel.name, format, cid));
    }
    let Some(info) = shared
        .platform
        .services()
        .list()
        .into_iter()
        .find(|s| *s.name == *route.service)
    else {
        let err = ServiceError::not_found(format!("service `{}`", route.service));
        return Some(error_reply(&err, format, cid));
    };
    let location = match &route.public_url {
        Some(url) => url.to_string(),
        None => {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
                .unwrap_or("localhost");
            format!("http://{host}{}", parts.uri.path())
        }
    };
    let body = zato_core::describe::wsdl_document(&route.channel.name, &info, &location);
    let resp = into_http(
        RawResponse::new(StatusCode::OK, "text/xml; charset=utf-8", body),
        cid,
    );
    Some(resp)
}

/// `fut`'s output, or `None` when it is not ready within `limit`, as `tokio::time::timeout`
/// gives it, the time counted from the first poll that found it pending. Only then are the
/// clock read and the timer made: a body already received, or a service that answers at
/// once, the usual ones, cost neither.
async fn within<F: Future>(limit: Duration, mut fut: Pin<&mut F>) -> Option<F::Output> {
    // Unconstrained, as `timeout` polls its timer when the future spent the task's budget:
    // otherwise a future that keeps the budget spent would never time out.
    let mut timer = pin!(None::<Unconstrained<Sleep>>);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timer.is_none() {
            // Past the clock's range is never, as for `tokio::time::timeout`.
            let Some(deadline) = tokio::time::Instant::now().checked_add(limit) else {
                return Poll::Pending;
            };
            timer.set(Some(unconstrained(tokio::time::sleep_until(deadline))));
        }
        match timer.as_mut().as_pin_mut() {
            Some(sleep) => sleep.poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
}

/// `resp`, telling the client the connection closes after it.
fn closing(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Logs a request the channel refused as the caller's fault. What came from outside (the
/// method, the path, the error that may quote input) is written escaped (`?`), so a CR or LF in
/// it cannot start a forged log line.
fn refused(err: &ServiceError, parts: &http::request::Parts, cid: Cid) {
    tracing::debug!(%cid, method = ?parts.method.as_str(), path = ?parts.uri.path(), status = err.status().as_u16(), error = ?err.to_string(), "request refused");
}

/// A reply with only a status, for tests of the conversion.
#[cfg(test)]
fn status_only(status: StatusCode) -> RawResponse {
    RawResponse::new(status, "application/json", Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn within_answers_what_is_ready_and_times_out_what_is_not() {
        let limit = Duration::from_millis(50);
        assert_eq!(within(limit, pin!(async { 7 })).await, Some(7));
        let late = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            8
        };
        assert_eq!(within(limit, pin!(late)).await, Some(8));
        let never = std::future::pending::<()>();
        assert_eq!(within(limit, pin!(never)).await, None);
        // A limit past the clock's range never times out.
        assert_eq!(within(Duration::MAX, pin!(async { 9 })).await, Some(9));
    }

    #[test]
    fn reply_formats_have_their_content_type_values() {
        for ct in ["application/json", "text/xml; charset=utf-8", "text/plain"] {
            let value = content_type_value(Cow::Borrowed(ct));
            assert_eq!(
                value.as_ref().map(HeaderValue::as_bytes),
                Some(ct.as_bytes())
            );
        }
        let owned = content_type_value(Cow::Owned("application/xml; charset=utf-8".into()));
        assert_eq!(owned.unwrap(), "application/xml; charset=utf-8");
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
