//! The admin API's requests: authentication, routing and the answers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use zato_channels::{HttpChannelConfig, SecurityDef};
use zato_core::config::{
    ChangeError, ConfigDocument, Format, ImportOptions, ObjectKey, PutMode, Section, StoreError,
    WriteOutcome,
};
use zato_core::{ChannelInfo, ChannelKind, Cid, ConfigProblem, DataFormat, RawRequest};

use crate::{ADMIN_MAX_BODY, Inner, READ_TIMEOUT};

pub(super) type Reply = Response<Full<Bytes>>;

/// One error answer: `{"error": {"status", "kind", "message", "problems"}}`.
fn error(status: StatusCode, kind: &str, message: &str, problems: &[ConfigProblem]) -> Reply {
    let mut body = json!({"status": status.as_u16(), "kind": kind, "message": message});
    if !problems.is_empty() {
        body["problems"] = json!(problems);
    }
    let mut reply = json_reply(status, &json!({ "error": body }));
    if status == StatusCode::UNAUTHORIZED {
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    reply
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut text = serde_json::to_vec(body).unwrap_or_default();
    text.push(b'\n');
    text_reply(status, "application/json", text)
}

pub(super) fn text_reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

fn with_etag(mut reply: Reply, version: u64) -> Reply {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        reply.headers_mut().insert(header::ETAG, v);
    }
    reply
}

/// A refused or failed change as an answer.
fn change_error(e: &ChangeError) -> Reply {
    let message = e.to_string();
    match e {
        ChangeError::Invalid(c) => {
            error(StatusCode::BAD_REQUEST, "invalid", &message, c.problems())
        }
        ChangeError::NotFound(_) => error(StatusCode::NOT_FOUND, "not_found", &message, &[]),
        ChangeError::Exists(_) | ChangeError::Referenced { .. } => {
            error(StatusCode::CONFLICT, "conflict", &message, &[])
        }
        ChangeError::Stale { current, .. } => {
            let reply = error(StatusCode::PRECONDITION_FAILED, "stale", &message, &[]);
            match current {
                Some(v) => with_etag(reply, *v),
                None => reply,
            }
        }
        ChangeError::ApplyFailed(c) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "apply_failed",
            &message,
            c.problems(),
        ),
        ChangeError::Store(StoreError::Stale { .. }) => {
            error(StatusCode::CONFLICT, "conflict", &message, &[])
        }
        ChangeError::Store(_) => error(StatusCode::SERVICE_UNAVAILABLE, "store", &message, &[]),
        ChangeError::Busy { .. } => {
            let mut reply = error(StatusCode::SERVICE_UNAVAILABLE, "busy", &message, &[]);
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            reply
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &message, &[]),
    }
}

/// The answer to a request on a connection given up to make room for another: 503, retry.
pub(super) fn busy_reply() -> Reply {
    let mut reply = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "every admin connection slot is taken; retry",
        &[],
    );
    let headers = reply.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    reply
}

fn store_error(e: &StoreError) -> Reply {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store",
        &e.to_string(),
        &[],
    )
}

/// A request refused before it reaches the store: what [`error`] answers with.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    kind: &'static str,
    pub(super) message: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(super) fn reply(self) -> Reply {
        error(self.status, self.kind, &self.message, &[])
    }
}

/// The request's query parameters.
fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn flag(query: &[(String, String)], name: &str) -> Result<bool, Refusal> {
    match query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
    {
        None => Ok(false),
        Some("" | "1" | "true" | "yes") => Ok(true),
        Some("0" | "false" | "no") => Ok(false),
        Some(other) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("query parameter `{name}`: expected true or false, got {other:?}"),
        )),
    }
}

/// Whether the request carries the token, compared in constant time.
fn authorized(inner: &Inner, req: &Request<Incoming>) -> bool {
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 9110, 11.1).
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token))
    else {
        return false;
    };
    let expected = inner.token.expose().as_bytes();
    given.trim().as_bytes().ct_eq(expected).into()
}

/// Who makes a change: `admin-api`, with the client's `X-Zato-Author` when it sends one.
fn author(req: &Request<Incoming>) -> String {
    let given: String = req
        .headers()
        .get("x-zato-author")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if given.trim().is_empty() {
        "admin-api".to_owned()
    } else {
        format!("admin-api ({})", given.trim())
    }
}

