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
