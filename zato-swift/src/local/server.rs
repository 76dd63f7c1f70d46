//! The HTTP side of the local endpoint: routing and the Swift semantics of each request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::objects::object_op;
use super::store::{Container, Store};
use super::wire::{Resp, decode, header, meta_from, now, reply, set, text};
use crate::large::{TempUrlDigest, sign};
use crate::object::md5_hex;

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) user: String,
    pub(crate) key: String,
    pub(crate) account: String,
    pub(crate) base: String,
    pub(crate) tokens: Mutex<Vec<String>>,
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<Vec<super::FaultRule>>,
}

impl State {
    pub(crate) fn storage_url(&self) -> String {
        format!("{}/v1/{}", self.base, self.account)
    }
}

/// Accepts connections until `stopped` turns true, then closes each connection gracefully.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stop = stopped.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

fn listing_date(t: f64) -> String {
    let micros = (t * 1e6) as i64;
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

async fn handle(state: &State, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST),
    };
    let raw_path = parts.uri.path().to_string();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let method = parts.method;
    let h = &parts.headers;
    let has_length = h.contains_key(http::header::CONTENT_LENGTH)
        || h.contains_key(http::header::TRANSFER_ENCODING);

    if raw_path.starts_with("/auth/v1") {
        return auth(state, h);
    }
    let prefix = format!("/v1/{}", state.account);
    let Some(rest) = raw_path.strip_prefix(&prefix) else {
        return text(StatusCode::NOT_FOUND);
    };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (container, object) = match rest.split_once('/') {
        Some((c, o)) => (decode(c), Some(decode(o)).filter(|o| !o.is_empty())),
        None => (decode(rest), None),
    };
    match super::take_fault(&state.faults, &container) {
        Some(super::Fault::Status(code)) => {
            return text(StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE));
        }
        Some(super::Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        None => {}
    }
    let authorized = header(h, "x-auth-token").is_some_and(|t| {
        state
            .tokens
            .lock()
            .is_ok_and(|tokens| tokens.iter().any(|k| k == t))
    });
    if !authorized {
        let temp_ok = object.is_some() && temp_url_ok(state, &method, &raw_path, &query);
        if !temp_ok {
            return text(StatusCode::UNAUTHORIZED);
        }
    }
    let Ok(mut store) = state.store.lock() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR);
    };
    match (container.is_empty(), object) {
        (true, _) => account(&mut store, &method, &query, h, &body),
        (false, None) => container_op(&mut store, &method, &container, &query, h),
        // Like Swift's proxy: an object PUT must say its length or come in chunks.
        (false, Some(_)) if method == Method::PUT && !has_length => {
            text(StatusCode::LENGTH_REQUIRED)
        }
        (false, Some(o)) => object_op(&mut store, &method, &container, &o, &query, h, body),
    }
}

fn auth(state: &State, h: &HeaderMap) -> Resp {
    let user = header(h, "x-auth-user").or_else(|| header(h, "x-storage-user"));
    let key = header(h, "x-auth-key").or_else(|| header(h, "x-storage-pass"));
    if user != Some(state.user.as_str()) || key != Some(state.key.as_str()) {
        return text(StatusCode::UNAUTHORIZED);
    }
    let token = format!(
        "AUTH_tk{}",
        md5_hex(format!("{}{}", now(), rand::random::<u64>()).as_bytes())
    );
    if let Ok(mut t) = state.tokens.lock() {
        t.push(token.clone());
    }
    let mut r = reply(StatusCode::OK, "");
    set(&mut r, "x-storage-url", state.storage_url());
    set(&mut r, "x-auth-token", &token);
    set(&mut r, "x-storage-token", &token);
    set(&mut r, "x-auth-token-expires", "86400");
    r
}

