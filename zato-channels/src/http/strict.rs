//! What the channel refuses in a request hyper accepts: HTTP/1.1 without exactly one `Host`, a
//! transfer coding other than `chunked`, and an encoded body (`Content-Encoding` other than
//! `identity`), which the channel would otherwise hand to a parser as if it were plain text.

use http::header::{self, HeaderMap};
use http::{HeaderValue, Version};
use zato_core::ServiceError;

/// How much of a caller's header value an error quotes.
const QUOTED_MAX: usize = 64;

/// Checks what hyper leaves to the application.
///
/// # Errors
///
/// A 400 for HTTP/1.1 without a `Host` header, any request with more than one, or a
/// `Transfer-Encoding` other than plain `chunked`; a 415
/// ([`ServiceError::UnsupportedContentEncoding`]) for a `Content-Encoding` other than
/// `identity`, naming it.
pub(super) fn check_request(version: Version, headers: &HeaderMap) -> Result<(), ServiceError> {
    // One pass over the headers rather than a hashed lookup per name: a request has few.
    let mut hosts = 0usize;
    let mut codings = 0usize;
    let mut first_coding = None;
    let mut refused_encoding = None;
    for (name, value) in headers {
        if *name == header::HOST {
            hosts += 1;
        } else if *name == header::TRANSFER_ENCODING {
            codings += 1;
            first_coding.get_or_insert(value);
        } else if *name == header::CONTENT_ENCODING && refused_encoding.is_none() {
            refused_encoding = value
                .as_bytes()
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
                .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"));
        }
    }
    // HTTP/2 carries the authority in its own pseudo-header; a `Host` beside it is optional.
    if hosts > 1 {
        return Err(ServiceError::bad_request(format!(
            "the request has {hosts} Host headers; exactly one is required"
        )));
    }
    if hosts == 0 && version == Version::HTTP_11 {
        return Err(ServiceError::bad_request(
            "an HTTP/1.1 request must have a Host header",
        ));
    }
    if let Some(first) = first_coding
        && (codings > 1 || !first.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        return Err(ServiceError::bad_request(format!(
            "unsupported Transfer-Encoding `{}`: only chunked is accepted",
            quoted(first)
        )));
    }
    if let Some(coding) = refused_encoding {
        return Err(ServiceError::UnsupportedContentEncoding(quote_bytes(
            coding,
        )));
    }
    Ok(())
}

/// A header value as an error message may quote it: lossy UTF-8, at most [`QUOTED_MAX`]
/// characters.
fn quoted(value: &HeaderValue) -> String {
    quote_bytes(value.as_bytes())
}

fn quote_bytes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(QUOTED_MAX).collect();
    if text.chars().nth(QUOTED_MAX).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn http_1_1_needs_exactly_one_host() {
        let one = headers(&[("host", "a")]);
        check_request(Version::HTTP_11, &one).unwrap();
        let none = headers(&[]);
        let err = check_request(Version::HTTP_11, &none).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("Host"), "{err}");
        check_request(Version::HTTP_10, &none).unwrap();
        check_request(Version::HTTP_2, &none).unwrap();
        let two = headers(&[("host", "a"), ("host", "b")]);
        for version in [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2] {
            let err = check_request(version, &two).unwrap_err();
            assert!(err.to_string().contains("2 Host headers"), "{err}");
        }
    }

    #[test]
    fn only_identity_content_is_accepted_and_the_encoding_is_named() {
        let ok = headers(&[("host", "a"), ("content-encoding", "Identity")]);
        check_request(Version::HTTP_11, &ok).unwrap();
        let gzip = headers(&[("host", "a"), ("content-encoding", "identity, gzip")]);
        let err = check_request(Version::HTTP_11, &gzip).unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(err.code(), "unsupported_content_encoding");
        assert!(err.to_string().contains("`gzip`"), "{err}");
        let long = HeaderValue::from_str(&"x".repeat(500)).unwrap();
        let mut h = headers(&[("host", "a")]);
        h.insert(header::CONTENT_ENCODING, long);
        let err = check_request(Version::HTTP_11, &h).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn only_plain_chunked_transfer_coding_is_accepted() {
        let ok = headers(&[("host", "a"), ("transfer-encoding", "chunked")]);
        check_request(Version::HTTP_11, &ok).unwrap();
        for bad in [
            &[("host", "a"), ("transfer-encoding", "gzip, chunked")][..],
            &[
                ("host", "a"),
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ][..],
        ] {
            let err = check_request(Version::HTTP_11, &headers(bad)).unwrap_err();
            assert_eq!(err.status(), 400, "{err}");
        }
    }
}
