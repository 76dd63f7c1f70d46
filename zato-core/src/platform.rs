//! The platform: services, channel adapters, outgoing connections, and the one invocation path
//! every caller goes through.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::Cid;
use crate::channel::{ChannelError, Channels};
use crate::claims::ClaimStore;
use crate::context::Context;
use crate::error::ServiceError;
use crate::message::{RawRequest, RawResponse};
use crate::metrics::Metrics;
use crate::outgoing::OutgoingConnections;
use crate::registry::{Invocation, ServiceRegistry};
use crate::render::render_error;
use crate::telemetry::{self, Parent, Span, SpanKind, SpanStart, Traced, Tracer};
use std::sync::atomic::{AtomicBool, Ordering};

/// How many [`invoke_async`](crate::Context::invoke_async) calls may run at once by default.
pub const DEFAULT_MAX_BACKGROUND: usize = 10_000;

/// How long [`Platform::shutdown`] waits by default for the channels to drain and the background
/// invocations to finish. Each channel adapter has a drain deadline of its own (the HTTP
/// channel's is 30 s); this is the bound over all of them.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Inner {
    services: ServiceRegistry,
    outgoing: OutgoingConnections,
    security: crate::security::SecurityDefinitions,
    channels: Channels,
    metrics: Metrics,
    /// One permit per background invocation running; all of them free means none runs.
    background: Arc<tokio::sync::Semaphore>,
    max_background: usize,
    /// Where channels claim shared work, when the node has such a store (a cluster's).
    claims: arc_swap::ArcSwapOption<Arc<dyn ClaimStore>>,
    /// The tracer spans are started with, when tracing is on.
    tracer: arc_swap::ArcSwapOption<Arc<dyn Tracer>>,
    /// Whether `tracer` is set: the one read a request makes when tracing is off.
    tracing_on: AtomicBool,
}

impl Default for Inner {
    fn default() -> Self {
        Inner::with_max_background(DEFAULT_MAX_BACKGROUND)
    }
}

impl Inner {
    fn with_max_background(max: usize) -> Self {
        // A semaphore holds at most `Semaphore::MAX_PERMITS`; zero would refuse every call.
        let max = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Inner {
            services: ServiceRegistry::default(),
            outgoing: OutgoingConnections::default(),
            security: crate::security::SecurityDefinitions::default(),
            channels: Channels::default(),
            metrics: Metrics::default(),
            background: Arc::new(tokio::sync::Semaphore::new(max)),
            max_background: max,
            claims: arc_swap::ArcSwapOption::empty(),
            tracer: arc_swap::ArcSwapOption::empty(),
            tracing_on: AtomicBool::new(false),
        }
    }
}

/// One embedded platform: its deployed services, its channel adapters and its outgoing
/// connections. Cheap to clone; every clone is the same platform.
///
/// # Examples
///
/// ```
/// use zato_core::Platform;
///
/// let platform = Platform::new();
/// assert!(platform.services().list().is_empty());
/// assert!(platform.channels().list().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Platform {
    inner: Arc<Inner>,
}

impl Platform {
    /// An empty platform.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty platform running at most `max` background invocations at once (at least one;
    /// [`DEFAULT_MAX_BACKGROUND`] for [`new`](Self::new)): beyond it
    /// [`invoke_async`](crate::Context::invoke_async) refuses with a 503.
    pub fn with_max_background(max: usize) -> Self {
        Platform {
            inner: Arc::new(Inner::with_max_background(max)),
        }
    }

    /// The deployed services.
    pub fn services(&self) -> &ServiceRegistry {
        &self.inner.services
    }

    /// The outgoing connections.
    pub fn outgoing(&self) -> &OutgoingConnections {
        &self.inner.outgoing
    }

    /// The security definitions applied, as the `security` section's kinds publish them: what
    /// channels check callers against and outgoing connections present.
    pub fn security(&self) -> &crate::security::SecurityDefinitions {
        &self.inner.security
    }

    /// Its metrics: requests per channel, invocations per service, and what adapter crates
    /// collect.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Sets where channels claim shared work (a Swift inbox claims each object there): a node of
    /// a cluster sets the cluster's store, so that its nodes never handle one object at once.
    pub fn set_claims(&self, claims: Arc<dyn ClaimStore>) {
        self.inner.claims.store(Some(Arc::new(claims)));
    }

