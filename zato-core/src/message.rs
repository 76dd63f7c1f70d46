//! The messages between channels and the platform: a request and a reply as bytes, and what a
//! request came through (its channel, and what its transport tells of it, see [`Transport`]).

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

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
    /// The body's media type, for transports that carry it beside the message (AMQP's
    /// `content_type`) rather than in their [`Transport`].
    pub content_type: Option<String>,
    /// What the transport tells of the request (for HTTP its method, URI, headers and path
    /// parameters), read back with [`RawRequest::transport`].
    pub transport: Option<Arc<dyn Transport>>,
    /// Channel parameters of transports without a [`Transport`] of their own, as name and value:
    /// an AMQP message's headers and properties, a ZeroMQ message's leading frames. SimpleIO
    /// reads them as it reads HTTP's path parameters.
    pub channel_params: Vec<(String, String)>,
    /// Who the channel's security definition found the caller to be; the service reads it
    /// with [`Context::caller`](crate::Context::caller).
    pub caller: Option<Arc<crate::security::Caller>>,
    /// The trace this request continues: the channel's own span (an HTTP channel's server
    /// span), or the context the transport carried; `None` when tracing is off or there is none.
    pub trace: Option<crate::telemetry::TraceContext>,
}

impl RawRequest {
    /// A request on `channel` with `body`.
    pub fn new(cid: Cid, channel: Arc<ChannelInfo>, body: impl Into<Bytes>) -> Self {
        RawRequest {
            cid,
            channel,
            body: body.into(),
            content_type: None,
            transport: None,
            channel_params: Vec::new(),
            caller: None,
            trace: None,
        }
    }

