//! Helpers shared by zato-core's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "test helpers, each used by some tests"
)]
#![allow(
    clippy::expect_used,
    reason = "a helper building a test request panics on a mistake in the test itself"
)]

pub mod fuzz_targets;

use std::sync::Arc;

use bytes::Bytes;
use zato_core::sio::{self, ParamsPriority, ReplyFormat, SioError, SioInput};
use zato_core::{ChannelInfo, ChannelKind, Cid, DataFormat, RawRequest, Transport};

/// What an HTTP-like transport tells of a request: a query string, path parameters and a media
/// type, all SimpleIO reads.
#[derive(Debug, Default)]
pub struct WebTransport {
    pub query: Option<String>,
    pub path_params: Vec<(String, String)>,
    pub content_type: Option<String>,
}

impl Transport for WebTransport {
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    fn params(&self) -> &[(String, String)] {
        &self.path_params
    }

    fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

/// A request as an HTTP channel would build it.
pub fn request(
    format: DataFormat,
    query: Option<&str>,
    body: &str,
    content_type: Option<&str>,
) -> RawRequest {
    request_with(
        format,
        ParamsPriority::default(),
        query,
        &[],
        body,
        content_type,
    )
}

pub fn request_with(
    format: DataFormat,
    params: ParamsPriority,
    query: Option<&str>,
    path_params: &[(&str, &str)],
    body: &str,
    content_type: Option<&str>,
) -> RawRequest {
    let kind = ChannelKind::new("http");
    let channel = Arc::new(ChannelInfo::new("test", kind, format).with_params(params));
    let transport = WebTransport {
        query: query.map(str::to_owned),
        path_params: path_params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        content_type: content_type.map(str::to_owned),
    };
    RawRequest::new(Cid::new(), channel, Bytes::copy_from_slice(body.as_bytes()))
        .with_transport(transport)
}

/// Decodes `T` from a request.
pub fn decode<T: SioInput>(raw: &RawRequest) -> Result<T, SioError> {
    sio::decode::<T>(&raw.sio_source()).result
}

/// Decodes `T` from a request, with the format the reply is to be written in.
pub fn decode_reply<T: SioInput>(raw: &RawRequest) -> (Result<T, SioError>, ReplyFormat) {
    let decoded = sio::decode::<T>(&raw.sio_source());
    (decoded.result, decoded.reply)
}

pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A SOAP envelope with a prefixed envelope namespace around `body`.
pub fn soap_prefixed(ns: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><s:Envelope xmlns:s="{ns}"><s:Header/><s:Body>{body}</s:Body></s:Envelope>"#
    )
}

/// A SOAP envelope in the default namespace around `body`.
pub fn soap_default(ns: &str, body: &str) -> String {
    format!(r#"<Envelope xmlns="{ns}"><Body>{body}</Body></Envelope>"#)
}
