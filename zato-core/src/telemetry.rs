//! Distributed tracing: W3C trace context carried across every hop, and spans started through
//! a [`Tracer`] the node installs.
//!
//! zato-core knows no exporter. It defines the trace context a channel reads from its transport
//! ([`TraceContext::from_headers`]: `traceparent`, `tracestate`, `baggage`) and an outgoing
//! connection writes on its requests ([`TraceContext::headers`]), and the span API every crate
//! calls. The OpenTelemetry SDK plugs in behind [`Tracer`] (the `zato-otel` crate, the `otel`
//! feature of `zato`), set on the platform with [`Platform::set_tracer`](crate::Platform::set_tracer).
//!
//! With no tracer set nothing is built: [`Platform::tracer`](crate::Platform::tracer) reads one
//! flag, and [`child`] one thread-local, and both answer `None`.
//!
//! The span of the service being called is *current* while its future is polled
//! ([`Traced`]), so an outgoing connection finds its parent with [`child`] without being
//! handed anything, as `tracing`'s spans are found.
//!
//! # Examples
//!
//! ```
//! use zato_core::telemetry::TraceContext;
//!
//! let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let ctx = TraceContext::from_headers(|name| (name == "traceparent").then_some(tp)).unwrap();
//! assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(ctx.sampled);
//! assert_eq!(ctx.traceparent(), tp);
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::Cid;

/// The header (or message property, or object metadata key) of the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// The header of the W3C trace state: vendors' entries, passed on as received.
pub const TRACESTATE: &str = "tracestate";
/// The header of W3C baggage: the caller's key-value pairs, passed on as received.
pub const BAGGAGE: &str = "baggage";

/// Longest `tracestate` or `baggage` value passed on; a longer one is dropped (W3C caps
/// tracestate at 32 entries, baggage at 8192 bytes).
const MAX_CARRIED: usize = 8192;

/// A position in a trace, as W3C trace context carries it between processes: the trace, the
/// span that is the parent of whatever comes next, whether the trace is sampled, and the
/// caller's `tracestate` and `baggage`, passed on untouched.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace's id; never all zeros.
    pub trace_id: [u8; 16],
    /// The parent span's id; never all zeros.
    pub span_id: [u8; 8],
    /// The sampled flag: whether the caller records this trace.
    pub sampled: bool,
    /// `tracestate` as received, if any.
    pub trace_state: Option<Arc<str>>,
    /// `baggage` as received, if any.
    pub baggage: Option<Arc<str>>,
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Baggage is the caller's data and may hold anything: only its presence is shown.
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent())
            .field("tracestate", &self.trace_state)
            .field("baggage", &self.baggage.as_ref().map(|_| ".."))
            .finish()
    }
}

impl TraceContext {
    /// Parses a `traceparent` value (version `00`, or a later version read as `00` as the spec
    /// says); `None` for anything malformed, all-zero ids included, so that a bad header starts
    /// a new trace rather than failing the request.
    pub fn parse_traceparent(value: &str) -> Option<Self> {
        let v = value.trim().as_bytes();
        if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        let version = hex_byte(&v[0..2])?;
        // Version ff is invalid; version 00 has exactly 55 characters; later ones may append.
        if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, b) in trace_id.iter_mut().enumerate() {
            *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span_id = [0u8; 8];
        for (i, b) in span_id.iter_mut().enumerate() {
            *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&v[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            trace_state: None,
            baggage: None,
        })
    }

    /// The trace context a transport carried, from its headers (or properties, or metadata)
    /// read by lowercase name through `get`; `None` without a valid `traceparent`.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let mut ctx = Self::parse_traceparent(get(TRACEPARENT)?)?;
        ctx.trace_state = get(TRACESTATE).and_then(carried);
        ctx.baggage = get(BAGGAGE).and_then(carried);
        Some(ctx)
    }

    /// The `traceparent` value: `00-{trace id}-{span id}-{flags}`.
    pub fn traceparent(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.span_id);
        s.push_str(if self.sampled { "-01" } else { "-00" });
        s
    }

    /// The trace id in hex, as logs and tracing back ends show it.
    pub fn trace_id_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, &self.trace_id);
        s
    }

    /// The span id in hex.
    pub fn span_id_hex(&self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, &self.span_id);
        s
    }

    /// What to write on an outgoing request, message or object: `traceparent`, and
    /// `tracestate` and `baggage` when the trace has them.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::with_capacity(3);
        h.push((TRACEPARENT, self.traceparent()));
        if let Some(s) = &self.trace_state {
            h.push((TRACESTATE, s.to_string()));
        }
        if let Some(b) = &self.baggage {
            h.push((BAGGAGE, b.to_string()));
        }
        h
    }
}