/// What `If-Match` asks for.
enum IfMatch {
    None,
    Any,
    Version(u64),
}

fn if_match(req: &Request<Incoming>) -> Result<IfMatch, Refusal> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(IfMatch::None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse().map(IfMatch::Version).map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "If-Match: expected an object version such as \"7\"",
        )
    })
}

/// The request's body, bounded in size and time.
pub(super) async fn body(req: Request<Incoming>) -> Result<Bytes, Refusal> {
    let limited = Limited::new(req.into_body(), ADMIN_MAX_BODY);
    match tokio::time::timeout(READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body exceeds {ADMIN_MAX_BODY} bytes"),
            ))
        }
        Ok(Err(_)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the body could not be read",
        )),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the body did not arrive in time",
        )),
    }
}

async fn json_body(req: Request<Incoming>) -> Result<Value, Refusal> {
    let bytes = body(req).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("the body is not JSON: {e}"),
        )
    })
}

/// Answers one API request, its path already split into decoded `segs`.
pub(super) async fn handle(inner: &Arc<Inner>, req: Request<Incoming>, segs: &[&str]) -> Reply {
    let method = req.method().clone();
    match (&method, segs) {
        (&Method::GET, ["health", "live"]) => {
            return json_reply(StatusCode::OK, &json!({"status": "live"}));
        }
        (&Method::GET, ["health", "ready"]) => return ready(inner).await,
        _ => {}
    }
    if !authorized(inner, &req) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required: Authorization: Bearer <token>",
            &[],
        );
    }
    let runtime = &inner.runtime;
    match (&method, segs) {
        (&Method::GET, ["metrics"]) => text_reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            runtime.platform().metrics().render(),
        ),
        (&Method::GET, ["api", "config"]) => export(inner, &req).await,
        (&Method::POST, ["api", "config", "import"]) => import(inner, req).await,
        (&Method::GET, ["api", "config", "history"]) => match runtime.history().await {
            Ok(h) => json_reply(
                StatusCode::OK,
                &json!({"version": runtime.applied_version(), "history": h}),
            ),
            Err(e) => store_error(&e),
        },
        (&Method::GET, ["api", "cluster"]) => match runtime.replication() {
            Some(replication) => match replication.status().await {
                Ok(status) => json_reply(StatusCode::OK, &status),
                Err(e) => store_error(&e),
            },
            None => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "this node is not in a cluster: it keeps its configuration to itself",
                &[],
            ),
        },
        (&Method::GET, ["openapi.json"]) => match openapi(inner).await {
            Ok(doc) => json_reply(StatusCode::OK, &doc),
            Err(e) => store_error(&e),
        },
        (&Method::GET, ["openapi.yaml"]) => match openapi(inner).await {
            Ok(doc) => match zato_core::config::Format::Yaml.render(&doc) {
                Ok(text) => text_reply(StatusCode::OK, "application/yaml", text),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    &e.to_string(),
                    &[],
                ),
            },
            Err(e) => store_error(&e),
        },
        (&Method::GET, ["api", "channels", "http", name, "wsdl"]) => {
            let location = query(&req)
                .into_iter()
                .find(|(k, _)| k == "location")
                .map(|(_, v)| v);
            wsdl(inner, name, location).await
        }
        (&Method::GET, ["api", "kinds"]) => json_reply(
            StatusCode::OK,
            // Secrets never show: each kind's example has them removed already.
            &json!({"items": runtime.describe()}),
        ),
        (&Method::GET, ["api", "services"]) => services(inner).await,
        (&Method::POST, ["api", "services", name, "invoke"]) => {
            let name = (*name).to_owned();
            invoke(inner, req, &name).await
        }
        (&Method::POST, ["api", "channels", kind, name, "run"]) => {
            let key = ObjectKey::new(Section::Channels, *kind, *name);
            run(inner, &key).await
        }
        (&Method::POST, ["api", "outgoing", kind, name, "ping"]) => {
            let key = ObjectKey::new(Section::Outgoing, *kind, *name);
            ping(inner, &key).await
        }
        (_, ["api", section, rest @ ..]) => {
            let Some((key_or_kind, name)) = address(section, rest) else {
                return not_found(req.uri().path());
            };
            if let Some(reply) = unknown_kind(inner, &key_or_kind) {
                return reply;
            }
            match name {
                None => collection(inner, req, key_or_kind).await,
                Some(name) => {
                    let key = ObjectKey::new(key_or_kind.0, key_or_kind.1, name);
                    object(inner, req, key).await
                }
            }
        }
        _ => not_found(req.uri().path()),
    }
}

