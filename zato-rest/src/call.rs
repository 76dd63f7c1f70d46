//! [`RestCall`]: one call being put together: `conn.post("/invoices/{id}", &body).param("id",
//! 123).await`.

use std::fmt::Display;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zato_core::sio::{ReplyFormat, SioOutput};

use crate::config::RestFormat;
use crate::connection::{HttpConnection, Prepared};
use crate::error::{RestError, RestErrorKind};
use crate::response::RestResponse;

/// What a path parameter's value keeps as it is: RFC 3986's unreserved characters.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A call on an [`HttpConnection`], made by [`HttpConnection::get`], [`post`](HttpConnection::post)
/// and the others; sent when awaited (or with [`send`](Self::send)).
#[derive(Debug)]
#[must_use = "a call is sent when awaited"]
pub struct RestCall {
    conn: Arc<HttpConnection>,
    method: Method,
    path: String,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Result<(Bytes, HeaderValue), String>>,
    bad_header: Option<String>,
}

impl HttpConnection {
    /// A call of `method` to `path` (relative to the address, `{name}` filled in by
    /// [`RestCall::param`]).
    pub fn request(self: &Arc<Self>, method: Method, path: &str) -> RestCall {
        RestCall {
            conn: self.clone(),
            method,
            path: path.to_owned(),
            params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            bad_header: None,
        }
    }

    /// A GET of `path`.
    pub fn get(self: &Arc<Self>, path: &str) -> RestCall {
        self.request(Method::GET, path)
    }

    /// A DELETE of `path`.
    pub fn delete(self: &Arc<Self>, path: &str) -> RestCall {
        self.request(Method::DELETE, path)
    }

    /// A POST of `body` to `path`, in the connection's data format.
    pub fn post<B: Serialize + ?Sized>(self: &Arc<Self>, path: &str, body: &B) -> RestCall {
        self.request(Method::POST, path).body(body)
    }

    /// A PUT of `body` to `path`, in the connection's data format.
    pub fn put<B: Serialize + ?Sized>(self: &Arc<Self>, path: &str, body: &B) -> RestCall {
        self.request(Method::PUT, path).body(body)
    }

    /// A PATCH of `body` to `path`, in the connection's data format.
    pub fn patch<B: Serialize + ?Sized>(self: &Arc<Self>, path: &str, body: &B) -> RestCall {
        self.request(Method::PATCH, path).body(body)
    }
}

impl RestCall {
    /// Fills `{name}` in the path with `value`, percent-encoded.
    pub fn param(mut self, name: &str, value: impl Display) -> Self {
        self.params.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds `name=value` to the query string.
    pub fn query(mut self, name: &str, value: impl Display) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds a header to this call.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => self.headers.push((n, v)),
            _ => self.bad_header = Some(format!("`{name}` is not a valid header")),
        }
        self
    }

    /// `body` in the connection's data format: JSON, a form from a flat object, or for `raw` a
    /// string's bytes. An `xml` connection takes SimpleIO bodies: [`sio`](Self::sio).
    pub fn body<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        let format = self.conn.config().data_format;
        self.body = Some(encode(format, body));
        self
    }

    /// `body` as JSON, whatever the connection's format.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        self.body = Some(encode(RestFormat::Json, body));
        self
    }

    /// A SimpleIO value as the body: XML for an `xml` connection, JSON otherwise.
    pub fn sio<B: SioOutput>(mut self, body: &B) -> Self {
        let format = self.conn.config().data_format;
        let (reply, ct) = match format {
            RestFormat::Xml => (ReplyFormat::Xml, RestFormat::Xml.content_type()),
            _ => (ReplyFormat::Json, RestFormat::Json.content_type()),
        };
        let mut buf = Vec::new();
        body.write_body(reply, &mut buf);
        self.body = Some(Ok((Bytes::from(buf), HeaderValue::from_static(ct))));
        self
    }

    /// `bytes` as they are, with `content_type`.
    pub fn raw(mut self, bytes: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Some(
            HeaderValue::from_str(content_type)
                .map(|ct| (bytes.into(), ct))
                .map_err(|_| format!("`{content_type}` is not a valid Content-Type")),
        );
        self
    }

    /// Sends the call: the reply whatever its status.
    ///
    /// # Errors
    ///
    /// A [`RestError`] (502, 503 or 504) when no reply came: see [`RestErrorKind`].
    pub async fn send(self) -> Result<RestResponse, RestError> {
        let conn = self.conn.clone();
        let prepared = self
            .prepare()
            .map_err(|m| RestError::new(conn.name(), RestErrorKind::Request(m)))?;
        conn.execute(prepared).await
    }

    /// Sends the call and reads a successful reply as JSON of `T`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`RestResponse::json`]'s.
    pub async fn json_reply<T: DeserializeOwned>(self) -> Result<T, RestError> {
        self.send().await?.json()
    }

    fn prepare(self) -> Result<Prepared, String> {
        if let Some(bad) = self.bad_header {
            return Err(bad);
        }
        let path = fill(&self.path, &self.params)?;
        let body = self.body.transpose()?;
        Ok(Prepared {
            method: self.method,
            path,
            query: self.query,
            headers: self.headers,
            body,
        })
    }
}

