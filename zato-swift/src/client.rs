//! [`SwiftClient`]: one authenticated client and the request loop every operation goes through
//! (token, timeout, retries, one re-authentication on 401, status mapping).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::auth::{Authenticator, Session};
use crate::config::SwiftConfig;
use crate::error::{Escaped, SwiftError, SwiftErrorKind, excerpt, from_reqwest};
use crate::names::SwiftPath;
use crate::retry::RetryPolicy;
use zato_core::telemetry::{Span, SpanKind, attr};

/// User metadata of an account, container or object, without the `X-*-Meta-` prefix.
/// Keys are lowercase as Swift returns them.
pub type Metadata = BTreeMap<String, String>;

/// What a request addresses, to name it in errors.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    Account,
    Container(&'a str),
    Object(&'a str, &'a str),
}

/// The body of a request.
pub(crate) enum Body {
    Empty,
    /// Cheap to clone, so the request can be retried.
    Bytes(Bytes),
    /// Sent once: a request with a streamed body is never retried.
    Stream(Option<reqwest::Body>),
}

/// One request to the storage URL.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// Where below the storage URL, validated: the account, a container or an object.
    pub(crate) path: SwiftPath<'a>,
    /// The encoded query string, without `?`.
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) target: Target<'a>,
    /// The ETag sent, to report a 422.
    pub(crate) sent_etag: Option<String>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: SwiftPath<'a>, target: Target<'a>) -> Self {
        Call {
            method,
            path,
            query: String::new(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            target,
            sent_etag: None,
        }
    }

    pub(crate) fn query(mut self, query: String) -> Self {
        self.query = query;
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Account => format!("{} account", self.method),
            Target::Container(c) => format!("{} container {c}", self.method),
            Target::Object(c, o) => format!("{} object {c}/{o}", self.method),
        }
    }
}

/// What every client of one connection shares: the HTTP client with its keep-alive connections,
/// the token cache, the retry policy.
pub(crate) struct Shared {
    pub(crate) config: Arc<SwiftConfig>,
    /// The connection's name, attached to every error a client returns.
    pub(crate) name: Arc<str>,
    pub(crate) http: reqwest::Client,
    pub(crate) auth: Authenticator,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
}

impl Shared {
    pub(crate) fn new(config: SwiftConfig) -> Result<Self, SwiftError> {
        let config = Arc::new(config.resolved()?);
        let mut builder = reqwest::Client::builder()
            .danger_accept_invalid_certs(!config.should_validate_cert)
            .pool_max_idle_per_host(config.pool_size.max(16) as usize)
            .tcp_nodelay(true);
        if let Some(path) = &config.cacert {
            let pem = std::fs::read(path).map_err(|e| SwiftErrorKind::Transport {
                message: format!("cannot read cacert {}", path.display()),
                source: Some(Box::new(e)),
            })?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|e| SwiftErrorKind::Transport {
                    message: format!("cacert {} is not a PEM certificate", path.display()),
                    source: Some(Box::new(e)),
                })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| SwiftErrorKind::Transport {
            message: "cannot build the HTTP client".into(),
            source: Some(Box::new(e)),
        })?;
        Ok(Shared {
            name: Arc::from(config.name.as_str()),
            auth: Authenticator::new(config.clone(), http.clone()),
            retry: RetryPolicy::from_config(&config),
            timeout: config.timeout(),
            config,
            http,
        })
    }
}

/// An authenticated Swift client: every account, container and object operation.
///
/// Clones are cheap and share the token and the HTTP keep-alive connections. In a service you
/// get one from a pool with [`SwiftConnection::client`](crate::SwiftConnection::client); on its
/// own, build one with [`SwiftClient::new`].
#[derive(Clone)]
pub struct SwiftClient {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SwiftClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftClient")
            .field("name", &self.shared.config.name)
            .field("auth", &self.shared.auth)
            .finish()
    }
}

impl SwiftClient {
    /// A client for `config`. It authenticates on its first request.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Config`] when the configuration is invalid, [`SwiftErrorKind::Transport`]
    /// when `cacert` cannot be read.
    pub fn new(config: SwiftConfig) -> Result<Self, SwiftError> {
        Ok(SwiftClient {
            shared: Arc::new(Shared::new(config)?),
        })
    }

    /// The configuration this client was built from, with `custom_options` folded into the fields
    /// they name.
    pub fn config(&self) -> &SwiftConfig {
        &self.shared.config
    }

    /// Authenticates now unless a valid token is cached.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::AuthFailed`] when the credentials are refused, or any transport error.
    pub async fn authenticate(&self) -> Result<(), SwiftError> {
        self.session().await.map(|_| ())
    }

