//! The messages between channels and the platform: a request and a reply as bytes, and what a
//! request came through (its channel, and for HTTP its method, URI, headers and path parameters).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};

use crate::Cid;
use crate::sio::{DataFormat, ParamsPriority, ReplyFormat, Source, XmlLimits};

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
    /// Channel parameters of transports other than HTTP, as name and value: an AMQP message's
    /// headers and properties, a ZeroMQ message's leading frames. SimpleIO reads them as it
    /// reads HTTP's path parameters.
    pub channel_params: Vec<(String, String)>,
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
            channel_params: Vec::new(),
        }
    }

    /// The same request with its HTTP side.
    pub fn with_http(mut self, http: HttpInfo) -> Self {
        self.http = Some(http);
        self
    }

    /// The same request with channel parameters (for transports other than HTTP).
    pub fn with_channel_params(mut self, params: Vec<(String, String)>) -> Self {
        self.channel_params = params;
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

    /// The request as SimpleIO reads it: the channel's format and rules, the query string and
    /// path parameters, the body and its media type.
    pub fn sio_source(&self) -> Source<'_> {
        let http = self.http.as_ref();
        Source::new(self.channel.data_format, &self.body)
            .with_params(self.channel.params)
            .with_xml_limits(self.channel.xml_limits)
            .with_max_items(self.channel.max_items)
            .with_query(http.and_then(HttpInfo::query))
            .with_path_params(http.map_or(&self.channel_params[..], |h| &h.path_params))
            .with_content_type(self.content_type())
    }

    /// The format to answer in before the body was read: the channel's, and for SOAP the
    /// version the media type suggests.
    pub fn reply_format(&self) -> ReplyFormat {
        let format = self.channel.data_format;
        // Only SOAP looks at the media type: other formats skip the header lookup.
        let content_type = if format == DataFormat::Soap {
            self.content_type()
        } else {
            None
        };
        ReplyFormat::decide(format, content_type, None)
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

/// The transport a request came over; its name is the channel kind of the config document
/// (`channels.http`, `channels.amqp`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelKind {
    /// An HTTP channel.
    Http,
    /// An AMQP channel.
    Amqp,
    /// A ZeroMQ channel.
    #[serde(rename = "zmq")]
    ZeroMq,
    /// A Swift container polled for new objects.
    SwiftInbox,
    /// A scheduled job.
    Scheduler,
    /// Another service, through [`Context::invoke`](crate::Context::invoke).
    Internal,
}

impl ChannelKind {
    /// The kind's name in configuration: `http`, `amqp`, `zmq`, `swift_inbox`, `scheduler`,
    /// `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Http => "http",
            ChannelKind::Amqp => "amqp",
            ChannelKind::ZeroMq => "zmq",
            ChannelKind::SwiftInbox => "swift_inbox",
            ChannelKind::Scheduler => "scheduler",
            ChannelKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request came through: shared by every request of one channel, so it costs a
/// reference count per request, not a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel's configured name.
    pub name: Arc<str>,
    /// The transport.
    pub kind: ChannelKind,
    /// The data format of its messages.
    pub data_format: DataFormat,
    /// How channel parameters and the message body merge.
    pub params: ParamsPriority,
    /// Bounds on XML request bodies.
    pub xml_limits: XmlLimits,
    /// The most items a list element of the input takes, unless its field sets its own.
    pub max_items: usize,
}

impl ChannelInfo {
    /// Describes a channel.
    pub fn new(name: impl Into<Arc<str>>, kind: ChannelKind, data_format: DataFormat) -> Self {
        ChannelInfo {
            name: name.into(),
            kind,
            data_format,
            params: ParamsPriority::default(),
            xml_limits: XmlLimits::default(),
            max_items: crate::sio::DEFAULT_MAX_ITEMS,
        }
    }

    /// The same channel with other priority rules.
    pub fn with_params(mut self, params: ParamsPriority) -> Self {
        self.params = params;
        self
    }

    /// The same channel with another bound on the items of input lists.
    pub fn with_max_items(mut self, max_items: usize) -> Self {
        self.max_items = max_items;
        self
    }
}

/// The HTTP side of a request that came over HTTP.
#[derive(Debug, Clone, Default)]
pub struct HttpInfo {
    /// The request method.
    pub method: Method,
    /// The request URI, query string included.
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// Values of the `{param}` segments of the channel's URL path, in path order.
    pub path_params: Vec<(String, String)>,
}

impl HttpInfo {
    /// The URL path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of a path parameter.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The channel of requests made by one service to another.
pub(crate) fn internal_channel() -> Arc<ChannelInfo> {
    static INTERNAL: std::sync::OnceLock<Arc<ChannelInfo>> = std::sync::OnceLock::new();
    INTERNAL
        .get_or_init(|| {
            Arc::new(ChannelInfo::new(
                "internal",
                ChannelKind::Internal,
                DataFormat::Json,
            ))
        })
        .clone()
}
