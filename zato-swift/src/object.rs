//! Object operations: PUT from bytes or a stream, GET to bytes or a stream, HEAD, POST, DELETE
//! and server-side copy.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::join;
use futures_util::{Stream, TryStreamExt};
use http::header::{CONTENT_TYPE, ETAG, RANGE};
use http::{HeaderMap, HeaderValue, Method};
use md5::{Digest, Md5};

use crate::client::{
    Body, Call, ForClient, Metadata, SwiftClient, Target, header_str, header_u64, meta_headers,
    read_meta,
};
use crate::error::{SwiftError, SwiftErrorKind};
use crate::names::{encode_component, encode_object, object_path};

/// How to write an object.
///
/// # Examples
///
/// ```
/// use zato_swift::PutOptions;
///
/// let opts = PutOptions::default()
///     .content_type("application/json")
///     .meta("source", "crm")
///     .if_none_match();
/// assert!(opts.if_none_match);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// The `Content-Type`; Swift guesses one when unset.
    pub content_type: Option<String>,
    /// `X-Object-Meta-*`.
    pub metadata: Metadata,
    /// Send `If-None-Match: *`: refuse to overwrite an existing object.
    pub if_none_match: bool,
    /// The MD5 of the content, in hex, when the caller already knows it: it is sent as `ETag`
    /// so Swift refuses a corrupted upload (422). When unset, the MD5 is computed while the
    /// request is in flight and checked against the ETag Swift answers with.
    pub etag: Option<String>,
}

impl PutOptions {
    /// Sets the content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds one metadata item.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Refuses to overwrite an existing object ([`SwiftErrorKind::Conflict`]).
    pub fn if_none_match(mut self) -> Self {
        self.if_none_match = true;
        self
    }

    /// Sends a known MD5 (hex) as `ETag`, so Swift verifies the upload itself.
    pub fn etag(mut self, md5_hex: impl Into<String>) -> Self {
        self.etag = Some(md5_hex.into());
        self
    }

    pub(crate) fn apply(&self, call: &mut Call) -> Result<(), SwiftError> {
        if let Some(ct) = &self.content_type {
            let v = HeaderValue::from_str(ct).map_err(|_| SwiftErrorKind::InvalidMetadata {
                key: "content-type".into(),
                reason: "not a valid header value",
            })?;
            call.headers.insert(CONTENT_TYPE, v);
        }
        if self.if_none_match {
            call.headers
                .insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        }
        if let Some(etag) = &self.etag {
            let v = HeaderValue::from_str(etag).map_err(|_| SwiftErrorKind::InvalidMetadata {
                key: "etag".into(),
                reason: "not a valid header value",
            })?;
            call.headers.insert(ETAG, v);
            call.sent_etag = Some(etag.clone());
        }
        meta_headers(&mut call.headers, "object", &self.metadata)
    }
}

/// How to read an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// A byte range: first byte and, optionally, last byte (inclusive).
    pub range: Option<(u64, Option<u64>)>,
}

impl GetOptions {
    /// Reads bytes `first..=last`, or from `first` to the end.
    pub fn range(first: u64, last: Option<u64>) -> Self {
        GetOptions {
            range: Some((first, last)),
        }
    }
}

/// What `HEAD` (or `GET`) tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The length of the content (of the range, for a ranged GET).
    pub content_length: u64,
    /// The content type.
    pub content_type: Option<String>,
    /// The ETag, without quotes: the MD5 of the content for an ordinary object.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `X-Object-Meta-*`, without the prefix.
    pub metadata: Metadata,
    /// Whether it is a static large object manifest.
    pub is_static_large_object: bool,
    /// For a dynamic large object, its `X-Object-Manifest`: the `container/prefix` of its
    /// segments.
    pub dynamic_large_object_manifest: Option<String>,
}

impl ObjectInfo {
    fn from_headers(h: &HeaderMap) -> Self {
        ObjectInfo {
            content_length: header_u64(h, "content-length"),
            content_type: header_str(h, "content-type"),
            etag: header_str(h, "etag").map(|e| e.trim_matches('"').to_string()),
            last_modified: header_str(h, "last-modified"),
            metadata: read_meta(h, "object"),
            is_static_large_object: header_str(h, "x-static-large-object")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            dynamic_large_object_manifest: header_str(h, "x-object-manifest"),
        }
    }

    /// Whether it is a static or dynamic large object, whose ETag is not the MD5 of its content.
    pub fn is_large_object(&self) -> bool {
        self.is_static_large_object || self.dynamic_large_object_manifest.is_some()
    }
}