    /// The storage URL of the account, authenticating first if needed.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate).
    pub async fn storage_url(&self) -> Result<String, SwiftError> {
        Ok(self.session().await?.storage_url.clone())
    }

    /// How many times this client (and every client sharing its token cache) authenticated.
    pub fn auth_count(&self) -> u64 {
        self.shared.auth.auth_count()
    }

    pub(crate) async fn session(&self) -> Result<Arc<Session>, SwiftError> {
        self.shared.auth.session().await.map_err(|e| self.named(e))
    }

    /// `err`, naming this client's connection.
    pub(crate) fn named(&self, err: impl Into<SwiftError>) -> SwiftError {
        err.into().with_connection(&self.shared.name)
    }

    /// Sends `call`, retrying and re-authenticating as configured, and maps a non-2xx answer to
    /// an error naming the connection.
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<reqwest::Response, SwiftError> {
        self.execute_unnamed(call).await.map_err(|e| self.named(e))
    }

    async fn execute_unnamed(&self, mut call: Call<'_>) -> Result<reqwest::Response, SwiftError> {
        let s = &*self.shared;
        let mut session = s.auth.session().await?;
        let mut reauthenticated = false;
        let mut attempt = 0u32;
        // Whether an attempt went out and got no answer, so the request may have been done.
        let mut unanswered = false;
        // The caller's span, when tracing is on: each attempt is a client span under it.
        let traced = zato_core::telemetry::current();
        let mut tries = 0i64;
        loop {
            let (body, replayable) = match &mut call.body {
                Body::Empty => (None, true),
                Body::Bytes(b) if b.is_empty() => (None, true),
                Body::Bytes(b) => (Some(reqwest::Body::from(b.clone())), true),
                Body::Stream(b) => (b.take(), false),
            };
            let url = call.path.url(&session.base_url, &call.query)?;
            let mut otel = match &traced {
                Some(cur) => attempt_span(cur, &call.method, &url, &s.config.name, tries),
                None => Span::none(),
            };
            tries += 1;
            let mut req = s
                .http
                .request(call.method.clone(), url)
                .headers(call.headers.clone())
                .header("x-auth-token", session.header.clone())
                .timeout(s.timeout);
            if let Some(ctx) = otel.context() {
                for (name, value) in ctx.headers() {
                    req = req.header(name, value);
                }
            }
            if let Some(body) = body {
                req = req.body(body);
            } else if matches!(call.method, Method::PUT | Method::POST) {
                // Swift answers 411 to a PUT with neither a length nor chunks, and an empty
                // body is sent as none at all, so the length is said explicitly.
                req = req.header(http::header::CONTENT_LENGTH, "0");
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if otel.is_some() {
                        otel.set(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
                        if status.is_client_error() || status.is_server_error() {
                            otel.set(attr::ERROR_TYPE, status.as_u16().to_string());
                            otel.error(status.canonical_reason().unwrap_or("error"));
                        }
                    }
                    drop(otel);
                    if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                        reauthenticated = true;
                        tracing::debug!(connection = ?s.config.name, "token refused, authenticating again");
                        session = s
                            .auth
                            .reauthenticate(&session)
                            .await
                            .map_err(|e| e.after_unanswered_attempt(unanswered))?;
                        if replayable {
                            continue;
                        }
                    }
                    if s.retry.retries_status(status) && attempt < s.retry.retries && replayable {
                        let delay = s.retry.delay(attempt, Some(resp.headers()));
                        attempt += 1;
                        tracing::warn!(connection = ?s.config.name, %status, attempt, ?delay, op = ?call.describe(), "retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    if status.is_success() {
                        return Ok(resp);
                    }
                    return Err(SwiftError::from(status_error(resp, &call).await)
                        .after_unanswered_attempt(unanswered));
                }
                Err(e) => {
                    if otel.is_some() {
                        otel.set(
                            attr::ERROR_TYPE,
                            if e.is_timeout() {
                                "timeout"
                            } else {
                                "transport"
                            },
                        );
                        otel.error(&Escaped(&e).to_string());
                    }
                    drop(otel);
                    let transient = e.is_timeout() || e.is_connect() || e.is_request();
                    unanswered |= !e.is_connect();
                    if transient && attempt < s.retry.retries && replayable {
                        let delay = s.retry.delay(attempt, None);
                        attempt += 1;
                        tracing::warn!(connection = ?s.config.name, error = %Escaped(&e), attempt, ?delay, op = ?call.describe(), "retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(from_reqwest(e, s.timeout).after_unanswered_attempt(unanswered));
                }
            }
        }
    }
}

/// The client span of one attempt of a request, as OpenTelemetry's HTTP client conventions
/// say: named by the method, a retry numbered by `http.request.resend_count`.
fn attempt_span(
    cur: &zato_core::telemetry::Current,
    method: &Method,
    url: &reqwest::Url,
    connection: &str,
    tries: i64,
) -> Span {
    let mut start = cur
        .child(method.as_str().to_owned(), SpanKind::Client)
        .attr(attr::HTTP_REQUEST_METHOD, method.as_str().to_owned())
        .attr(attr::URL_FULL, url.as_str().to_owned())
        .attr(attr::ZATO_CONNECTION, connection.to_owned());
    if let Some(host) = url.host_str() {
        start = start.attr(attr::SERVER_ADDRESS, host.to_owned());
    }
    if let Some(port) = url.port_or_known_default() {
        start = start.attr(attr::SERVER_PORT, i64::from(port));
    }
    if tries > 0 {
        start = start.attr(attr::HTTP_REQUEST_RESEND_COUNT, tries);
    }
    start.start()
}

/// Names the connection of a client in the error of a result, as it leaves a public method.
pub(crate) trait ForClient<T> {
    fn for_client(self, client: &SwiftClient) -> Result<T, SwiftError>;
}

impl<T, E: Into<SwiftError>> ForClient<T> for Result<T, E> {
    fn for_client(self, client: &SwiftClient) -> Result<T, SwiftError> {
        self.map_err(|e| client.named(e))
    }
}

/// Maps a non-2xx answer to the error a user would look for.
async fn status_error(resp: reqwest::Response, call: &Call<'_>) -> SwiftErrorKind {
    let status = resp.status();
    let (container, object) = match &call.target {
        Target::Account => (String::new(), None),
        Target::Container(c) => (c.to_string(), None),
        Target::Object(c, o) => (c.to_string(), Some(o.to_string())),
    };
    let has_container = !matches!(call.target, Target::Account);
    match status.as_u16() {
        401 => {
            return SwiftErrorKind::AuthFailed {
                message: format!("swift refused the token on {}", call.describe()),
            };
        }
        404 if has_container => {
            return SwiftErrorKind::NotFound { container, object };
        }
        409 if has_container => {
            return SwiftErrorKind::Conflict {
                container,
                object,
                message: "the container is not empty or was changed concurrently".into(),
            };
        }
        412 if has_container => {
            return SwiftErrorKind::Conflict {
                container,
                object,
                message: "precondition failed: the object already exists".into(),
            };
        }
        422 if call.sent_etag.is_some() => {
            if let Some(object) = object {
                return SwiftErrorKind::EtagMismatch {
                    container,
                    object,
                    expected: call.sent_etag.clone().unwrap_or_default(),
                    actual: "unprocessable".into(),
                };
            }
        }
        _ => {}
    }
    let content_type = header_str(resp.headers(), "content-type");
    let body = if call.method == Method::HEAD {
        Vec::new()
    } else {
        error_body_start(resp).await
    };
    SwiftErrorKind::Http {
        status: status.as_u16(),
        operation: call.describe(),
        excerpt: excerpt(&body, content_type.as_deref()),
    }
}

/// The first bytes of an error body, enough for its excerpt: the rest is never read, so a
/// huge or endless error body costs nothing.
async fn error_body_start(mut resp: reqwest::Response) -> Vec<u8> {
    const ENOUGH: usize = 16 * 1024;
    let mut body = Vec::new();
    while body.len() <= ENOUGH {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(ENOUGH + 1)]),
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// Adds `X-{kind}-Meta-{key}` headers.
pub(crate) fn meta_headers(
    headers: &mut HeaderMap,
    kind: &str,
    metadata: &Metadata,
) -> Result<(), SwiftError> {
    for (k, v) in metadata {
        let name =
            HeaderName::from_bytes(format!("x-{kind}-meta-{k}").as_bytes()).map_err(|_| {
                SwiftErrorKind::InvalidMetadata {
                    key: k.clone(),
                    reason: "not a valid header name",
                }
            })?;
        let value =
            HeaderValue::from_bytes(v.as_bytes()).map_err(|_| SwiftErrorKind::InvalidMetadata {
                key: k.clone(),
                reason: "the value holds a control character",
            })?;
        headers.insert(name, value);
    }
    Ok(())
}

/// Reads `X-{kind}-Meta-*` headers back.
pub(crate) fn read_meta(headers: &HeaderMap, kind: &str) -> Metadata {
    let prefix = format!("x-{kind}-meta-");
    headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix(&prefix)?;
            Some((
                key.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

/// A header as a string.
pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A header as a number.
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> u64 {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