fn not_found(path: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no such resource: {path:?}"),
        &[],
    )
}

/// A 404 naming the kinds this node has, when `kind` is none of them: the CLI and scripts
/// learn the kinds from the node, never from a list of their own.
fn unknown_kind(inner: &Inner, (section, kind): &(Section, String)) -> Option<Reply> {
    if !section.has_kinds() {
        return None;
    }
    let known = inner.runtime.kind_names(*section);
    if known.iter().any(|k| k == kind) {
        return None;
    }
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Some(error(
        StatusCode::NOT_FOUND,
        "unknown_kind",
        &format!(
            "this node has no {section} kind `{kind}`; its {section} kinds: {known} (GET /api/kinds, or `zato kinds`, describes them)"
        ),
        &[],
    ))
}

/// The section and kind a path addresses, and the object's name if it names one.
fn address<'a>(section: &str, rest: &[&'a str]) -> Option<((Section, String), Option<&'a str>)> {
    let section = Section::parse(section)?;
    if section.has_kinds() {
        match rest {
            [kind] => Some(((section, (*kind).to_owned()), None)),
            [kind, name] => Some(((section, (*kind).to_owned()), Some(*name))),
            _ => None,
        }
    } else {
        let kind = section.sole_kind().to_owned();
        match rest {
            [] => Some(((section, kind), None)),
            [name] => Some(((section, kind), Some(*name))),
            _ => None,
        }
    }
}

/// The WSDL of the SOAP channel `name`, at `location` or, by default, the URL of its listener.
async fn wsdl(inner: &Inner, name: &str, location: Option<String>) -> Reply {
    let runtime = &inner.runtime;
    let key = ObjectKey::new(Section::Channels, "http", name);
    let config: HttpChannelConfig = match runtime.get(&key).await {
        Ok(Some((config, _))) => match serde_json::from_value(config) {
            Ok(config) => config,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    &format!("channels.http.{name} does not read as an HTTP channel: {e}"),
                    &[],
                );
            }
        },
        Ok(None) => return change_error(&ChangeError::NotFound(key)),
        Err(e) => return store_error(&e),
    };
    if config.data_format != DataFormat::Soap {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "channels.http.{name} is not a SOAP channel: its contract is in /openapi.json"
            ),
            &[],
        );
    }
    let service = config.service.as_str();
    let platform = runtime.platform();
    let Some(info) = platform
        .services()
        .list()
        .into_iter()
        .find(|s| s.name == service)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("the service `{service}` is not deployed on this node"),
            &[],
        );
    };
    let location = location.unwrap_or_else(|| {
        let listener = platform
            .channels()
            .owner(zato_channels::HTTP_KIND, name)
            .map(|a| a.name().trim_start_matches("http@").to_owned())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        format!("http://{listener}{}", config.url_path)
    });
    text_reply(
        StatusCode::OK,
        "text/xml; charset=utf-8",
        zato_channels::wsdl_document(name, &info, &location),
    )
}

/// The OpenAPI document of this node's HTTP channels, as they are now.
async fn openapi(inner: &Inner) -> Result<Value, StoreError> {
    let runtime = &inner.runtime;
    let (version, channels) = runtime.list(Section::Channels, "http").await?;
    let (_, security) = runtime
        .list(Section::Security, Section::Security.sole_kind())
        .await?;
    // Stored objects were checked by their kinds: each reads back as its type. A security
    // definition of a type the HTTP channel does not have is no scheme of its.
    let channels: Vec<HttpChannelConfig> = channels
        .into_iter()
        .filter_map(|(_, config, _)| serde_json::from_value(config).ok())
        .collect();
    let security: Vec<SecurityDef> = security
        .into_iter()
        .filter_map(|(_, config, _)| serde_json::from_value(config).ok())
        .collect();
    let services = runtime.platform().services().list();
    Ok(zato_channels::openapi_document(
        "zato-rs node",
        &format!("config-{version}"),
        &channels,
        &services,
        &security,
    ))
}