/// Whether `name` is one of the trace context's headers (any case): what a writer replaces.
pub fn is_trace_header(name: &str) -> bool {
    [TRACEPARENT, TRACESTATE, BAGGAGE]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

fn carried(v: &str) -> Option<Arc<str>> {
    let v = v.trim();
    (!v.is_empty() && v.len() <= MAX_CARRIED && v.is_ascii()).then(|| Arc::from(v))
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            // Lowercase only, as the spec requires.
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    Some(nibble(two[0])? << 4 | nibble(two[1])?)
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// What a span stands for, as OpenTelemetry's span kinds say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanKind {
    /// A request received (an HTTP channel's request).
    Server,
    /// A request made (a Swift or REST call).
    Client,
    /// A message sent (an AMQP publication).
    Producer,
    /// A message received (an AMQP delivery, a Swift inbox object, a scheduled job's run).
    Consumer,
    /// Work inside the process (the service, SimpleIO's decode).
    Internal,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Text.
    Str(Cow<'static, str>),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// Where a new span hangs in its trace.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Parent<'a> {
    /// A new trace (a scheduled job's run, a request that carried no context).
    Root,
    /// A child of this span, local or from another process.
    Of(&'a TraceContext),
}

/// A span about to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SpanStart<'a> {
    /// Its name, as OpenTelemetry's conventions say for its kind (`POST /invoice`, `PUT`,
    /// `publish orders`).
    pub name: Cow<'static, str>,
    /// Its kind.
    pub kind: SpanKind,
    /// Its parent.
    pub parent: Parent<'a>,
    /// Its attributes at start, which samplers see.
    pub attributes: Vec<(&'static str, Value)>,
}

impl<'a> SpanStart<'a> {
    /// A span named `name` of `kind` under `parent`, with the cid as its `zato.cid` attribute.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: Parent<'a>,
        cid: Cid,
    ) -> Self {
        SpanStart {
            name: name.into(),
            kind,
            parent,
            attributes: vec![(CID, Value::Str(Cow::Owned(cid.to_string())))],
        }
    }

    /// The same with one more attribute.
    pub fn attr(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }
}

/// The attribute holding the cid, on every span.
pub const CID: &str = "zato.cid";

/// What starts spans and sends them somewhere: the OpenTelemetry SDK, in `zato-otel`.
pub trait Tracer: Send + Sync + fmt::Debug + 'static {
    /// Starts a span.
    fn start(&self, start: SpanStart<'_>) -> Box<dyn SpanRecord>;
}

/// A span being recorded, as a [`Tracer`] gives it.
pub trait SpanRecord: Send + Sync {
    /// Sets an attribute.
    fn set(&mut self, key: &'static str, value: Value);
    /// Marks the span as failed, with a description.
    fn error(&mut self, description: &str);
    /// Its place in the trace, for its children and for the next process.
    fn context(&self) -> TraceContext;
    /// Ends it (once; later calls do nothing).
    fn end(&mut self);
}

/// A span, or nothing when tracing is off: every method of a `Span::none()` does nothing. Ends
/// when dropped. One pointer wide, so that a call's future grows by one word when tracing is off.
pub struct Span {
    inner: Option<Box<SpanInner>>,
}

struct SpanInner {
    record: Box<dyn SpanRecord>,
    tracer: Arc<dyn Tracer>,
    cid: Cid,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_tuple("Span")
                .field(&inner.record.context())
                .finish(),
            None => f.write_str("Span(none)"),
        }
    }
}

impl Span {
    /// No span.
    pub const fn none() -> Self {
        Span { inner: None }
    }

    /// Starts a span with `tracer`; `cid` is the request's, handed on to the span's children.
    pub fn start(tracer: &Arc<dyn Tracer>, start: SpanStart<'_>, cid: Cid) -> Self {
        Span {
            inner: Some(Box::new(SpanInner {
                record: tracer.start(start),
                tracer: Arc::clone(tracer),
                cid,
            })),
        }
    }

    /// Whether this is a span rather than nothing.
    pub fn is_some(&self) -> bool {
        self.inner.is_some()
    }

    /// Sets an attribute.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        if let Some(inner) = &mut self.inner {
            inner.record.set(key, value.into());
        }
    }

    /// Marks the span as failed.
    pub fn error(&mut self, description: &str) {
        if let Some(inner) = &mut self.inner {
            inner.record.error(description);
        }
    }

    /// Its place in the trace: what to write on an outgoing request.
    pub fn context(&self) -> Option<TraceContext> {
        self.inner.as_ref().map(|inner| inner.record.context())
    }

    /// The span as the current one of the code it runs, for [`Traced`].
    pub fn current(&self) -> Option<Current> {
        self.inner.as_ref().map(|inner| Current {
            tracer: Arc::clone(&inner.tracer),
            context: inner.record.context(),
            cid: inner.cid,
        })
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.record.end();
        }
    }
}

/// The span of the code running now: its tracer, its place in the trace and the request's cid.
#[derive(Debug, Clone)]
pub struct Current {
    /// The tracer that started it.
    pub tracer: Arc<dyn Tracer>,
    /// Its place in the trace.
    pub context: TraceContext,
    /// The request's cid.
    pub cid: Cid,
}

