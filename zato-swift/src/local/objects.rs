//! Object requests of the local endpoint: PUT (plain, copy, static large object manifest), COPY,
//! GET and HEAD with ranges, POST and DELETE.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::Full;

use super::store::{Store, StoredObject};
use super::wire::{Resp, decode, header, http_date, meta_from, now, reply, set, text};
use crate::client::Metadata;
use crate::object::md5_hex;

fn object_headers(r: &mut Resp, o: &StoredObject) {
    set(r, "etag", &o.etag);
    set(r, "content-type", &o.content_type);
    set(r, "last-modified", http_date(o.modified));
    set(r, "accept-ranges", "bytes");
    if o.segments.is_some() {
        set(r, "x-static-large-object", "True");
    }
    for (k, v) in &o.metadata {
        set(r, &format!("x-object-meta-{k}"), v);
    }
}

pub(super) fn object_op(
    store: &mut Store,
    method: &Method,
    c: &str,
    o: &str,
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: Bytes,
) -> Resp {
    if o.len() > crate::MAX_OBJECT_NAME {
        return text(StatusCode::BAD_REQUEST);
    }
    if !store.containers.contains_key(c) {
        return text(StatusCode::NOT_FOUND);
    }
    match method.as_str() {
        "PUT" => put(store, c, o, q, h, body),
        "COPY" => {
            let Some(dest) = header(h, "destination").map(decode) else {
                return text(StatusCode::PRECONDITION_FAILED);
            };
            let dest = dest.trim_start_matches('/');
            let Some((dc, d_o)) = dest.split_once('/') else {
                return text(StatusCode::PRECONDITION_FAILED);
            };
            copy(store, c, o, dc, d_o, h)
        }
        "GET" | "HEAD" => {
            let Some(obj) = store.containers[c].objects.get(o) else {
                return text(StatusCode::NOT_FOUND);
            };
            let len = obj.data.len() as u64;
            let range = header(h, "range").and_then(|r| parse_range(r, len));
            let mut r = match range {
                Some(Err(())) => return text(StatusCode::RANGE_NOT_SATISFIABLE),
                Some(Ok((a, b))) => {
                    let mut r = reply(
                        StatusCode::PARTIAL_CONTENT,
                        obj.data.slice(a as usize..=b as usize),
                    );
                    set(&mut r, "content-range", format!("bytes {a}-{b}/{len}"));
                    r
                }
                None => reply(StatusCode::OK, obj.data.clone()),
            };
            object_headers(&mut r, obj);
            if method == Method::HEAD {
                *r.body_mut() = Full::new(Bytes::new());
                set(&mut r, "content-length", obj.data.len().to_string());
            }
            r
        }
        "POST" => match store
            .containers
            .get_mut(c)
            .and_then(|cont| cont.objects.get_mut(o))
        {
            Some(obj) => {
                obj.metadata.clear();
                meta_from(h, "object", &mut obj.metadata);
                let _ = store.save_object(c, o);
                text(StatusCode::ACCEPTED)
            }
            None => text(StatusCode::NOT_FOUND),
        },
        "DELETE" => {
            let Some(obj) = store
                .containers
                .get_mut(c)
                .and_then(|cont| cont.objects.remove(o))
            else {
                return text(StatusCode::NOT_FOUND);
            };
            let _ = store.remove_object(c, o);
            if q.contains_key("multipart-manifest") {
                for (sc, so) in obj.segments.unwrap_or_default() {
                    if let Some(cont) = store.containers.get_mut(&sc) {
                        cont.objects.remove(&so);
                        let _ = store.remove_object(&sc, &so);
                    }
                }
            }
            text(StatusCode::NO_CONTENT)
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n`; `None` to ignore the header, `Err` for 416.
fn parse_range(v: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (first, last) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.saturating_sub(1)),
        ),
    };
    if first >= len || first > last {
        return Some(Err(()));
    }
    Some(Ok((first, last)))
}

fn put(
    store: &mut Store,
    c: &str,
    o: &str,
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: Bytes,
) -> Resp {
    if h.get("if-none-match").is_some_and(|v| v == "*")
        && store.containers[c].objects.contains_key(o)
    {
        return text(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(src) = header(h, "x-copy-from").map(decode) {
        let src = src.trim_start_matches('/');
        let Some((sc, so)) = src.split_once('/') else {
            return text(StatusCode::PRECONDITION_FAILED);
        };
        return copy(store, sc, so, c, o, h);
    }
    let (data, etag, segments) = if q.get("multipart-manifest").is_some_and(|m| m == "put") {
        match assemble(store, &body) {
            Ok(x) => x,
            Err(m) => return reply(StatusCode::BAD_REQUEST, m),
        }
    } else {
        let etag = md5_hex(&body);
        if header(h, "etag").is_some_and(|sent| sent.trim_matches('"') != etag) {
            return text(StatusCode::UNPROCESSABLE_ENTITY);
        }
        (body, etag, None)
    };
    let mut metadata = Metadata::new();
    meta_from(h, "object", &mut metadata);
    let stored = StoredObject {
        data,
        content_type: header(h, "content-type")
            .unwrap_or("application/octet-stream")
            .to_string(),
        etag: etag.clone(),
        metadata,
        modified: now(),
        segments,
    };
    if let Some(cont) = store.containers.get_mut(c) {
        cont.objects.insert(o.to_string(), stored);
    }
    let _ = store.save_object(c, o);
    let mut r = text(StatusCode::CREATED);
    set(&mut r, "etag", &etag);
    r
}

type Assembled = (Bytes, String, Option<Vec<(String, String)>>);

/// Concatenates the segments a static large object manifest lists.
fn assemble(store: &Store, manifest: &Bytes) -> Result<Assembled, &'static str> {
    let bad = |m: &'static str| m;
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(manifest).map_err(|_| bad("manifest is not a JSON list"))?;
    let mut data = Vec::new();
    let mut etags = String::new();
    let mut segments = Vec::new();
    for item in &items {
        let path = item["path"]
            .as_str()
            .ok_or_else(|| bad("segment without path"))?;
        // Swift's SLO middleware takes a segment path as plain `/container/object` and quotes
        // it itself; it is never percent-decoded.
        let path = path.trim_start_matches('/');
        let (sc, so) = path
            .split_once('/')
            .ok_or_else(|| bad("bad segment path"))?;
        let seg = store
            .containers
            .get(sc)
            .and_then(|cont| cont.objects.get(so))
            .ok_or_else(|| bad("segment not found"))?;
        if item["etag"].as_str().is_some_and(|e| e != seg.etag) {
            return Err(bad("segment etag mismatch"));
        }
        if item["size_bytes"]
            .as_u64()
            .is_some_and(|s| s != seg.data.len() as u64)
        {
            return Err(bad("segment size mismatch"));
        }
        data.extend_from_slice(&seg.data);
        etags.push_str(&seg.etag);
        segments.push((sc.to_string(), so.to_string()));
    }
    let etag = format!("\"{}\"", md5_hex(etags.as_bytes()));
    Ok((Bytes::from(data), etag, Some(segments)))
}

fn copy(store: &mut Store, sc: &str, so: &str, dc: &str, d_o: &str, h: &HeaderMap) -> Resp {
    let Some(src) = store
        .containers
        .get(sc)
        .and_then(|c| c.objects.get(so))
        .cloned()
    else {
        return text(StatusCode::NOT_FOUND);
    };
    let Some(dest) = store.containers.get_mut(dc) else {
        return text(StatusCode::NOT_FOUND);
    };
    let mut copied = StoredObject {
        modified: now(),
        segments: None,
        etag: md5_hex(&src.data),
        ..src
    };
    meta_from(h, "object", &mut copied.metadata);
    let etag = copied.etag.clone();
    dest.objects.insert(d_o.to_string(), copied);
    let _ = store.save_object(dc, d_o);
    let mut r = text(StatusCode::CREATED);
    set(&mut r, "etag", etag);
    r
}
