//! The admin API over HTTP: one request at a time, the token in every call, errors as one line.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::cli::Token;
use crate::error::{CliError, one_line};

/// The largest answer read from the admin API; a whole exported document fits many times over.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Everything but the unreserved characters of RFC 3986 is percent-encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A name or kind as one path segment: `Invoice Dispatcher` → `Invoice%20Dispatcher`.
pub(crate) fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A client of one node's admin API.
pub(crate) struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Token>,
    timeout_secs: u64,
    author: Option<HeaderValue>,
}

/// One call: what to send and the object it is about, for the error line.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// The path after the base URL, already encoded: `/api/outgoing/swift/Invoice%20Dispatcher`.
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    /// The media type and the bytes of the body.
    pub(crate) body: Option<(&'static str, Vec<u8>)>,
    /// The `If-Match` header value, `"7"` or `*`.
    pub(crate) if_match: Option<&'a str>,
    /// What the call is about, as error lines name it: `outgoing swift "Invoice Dispatcher"`.
    pub(crate) label: &'a str,
    /// The object's path in the config document (`outgoing.swift."Invoice Dispatcher"`), which
    /// the node's messages start with; the error line names the object once, by its label.
    pub(crate) doc_path: Option<String>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: String, label: &'a str) -> Self {
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            if_match: None,
            label,
            doc_path: None,
        }
    }

    pub(crate) fn json(mut self, body: &Value) -> Self {
        self.body = Some(("application/json", body.to_string().into_bytes()));
        self
    }

    pub(crate) fn doc_path(mut self, doc_path: String) -> Self {
        self.doc_path = Some(doc_path);
        self
    }

    pub(crate) fn if_match(mut self, if_match: Option<&'a str>) -> Self {
        self.if_match = if_match;
        self
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub(crate) fn json(&self, label: &str) -> Result<Value, CliError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CliError::Api(format!(
                "{label}: the admin API answered {} with a body that is not JSON: {e}",
                self.status
            ))
        })
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl AdminClient {
    /// A client of the admin API at `base`.
    pub(crate) fn new(
        base: Url,
        token: Option<Token>,
        timeout_secs: u64,
    ) -> Result<Self, CliError> {
        let timeout = Duration::from_secs(timeout_secs);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("zato-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Local(format!("cannot set up an HTTP client: {e}")))?;
        Ok(AdminClient {
            http,
            base,
            token,
            timeout_secs,
            author: author(),
        })
    }

    /// The base URL as error lines show it: without any user or password.
    pub(crate) fn shown_url(&self) -> String {
        let mut url = self.base.clone();
        // Both only fail on URLs that cannot have credentials, which then have none to hide.
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.as_str().trim_end_matches('/').to_owned()
    }

    /// Sends `call` and returns a 2xx answer; anything else becomes the error line.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, CliError> {
        self.exchange(call, |status| status.is_success()).await
    }

    /// Sends `call` and returns its answer, 2xx or 4xx (a document's problems, to print one per
    /// line); 401, 5xx and the rest become the error line.
    pub(crate) async fn send_for_problems(&self, call: Call<'_>) -> Result<Answer, CliError> {
        self.exchange(call, |status| {
            status.is_success() || (status.is_client_error() && status != StatusCode::UNAUTHORIZED)
        })
        .await
    }

    /// Sends `call` and returns its answer whatever its status but 401: a service invoked
    /// through the admin API answers with the service's own status, and its body says why.
    pub(crate) async fn send_for_outcome(&self, call: Call<'_>) -> Result<Answer, CliError> {
        self.exchange(call, |status| status != StatusCode::UNAUTHORIZED)
            .await
    }

    async fn exchange(
        &self,
        call: Call<'_>,
        accept: fn(StatusCode) -> bool,
    ) -> Result<Answer, CliError> {
        let url = self.url(&call)?;
        let is_write = call.method != Method::GET;
        let mut request = self.http.request(call.method.clone(), url);
        if let Some(token) = &self.token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.0)).map_err(|_| {
                    CliError::Usage(
                        "the admin token holds characters a header cannot carry".to_owned(),
                    )
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        if is_write && let Some(author) = &self.author {
            request = request.header("x-zato-author", author.clone());
        }
        if let Some(if_match) = call.if_match {
            request = request.header(IF_MATCH, if_match);
        }
        if let Some((content_type, body)) = call.body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
        }
        let mut response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_owned());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(CliError::Api(format!(
                    "{}: the admin API's answer is larger than {} MiB",
                    call.label,
                    MAX_BODY_BYTES / (1024 * 1024)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if accept(status) {
            return Ok(Answer { status, body });
        }
        let error = self.api_error(call.label, status, &body, etag.as_deref(), call.if_match);
        Err(match (error, &call.doc_path) {
            (CliError::Api(line), Some(doc_path)) => {
                CliError::Api(without_path(&line, call.label, doc_path))
            }
            (error, _) => error,
        })
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, CliError> {
        let text = format!("{}{}", self.base.as_str().trim_end_matches('/'), call.path);
        let mut url = Url::parse(&text).map_err(|e| {
            CliError::Usage(format!("{}: cannot make a URL of {text}: {e}", call.label))
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    fn transport_error(&self, e: &reqwest::Error) -> CliError {
        if e.is_timeout() {
            return CliError::Timeout {
                url: self.shown_url(),
                secs: self.timeout_secs,
            };
        }
        CliError::Unreachable {
            url: self.shown_url(),
            cause: innermost_cause(e),
        }
    }

    fn api_error(
        &self,
        label: &str,
        status: StatusCode,
        body: &[u8],
        etag: Option<&str>,
        if_match: Option<&str>,
    ) -> CliError {
        if status == StatusCode::UNAUTHORIZED {
            let hint = if self.token.is_some() {
                "the admin token was refused"
            } else {
                "no admin token was given"
            };
            return CliError::Api(format!(
                "401 unauthorized: {hint} (set --token or ZATO_ADMIN_TOKEN)"
            ));
        }
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let Some(error) = error else {
            let reason = status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase();
            return CliError::Api(format!(
                "{label}: the admin API answered {} {reason}",
                status.as_u16()
            ));
        };
        let kind = error.get("kind").and_then(Value::as_str).unwrap_or("");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        let problems: Vec<String> = error
            .get("problems")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(problem_line).collect())
            .unwrap_or_default();
        let what = match kind {
            "not_found" => "not found".to_owned(),
            "stale" => {
                let was = if_match.map(|v| v.trim_matches('"')).unwrap_or("?");
                let now = etag.unwrap_or("?");
                format!("changed since version {was} (now version {now}): get it again and retry")
            }
            "invalid" if !problems.is_empty() => {
                format!("invalid configuration: {}", problems.join("; "))
            }
            "apply_failed" if !problems.is_empty() => {
                format!("not applied, nothing changed: {}", problems.join("; "))
            }
            "ping_failed" => format!("ping failed: {message}"),
            _ if !message.is_empty() => message.to_owned(),
            _ => format!(
                "the admin API answered {} {}",
                status.as_u16(),
                if kind.is_empty() {
                    "with no message"
                } else {
                    kind
                }
            ),
        };
        CliError::Api(one_line(&format!("{label}: {what}")))
    }
}

/// `label: outgoing.swift."X": problem` → `label: problem`: the node's message names the object
/// by its path, which the label already did.
fn without_path(line: &str, label: &str, doc_path: &str) -> String {
    let start = format!("{label}: ");
    let Some(rest) = line.strip_prefix(&start) else {
        return line.to_owned();
    };
    // After `ping failed: ` too, where ping failures put it.
    let (lead, rest) = match rest.strip_prefix("ping failed: ") {
        Some(after) => ("ping failed: ", after),
        None => ("", rest),
    };
    match rest
        .strip_prefix(doc_path)
        .and_then(|r| r.strip_prefix(": "))
    {
        Some(problem) if !problem.is_empty() => format!("{start}{lead}{problem}"),
        _ => line.to_owned(),
    }
}

/// An object's name as the config document's paths write it: bare when it is a plain
/// identifier, else quoted.
pub(crate) fn doc_key(name: &str) -> String {
    zato_core::config::key(name)
}

/// `path: message`, or the message alone when there is no path.
fn problem_line(problem: &Value) -> Option<String> {
    let message = problem.get("message").and_then(Value::as_str)?;
    match problem.get("path").and_then(Value::as_str) {
        Some(path) if !path.is_empty() => Some(format!("{path}: {message}")),
        _ => Some(message.to_owned()),
    }
}

/// The deepest cause: `connection refused` rather than `error sending request for url (…)`.
fn innermost_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => return "connection reset".to_owned(),
            _ => {}
        }
    }
    let text = one_line(&cause.to_string());
    // std's io::Error Display ends with "(os error 111)": useful to nobody here.
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

/// `cli:<user>@<host>` for `X-Zato-Author`, when it can be a header.
fn author() -> Option<HeaderValue> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    HeaderValue::from_str(&format!("cli:{user}@{host}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(token: Option<&str>) -> AdminClient {
        AdminClient::new(
            Url::parse("http://admin:pw@127.0.0.1:11224/").unwrap(),
            token.map(|t| Token(t.to_owned())),
            30,
        )
        .unwrap()
    }

    fn line(status: u16, body: Value, etag: Option<&str>, if_match: Option<&str>) -> String {
        client(Some("t"))
            .api_error(
                r#"outgoing swift "Invoice Dispatcher""#,
                StatusCode::from_u16(status).unwrap(),
                body.to_string().as_bytes(),
                etag,
                if_match,
            )
            .to_string()
    }

    #[test]
    fn names_are_percent_encoded_as_one_segment() {
        assert_eq!(segment("Invoice Dispatcher"), "Invoice%20Dispatcher");
        assert_eq!(
            segment("invoice.dispatcher.json"),
            "invoice.dispatcher.json"
        );
        assert_eq!(segment("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
        assert_eq!(segment("zürich"), "z%C3%BCrich");
    }

    #[test]
    fn the_objects_own_path_is_not_repeated_after_its_label() {
        let label = r#"outgoing swift "Invoice Dispatcher""#;
        let path = format!("outgoing.swift.{}", doc_key("Invoice Dispatcher"));
        assert_eq!(path, r#"outgoing.swift."Invoice Dispatcher""#);
        assert_eq!(
            without_path(
                &format!("{label}: ping failed: {path}: authentication failed"),
                label,
                &path
            ),
            format!("{label}: ping failed: authentication failed")
        );
        assert_eq!(
            without_path(
                &format!("{label}: {path}: in use by channels.http.x"),
                label,
                &path
            ),
            format!("{label}: in use by channels.http.x")
        );
        // Another object's path, or a path that is all there is, stays.
        let other = format!("{label}: channels.http.x: uses it");
        assert_eq!(without_path(&other, label, &path), other);
        assert_eq!(doc_key("crm-basic_1"), "crm-basic_1");
        assert_eq!(doc_key("a.b"), r#""a.b""#);
        assert_eq!(doc_key(r#"say "hi""#), r#""say \"hi\"""#);
    }

    #[test]
    fn the_shown_url_has_no_credentials() {
        assert_eq!(client(None).shown_url(), "http://127.0.0.1:11224");
    }

    #[test]
    fn invalid_configuration_lists_every_problem_with_its_path() {
        let body = json!({"error": {"status": 400, "kind": "invalid", "message": "whatever",
        "problems": [
            {"path": "outgoing.swift.\"Invoice Dispatcher\".pool_size", "message": "must be at least 1"},
            {"path": "outgoing.swift.\"Invoice Dispatcher\".auth_url", "message": "must be an http(s) URL"}
        ]}});
        assert_eq!(
            line(400, body, None, None),
            r#"outgoing swift "Invoice Dispatcher": invalid configuration: outgoing.swift."Invoice Dispatcher".pool_size: must be at least 1; outgoing.swift."Invoice Dispatcher".auth_url: must be an http(s) URL"#
        );
    }

    #[test]
    fn stale_names_both_versions() {
        let body = json!({"error": {"status": 412, "kind": "stale", "message": "m"}});
        assert_eq!(
            line(412, body, Some("9"), Some("\"7\"")),
            r#"outgoing swift "Invoice Dispatcher": changed since version 7 (now version 9): get it again and retry"#
        );
    }

    #[test]
    fn other_errors_use_the_server_message_on_one_line() {
        let body = json!({"error": {"status": 409, "kind": "conflict", "message": "in use by\nchannels.http.\"x\""}});
        assert_eq!(
            line(409, body, None, None),
            r#"outgoing swift "Invoice Dispatcher": in use by channels.http."x""#
        );
        let not_found = json!({"error": {"status": 404, "kind": "not_found", "message": "m"}});
        assert_eq!(
            line(404, not_found, None, None),
            r#"outgoing swift "Invoice Dispatcher": not found"#
        );
    }

    #[test]
    fn a_body_that_is_not_the_error_shape_still_gives_a_line() {
        let got = client(None)
            .api_error(
                "security",
                StatusCode::BAD_GATEWAY,
                b"<html>oops</html>",
                None,
                None,
            )
            .to_string();
        assert_eq!(got, "security: the admin API answered 502 bad gateway");
    }

    #[test]
    fn unauthorized_says_whether_a_token_was_given() {
        let with = line(401, json!({}), None, None);
        assert_eq!(
            with,
            "401 unauthorized: the admin token was refused (set --token or ZATO_ADMIN_TOKEN)"
        );
        let without = client(None)
            .api_error("x", StatusCode::UNAUTHORIZED, b"", None, None)
            .to_string();
        assert!(without.contains("no admin token was given"), "{without}");
    }

    #[test]
    fn the_token_is_not_in_debug() {
        assert_eq!(format!("{:?}", Token("s3cret".into())), "Token(******)");
    }
}