    /// The same request with what its transport tells of it.
    pub fn with_transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// What the transport told of the request, as the type it gave: `None` when it gave none
    /// or another type.
    pub fn transport<T: Transport>(&self) -> Option<&T> {
        downcast(self.transport.as_deref())
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

    /// The body's media type: the [`Transport`]'s (HTTP's `Content-Type` header), or the one
    /// given beside the message.
    pub fn content_type(&self) -> Option<&str> {
        self.transport
            .as_deref()
            .and_then(Transport::content_type)
            .or(self.content_type.as_deref())
    }

    /// The request as SimpleIO reads it: the channel's format and rules, the query string and
    /// channel parameters, the body and its media type.
    pub fn sio_source(&self) -> Source<'_> {
        let transport = self.transport.as_deref();
        Source::new(self.channel.data_format, &self.body)
            .with_params(self.channel.params)
            .with_xml_limits(self.channel.xml_limits)
            .with_max_items(self.channel.max_items)
            .with_query(transport.and_then(Transport::query))
            .with_path_params(transport.map_or(&self.channel_params[..], Transport::params))
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

/// The kind of channel a request came over, by its name in the config document
/// (`channels.http`, `channels.amqp`, …).
///
/// Open: each kind defines its own constant where it is implemented (`zato_channels::HTTP_KIND`,
/// `zato_scheduler::SCHEDULER_KIND`, one of a user's crate), and this crate knows only
/// [`ChannelKind::INTERNAL`]. Kinds compare and sort by name.
///
/// # Examples
///
/// ```
/// use zato_core::ChannelKind;
///
/// /// The kind of a channel reading lines from a serial port.
/// pub const SERIAL_KIND: ChannelKind = ChannelKind::new("serial");
///
/// assert_eq!(SERIAL_KIND.as_str(), "serial");
/// assert_eq!(SERIAL_KIND.to_string(), "serial");
/// assert!(ChannelKind::INTERNAL < SERIAL_KIND);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKind(&'static str);

impl ChannelKind {
    /// Requests made by one service to another, through [`Context::invoke`](crate::Context::invoke).
    pub const INTERNAL: ChannelKind = ChannelKind::new("internal");

    /// The kind named `name`, as the config document names it (`http`, `zmq`, `swift_inbox`).
    pub const fn new(name: &'static str) -> Self {
        ChannelKind(name)
    }

    /// The kind's name in configuration.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for ChannelKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// What a transport tells of one request beyond its body, for SimpleIO and for services: HTTP's
/// method, URI, headers and path parameters, say. A channel attaches it to a [`RawRequest`] with
/// [`RawRequest::with_transport`]; SimpleIO reads the query string, the channel parameters and
/// the media type through this trait, and a service reads the rest through the concrete type,
/// with [`Request::transport`](crate::Request::transport).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zato_core::{ChannelInfo, ChannelKind, Cid, DataFormat, RawRequest, Transport};
///
/// /// A line read from a serial port, and the port.
/// #[derive(Debug)]
/// struct SerialLine {
///     port: String,
///     params: Vec<(String, String)>,
/// }
///
/// impl Transport for SerialLine {
///     fn params(&self) -> &[(String, String)] {
///         &self.params
///     }
/// }
///
/// let channel = Arc::new(ChannelInfo::new("ttyS0", ChannelKind::new("serial"), DataFormat::Json));
/// let line = SerialLine { port: "/dev/ttyS0".into(), params: vec![("id".into(), "7".into())] };
/// let raw = RawRequest::new(Cid::new(), channel, "{}").with_transport(line);
/// assert_eq!(raw.transport::<SerialLine>().unwrap().port, "/dev/ttyS0");
/// assert_eq!(raw.sio_source().path_params, [("id".to_owned(), "7".to_owned())]);
/// ```
pub trait Transport: Any + fmt::Debug + Send + Sync {
    /// The raw query string, if the transport has one.
    fn query(&self) -> Option<&str> {
        None
    }

    /// Channel parameters as name and value (HTTP's path parameters), which SimpleIO merges
    /// with the body under the channel's [`ParamsPriority`].
    fn params(&self) -> &[(String, String)] {
        &[]
    }

    /// The body's media type, if the transport says it.
    fn content_type(&self) -> Option<&str> {
        None
    }
}

/// `transport` as a `T`, if it is one.
pub(crate) fn downcast<T: Transport>(transport: Option<&dyn Transport>) -> Option<&T> {
    let any: &dyn Any = transport?;
    any.downcast_ref()
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

/// The channel of requests made by one service to another.
pub(crate) fn internal_channel() -> Arc<ChannelInfo> {
    static INTERNAL: std::sync::OnceLock<Arc<ChannelInfo>> = std::sync::OnceLock::new();
    INTERNAL
        .get_or_init(|| {
            Arc::new(ChannelInfo::new(
                "internal",
                ChannelKind::INTERNAL,
                DataFormat::Json,
            ))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Web(Vec<(String, String)>);

    impl Transport for Web {
        fn query(&self) -> Option<&str> {
            Some("a=1")
        }
        fn params(&self) -> &[(String, String)] {
            &self.0
        }
        fn content_type(&self) -> Option<&str> {
            Some("application/xml")
        }
    }

    #[test]
    fn kinds_sort_and_serialize_by_name() {
        let mut kinds = [
            ChannelKind::new("zmq"),
            ChannelKind::INTERNAL,
            ChannelKind::new("http"),
            ChannelKind::new("amqp"),
        ];
        kinds.sort();
        let names: Vec<_> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["amqp", "http", "internal", "zmq"]);
        assert_eq!(
            serde_json::to_string(&ChannelKind::new("swift_inbox")).unwrap(),
            r#""swift_inbox""#
        );
    }

    #[test]
    fn simpleio_reads_the_transport_and_a_service_its_type() {
        let channel = Arc::new(ChannelInfo::new(
            "c",
            ChannelKind::new("web"),
            DataFormat::Json,
        ));
        let raw = RawRequest::new(Cid::new(), channel, "{}")
            .with_content_type("text/plain")
            .with_channel_params(vec![("ignored".into(), "x".into())])
            .with_transport(Web(vec![("id".into(), "7".into())]));
        let source = raw.sio_source();
        assert_eq!(source.query, Some("a=1"));
        assert_eq!(source.path_params, [("id".to_owned(), "7".to_owned())]);
        assert_eq!(raw.content_type(), Some("application/xml"));
        assert_eq!(raw.transport::<Web>().map(|w| w.0.len()), Some(1));
        assert!(raw.transport::<Other>().is_none());
    }

    #[derive(Debug)]
    struct Other;

    impl Transport for Other {}
}
