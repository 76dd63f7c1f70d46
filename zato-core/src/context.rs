//! What a service gets besides its request: other services, outgoing connections, its cid.

use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use crate::Cid;
use crate::error::ServiceError;
use crate::message::{RawRequest, internal_channel};
use crate::outgoing::OutgoingConnections;
// The workspace's one import cycle is tied here, on purpose: `service` uses `context` (a service
// handles each request with a `&Context`), `registry` uses both (it stores services and calls
// them with a context), `platform` uses `registry` and `context` (it owns the registry and makes
// the contexts), and `context` uses `platform`, because a service invokes other services, and
// reaches the platform, through its context. The four are one concept, the invocation path, in
// four files to keep each short. Untying it would put `Platform` behind a trait object in
// `Context`: a virtual call on every nested invocation, and no `Context::platform` to hand out.
use crate::platform::{Platform, guarded};
use crate::security::Caller;
use crate::service::{Request, Response, Service};

/// A service's view of the platform during one call.
///
/// # Examples
///
/// ```
/// use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
///
/// struct Ping;
/// impl Service for Ping {
///     const NAME: &'static str = "demo.ping";
///     type Input = ();
///     type Output = ();
///     async fn handle(&self, _: Request<()>, _: &Context) -> Result<Response<()>, ServiceError> {
///         Ok(Response::new(()))
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let platform = Platform::new();
/// platform.services().deploy(Ping).unwrap();
/// let ctx = platform.context();
/// let reply = ctx.invoke("demo.ping", serde_json::json!({})).await.unwrap();
/// assert_eq!(reply, serde_json::Value::Null);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    platform: Platform,
    cid: Cid,
    service: Option<&'static str>,
    parent: Option<Cid>,
    caller: Option<Arc<Caller>>,
}

impl Context {
    pub(crate) fn new(platform: Platform, cid: Cid, service: Option<&'static str>) -> Self {
        Context {
            platform,
            cid,
            service,
            parent: None,
            caller: None,
        }
    }

    /// The same context, for a request from `caller`.
    pub(crate) fn with_caller(mut self, caller: Option<Arc<Caller>>) -> Self {
        self.caller = caller;
        self
    }