async fn ready(inner: &Inner) -> Reply {
    let platform = inner.runtime.platform();
    let idle: Vec<String> = platform
        .channels()
        .adapters()
        .iter()
        .filter(|a| !a.is_serving())
        .map(|a| a.name().to_owned())
        .collect();
    let version = inner.runtime.applied_version();
    if let Some(Err(why)) = inner.runtime.replication().map(|r| r.ready()) {
        return json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready", "version": version, "cluster": why}),
        );
    }
    if idle.is_empty() {
        json_reply(
            StatusCode::OK,
            &json!({"status": "ready", "version": version}),
        )
    } else {
        json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready", "version": version, "not_serving": idle}),
        )
    }
}

async fn export(inner: &Inner, req: &Request<Incoming>) -> Reply {
    let q = query(req);
    let format = match q.iter().find(|(k, _)| k == "format") {
        None => Format::Json,
        Some((_, f)) => match Format::from_name(f) {
            Some(f) => f,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("format {f:?}: expected json, toml or yaml"),
                    &[],
                );
            }
        },
    };
    let (version, doc) = match inner.runtime.export().await {
        Ok(x) => x,
        Err(e) => return store_error(&e),
    };
    match doc.to_text(format) {
        Ok(text) => with_etag(
            text_reply(StatusCode::OK, format.media_type(), text),
            version,
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
            &[],
        ),
    }
}

async fn import(inner: &Inner, req: Request<Incoming>) -> Reply {
    let q = query(&req);
    let (dry_run, replace) = match (flag(&q, "dry_run"), flag(&q, "replace")) {
        (Ok(d), Ok(r)) => (d, r),
        (Err(e), _) | (_, Err(e)) => return e.reply(),
    };
    let wait = match ack_wait(&q) {
        Ok(w) => w,
        Err(refusal) => return refusal.reply(),
    };
    let by_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_media_type);
    let format = match q.iter().find(|(k, _)| k == "format") {
        Some((_, f)) => match Format::from_name(f) {
            Some(f) => f,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("format {f:?}: expected json, toml or yaml"),
                    &[],
                );
            }
        },
        None => by_type.unwrap_or_default(),
    };
    let author = author(&req);
    let bytes = match body(req).await {
        Ok(b) => b,
        Err(refusal) => return refusal.reply(),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the document is not UTF-8",
            &[],
        );
    };
    let doc = match ConfigDocument::parse_lenient(text, format) {
        Ok((doc, shape)) if shape.is_empty() => doc,
        Ok((doc, mut problems)) => {
            // What the objects would be refused with too, so that one unknown section does
            // not hide the rest.
            let check = ImportOptions {
                dry_run: true,
                replace,
            };
            if let Err(ChangeError::Invalid(e)) = inner.runtime.import(&doc, check, &author).await {
                problems.extend(e.into_problems());
            }
            let e = zato_core::config::ConfigError::new(problems);
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &e.to_string(),
                e.problems(),
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &e.to_string(),
                e.problems(),
            );
        }
    };
    // Checking and applying thousands of objects is seconds of work: done off the async
    // workers, so that the node keeps serving its channels meanwhile and the writes queued
    // behind the import get their answer (a 503 once their wait runs out).
    let runtime = inner.runtime.clone();
    let handle = tokio::runtime::Handle::current();
    let imported = tokio::task::spawn_blocking(move || {
        handle.block_on(runtime.import(&doc, ImportOptions { dry_run, replace }, &author))
    })
    .await;
    let imported = match imported {
        Ok(imported) => imported,
        Err(e) => {
            tracing::error!(error = %e, "the import did not finish");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the import did not finish",
                &[],
            );
        }
    };
    match imported {
        Ok(outcome) => {
            let mut body = json!(outcome);
            if !outcome.dry_run
                && let Some(nodes) = nodes_after(inner, outcome.version, wait).await
            {
                body["nodes"] = nodes;
            }
            json_reply(StatusCode::OK, &body)
        }
        Err(e) => change_error(&e),
    }
}

async fn services(inner: &Inner) -> Reply {
    match service_items(inner).await {
        Ok((version, items)) => {
            json_reply(StatusCode::OK, &json!({"version": version, "items": items}))
        }
        Err(e) => store_error(&e),
    }
}

