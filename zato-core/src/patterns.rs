//! Invocation patterns on [`Context`]: parallel calls, fan-out/fan-in, and invoke-retry, besides
//! [`invoke_async`](Context::invoke_async).
//!
//! - Parallel calls run within the caller's call, under its cid, and return every result in
//!   order.
//! - Fan-out/fan-in and invoke-retry run in the background, each under a cid of its own whose
//!   spans and logs name the caller's as `parent_cid`; the services they call run under that cid,
//!   so a trace shows the caller, the pattern and its children. They count against the platform's
//!   bound on background invocations, and [`Platform::shutdown`](crate::Platform::shutdown) waits
//!   for them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::Cid;
use crate::context::Context;
use crate::error::ServiceError;

/// One invocation of a pattern: a service and its JSON input.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The service's name.
    pub service: String,
    /// Its input, decoded by its SimpleIO as over a JSON channel.
    pub payload: Value,
}

impl Call {
    /// `service` with `payload`.
    pub fn new(service: impl Into<String>, payload: Value) -> Self {
        Call {
            service: service.into(),
            payload,
        }
    }
}

/// How invoke-retry tries again: up to `attempts` attempts in all, waiting `first_delay` after
/// the first failure, doubling each time up to `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait after the first failure.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waiting 1 s, then 2, 4 and 8 s.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1 first).
    pub fn delay(&self, n: u32) -> Duration {
        self.first_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max_delay)
    }
}

/// Whether retrying may help: the callee or what it reached failed, not the input.
fn retryable(err: &ServiceError) -> bool {
    err.status().is_server_error()
}

/// One result as the completion and callback services get it: `{"service", "ok": true,
/// "response"}` or `{"service", "ok": false, "status", "error"}`.
fn outcome_json(service: &str, result: &Result<Value, ServiceError>) -> Value {
    match result {
        Ok(response) => json!({"service": service, "ok": true, "response": response}),
        Err(e) => json!({
            "service": service,
            "ok": false,
            "status": e.status().as_u16(),
            "error": e.to_string(),
        }),
    }
}