impl IntoFuture for RestCall {
    type Output = Result<RestResponse, RestError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// `path` with each `{name}` filled in.
fn fill(path: &str, params: &[(String, String)]) -> Result<String, String> {
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with `/`"));
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("the path `{path}` has an unclosed `{{`"))?;
        let name = &after[..close];
        let value = params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("the path parameter `{name}` is not given"))?;
        out.extend(utf8_percent_encode(value, PATH_VALUE));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn encode<B: Serialize + ?Sized>(
    format: RestFormat,
    body: &B,
) -> Result<(Bytes, HeaderValue), String> {
    let ct = HeaderValue::from_static(format.content_type());
    match format {
        RestFormat::Json => serde_json::to_vec(body)
            .map(|b| (Bytes::from(b), ct))
            .map_err(|e| format!("the body cannot be written as JSON: {e}")),
        RestFormat::Form => {
            let value = serde_json::to_value(body)
                .map_err(|e| format!("the body cannot be written as a form: {e}"))?;
            let serde_json::Value::Object(map) = value else {
                return Err("a form body must be an object".into());
            };
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => form.append_pair(&k, &s),
                    serde_json::Value::Null => &mut form,
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        return Err(format!("the form field `{k}` is not a single value"));
                    }
                    other => form.append_pair(&k, &other.to_string()),
                };
            }
            Ok((Bytes::from(form.finish()), ct))
        }
        RestFormat::Raw => match serde_json::to_value(body) {
            Ok(serde_json::Value::String(s)) => Ok((Bytes::from(s), ct)),
            _ => Err("a raw connection takes a string body, or bytes with `.raw()`".into()),
        },
        RestFormat::Xml => {
            Err("an xml connection takes SimpleIO bodies: use `.sio(&value)`".into())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn path_parameters_are_filled_and_encoded() {
        let p = vec![("id".to_owned(), "a/b c".to_owned())];
        assert_eq!(fill("/invoices/{id}", &p).unwrap(), "/invoices/a%2Fb%20c");
        assert!(fill("/x/{missing}", &p).unwrap_err().contains("`missing`"));
        assert!(fill("/x/{id", &p).is_err());
    }

    #[test]
    fn a_form_body_is_flat() {
        #[derive(Serialize)]
        struct F {
            a: &'static str,
            n: u32,
        }
        let (b, _) = encode(RestFormat::Form, &F { a: "x y", n: 3 }).unwrap();
        assert_eq!(&b[..], b"a=x+y&n=3");
        assert!(encode(RestFormat::Form, &vec![1]).is_err());
    }
}