/// An object read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its headers.
    pub info: ObjectInfo,
    /// Its content.
    pub data: Bytes,
}

/// An object being read as a stream of chunks. Implements [`Stream`].
pub struct ObjectStream {
    /// Its headers.
    pub info: ObjectInfo,
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, SwiftError>> + Send>>,
}

impl fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStream")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Stream for ObjectStream {
    type Item = Result<Bytes, SwiftError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The MD5 of `data` in hex.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn body_error(e: reqwest::Error) -> SwiftError {
    SwiftErrorKind::Transport {
        message: "reading the body failed".into(),
        source: Some(Box::new(e)),
    }
    .into()
}

impl SwiftClient {
    /// Writes an object from bytes and checks the ETag Swift answers against their MD5 (or
    /// sends a known MD5 up front, see [`PutOptions::etag`]). Retried as configured; the bytes
    /// are not copied. Returns the MD5.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidName`]; [`SwiftErrorKind::EtagMismatch`] when Swift stored
    /// something else; [`SwiftErrorKind::Conflict`] when `if_none_match` is set and the object
    /// exists; [`SwiftErrorKind::NotFound`] when the container does not exist; any error of the
    /// request.
    pub async fn put_object(
        &self,
        container: &str,
        object: &str,
        data: impl Into<Bytes>,
        opts: &PutOptions,
    ) -> Result<String, SwiftError> {
        let data = data.into();
        let mut call = Call::new(
            Method::PUT,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        opts.apply(&mut call).for_client(self)?;
        let call = call.body(Body::Bytes(data.clone()));
        // The request is handed to the HTTP connection task on its first poll; the MD5 is
        // computed meanwhile instead of delaying the upload (python-swiftclient checks the
        // answered ETag the same way).
        let (resp, etag) = join(self.execute(call), async { md5_hex(&data) }).await;
        let resp = resp?;
        check_etag(resp.headers(), container, object, &etag).for_client(self)?;
        Ok(etag)
    }

    /// Writes an object from a stream of chunks, sent with chunked transfer encoding, and checks
    /// the ETag Swift answers against the MD5 of what was sent. A streamed body cannot be
    /// replayed, so this request is never retried.
    ///
    /// # Errors
    ///
    /// As [`put_object`](Self::put_object).
    pub async fn put_object_stream<S, E>(
        &self,
        container: &str,
        object: &str,
        stream: S,
        opts: &PutOptions,
    ) -> Result<String, SwiftError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let mut call = Call::new(
            Method::PUT,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        opts.apply(&mut call).for_client(self)?;
        let hasher = Arc::new(Mutex::new(Md5::new()));
        let h = hasher.clone();
        let stream = stream.inspect_ok(move |chunk| {
            if let Ok(mut h) = h.lock() {
                h.update(chunk);
            }
        });
        let call = call.body(Body::Stream(Some(reqwest::Body::wrap_stream(stream))));
        let resp = self.execute(call).await?;
        let etag = hasher
            .lock()
            .map(|h| hex(&h.clone().finalize()))
            .unwrap_or_default();
        check_etag(resp.headers(), container, object, &etag).for_client(self)?;
        Ok(etag)
    }

    /// Reads a whole object. Unless a range was asked for or it is a large object (static, or
    /// dynamic with `X-Object-Manifest`), its MD5 is checked against the ETag.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] naming the object, [`SwiftErrorKind::EtagMismatch`], or any
    /// error of the request.
    pub async fn get_object(&self, container: &str, object: &str) -> Result<Object, SwiftError> {
        self.get_object_with(container, object, &GetOptions::default())
            .await
    }

    /// Reads an object, or a range of it.
    ///
    /// # Errors
    ///
    /// As [`get_object`](Self::get_object).
    pub async fn get_object_with(
        &self,
        container: &str,
        object: &str,
        opts: &GetOptions,
    ) -> Result<Object, SwiftError> {
        let resp = self.get_response(container, object, opts).await?;
        let info = ObjectInfo::from_headers(resp.headers());
        let data = resp.bytes().await.map_err(body_error).for_client(self)?;
        // The ETag of a large object is the MD5 of its segments' ETags, not of its content.
        let whole = opts.range.is_none() && !info.is_large_object();
        if let Some(etag) = info.etag.as_deref().filter(|_| whole) {
            let actual = md5_hex(&data);
            if etag.len() == 32 && actual != etag {
                return Err(self.named(SwiftErrorKind::EtagMismatch {
                    container: container.into(),
                    object: object.into(),
                    expected: etag.into(),
                    actual,
                }));
            }
        }
        Ok(Object { info, data })
    }

    /// Reads an object, or a range of it, as a stream of chunks.
    ///
    /// # Errors
    ///
    /// As [`get_object`](Self::get_object), except the ETag, which is not checked.
    pub async fn get_object_stream(
        &self,
        container: &str,
        object: &str,
        opts: &GetOptions,
    ) -> Result<ObjectStream, SwiftError> {
        let resp = self.get_response(container, object, opts).await?;
        let info = ObjectInfo::from_headers(resp.headers());
        let name = self.shared.name.clone();
        Ok(ObjectStream {
            info,
            inner: Box::pin(
                resp.bytes_stream()
                    .map_err(move |e| body_error(e).with_connection(&name)),
            ),
        })
    }

    async fn get_response(
        &self,
        container: &str,
        object: &str,
        opts: &GetOptions,
    ) -> Result<reqwest::Response, SwiftError> {
        let mut call = Call::new(
            Method::GET,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        if let Some((first, last)) = opts.range {
            let v = match last {
                Some(last) => format!("bytes={first}-{last}"),
                None => format!("bytes={first}-"),
            };
            call = call.header(
                RANGE,
                HeaderValue::from_str(&v)
                    .map_err(|_| SwiftErrorKind::Protocol {
                        message: "range".into(),
                    })
                    .for_client(self)?,
            );
        }
        self.execute(call).await
    }

    /// `HEAD` on an object.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] naming the object, or any error of the request.
    pub async fn head_object(
        &self,
        container: &str,
        object: &str,
    ) -> Result<ObjectInfo, SwiftError> {
        let call = Call::new(
            Method::HEAD,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        let resp = self.execute(call).await?;
        Ok(ObjectInfo::from_headers(resp.headers()))
    }

    /// Replaces an object's metadata (Swift's `POST` replaces all of it).
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] naming the object, or any error of the request.
    pub async fn post_object(
        &self,
        container: &str,
        object: &str,
        metadata: &Metadata,
    ) -> Result<(), SwiftError> {
        let mut call = Call::new(
            Method::POST,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        meta_headers(&mut call.headers, "object", metadata).for_client(self)?;
        self.execute(call).await.map(drop)
    }

    /// Deletes an object.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] naming the object, or any error of the request.
    pub async fn delete_object(&self, container: &str, object: &str) -> Result<(), SwiftError> {
        let call = Call::new(
            Method::DELETE,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        );
        self.execute(call).await.map(drop)
    }

    /// Copies an object on the server (`PUT` with `X-Copy-From`): no byte passes through this
    /// process. Metadata given here is added to the copied metadata.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] when the source does not exist (named as the destination by
    /// Swift's answer), or any error of the request.
    pub async fn copy_object(
        &self,
        from_container: &str,
        from_object: &str,
        to_container: &str,
        to_object: &str,
        metadata: &Metadata,
    ) -> Result<(), SwiftError> {
        let source = object_path(from_container, from_object).for_client(self)?;
        let mut call = Call::new(
            Method::PUT,
            object_path(to_container, to_object).for_client(self)?,
            Target::Object(from_container, from_object),
        );
        call.headers.insert(
            "x-copy-from",
            HeaderValue::from_str(&source.encoded())
                .map_err(|_| SwiftErrorKind::Protocol {
                    message: "copy source".into(),
                })
                .for_client(self)?,
        );
        meta_headers(&mut call.headers, "object", metadata).for_client(self)?;
        self.execute(call).await.map(drop)
    }
}

fn check_etag(
    h: &HeaderMap,
    container: &str,
    object: &str,
    expected: &str,
) -> Result<(), SwiftError> {
    // Borrowed: this runs on every PUT.
    let got = h.get(ETAG).map(|v| String::from_utf8_lossy(v.as_bytes()));
    match got {
        Some(got) if got.trim_matches('"') != expected => Err(SwiftErrorKind::EtagMismatch {
            container: container.into(),
            object: object.into(),
            expected: expected.into(),
            actual: got.trim_matches('"').to_string(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// `/container/object`, encoded, as bulk delete and SLO manifests want it.
pub(crate) fn encoded_path(container: &str, object: &str) -> String {
    format!("/{}/{}", encode_component(container), encode_object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_known_input() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
