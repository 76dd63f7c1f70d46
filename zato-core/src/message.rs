//! A request and a reply as bytes: what channels hand to the platform and get back.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};

use crate::Cid;
use crate::service::{ChannelInfo, HttpInfo};

/// A request as a channel received it, before SimpleIO gives it a type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawRequest {
    /// The correlation id the channel assigned.
    pub cid: Cid,
    /// The channel it came through.
    pub channel: Arc<ChannelInfo>,
    /// The body exactly as received.
    pub body: Bytes,
    /// The body's media type, for transports without HTTP headers (AMQP's `content_type`).
    pub content_type: Option<String>,
    /// Method, URI, headers and path parameters, for HTTP.
    pub http: Option<HttpInfo>,
}

impl RawRequest {
    /// A request on `channel` with `body`.
    pub fn new(cid: Cid, channel: Arc<ChannelInfo>, body: impl Into<Bytes>) -> Self {
        RawRequest {
            cid,
            channel,
            body: body.into(),
            content_type: None,
            http: None,
        }
    }

    /// The same request with its HTTP side.
    pub fn with_http(mut self, http: HttpInfo) -> Self {
        self.http = Some(http);
        self
    }

    /// The same request with a media type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The body's media type: the HTTP `Content-Type` header, or the transport's own.
    pub fn content_type(&self) -> Option<&str> {
        self.http
            .as_ref()
            .and_then(|h| h.headers.get(header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .or(self.content_type.as_deref())
    }
}

/// A reply as bytes, ready for a channel to send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawResponse {
    /// The status.
    pub status: StatusCode,
    /// Extra headers (`Allow` on a 405, those a service set, …).
    pub headers: HeaderMap,
    /// The media type of the body.
    pub content_type: Cow<'static, str>,
    /// The body.
    pub body: Bytes,
}

impl RawResponse {
    /// A reply with a status, a media type and a body.
    pub fn new(
        status: StatusCode,
        content_type: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        RawResponse {
            status,
            headers: HeaderMap::new(),
            content_type: content_type.into(),
            body: body.into(),
        }
    }
}