    /// Where channels claim shared work, when [`set_claims`](Self::set_claims) said.
    pub fn claims(&self) -> Option<Arc<dyn ClaimStore>> {
        self.inner.claims.load().as_deref().cloned()
    }

    /// Turns tracing on with `tracer`, or off with `None`, at once for the requests that start
    /// from now on (those under way finish with the tracer they started with).
    pub fn set_tracer(&self, tracer: Option<Arc<dyn Tracer>>) {
        let on = tracer.is_some();
        self.inner.tracer.store(tracer.map(Arc::new));
        self.inner.tracing_on.store(on, Ordering::Release);
    }

    /// The tracer, when tracing is on: what a channel starts its request's span with. With
    /// tracing off, one atomic read.
    pub fn tracer(&self) -> Option<Arc<dyn Tracer>> {
        if !self.inner.tracing_on.load(Ordering::Acquire) {
            return None;
        }
        self.inner.tracer.load().as_deref().cloned()
    }

    /// The channel adapters, and through them every channel of every kind.
    pub fn channels(&self) -> &Channels {
        &self.inner.channels
    }

    /// Starts every channel adapter that is not serving yet.
    ///
    /// # Errors
    ///
    /// The first adapter that failed to start; those started before it keep serving, and
    /// [`shutdown`](Self::shutdown) stops them.
    pub async fn start(&self) -> Result<(), ChannelError> {
        for adapter in self.channels().adapters() {
            match adapter.start().await {
                // Started by someone else meanwhile: what was asked for holds.
                Ok(()) | Err(ChannelError::AlreadyServing(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Stops every channel adapter at once, each finishing its requests in flight, waits for the
    /// background invocations to finish, and takes the adapters off the platform (an adapter
    /// holds the platform, so this also ends that cycle). Waits at most
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`]; see [`shutdown_within`](Self::shutdown_within).
    pub async fn shutdown(&self) {
        self.shutdown_within(DEFAULT_SHUTDOWN_TIMEOUT).await;
    }

    /// [`shutdown`](Self::shutdown), waiting at most `limit`. Returns whether everything finished
    /// in time; what did not is logged, and is dropped with the runtime.
    pub async fn shutdown_within(&self, limit: Duration) -> bool {
        let adapters = self.channels().adapters();
        let drain = async {
            futures_util::future::join_all(adapters.iter().map(|a| a.stop())).await;
            // Every permit back means no background invocation runs; the permits are returned
            // at once, so later calls are not refused.
            let all = u32::try_from(self.inner.max_background).unwrap_or(u32::MAX);
            if let Ok(permits) = self.inner.background.acquire_many(all).await {
                drop(permits);
            }
        };
        let finished = tokio::time::timeout(limit, drain).await.is_ok();
        if !finished {
            let running = self.inner.max_background - self.inner.background.available_permits();
            tracing::warn!(
                limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                background_running = running,
                "platform shutdown timed out: channels or background invocations still running"
            );
        }
        for a in &adapters {
            self.channels().remove_exact(a);
        }
        finished
    }

    /// Waits until no background invocation ([`Context::invoke_async`]) runs, at most `limit`.
    /// Returns whether none runs: what a test awaits before it checks what they did.
    pub async fn wait_background(&self, limit: Duration) -> bool {
        let all = u32::try_from(self.inner.max_background).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout(limit, self.inner.background.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }

    /// A permit to run one background invocation, or `None` when the bound is reached.
    pub(crate) fn background_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.inner.background).try_acquire_owned().ok()
    }

    /// The bound on background invocations.
    pub(crate) fn max_background(&self) -> usize {
        self.inner.max_background
    }

    /// A context outside any request, with a fresh cid: for invoking services from `main` or a
    /// test.
    pub fn context(&self) -> Context {
        Context::new(self.clone(), Cid::new(), None)
    }

    /// Invokes the service named `service` with a request as a channel received it, under the
    /// request's cid.
    pub async fn invoke_raw(&self, service: &str, raw: RawRequest) -> Invocation {
        self.invoke_from(service, raw, None).await
    }

    /// The one invocation path: a span named `invoke` with the cid, the service and its caller,
    /// and a panic caught and answered as a 500 with the cid.
    ///
    /// The service is looked up and its call made before the first poll, so the request is
    /// moved once, into the service's boxed future, rather than through one future per layer.
    pub(crate) fn invoke_from(
        &self,
        service: &str,
        mut raw: RawRequest,
        caller: Option<&'static str>,
    ) -> Invoking {
        let Some(deployed) = self.inner.services.get(service) else {
            return Invoking::done(
                "",
                Invocation {
                    reply: raw.reply_format(),
                    result: Err(ServiceError::not_found(format!("service `{service}`"))),
                },
            );
        };
        let name = deployed.info.name;
        if !deployed.active.load(std::sync::atomic::Ordering::Relaxed) {
            return Invoking::done(
                name,
                Invocation {
                    reply: raw.reply_format(),
                    result: Err(ServiceError::Unavailable(format!(
                        "service `{service}` is inactive"
                    ))),
                },
            );
        }
        let cid = raw.cid;
        let reply = raw.reply_format();
        // Made now, so that finishing the call only counts it.
        deployed
            .meter
            .get_or_init(|| self.inner.metrics.service(name));
        let ctx = Context::new(self.clone(), cid, Some(name)).with_caller(raw.caller.clone());
        let otel = match self.tracer() {
            None => Span::none(),
            Some(tracer) => service_span(&tracer, raw.trace.take(), cid, name, caller),
        };
        let call = Traced::new(deployed.erased.clone().call(raw, ctx), otel.current());
        let span = tracing::debug_span!(
            "invoke",
            %cid,
            service = name,
            caller,
            trace_id = tracing::field::Empty
        );
        if let Some(ctx) = otel.context() {
            span.record("trace_id", ctx.trace_id_hex().as_str());
        }
        Invoking {
            service: name,
            state: InvokingState::Running {
                call: AssertUnwindSafe(call).catch_unwind().instrument(span),
                deployed,
                cid,
                reply,
                span: otel,
            },
        }
    }

    /// Like [`invoke_raw`](Self::invoke_raw), with an error rendered as the reply. Errors of the
    /// platform's or a remote system's making (5xx) are logged with the cid; a caller's are not.
    ///
    /// The service is looked up and its call made at once; the future returned borrows nothing.
    pub fn dispatch(
        &self,
        service: &str,
        raw: RawRequest,
    ) -> impl Future<Output = RawResponse> + Send + use<> {
        let cid = raw.cid;
        let invoking = self.invoke_from(service, raw, None);
        let service = invoking.service;
        let trace_id = invoking.trace_id();
        invoking.map(move |inv| match inv.result {
            Ok(reply) => reply,
            Err(err) => {
                if err.status().is_server_error() {
                    // `?`: the message may quote the caller's input, CR and LF included.
                    tracing::error!(%cid, service, trace_id, error = ?err.to_string(), "service failed");
                }
                render_error(&err, inv.reply, cid)
            }
        })
    }
}

/// A service call under way, from [`Platform::invoke_from`]: the call inside its span, with a
/// panic caught; its result counted in the service's metrics when it ends.
#[derive(Debug)]
pub(crate) struct Invoking {
    /// The service's name; empty when no such service is deployed.
    service: &'static str,
    state: InvokingState,
}

type GuardedCall = tracing::instrument::Instrumented<
    futures_util::future::CatchUnwind<
        AssertUnwindSafe<Traced<crate::registry::BoxFuture<Invocation>>>,
    >,
>;

/// The span of one service call: a child of the channel's span or of the calling service's,
/// or a new trace.
fn service_span(
    tracer: &Arc<dyn Tracer>,
    trace: Option<telemetry::TraceContext>,
    cid: Cid,
    name: &'static str,
    caller: Option<&'static str>,
) -> Span {
    let current = telemetry::current();
    let parent_ctx = trace.or_else(|| current.map(|c| c.context));
    let parent = parent_ctx.as_ref().map_or(Parent::Root, Parent::Of);
    let mut start = SpanStart::new(name, SpanKind::Internal, parent, cid)
        .attr(telemetry::attr::ZATO_SERVICE, name)
        .attr(telemetry::attr::CODE_FUNCTION_NAME, name);
    if let Some(caller) = caller {
        start = start.attr("zato.caller", caller);
    }
    Span::start(tracer, start, cid)
}

enum InvokingState {
    /// Answered without calling the service (not deployed, inactive); taken when polled.
    /// Boxed, so that this rare case does not make every call's future a reply larger.
    Done(Option<Box<Invocation>>),
    Running {
        call: GuardedCall,
        deployed: Arc<crate::registry::Deployed>,
        cid: Cid,
        reply: crate::sio::ReplyFormat,
        /// The call's span (none when tracing is off), ended with the call.
        span: Span,
    },
    /// Polled to its end.
    Finished,
}

impl std::fmt::Debug for InvokingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokingState::Done(inv) => f.debug_tuple("Done").field(inv).finish(),
            InvokingState::Running { cid, .. } => f
                .debug_struct("Running")
                .field("cid", cid)
                .finish_non_exhaustive(),
            InvokingState::Finished => f.write_str("Finished"),
        }
    }
}

impl Invoking {
    fn done(service: &'static str, inv: Invocation) -> Self {
        Invoking {
            service,
            state: InvokingState::Done(Some(Box::new(inv))),
        }
    }

    /// The trace's id in hex, when the call is traced: logged with the cid.
    fn trace_id(&self) -> Option<String> {
        match &self.state {
            InvokingState::Running { span, .. } => span.context().map(|c| c.trace_id_hex()),
            _ => None,
        }
    }
}

impl Future for Invoking {
    type Output = Invocation;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Invocation> {
        // Every part is `Unpin`: the service's future is boxed.
        let this = self.get_mut();
        // Nothing is moved out of the state but the result: the state is as large as a reply.
        let inv = match &mut this.state {
            InvokingState::Running {
                call,
                deployed,
                cid,
                reply,
                span,
            } => {
                let Poll::Ready(result) = Pin::new(call).poll(cx) else {
                    return Poll::Pending;
                };
                let inv = result.unwrap_or_else(|panic| {
                    let what = panic_message(panic.as_ref());
                    tracing::error!(%cid, service = this.service, panic = ?what, "service panicked");
                    Invocation {
                        reply: *reply,
                        result: Err(ServiceError::internal("the service failed unexpectedly")),
                    }
                });
                if let Some(meter) = deployed.meter.get() {
                    meter.record(inv.result.is_err());
                }
                if let Err(e) = &inv.result {
                    span.set(telemetry::attr::ERROR_TYPE, error_type(e));
                    span.error(&e.to_string());
                }
                inv
            }
            InvokingState::Done(inv) => match inv.take() {
                Some(inv) => *inv,
                None => return Poll::Pending,
            },
            // The `Future` contract leaves this open; waiting forever is the quiet choice.
            InvokingState::Finished => return Poll::Pending,
        };
        this.state = InvokingState::Finished;
        Poll::Ready(inv)
    }
}

/// The `error.type` of a failed call: what kind of error, in a few words.
fn error_type(e: &ServiceError) -> String {
    e.status().as_u16().to_string()
}

/// What a panic said, when it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned())
}

/// Runs one service call inside its `invoke` span, turning a panic into a 500 for the caller and
/// an error in the log: a panicking service must not take the connection (and its keep-alive
/// neighbours) down with it. The span is a child of the caller's, so a call made by a service
/// nests under that service's call.
pub(crate) async fn guarded<T>(
    cid: Cid,
    service: &'static str,
    caller: Option<&'static str>,
    call: impl Future<Output = T>,
    on_panic: impl FnOnce(ServiceError) -> T,
) -> T {
    let span = tracing::debug_span!("invoke", %cid, service, caller);
    let otel = match telemetry::current() {
        Some(cur) => service_span(&cur.tracer, None, cid, service, caller),
        None => Span::none(),
    };
    let call = match otel.current() {
        Some(cur) => futures_util::future::Either::Left(Traced::new(Box::pin(call), Some(cur))),
        None => futures_util::future::Either::Right(call),
    };
    match AssertUnwindSafe(call).catch_unwind().instrument(span).await {
        Ok(out) => out,
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            tracing::error!(%cid, service, panic = ?what, "service panicked");
            on_panic(ServiceError::internal("the service failed unexpectedly"))
        }
    }
}