impl Current {
    /// Starts a child of this span.
    pub fn child(&self, name: impl Into<Cow<'static, str>>, kind: SpanKind) -> SpanStarter<'_> {
        SpanStarter {
            current: self,
            start: SpanStart::new(name, kind, Parent::Of(&self.context), self.cid),
        }
    }
}

/// A child span being described, from [`Current::child`]; [`start`](Self::start) starts it.
#[derive(Debug)]
pub struct SpanStarter<'a> {
    current: &'a Current,
    start: SpanStart<'a>,
}

impl SpanStarter<'_> {
    /// One more attribute.
    pub fn attr(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.start = self.start.attr(key, value);
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span {
        Span::start(&self.current.tracer, self.start, self.current.cid)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Current>>> = const { RefCell::new(None) };
}

/// The current span, if tracing is on and code runs inside a traced call: one thread-local
/// read otherwise.
pub fn current() -> Option<Current> {
    CURRENT.with(|c| c.borrow().as_deref().cloned())
}

/// A child of the current span: `None` (and nothing built) when there is none.
pub fn child(name: &'static str, kind: SpanKind) -> Option<Span> {
    CURRENT.with(|c| c.borrow().as_ref().map(|cur| cur.child(name, kind).start()))
}

/// A future with a current span: while it is polled, [`current`] answers that span.
#[derive(Debug)]
pub struct Traced<F> {
    inner: F,
    // One word: a call's future grows by no more when tracing is off.
    current: Option<Arc<Current>>,
}

impl<F> Traced<F> {
    /// `inner`, polled with `current` as the current span (with `None`, as it is).
    pub fn new(inner: F, current: Option<Current>) -> Self {
        Traced {
            inner,
            current: current.map(Arc::new),
        }
    }
}

impl<F: Future + Unpin> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        match &this.current {
            None => Pin::new(&mut this.inner).poll(cx),
            Some(cur) => {
                let prev = CURRENT.with(|c| c.replace(Some(Arc::clone(cur))));
                // Put back even if the poll panics, so another task polled next on this thread
                // never sees this one's span.
                struct Restore(Option<Arc<Current>>);
                impl Drop for Restore {
                    fn drop(&mut self) {
                        let prev = self.0.take();
                        CURRENT.with(|c| *c.borrow_mut() = prev);
                    }
                }
                let _restore = Restore(prev);
                Pin::new(&mut this.inner).poll(cx)
            }
        }
    }
}

/// Semantic-convention attribute names used across the crates.
pub mod attr {
    /// `http.request.method`.
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// `http.response.status_code`.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// `http.route`.
    pub const HTTP_ROUTE: &str = "http.route";
    /// `http.request.resend_count`: the retry number of an outgoing request (absent on the
    /// first attempt).
    pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
    /// `url.path`.
    pub const URL_PATH: &str = "url.path";
    /// `url.full`.
    pub const URL_FULL: &str = "url.full";
    /// `url.scheme`.
    pub const URL_SCHEME: &str = "url.scheme";
    /// `server.address`.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port`.
    pub const SERVER_PORT: &str = "server.port";
    /// `error.type`.
    pub const ERROR_TYPE: &str = "error.type";
    /// `messaging.system`.
    pub const MESSAGING_SYSTEM: &str = "messaging.system";
    /// `messaging.operation.type`.
    pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
    /// `messaging.destination.name`.
    pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
    /// `code.function.name`: the service's name on its span.
    pub const CODE_FUNCTION_NAME: &str = "code.function.name";
    /// `zato.service`.
    pub const ZATO_SERVICE: &str = "zato.service";
    /// `zato.channel`: the channel's name.
    pub const ZATO_CHANNEL: &str = "zato.channel";
    /// `zato.connection`: the outgoing connection's name.
    pub const ZATO_CONNECTION: &str = "zato.connection";
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let ctx = TraceContext::parse_traceparent(TP).unwrap();
        assert_eq!(ctx.traceparent(), TP);
        assert_eq!(ctx.span_id_hex(), "00f067aa0ba902b7");
        let unsampled = TP.replace("-01", "-00");
        assert!(!TraceContext::parse_traceparent(&unsampled).unwrap().sampled);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse_traceparent(bad).is_none(), "{bad}");
        }
        // A later version may append fields, read as version 00.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what";
        assert!(TraceContext::parse_traceparent(later).is_some());
    }

    #[test]
    fn state_and_baggage_are_passed_on() {
        let ctx = TraceContext::from_headers(|n| match n {
            TRACEPARENT => Some(TP),
            TRACESTATE => Some("congo=t61rcWkgMzE"),
            BAGGAGE => Some("userId=alice"),
            _ => None,
        })
        .unwrap();
        let h = ctx.headers();
        assert_eq!(h[1], (TRACESTATE, "congo=t61rcWkgMzE".to_owned()));
        assert_eq!(h[2], (BAGGAGE, "userId=alice".to_owned()));
        assert!(!format!("{ctx:?}").contains("alice"));
    }

    #[test]
    fn no_current_span_outside_a_traced_call() {
        assert!(current().is_none());
        assert!(child("x", SpanKind::Internal).is_none());
    }
}
