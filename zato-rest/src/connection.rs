//! [`HttpConnection`]: one outgoing REST connection, its client behind an `ArcSwap`, a bounded
//! pool of call slots, retries, a circuit breaker, an optional rate limit and its metrics.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use zato_core::telemetry::{Current, Span, SpanKind, TraceContext, attr};

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zato_core::metrics::{
    Buckets, Counter, CounterFamily, Gauge, GaugeFamily, Histogram, HistogramFamily, Labels,
    Metrics,
};
use zato_core::security::{SecurityDefinition, SecurityDefinitions};
use zato_core::{ConfigError, Secret};

use crate::breaker::{Breaker, BreakerState};
use crate::config::RestConfig;
use crate::error::{RestError, RestErrorKind, retryable_status};
use crate::response::RestResponse;
use crate::security::{Auth, read_identity, without_url};

/// The metric families of a platform's REST and SOAP connections, registered once.
#[derive(Debug, Clone)]
pub struct RestMetrics {
    requests: CounterFamily,
    latency: HistogramFamily,
    retries: CounterFamily,
    breaker: GaugeFamily,
    pool_waits: CounterFamily,
    pool_timeouts: CounterFamily,
    token_refreshes: CounterFamily,
    in_flight: GaugeFamily,
}

impl RestMetrics {
    /// Registers the families in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        RestMetrics {
            requests: metrics.counters(
                "outgoing_http_requests",
                "Calls of outgoing REST and SOAP connections by status class (error: no answer)",
            ),
            latency: metrics.histograms(
                "outgoing_http_latency_seconds",
                "Time of the calls of outgoing REST and SOAP connections, retries included",
                Buckets::exponential(0.001, 2.0, 16),
            ),
            retries: metrics.counters("outgoing_http_retries", "Attempts made again"),
            breaker: metrics.gauges(
                "outgoing_http_breaker_state",
                "The circuit breaker: 0 closed, 1 open, 2 half-open",
            ),
            pool_waits: metrics.counters(
                "outgoing_http_pool_waits",
                "Calls that found no free slot and waited",
            ),
            pool_timeouts: metrics.counters(
                "outgoing_http_pool_timeouts",
                "Calls that waited for a slot in vain (503)",
            ),
            token_refreshes: metrics.counters(
                "outgoing_http_token_refreshes",
                "OAuth 2 tokens fetched for the connection",
            ),
            in_flight: metrics.gauges("outgoing_http_in_flight", "Calls in flight now"),
        }
    }
}

/// One connection's handles on the families.
#[derive(Debug)]
struct Meters {
    classes: [Counter; 6],
    latency: Histogram,
    retries: Counter,
    breaker: Gauge,
    pool_waits: Counter,
    pool_timeouts: Counter,
    token_refreshes: Counter,
    in_flight: Gauge,
}

impl Meters {
    fn new(m: &RestMetrics, kind: &'static str, name: &str) -> Self {
        let labels: Labels = vec![
            ("kind", Cow::Borrowed(kind)),
            ("connection", Cow::Owned(name.to_owned())),
        ];
        let class = |c: &'static str| {
            let mut l = labels.clone();
            l.push(("class", Cow::Borrowed(c)));
            m.requests.get_or_create(&l)
        };
        Meters {
            classes: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
                class("error"),
            ],
            latency: m.latency.get_or_create(&labels),
            retries: m.retries.get_or_create(&labels),
            breaker: m.breaker.get_or_create(&labels),
            pool_waits: m.pool_waits.get_or_create(&labels),
            pool_timeouts: m.pool_timeouts.get_or_create(&labels),
            token_refreshes: m.token_refreshes.get_or_create(&labels),
            in_flight: m.in_flight.get_or_create(&labels),
        }
    }
}

