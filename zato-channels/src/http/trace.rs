//! The HTTP server span of a request, continuing the trace its caller sent (`traceparent`,
//! `tracestate`, `baggage`), with OpenTelemetry's HTTP server conventions.

use http::StatusCode;
use zato_core::telemetry::{Parent, Span, SpanKind, SpanStart, TraceContext, attr};
use zato_core::{Cid, Platform};

/// The request's span, or none when tracing is off (one atomic read).
pub(super) fn server_span(
    platform: &Platform,
    parts: &http::request::Parts,
    channel: &str,
    cid: Cid,
) -> Span {
    let Some(tracer) = platform.tracer() else {
        return Span::none();
    };
    let remote = TraceContext::from_headers(|name| parts.headers.get(name)?.to_str().ok());
    let parent = remote.as_ref().map_or(Parent::Root, Parent::Of);
    let method = parts.method.as_str().to_owned();
    let mut start = SpanStart::new(method.clone(), SpanKind::Server, parent, cid)
        .attr(attr::HTTP_REQUEST_METHOD, method)
        .attr(attr::URL_PATH, parts.uri.path().to_owned())
        .attr(attr::URL_SCHEME, "http")
        .attr(attr::ZATO_CHANNEL, channel.to_owned());
    if let Some(ua) = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        start = start.attr("user_agent.original", ua.to_owned());
    }
    Span::start(&tracer, start, cid)
}

/// Records the status answered; a 5xx marks the span as failed (a 4xx is the caller's, as the
/// conventions say for server spans).
pub(super) fn finish(span: &mut Span, status: StatusCode) {
    if !span.is_some() {
        return;
    }
    span.set(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.set(attr::ERROR_TYPE, status.as_u16().to_string());
        span.error(status.canonical_reason().unwrap_or("server error"));
    }
}