/// The services deployed on this node, and those only configured, with their settings: what
/// `GET /api/services` lists and the web admin's services page shows.
pub(super) async fn service_items(inner: &Inner) -> Result<(u64, Vec<Value>), StoreError> {
    let runtime = &inner.runtime;
    let (version, configured) = runtime
        .list(Section::Services, Section::Services.sole_kind())
        .await?;
    let mut items: Vec<Value> = Vec::new();
    let deployed = runtime.platform().services().list();
    for info in &deployed {
        let found = configured.iter().find(|(k, _, _)| k.name == info.name);
        items.push(json!({
            "kind": "service",
            "name": info.name,
            "deployed": true,
            "is_active": info.is_active,
            "version": found.map(|(_, _, v)| *v),
            "config": found.map_or_else(|| json!({"name": info.name, "is_active": true}), |(_, c, _)| c.clone()),
            "input": info.input,
            "output": info.output,
        }));
    }
    for (key, config, v) in &configured {
        if !deployed.iter().any(|d| d.name == key.name) {
            items.push(json!({
                "kind": "service",
                "name": key.name,
                "deployed": false,
                "is_active": config["is_active"],
                "version": v,
                "config": config,
            }));
        }
    }
    Ok((version, items))
}

async fn invoke(inner: &Inner, req: Request<Incoming>, name: &str) -> Reply {
    let bytes = match body(req).await {
        Ok(b) => b,
        Err(refusal) => return refusal.reply(),
    };
    let (cid, status, response) = invoke_service(inner, name, bytes).await;
    // The outer status is the service's: a 404 for no such service, a 400 for bad input.
    json_reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        &json!({"cid": cid.to_string(), "status": status, "response": response}),
    )
}

/// Invokes the service `name` with a JSON body, as the channel `admin`: the cid, the status and
/// the response (JSON when it is, else text).
pub(super) async fn invoke_service(inner: &Inner, name: &str, bytes: Bytes) -> (Cid, u16, Value) {
    let channel = Arc::new(ChannelInfo::new(
        "admin",
        ChannelKind::INTERNAL,
        DataFormat::Json,
    ));
    let cid = Cid::new();
    let raw = RawRequest::new(cid, channel, bytes).with_content_type("application/json");
    let reply = inner.runtime.platform().dispatch(name, raw).await;
    let response: Value = if reply.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&reply.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.body).into_owned()))
    };
    (cid, reply.status.as_u16(), response)
}

async fn ping(inner: &Inner, key: &ObjectKey) -> Reply {
    let started = std::time::Instant::now();
    match inner.runtime.ping(key).await {
        Ok(Ok(message)) => json_reply(
            StatusCode::OK,
            &json!({"ok": true, "message": message, "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0}),
        ),
        Ok(Err(why)) => json_reply(
            StatusCode::BAD_GATEWAY,
            &json!({"ok": false, "error": {"status": 502, "kind": "ping_failed", "message": format!("{key}: {why}")}}),
        ),
        Err(e) => change_error(&e),
    }
}

/// Runs a channel that runs (a scheduled job) now: 202, since the run goes on in the
/// background; 409 for a kind that does not run.
async fn run(inner: &Inner, key: &ObjectKey) -> Reply {
    match inner.runtime.run(key).await {
        Ok(Ok(message)) => json_reply(
            StatusCode::ACCEPTED,
            &json!({"ok": true, "message": message}),
        ),
        Ok(Err(why)) => json_reply(
            StatusCode::CONFLICT,
            &json!({"ok": false, "error": {"status": 409, "kind": "not_run", "message": format!("{key}: {why}")}}),
        ),
        Err(e) => change_error(&e),
    }
}

async fn collection(
    inner: &Inner,
    req: Request<Incoming>,
    (section, kind): (Section, String),
) -> Reply {
    let runtime = &inner.runtime;
    let wait = match ack_wait(&query(&req)) {
        Ok(w) => w,
        Err(refusal) => return refusal.reply(),
    };
    match *req.method() {
        Method::GET => match runtime.list(section, &kind).await {
            Ok((version, items)) => {
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|(k, config, v)| json!({"kind": k.kind, "name": k.name, "version": v, "config": config}))
                    .collect();
                json_reply(StatusCode::OK, &json!({"version": version, "items": items}))
            }
            Err(e) => store_error(&e),
        },
        Method::POST => {
            let author = author(&req);
            let object = match json_body(req).await {
                Ok(v) => v,
                Err(refusal) => return refusal.reply(),
            };
            let Some(name) = object
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    &format!("{section} {kind}: a new object needs a `name`, as text"),
                    &[],
                );
            };
            let key = ObjectKey::new(section, kind, name);
            let result = runtime
                .put(&key, object, PutMode::Create, None, &author)
                .await;
            write_reply(inner, result, StatusCode::CREATED, wait).await
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "unsupported",
            "a collection takes GET and POST",
            &[],
        ),
    }
}