    /// Who the channel's security definition found the caller to be (the user, a JWT's
    /// subject and claims), when the request came through a channel with one. A service
    /// invoked by another sees the caller of the first.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_deref()
    }

    /// A context for work this call starts in the background, under `cid`.
    pub(crate) fn child(&self, cid: Cid) -> Self {
        Context {
            platform: self.platform.clone(),
            cid,
            service: self.service,
            parent: Some(self.cid),
            caller: self.caller.clone(),
        }
    }

    /// For work started in the background by a pattern (fan-out, invoke-retry), the cid of the
    /// call that started it.
    pub fn parent(&self) -> Option<Cid> {
        self.parent
    }

    /// The correlation id of the request being handled. A service invoked from another runs
    /// under its caller's cid.
    pub fn cid(&self) -> Cid {
        self.cid
    }

    /// The name of the service this context was made for; `None` outside any service.
    pub fn service(&self) -> Option<&'static str> {
        self.service
    }

    /// The platform the service runs in.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The outgoing connections, by type and name. Adapter crates add typed getters through
    /// extension traits (`ctx.outgoing().swift("Invoice Dispatcher")`).
    pub fn outgoing(&self) -> &OutgoingConnections {
        self.platform.outgoing()
    }

    fn internal_request(&self, cid: Cid, payload: &serde_json::Value) -> RawRequest {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let mut raw = RawRequest::new(cid, internal_channel(), Bytes::from(body));
        raw.caller = self.caller.clone();
        raw
    }

    /// Invokes the service named `name` with a JSON payload and returns its JSON output
    /// (`null` for a service without output). The payload is decoded by the target's SimpleIO
    /// exactly as if it had come over a JSON channel. The target runs under this call's cid, in a
    /// span nested in this one's.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotFound`] when no such service is deployed, or whatever the target
    /// returned, input errors included.
    pub async fn invoke(
        &self,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, ServiceError> {
        let raw = self.internal_request(self.cid, &payload);
        let reply = self
            .platform
            .invoke_from(name, raw, self.service)
            .await
            .result?;
        if reply.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            ServiceError::internal_from(format!("service `{name}` replied with invalid json"), e)
        })
    }

    /// Invokes the deployed service of type `S` with typed input and returns its typed output,
    /// with no serialization in between; like [`invoke`](Self::invoke), under this call's cid,
    /// in a nested span, with a panic answered as an error.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotFound`] when `S` is not deployed (or another type is deployed under its
    /// name), [`ServiceError::Unavailable`] when it is inactive, or whatever the service returned.
    pub async fn invoke_typed<S: Service>(
        &self,
        input: S::Input,
    ) -> Result<Response<S::Output>, ServiceError> {
        let deployed = self
            .platform
            .services()
            .get(S::NAME)
            .ok_or_else(|| ServiceError::not_found(format!("service `{}`", S::NAME)))?;
        let service: &S = deployed.typed::<S>().ok_or_else(|| {
            ServiceError::not_found(format!("service `{}` of this type", S::NAME))
        })?;
        if !deployed.active.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ServiceError::Unavailable(format!(
                "service `{}` is inactive",
                S::NAME
            )));
        }
        let mut req = Request::new(input);
        req.cid = self.cid;
        let ctx = Context::new(self.platform.clone(), self.cid, Some(S::NAME))
            .with_caller(self.caller.clone());
        guarded(
            self.cid,
            S::NAME,
            self.service,
            service.handle(req, &ctx),
            Err,
        )
        .await
    }

    /// Invokes the service named `name` in the background and returns at once with the new
    /// call's cid: a detached call outlives this one, so it gets a cid of its own, and its span
    /// and its errors name this call's as `parent_cid`. Otherwise it takes the one invocation
    /// path (the `invoke` span, a panic caught). When tracing is on, its span is a child of
    /// this call's, in the same trace (a child rather than a link, so that the trace shows
    /// all a request started; it may end after its parent). At most
    /// [`DEFAULT_MAX_BACKGROUND`](crate::DEFAULT_MAX_BACKGROUND) (or the platform's
    /// own bound) run at once, and [`Platform::shutdown`] waits for them.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotFound`] when no such service is deployed now;
    /// [`ServiceError::Unavailable`] outside a Tokio runtime, or when the platform already runs
    /// as many background invocations as it allows.
    pub fn invoke_async(
        &self,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<Cid, ServiceError> {
        if !self.platform.services().contains(name) {
            return Err(ServiceError::not_found(format!("service `{name}`")));
        }
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| ServiceError::Unavailable("no async runtime to run in".into()))?;
        let permit = self.platform.background_permit().ok_or_else(|| {
            ServiceError::Unavailable(format!(
                "too many background invocations running (at most {})",
                self.platform.max_background()
            ))
        })?;
        let cid = Cid::new();
        let mut raw = self.internal_request(cid, &payload);
        // The background call continues this call's trace as a child of its span: one trace
        // shows what a request started, even what outlived it.
        raw.trace = crate::telemetry::current().map(|c| c.context);
        let platform = self.platform.clone();
        let name: Arc<str> = Arc::from(name);
        let parent = self.cid;
        let caller = self.service;
        let span = tracing::info_span!("invoke_async", %cid, parent_cid = %parent, service = %name);
        handle.spawn(
            async move {
                let _running = permit;
                if let Err(e) = platform.invoke_from(&name, raw, caller).await.result {
                    tracing::error!(%cid, parent_cid = %parent, service = %name, error = ?e.to_string(), "background invocation failed");
                }
            }
            .instrument(span),
        );
        Ok(cid)
    }
}