/// What a connection counted since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestStats {
    /// Calls answered, by status class: 1xx to 5xx.
    pub answered: [u64; 5],
    /// Calls that got no answer.
    pub failed: u64,
    /// Attempts made again.
    pub retries: u64,
    /// Calls that waited for a slot.
    pub pool_waits: u64,
    /// Calls that waited for a slot in vain.
    pub pool_timeouts: u64,
    /// OAuth 2 tokens fetched for its calls.
    pub token_refreshes: u64,
    /// The breaker's state.
    pub breaker: BreakerState,
    /// How many times it was configured (1 for a new one).
    pub generation: u64,
}

/// A client built with a mutual-TLS definition's identity.
struct TlsClient {
    def: Arc<SecurityDefinition>,
    client: reqwest::Client,
}

/// One generation: built from one configuration.
struct Generation {
    config: Arc<RestConfig>,
    base: String,
    headers: HeaderMap,
    client: reqwest::Client,
    tls: ArcSwapOption<TlsClient>,
    slots: Arc<Semaphore>,
    rate: Option<Mutex<Bucket>>,
    number: u64,
}

/// A token bucket: `tokens` may go below zero, each call reserving its place in the line.
struct Bucket {
    tokens: f64,
    at: Instant,
}

fn build_client(config: &RestConfig, identity: Option<&[u8]>) -> Result<reqwest::Client, String> {
    let pool = usize::try_from(config.pool_size).unwrap_or(usize::MAX);
    let mut b = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout())
        .timeout(config.timeout())
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.tls_ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("tls_ca_file: cannot read `{path}`: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| format!("tls_ca_file: `{path}` holds no PEM certificate"))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if !config.tls_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    let own;
    let identity = match (&config.tls_cert_file, identity) {
        (_, Some(pem)) => Some(pem),
        (Some(path), None) => {
            own = read_identity(path).map_err(|m| format!("tls_cert_file: {m}"))?;
            Some(own.as_slice())
        }
        (None, None) => None,
    };
    if let Some(pem) = identity {
        let id = reqwest::Identity::from_pem(pem).map_err(|_| {
            "the client certificate holds no PEM certificate with its key".to_owned()
        })?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn build(config: RestConfig, number: u64) -> Result<Generation, ConfigError> {
    ConfigError::check(config.problems())?;
    let mut headers = HeaderMap::new();
    for (k, v) in &config.headers {
        // Checked by `problems`.
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    let client = build_client(&config, None).map_err(|m| ConfigError::one("", m))?;
    let rate = config.rate_limit.map(|r| {
        Mutex::new(Bucket {
            tokens: r.max(1.0),
            at: Instant::now(),
        })
    });
    let slots = Arc::new(Semaphore::new(
        usize::try_from(config.pool_size).unwrap_or(1),
    ));
    Ok(Generation {
        base: config.address.trim_end_matches('/').to_owned(),
        headers,
        client,
        tls: ArcSwapOption::empty(),
        slots,
        rate,
        number,
        config: Arc::new(config),
    })
}

/// A named outgoing REST connection, reconfigured while calls flow: an edit builds the new
/// client first and swaps it in; calls in flight finish on the old one.
///
/// Its security definition is resolved by name at each attempt, from the platform's
/// [`SecurityDefinitions`], so an edit of the credentials takes effect on the next call.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use zato_rest::{HttpConnection, RestConfig};
///
/// # async fn run() -> Result<(), zato_rest::RestError> {
/// let conn = Arc::new(HttpConnection::standalone(RestConfig::new("CRM", "http://127.0.0.1:8080/api")).unwrap());
/// #[derive(serde::Serialize)]
/// struct Invoice { amount: u32 }
/// let reply = conn.post("/invoices/{id}", &Invoice { amount: 10 }).param("id", 123).await?;
/// assert!(reply.status().is_success());
/// # Ok(()) }
/// ```
pub struct HttpConnection {
    name: String,
    shared_name: Arc<str>,
    kind: &'static str,
    current: ArcSwap<Generation>,
    defs: SecurityDefinitions,
    reconfiguring: Mutex<()>,
    breaker: Breaker,
    meters: Meters,
}

impl fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnection")
            .field("config", &self.current.load().config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl HttpConnection {
    /// A connection for `config` of kind `kind` (`http`, `soap`), presenting definitions from
    /// `defs`, counting into `metrics`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming what is wrong with `config`.
    pub fn new(
        kind: &'static str,
        config: RestConfig,
        defs: SecurityDefinitions,
        metrics: &RestMetrics,
    ) -> Result<Self, ConfigError> {
        let name = config.name.clone();
        let g = build(config, 1)?;
        Ok(HttpConnection {
            meters: Meters::new(metrics, kind, &name),
            shared_name: name.as_str().into(),
            name,
            kind,
            current: ArcSwap::from_pointee(g),
            defs,
            reconfiguring: Mutex::new(()),
            breaker: Breaker::default(),
        })
    }

    /// A connection outside any platform: no security definitions, metrics of its own.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming what is wrong with `config`.
    pub fn standalone(config: RestConfig) -> Result<Self, ConfigError> {
        Self::new(
            "http",
            config,
            SecurityDefinitions::default(),
            &RestMetrics::new(&Metrics::default()),
        )
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<RestConfig> {
        self.current.load().config.clone()
    }

    /// Replaces the configuration while calls flow.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `config` is invalid or renames the connection; the old one stays.
    pub fn reconfigure(&self, config: RestConfig) -> Result<(), ConfigError> {
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if config.name != self.name {
            return Err(ConfigError::one(
                "name",
                "a connection cannot be renamed by an edit; add a new one instead",
            ));
        }
        let number = self.current.load().number + 1;
        let next = build(config, number)?;
        self.current.store(Arc::new(next));
        // A new configuration starts with a closed breaker: the edit may be the fix.
        self.breaker.record(true, 1, Duration::ZERO);
        self.meters.breaker.set(BreakerState::Closed.as_gauge());
        tracing::info!(connection = %self.name, kind = self.kind, generation = number, "outgoing connection reconfigured");
        Ok(())
    }

    /// What it counted.
    pub fn stats(&self) -> RestStats {
        let c = &self.meters.classes;
        RestStats {
            answered: [c[0].get(), c[1].get(), c[2].get(), c[3].get(), c[4].get()],
            failed: c[5].get(),
            retries: self.meters.retries.get(),
            pool_waits: self.meters.pool_waits.get(),
            pool_timeouts: self.meters.pool_timeouts.get(),
            token_refreshes: self.meters.token_refreshes.get(),
            breaker: self.breaker.state(),
            generation: self.current.load().number,
        }
    }

    fn error(&self, kind: RestErrorKind) -> RestError {
        RestError::new(&self.name, kind)
    }

    async fn checkout(&self, g: &Generation) -> Result<OwnedSemaphorePermit, RestError> {
        if let Ok(p) = g.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        self.meters.pool_waits.inc();
        let wait = g.config.pool_wait();
        match tokio::time::timeout(wait, g.slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => {
                self.meters.pool_timeouts.inc();
                Err(self.error(RestErrorKind::PoolExhausted {
                    waited: wait,
                    pool_size: g.config.pool_size,
                }))
            }
        }
    }

    async fn rate_limit(&self, g: &Generation) -> Result<(), RestError> {
        let (Some(bucket), Some(rate)) = (&g.rate, g.config.rate_limit) else {
            return Ok(());
        };
        let wait = {
            let mut b = bucket.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let burst = rate.max(1.0);
            b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
            b.at = now;
            let wait = if b.tokens >= 1.0 {
                0.0
            } else {
                (1.0 - b.tokens) / rate
            };
            if wait > g.config.pool_wait {
                return Err(self.error(RestErrorKind::RateLimited { per_second: rate }));
            }
            b.tokens -= 1.0;
            wait
        };
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        Ok(())
    }

    /// The definition the connection presents, as applied now.
    fn resolve(&self, g: &Generation) -> Result<Auth, RestError> {
        let Some(name) = g.config.security.as_deref() else {
            return Ok(Auth::None);
        };
        let def = self
            .defs
            .get(name)
            .ok_or_else(|| self.error(RestErrorKind::MissingSecurity(name.to_owned())))?;
        Auth::of(&def).map_err(|message| {
            self.error(RestErrorKind::Security {
                name: name.to_owned(),
                message,
            })
        })
    }

    /// The client a call with `auth` goes through: for mutual TLS, one built with the
    /// definition's identity, rebuilt when the definition changes.
    fn client(&self, g: &Generation, auth: &Auth) -> Result<reqwest::Client, RestError> {
        let Auth::Tls(def, pem) = auth else {
            return Ok(g.client.clone());
        };
        if let Some(t) = g.tls.load().as_ref()
            && Arc::ptr_eq(&t.def, def)
        {
            return Ok(t.client.clone());
        }
        let client = build_client(&g.config, Some(pem.expose())).map_err(|message| {
            self.error(RestErrorKind::Security {
                name: def.name.clone(),
                message,
            })
        })?;
        g.tls.store(Some(Arc::new(TlsClient {
            def: def.clone(),
            client: client.clone(),
        })));
        Ok(client)
    }

    /// Runs one call: the breaker, a slot, the rate limit, then attempts until one succeeds or
    /// the retries run out.
    pub(crate) async fn execute(&self, call: Prepared) -> Result<RestResponse, RestError> {
        let g = self.current.load_full();
        if !g.config.is_active {
            return Err(self.error(RestErrorKind::Inactive));
        }
        let (threshold, cooldown) = (g.config.breaker_failures, g.config.breaker_cooldown());
        if let Err(r) = self.breaker.allow(threshold, cooldown) {
            return Err(self.error(RestErrorKind::BreakerOpen {
                failures: r.failures,
                retry_in: r.retry_in,
            }));
        }
        self.meters.breaker.set(self.breaker.state().as_gauge());
        let _slot = self.checkout(&g).await?;
        self.rate_limit(&g).await?;
        self.meters.in_flight.add(1);
        let started = Instant::now();
        let result = self.attempts(&g, &call).await;
        self.meters.in_flight.add(-1);
        self.meters.latency.observe(started.elapsed().as_secs_f64());
        let ok = match &result {
            Ok(r) => {
                let class = usize::from(r.status().as_u16() / 100).clamp(1, 5) - 1;
                self.meters.classes[class].inc();
                !r.status().is_server_error()
            }
            Err(_) => {
                self.meters.classes[5].inc();
                false
            }
        };
        self.breaker.record(ok, threshold, cooldown);
        self.meters.breaker.set(self.breaker.state().as_gauge());
        tracing::debug!(
            connection = %self.name,
            kind = self.kind,
            method = %call.method,
            status = result.as_ref().map_or(0, |r| r.status().as_u16()),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "outgoing call"
        );
        result
    }

    async fn attempts(&self, g: &Generation, call: &Prepared) -> Result<RestResponse, RestError> {
        let c = &g.config;
        let may_retry = c.retry_non_idempotent || idempotent(&call.method);
        let mut retry = 0u32;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        // The caller's span, when tracing is on: each attempt is a client span under it.
        let traced = zato_core::telemetry::current();
        let mut tries = 0i64;
        loop {
            let auth = self.resolve(g)?;
            let mut otel = match &traced {
                Some(cur) => attempt_span(cur, g, call, tries),
                None => Span::none(),
            };
            tries += 1;
            let (result, token) = self.attempt(g, call, &auth, otel.context()).await;
            if otel.is_some() {
                match &result {
                    Ok(r) => {
                        let status = r.status();
                        otel.set(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
                        if status.is_client_error() || status.is_server_error() {
                            otel.set(attr::ERROR_TYPE, status.as_u16().to_string());
                            otel.error(status.canonical_reason().unwrap_or("error"));
                        }
                    }
                    Err(e) => otel.error(&e.to_string()),
                }
            }
            drop(otel);
            // One refresh and one retry on a 401 with an OAuth 2 token: the API was not
            // reached with a valid token, so even a POST is safe to send again.
            if let (Ok(r), Auth::OAuth2(client), Some(token)) = (&result, &auth, &token)
                && r.status() == StatusCode::UNAUTHORIZED
                && !refreshed
            {
                refreshed = true;
                client.refused(token);
                continue;
            }
            let retry_after = match &result {
                Ok(r) if retryable_status(r.status()) => Some(retry_after(r.headers())),
                Ok(_) => None,
                Err(e) if e.retryable() => Some(None),
                Err(_) => None,
            };
            let Some(after) = retry_after else {
                return result;
            };
            if !may_retry || retry >= c.retries {
                return result;
            }
            let backoff = c.retry_backoff().saturating_mul(1 << retry.min(16));
            let jittered = backoff.mul_f64(rand::rng().random_range(0.5..=1.0));
            let delay = after.map_or(jittered, |a| a.max(jittered));
            if waited + delay > c.retry_max_wait() {
                return result;
            }
            tokio::time::sleep(delay).await;
            waited += delay;
            retry += 1;
            self.meters.retries.inc();
        }
    }

    /// One attempt; with the OAuth 2 token it presented, if any. `trace` is written on the
    /// request as W3C trace context.
    async fn attempt(
        &self,
        g: &Generation,
        call: &Prepared,
        auth: &Auth,
        trace: Option<TraceContext>,
    ) -> (Result<RestResponse, RestError>, Option<Secret>) {
        let client = match self.client(g, auth) {
            Ok(c) => c,
            Err(e) => return (Err(e), None),
        };
        let mut url = String::with_capacity(g.base.len() + call.path.len());
        url.push_str(&g.base);
        url.push_str(&call.path);
        let mut rb = client.request(call.method.clone(), url);
        if !g.headers.is_empty() {
            rb = rb.headers(g.headers.clone());
        }
        if !call.query.is_empty() {
            rb = rb.query(&call.query);
        }
        if let Some((body, content_type)) = &call.body {
            rb = rb
                .header(http::header::CONTENT_TYPE, content_type.clone())
                .body(body.clone());
        }
        let mut token = None;
        let bearer = |t: &Secret| -> Result<HeaderValue, RestError> {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose())).map_err(|_| {
                self.error(RestErrorKind::Security {
                    name: g.config.security.clone().unwrap_or_default(),
                    message: "the token holds characters a header cannot carry".into(),
                })
            })?;
            v.set_sensitive(true);
            Ok(v)
        };
        match auth {
            Auth::None | Auth::Tls(..) => {}
            Auth::Basic { username, password } => {
                rb = rb.basic_auth(username, Some(password.expose()));
            }
            Auth::Header { name, value } => match HeaderValue::from_str(value.expose()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    rb = rb.header(name.clone(), v);
                }
                Err(_) => {
                    return (
                        Err(self.error(RestErrorKind::Security {
                            name: g.config.security.clone().unwrap_or_default(),
                            message: "the key holds characters a header cannot carry".into(),
                        })),
                        None,
                    );
                }
            },
            Auth::Bearer(t) => match bearer(t) {
                Ok(v) => rb = rb.header(http::header::AUTHORIZATION, v),
                Err(e) => return (Err(e), None),
            },
            Auth::OAuth2(client) => {
                let (t, fetched) = match client.token().await {
                    Ok(t) => t,
                    Err(message) => {
                        return (
                            Err(self.error(RestErrorKind::Security {
                                name: g.config.security.clone().unwrap_or_default(),
                                message,
                            })),
                            None,
                        );
                    }
                };
                if fetched {
                    self.meters.token_refreshes.inc();
                }
                match bearer(&t) {
                    Ok(v) => rb = rb.header(http::header::AUTHORIZATION, v),
                    Err(e) => return (Err(e), None),
                }
                token = Some(t);
            }
        }
        for (k, v) in &call.headers {
            rb = rb.header(k.clone(), v.clone());
        }
        if let Some(trace) = trace {
            for (name, value) in trace.headers() {
                rb = rb.header(name, value);
            }
        }
        let result = async {
            let mut resp = rb.send().await.map_err(|e| self.transport(g, e))?;
            let status = resp.status();
            let headers = std::mem::take(resp.headers_mut());
            let body = self.read(g, resp, &headers).await?;
            Ok(RestResponse::new(
                self.shared_name.clone(),
                status,
                headers,
                body,
            ))
        }
        .await;
        (result, token)
    }

    async fn read(
        &self,
        g: &Generation,
        mut resp: reqwest::Response,
        headers: &HeaderMap,
    ) -> Result<Bytes, RestError> {
        let max = g.config.max_response_size;
        let length = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length.is_some_and(|n| n > max) {
            return Err(self.error(RestErrorKind::TooLarge(max)));
        }
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(g, e))? {
            if (buf.len() + chunk.len()) as u64 > max {
                return Err(self.error(RestErrorKind::TooLarge(max)));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    fn transport(&self, g: &Generation, e: reqwest::Error) -> RestError {
        let kind = if e.is_timeout() {
            RestErrorKind::Timeout(g.config.timeout())
        } else {
            RestErrorKind::Connect(without_url(&e))
        };
        self.error(kind).with_source(e)
    }

    /// Sends the ping method to the ping path, once, around the pool and the breaker.
    pub(crate) async fn ping(&self) -> Result<String, String> {
        let g = self.current.load_full();
        if !g.config.is_active {
            return Err("the connection is inactive".into());
        }
        let method = Method::from_bytes(g.config.ping_method.as_bytes())
            .map_err(|_| "the ping method is not valid".to_owned())?;
        let call = Prepared {
            method: method.clone(),
            path: g.config.ping_path.clone(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        };
        let started = Instant::now();
        let auth = self.resolve(&g).map_err(|e| e.to_string())?;
        let (result, _) = self.attempt(&g, &call, &auth, None).await;
        let r = result.map_err(|e| e.to_string())?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if r.status().is_server_error() {
            return Err(format!(
                "{method} {} answered {} in {ms:.1} ms",
                g.config.ping_path,
                r.status()
            ));
        }
        Ok(format!(
            "{method} {} answered {} in {ms:.1} ms",
            g.config.ping_path,
            r.status()
        ))
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// A `Retry-After` in seconds; an HTTP date is not honoured (backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(86_400)))
}

/// A call ready to go: its path filled in, its body written.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Option<(Bytes, HeaderValue)>,
}

/// The client span of one attempt, as OpenTelemetry's HTTP client conventions say: named by the
/// method, a retry numbered by `http.request.resend_count`. The URL is shown without its query.
fn attempt_span(cur: &Current, g: &Generation, call: &Prepared, tries: i64) -> Span {
    let mut url = String::with_capacity(g.base.len() + call.path.len());
    url.push_str(&g.base);
    url.push_str(&call.path);
    let mut start = cur
        .child(call.method.as_str().to_owned(), SpanKind::Client)
        .attr(attr::HTTP_REQUEST_METHOD, call.method.as_str().to_owned())
        .attr(attr::ZATO_CONNECTION, g.config.name.clone());
    if let Ok(parsed) = reqwest::Url::parse(&url) {
        if let Some(host) = parsed.host_str() {
            start = start.attr(attr::SERVER_ADDRESS, host.to_owned());
        }
        if let Some(port) = parsed.port_or_known_default() {
            start = start.attr(attr::SERVER_PORT, i64::from(port));
        }
    }
    start = start.attr(attr::URL_FULL, url);
    if tries > 0 {
        start = start.attr(attr::HTTP_REQUEST_RESEND_COUNT, tries);
    }
    start.start()
}