fn temp_url_ok(
    state: &State,
    method: &Method,
    raw_path: &str,
    q: &HashMap<String, String>,
) -> bool {
    let (Some(sig), Some(expires)) = (q.get("temp_url_sig"), q.get("temp_url_expires")) else {
        return false;
    };
    let Ok(exp) = expires.parse::<u64>() else {
        return false;
    };
    if (exp as f64) < now() {
        return false;
    }
    let digest = match sig.len() {
        40 => TempUrlDigest::Sha1,
        64 => TempUrlDigest::Sha256,
        _ => return false,
    };
    let path = decode(raw_path);
    let keys: Vec<String> = state
        .store
        .lock()
        .map(|s| {
            ["temp-url-key", "temp-url-key-2"]
                .iter()
                .filter_map(|k| s.metadata.get(*k).cloned())
                .collect()
        })
        .unwrap_or_default();
    let methods: &[&str] = if method == Method::HEAD {
        &["GET", "HEAD", "PUT"]
    } else {
        &[method.as_str()]
    };
    keys.iter().any(|key| {
        methods
            .iter()
            .any(|m| sign(key, &format!("{m}\n{exp}\n{path}"), digest) == *sig)
    })
}

fn account(
    store: &mut Store,
    method: &Method,
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: &Bytes,
) -> Resp {
    match *method {
        Method::HEAD | Method::GET => {
            let mut r = if *method == Method::GET {
                let names: Vec<String> = store.containers.keys().cloned().collect();
                let page = select(names.iter().map(String::as_str), q);
                let entries: Vec<_> = page
                    .iter()
                    .map(|e| match e {
                        Entry::Name(n) => {
                            let c = &store.containers[*n];
                            json!({"name": n, "count": c.objects.len(), "bytes": c.bytes()})
                        }
                        Entry::Subdir(s) => json!({ "subdir": s }),
                    })
                    .collect();
                listing(q, &entries)
            } else {
                reply(StatusCode::NO_CONTENT, "")
            };
            let objects: usize = store.containers.values().map(|c| c.objects.len()).sum();
            let bytes: u64 = store.containers.values().map(Container::bytes).sum();
            set(
                &mut r,
                "x-account-container-count",
                store.containers.len().to_string(),
            );
            set(&mut r, "x-account-object-count", objects.to_string());
            set(&mut r, "x-account-bytes-used", bytes.to_string());
            for (k, v) in &store.metadata {
                set(&mut r, &format!("x-account-meta-{k}"), v);
            }
            r
        }
        Method::POST if q.contains_key("bulk-delete") => bulk_delete(store, body),
        Method::POST => {
            meta_from(h, "account", &mut store.metadata);
            let _ = store.save_account();
            text(StatusCode::NO_CONTENT)
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn bulk_delete(store: &mut Store, body: &Bytes) -> Resp {
    let (mut deleted, mut not_found, mut errors) = (0u64, 0u64, Vec::new());
    for line in String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let path = decode(line.trim());
        let path = path.trim_start_matches('/');
        let (c, o) = path.split_once('/').unwrap_or((path, ""));
        match (store.containers.get_mut(c), o.is_empty()) {
            (None, _) => not_found += 1,
            (Some(cont), true) if !cont.objects.is_empty() => {
                errors.push((line.to_string(), "409 Conflict".to_string()))
            }
            (Some(_), true) => {
                store.containers.remove(c);
                let _ = store.remove_container(c);
                deleted += 1;
            }
            (Some(cont), false) => {
                if cont.objects.remove(o).is_some() {
                    let _ = store.remove_object(c, o);
                    deleted += 1;
                } else {
                    not_found += 1;
                }
            }
        }
    }
    let status = if errors.is_empty() {
        "200 OK"
    } else {
        "400 Bad Request"
    };
    let body = json!({
        "Number Deleted": deleted, "Number Not Found": not_found,
        "Errors": errors, "Response Status": status, "Response Body": "",
    });
    let mut r = reply(StatusCode::OK, body.to_string());
    set(&mut r, "content-type", "application/json; charset=utf-8");
    r
}

fn container_op(
    store: &mut Store,
    method: &Method,
    name: &str,
    q: &HashMap<String, String>,
    h: &HeaderMap,
) -> Resp {
    if name.len() > crate::MAX_CONTAINER_NAME {
        return text(StatusCode::BAD_REQUEST);
    }
    match *method {
        Method::PUT => {
            let created = !store.containers.contains_key(name);
            let c = store.containers.entry(name.to_string()).or_default();
            meta_from(h, "container", &mut c.metadata);
            let _ = store.save_container(name);
            text(if created {
                StatusCode::CREATED
            } else {
                StatusCode::ACCEPTED
            })
        }
        Method::POST => match store.containers.get_mut(name) {
            Some(c) => {
                meta_from(h, "container", &mut c.metadata);
                let _ = store.save_container(name);
                text(StatusCode::NO_CONTENT)
            }
            None => text(StatusCode::NOT_FOUND),
        },
        Method::DELETE => match store.containers.get(name) {
            None => text(StatusCode::NOT_FOUND),
            Some(c) if !c.objects.is_empty() => text(StatusCode::CONFLICT),
            Some(_) => {
                store.containers.remove(name);
                let _ = store.remove_container(name);
                text(StatusCode::NO_CONTENT)
            }
        },
        Method::HEAD | Method::GET => {
            let Some(c) = store.containers.get(name) else {
                return text(StatusCode::NOT_FOUND);
            };
            let mut r = if *method == Method::GET {
                let page = select(c.objects.keys().map(String::as_str), q);
                let entries: Vec<_> = page
                    .iter()
                    .map(|e| match e {
                        Entry::Name(n) => {
                            let o = &c.objects[*n];
                            json!({"name": n, "hash": o.etag.trim_matches('"'), "bytes": o.data.len(),
                                   "content_type": o.content_type, "last_modified": listing_date(o.modified)})
                        }
                        Entry::Subdir(s) => json!({ "subdir": s }),
                    })
                    .collect();
                listing(q, &entries)
            } else {
                reply(StatusCode::NO_CONTENT, "")
            };
            set(
                &mut r,
                "x-container-object-count",
                c.objects.len().to_string(),
            );
            set(&mut r, "x-container-bytes-used", c.bytes().to_string());
            for (k, v) in &c.metadata {
                set(&mut r, &format!("x-container-meta-{k}"), v);
            }
            r
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED),
    }
}

enum Entry<'a> {
    Name(&'a str),
    Subdir(String),
}

/// Applies `prefix`, `marker`, `end_marker`, `delimiter` and `limit` to sorted names.
fn select<'a>(names: impl Iterator<Item = &'a str>, q: &HashMap<String, String>) -> Vec<Entry<'a>> {
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    let marker = q.get("marker").map(String::as_str);
    let end = q.get("end_marker").map(String::as_str);
    let delim = q.get("delimiter").and_then(|d| d.chars().next());
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10_000)
        .min(10_000);
    let mut out: Vec<Entry<'a>> = Vec::new();
    for n in names {
        if out.len() >= limit {
            break;
        }
        if !n.starts_with(prefix) || marker.is_some_and(|m| n <= m) || end.is_some_and(|e| n >= e) {
            continue;
        }
        if let Some((d, i)) = delim.and_then(|d| n[prefix.len()..].find(d).map(|i| (d, i))) {
            let sub = n[..prefix.len() + i + d.len_utf8()].to_string();
            let seen = matches!(out.last(), Some(Entry::Subdir(s)) if *s == sub);
            if !seen && marker.is_none_or(|m| sub.as_str() > m) {
                out.push(Entry::Subdir(sub));
            }
            continue;
        }
        out.push(Entry::Name(n));
    }
    out
}

fn listing(q: &HashMap<String, String>, entries: &[serde_json::Value]) -> Resp {
    if q.get("format").is_some_and(|f| f == "json") {
        let mut r = reply(
            StatusCode::OK,
            serde_json::Value::from(entries.to_vec()).to_string(),
        );
        set(&mut r, "content-type", "application/json; charset=utf-8");
        return r;
    }
    if entries.is_empty() {
        return reply(StatusCode::NO_CONTENT, "");
    }
    let names: String = entries
        .iter()
        .map(|e| {
            format!(
                "{}\n",
                e["name"].as_str().or(e["subdir"].as_str()).unwrap_or("")
            )
        })
        .collect();
    let mut r = reply(StatusCode::OK, names);
    set(&mut r, "content-type", "text/plain; charset=utf-8");
    r
}