impl Context {
    /// Invokes `calls` concurrently, at most `limit` at a time (at least 1), under this call's
    /// cid, and returns every result or error in the order of `calls`. One failing call does
    /// not stop the others.
    ///
    /// # Examples
    ///
    /// ```
    /// # use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
    /// # use zato_core::patterns::Call;
    /// # struct Echo;
    /// # impl Service for Echo {
    /// #     const NAME: &'static str = "demo.echo";
    /// #     type Input = ();
    /// #     type Output = ();
    /// #     async fn handle(&self, _: Request<()>, _: &Context) -> Result<Response<()>, ServiceError> {
    /// #         Ok(Response::new(()))
    /// #     }
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let platform = Platform::new();
    /// platform.services().deploy(Echo).unwrap();
    /// let calls = vec![
    ///     Call::new("demo.echo", serde_json::json!({})),
    ///     Call::new("demo.missing", serde_json::json!({})),
    /// ];
    /// let results = platform.context().parallel(calls, 4).await;
    /// assert!(results[0].is_ok());
    /// assert_eq!(results[1].as_ref().unwrap_err().status().as_u16(), 404);
    /// # });
    /// ```
    pub async fn parallel(
        &self,
        calls: Vec<Call>,
        limit: usize,
    ) -> Vec<Result<Value, ServiceError>> {
        let mut results: Vec<(usize, Result<Value, ServiceError>)> =
            stream::iter(calls.into_iter().enumerate())
                .map(|(i, call)| async move { (i, self.invoke(&call.service, call.payload).await) })
                .buffer_unordered(limit.max(1))
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// Invokes the service `service` once per input, as [`parallel`](Self::parallel) does.
    pub async fn parallel_inputs(
        &self,
        service: &str,
        inputs: Vec<Value>,
        limit: usize,
    ) -> Vec<Result<Value, ServiceError>> {
        let calls = inputs.into_iter().map(|p| Call::new(service, p)).collect();
        self.parallel(calls, limit).await
    }

    /// Fan-out/fan-in: starts `calls` in the background, at most `limit` at a time, and once
    /// every one has ended invokes `on_complete` exactly once with all the results, in order:
    /// `{"cid", "parent_cid", "results": [{"service", "ok", "response" | "status", "error"}]}`.
    /// Returns at once with the fan-out's cid; the completion is invoked even when the caller
    /// has returned long before.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotFound`] when `on_complete` or a called service is not deployed now;
    /// [`ServiceError::Unavailable`] outside a Tokio runtime, or when the platform runs as many
    /// background invocations as it allows.
    pub fn fan_out(
        &self,
        calls: Vec<Call>,
        limit: usize,
        on_complete: &str,
    ) -> Result<Cid, ServiceError> {
        for name in calls
            .iter()
            .map(|c| c.service.as_str())
            .chain([on_complete])
        {
            if !self.platform().services().contains(name) {
                return Err(ServiceError::not_found(format!("service `{name}`")));
            }
        }
        let on_complete: Arc<str> = Arc::from(on_complete);
        self.background("fan_out", move |ctx| async move {
            let results = ctx.parallel(calls.clone(), limit).await;
            let results: Vec<Value> = calls
                .iter()
                .zip(&results)
                .map(|(call, r)| outcome_json(&call.service, r))
                .collect();
            let payload = json!({
                "cid": ctx.cid().to_string(),
                "parent_cid": ctx.parent().map(|c| c.to_string()),
                "results": results,
            });
            if let Err(e) = ctx.invoke(&on_complete, payload).await {
                tracing::error!(cid = %ctx.cid(), service = %on_complete, error = ?e.to_string(), "fan-in completion failed");
            }
        })
    }

    /// Invoke-retry: invokes `service` in the background, and while it fails with a 5xx (its
    /// own failure or one it met, not its input's), tries again as `policy` says. Then invokes
    /// `callback` once with the final outcome: `{"cid", "parent_cid", "service", "attempts",
    /// "ok", "response" | "status", "error"}`. Returns at once with the retry's cid.
    ///
    /// # Errors
    ///
    /// As [`fan_out`](Self::fan_out), for `service` and `callback`.
    pub fn invoke_retry(
        &self,
        service: &str,
        payload: Value,
        policy: RetryPolicy,
        callback: &str,
    ) -> Result<Cid, ServiceError> {
        for name in [service, callback] {
            if !self.platform().services().contains(name) {
                return Err(ServiceError::not_found(format!("service `{name}`")));
            }
        }
        let service: Arc<str> = Arc::from(service);
        let callback: Arc<str> = Arc::from(callback);
        self.background("invoke_retry", move |ctx| async move {
            let attempts = policy.attempts.max(1);
            let mut attempt = 0;
            let result = loop {
                attempt += 1;
                let result = ctx.invoke(&service, payload.clone()).await;
                match &result {
                    Err(e) if attempt < attempts && retryable(e) => {
                        let delay = policy.delay(attempt);
                        tracing::warn!(cid = %ctx.cid(), service = %service, attempt, error = ?e.to_string(), retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "invocation failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                    _ => break result,
                }
            };
            let mut outcome = outcome_json(&service, &result);
            if let Some(map) = outcome.as_object_mut() {
                map.insert("cid".into(), ctx.cid().to_string().into());
                map.insert(
                    "parent_cid".into(),
                    ctx.parent().map(|c| c.to_string()).into(),
                );
                map.insert("attempts".into(), attempt.into());
            }
            if let Err(e) = ctx.invoke(&callback, outcome).await {
                tracing::error!(cid = %ctx.cid(), service = %callback, error = ?e.to_string(), "invoke-retry callback failed");
            }
        })
    }

    /// Runs `work` in the background under a new cid whose parent is this call's, holding one
    /// of the platform's background permits.
    fn background<F, Fut>(&self, pattern: &'static str, work: F) -> Result<Cid, ServiceError>
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| ServiceError::Unavailable("no async runtime to run in".into()))?;
        let permit = self.platform().background_permit().ok_or_else(|| {
            ServiceError::Unavailable(format!(
                "too many background invocations running (at most {})",
                self.platform().max_background()
            ))
        })?;
        let cid = Cid::new();
        let child = self.child(cid);
        let span = tracing::info_span!("pattern", pattern, %cid, parent_cid = %self.cid());
        let fut = work(child);
        handle.spawn(
            async move {
                let _running = permit;
                fut.await;
            }
            .instrument(span),
        );
        Ok(cid)
    }
}
