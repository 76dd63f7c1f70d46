//! [`RestResponse`]: what a call got back: the status, the headers and the bytes, and typed
//! readings of them.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use zato_core::DataFormat;
use zato_core::sio::{self, SioInput, Source};

use crate::error::{RestError, RestErrorKind, excerpt};

/// A reply of the remote system, whatever its status.
#[derive(Debug, Clone)]
pub struct RestResponse {
    connection: Arc<str>,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl RestResponse {
    pub(crate) fn new(
        connection: Arc<str>,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        RestResponse {
            connection,
            status,
            headers,
            body,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The reply when its status is a success (2xx).
    ///
    /// # Errors
    ///
    /// [`RestErrorKind::Status`] (502) with the status and the start of the body.
    pub fn error_for_status(self) -> Result<Self, RestError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(RestError::new(
                &*self.connection,
                RestErrorKind::Status {
                    status: self.status,
                    excerpt: excerpt(&self.body),
                },
            ))
        }
    }

    /// The body of a successful reply as JSON of `T`.
    ///
    /// # Errors
    ///
    /// [`RestErrorKind::Status`] for a reply that is not a success, [`RestErrorKind::Decode`]
    /// when the body is not a `T`; both 502.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RestError> {
        let ok = self.clone().error_for_status()?;
        serde_json::from_slice(&ok.body)
            .map_err(|e| RestError::new(&*self.connection, RestErrorKind::Decode(e.to_string())))
    }

    /// The body of a successful reply as the SimpleIO type `T`, read in `format` (JSON, XML,
    /// SOAP).
    ///
    /// # Errors
    ///
    /// As [`json`](Self::json).
    pub fn sio<T: SioInput>(&self, format: DataFormat) -> Result<T, RestError> {
        let ok = self.clone().error_for_status()?;
        let content_type = ok
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        sio::decode::<T>(&Source::new(format, &ok.body).with_content_type(content_type))
            .result
            .map_err(|e| RestError::new(&*self.connection, RestErrorKind::Decode(e.to_string())))
    }
}
