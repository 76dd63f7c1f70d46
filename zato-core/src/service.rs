//! The service model: [`Service`], [`Request`], [`Response`] and what a request came through.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::Cid;
use crate::context::Context;
use crate::error::ServiceError;
use crate::message::{ChannelInfo, Transport, downcast, internal_channel};
use crate::sio::{SioInput, SioOutput};

/// A service: a named unit of business logic with a declared input and output.
///
/// Write services with the `#[service]` attribute rather than by hand; it implements this trait
/// for a unit struct named after your function. Implementing it by hand is the way to give a
/// service state of its own.
///
/// # Examples
///
/// ```
/// use zato_core::{Context, Request, Response, Service, ServiceError};
///
/// struct Echo;
///
/// impl Service for Echo {
///     const NAME: &'static str = "demo.echo";
///     type Input = ();
///     type Output = ();
///
///     async fn handle(&self, _req: Request<()>, _ctx: &Context) -> Result<Response<()>, ServiceError> {
///         Ok(Response::new(()))
///     }
/// }
/// ```
pub trait Service: Send + Sync + 'static {
    /// The name callers and channels know the service by, such as `invoice.dispatcher`.
    const NAME: &'static str;
    /// The SimpleIO input.
    type Input: SioInput;
    /// The SimpleIO output.
    type Output: SioOutput;

    /// Handles one request.
    ///
    /// # Errors
    ///
    /// Whatever the service decides is an error; each [`ServiceError`] knows the status it is
    /// answered with.
    fn handle(
        &self,
        req: Request<Self::Input>,
        ctx: &Context,
    ) -> impl Future<Output = Result<Response<Self::Output>, ServiceError>> + Send;
}

/// A request as a service sees it: typed input plus everything about where it came from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request<I> {
    /// The correlation id.
    pub cid: Cid,
    /// The typed SimpleIO input.
    pub input: I,
    /// The body exactly as received. Cloning it is a reference-count increment.
    pub raw_request: Bytes,
    /// The channel the request came through.
    pub channel: Arc<ChannelInfo>,
    /// What the transport told of the request (for HTTP its method, URI, headers and path
    /// parameters), read back with [`Request::transport`].
    pub transport: Option<Arc<dyn Transport>>,
    /// Channel parameters of transports without a [`Transport`] of their own: an AMQP
    /// message's headers and properties, a ZeroMQ message's leading frames.
    pub channel_params: Vec<(String, String)>,
}

/// A request's message without its transport's envelope, and its media type:
/// [`Request::payload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The message's bytes.
    pub body: Bytes,
    /// Its media type, parameters included (`application/json; charset=utf-8`).
    pub content_type: String,
}

impl<I> Request<I> {
    /// A request with `input`, as a test or another service builds it: a new cid, an empty body,
    /// the internal channel.
    pub fn new(input: I) -> Self {
        Request {
            cid: Cid::new(),
            input,
            raw_request: Bytes::new(),
            channel: internal_channel(),
            transport: None,
            channel_params: Vec::new(),
        }
    }

    /// What the transport told of the request, as the type it gave (`zato_channels::HttpInfo`
    /// for HTTP): `None` when it gave none or another type.
    pub fn transport<T: Transport>(&self) -> Option<&T> {
        downcast(self.transport.as_deref())
    }

    /// The message itself, without its transport's envelope, with its media type: what a
    /// service storing or forwarding the caller's message keeps.
    ///
    /// - From a SOAP channel, the Body's request element as a standalone XML document
    ///   ([`soap_payload`](crate::sio::soap_payload)); an empty Body gives an empty payload.
    /// - From any other channel, the raw body as it came.
    ///
    /// The media type is the request's when it fits the channel's data format (`application/json`
    /// or any `+json` type for JSON, any XML type for XML, `text/xml` for SOAP), else the
    /// format's own: a JSON body sent by `curl -d` (which says it is a form) is
    /// `application/json`, and a SOAP 1.2 request element is `application/xml`, since it is no
    /// longer an envelope.
    ///
    /// # Errors
    ///
    /// From a SOAP channel, what decoding the envelope gives (a request that reached the service
    /// through the channel has decoded already).
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_core::Request;
    ///
    /// let req = Request::new(()).with_raw_request(&br#"{"id":"123"}"#[..]);
    /// let payload = req.payload().unwrap();
    /// assert_eq!(&payload.body[..], br#"{"id":"123"}"#);
    /// assert_eq!(payload.content_type, "application/json");
    /// ```
    pub fn payload(&self) -> Result<Payload, crate::sio::SioError> {
        use crate::sio::DataFormat;
        let format = self.channel.data_format;
        let given = self
            .transport
            .as_deref()
            .and_then(|t| t.content_type())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let essence = given
            .and_then(|t| t.split(';').next())
            .map(|e| e.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let fits = match format {
            DataFormat::Json => essence == "application/json" || essence.ends_with("+json"),
            DataFormat::Xml => essence.ends_with("/xml") || essence.ends_with("+xml"),
            DataFormat::Soap => essence == "text/xml",
            _ => essence == "application/x-www-form-urlencoded",
        };
        let content_type = match given {
            Some(t) if fits => t.to_owned(),
            _ => match format {
                DataFormat::Json => "application/json",
                DataFormat::Xml | DataFormat::Soap => "application/xml",
                _ => "application/x-www-form-urlencoded",
            }
            .to_owned(),
        };
        let body = match format {
            DataFormat::Soap => {
                crate::sio::soap_payload(&self.raw_request, self.channel.xml_limits)?
                    .map(Bytes::from)
                    .unwrap_or_default()
            }
            _ => self.raw_request.clone(),
        };
        Ok(Payload { body, content_type })
    }

    /// The same request with this raw body.
    pub fn with_raw_request(mut self, raw: impl Into<Bytes>) -> Self {
        self.raw_request = raw.into();
        self
    }
}

/// What a service answers: its output plus status and headers.
///
/// # Examples
///
/// ```
/// use zato_core::Response;
/// use http::StatusCode;
///
/// let resp = Response::new("done").with_status(StatusCode::CREATED);
/// assert_eq!(resp.status, StatusCode::CREATED);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response<O> {
    /// The SimpleIO output.
    pub output: O,
    /// The status; 200 unless the service says otherwise.
    pub status: StatusCode,
    /// Extra headers for channels that have them.
    pub headers: HeaderMap,
    /// A Content-Type to use instead of the channel format's own.
    pub content_type: Option<Cow<'static, str>>,
}

impl<O> Response<O> {
    /// A 200 response with `output`.
    pub fn new(output: O) -> Self {
        Response {
            output,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            content_type: None,
        }
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same response with another Content-Type.
    pub fn with_content_type(mut self, content_type: impl Into<Cow<'static, str>>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
}

impl<O> From<O> for Response<O> {
    fn from(output: O) -> Self {
        Response::new(output)
    }
}
