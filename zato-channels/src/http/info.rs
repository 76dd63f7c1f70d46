//! [`HttpInfo`]: what an HTTP channel tells a service of a request beyond its body, and
//! [`HttpRequestExt`], how a service reads it.

use http::{HeaderMap, Method, Uri, header};
use zato_core::{RawRequest, Request, Transport};

/// The HTTP side of a request that came over HTTP: its method, URI, headers and path
/// parameters. The HTTP channel attaches it to each request as its
/// [`Transport`](zato_core::Transport); a service reads it with [`HttpRequestExt::http`].
///
/// # Examples
///
/// ```
/// use zato_channels::{HttpInfo, HttpRequestExt};
/// use zato_core::Request;
///
/// let info = HttpInfo {
///     method: http::Method::GET,
///     uri: "/invoice/123?lang=en".parse().unwrap(),
///     path_params: vec![("id".into(), "123".into())],
///     ..HttpInfo::default()
/// };
/// let mut req = Request::new(());
/// req.transport = Some(std::sync::Arc::new(info));
/// let http = req.http().unwrap();
/// assert_eq!(http.path(), "/invoice/123");
/// assert_eq!(http.query(), Some("lang=en"));
/// assert_eq!(http.path_param("id"), Some("123"));
/// ```
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

impl Transport for HttpInfo {
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The path parameters: SimpleIO reads them as channel parameters.
    fn params(&self) -> &[(String, String)] {
        &self.path_params
    }

    /// The `Content-Type` header.
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

/// The HTTP side of a request, for services: `req.http()` is `Some` when the request came over
/// an HTTP channel.
///
/// # Examples
///
/// ```
/// use zato_channels::HttpRequestExt;
/// use zato_core::Request;
///
/// // Invoked by another service, not over HTTP.
/// let req = Request::new(());
/// assert!(req.http().is_none());
/// ```
pub trait HttpRequestExt {
    /// Method, URI, headers and path parameters, when the request came over HTTP.
    fn http(&self) -> Option<&HttpInfo>;
}

impl<I> HttpRequestExt for Request<I> {
    fn http(&self) -> Option<&HttpInfo> {
        self.transport::<HttpInfo>()
    }
}

impl HttpRequestExt for RawRequest {
    fn http(&self) -> Option<&HttpInfo> {
        self.transport::<HttpInfo>()
    }
}