async fn object(inner: &Inner, req: Request<Incoming>, key: ObjectKey) -> Reply {
    let runtime = &inner.runtime;
    let wait = match ack_wait(&query(&req)) {
        Ok(w) => w,
        Err(refusal) => return refusal.reply(),
    };
    let wanted = match if_match(&req) {
        Ok(w) => w,
        Err(refusal) => return refusal.reply(),
    };
    let current = match runtime.get(&key).await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let version = match wanted {
        IfMatch::None => None,
        IfMatch::Version(v) => Some(v),
        IfMatch::Any => match &current {
            Some((_, v)) => Some(*v),
            None => {
                return change_error(&ChangeError::Stale { key, current: None });
            }
        },
    };
    let author = author(&req);
    match *req.method() {
        Method::GET => match current {
            Some((config, v)) => with_etag(json_reply(StatusCode::OK, &config), v),
            None => change_error(&ChangeError::NotFound(key)),
        },
        Method::PUT => {
            let created = current.is_none();
            let object = match json_body(req).await {
                Ok(v) => v,
                Err(refusal) => return refusal.reply(),
            };
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let result = runtime
                .put(&key, object, PutMode::Upsert, version, &author)
                .await;
            write_reply(inner, result, status, wait).await
        }
        Method::PATCH => {
            let patch = match json_body(req).await {
                Ok(v) => v,
                Err(refusal) => return refusal.reply(),
            };
            let result = runtime
                .put(&key, patch, PutMode::Patch, version, &author)
                .await;
            write_reply(inner, result, StatusCode::OK, wait).await
        }
        Method::DELETE => match runtime.delete(&key, version, &author).await {
            Ok(outcome) => {
                let mut body = json!({"version": outcome.version});
                if let Some(nodes) = nodes_after(inner, outcome.version, wait).await {
                    body["nodes"] = nodes;
                }
                json_reply(StatusCode::OK, &body)
            }
            Err(e) => change_error(&e),
        },
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "unsupported",
            "an object takes GET, PUT, PATCH and DELETE",
            &[],
        ),
    }
}

/// How long a write waits for the cluster's nodes to apply it: `?wait=SECONDS` (0 to 60), 5 s
/// by default.
fn ack_wait(query: &[(String, String)]) -> Result<Duration, Refusal> {
    match query.iter().find(|(k, _)| k == "wait") {
        None => Ok(Duration::from_secs(5)),
        Some((_, v)) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && (0.0..=60.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "`wait` is the seconds to wait for the cluster's nodes, 0 to 60",
                )
            }),
    }
}

/// In a cluster, what each live node did with `version`, waiting up to `wait`.
pub(super) async fn nodes_after(inner: &Inner, version: u64, wait: Duration) -> Option<Value> {
    let replication = inner.runtime.replication()?;
    Some(match replication.acks(version, wait).await {
        Ok(acks) => Value::Array(acks),
        Err(e) => json!([{"node": "*", "status": "not_answered", "error": e.to_string()}]),
    })
}

async fn write_reply(
    inner: &Inner,
    result: Result<WriteOutcome, ChangeError>,
    status: StatusCode,
    wait: Duration,
) -> Reply {
    match result {
        Ok(outcome) => {
            let mut body = json!({
                "version": outcome.version,
                "changed": outcome.op.is_some(),
                "object": {
                    "section": outcome.key.section,
                    "kind": outcome.key.kind,
                    "name": outcome.key.name,
                    "version": outcome.object_version,
                },
            });
            if !outcome.warnings.is_empty() {
                body["warnings"] = json!(outcome.warnings);
            }
            if let Some(nodes) = nodes_after(inner, outcome.version, wait).await {
                body["nodes"] = nodes;
            }
            let reply = json_reply(status, &body);
            match outcome.object_version {
                Some(v) => with_etag(reply, v),
                None => reply,
            }
        }
        Err(e) => change_error(&e),
    }
}
