//! Validation of container and object names, and the URLs built from them.
//!
//! A name goes into a URL as path segments ([`reqwest::Url::path_segments_mut`], which
//! percent-encodes `/`, `%`, `?`, `#` and the rest), never by concatenation. Names that a URL
//! would rewrite are refused before any request: `.` and `..` (dot segments, which URL
//! normalisation removes, moving the request to another container or out of the account), and
//! control characters (tabs and line breaks are dropped by URL parsing, so `.\t.` would become
//! `..`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::error::{SwiftError, SwiftErrorKind};

/// Swift's default `max_container_name_length`.
pub const MAX_CONTAINER_NAME: usize = 256;
/// Swift's default `max_object_name_length`.
pub const MAX_OBJECT_NAME: usize = 1024;

/// Everything but RFC 3986 unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Object names keep their slashes: Swift treats them as ordinary characters of one path.
const OBJECT: &AsciiSet = &COMPONENT.remove(b'/');

fn cut(name: &str) -> String {
    name.chars().take(80).collect()
}

fn is_dot_segment(s: &str) -> bool {
    s == "." || s == ".."
}

fn invalid(kind: &'static str, name: &str, reason: &'static str) -> SwiftError {
    SwiftErrorKind::InvalidName {
        kind,
        name: cut(name),
        reason,
    }
    .into()
}

/// Refuses a container name that is empty, longer than 256 bytes, holds `/` or a control
/// character (NUL, tab, CR, LF…), or is `.` or `..`.
///
/// # Errors
///
/// [`SwiftErrorKind::InvalidName`], naming the container and the reason.
///
/// # Examples
///
/// ```
/// assert!(zato_swift::check_container("CRM").is_ok());
/// let err = zato_swift::check_container("..").unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid container name "..": must not be `.` or `..`"#);
/// ```
pub fn check_container(name: &str) -> Result<(), SwiftError> {
    match container_problem(name) {
        Some(problem) => Err(invalid("container", name, problem.reason)),
        None => Ok(()),
    }
}

/// Why a text cannot be a container name: the reason, and the same said as what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContainerProblem {
    pub(crate) reason: &'static str,
    pub(crate) expected: &'static str,
}

/// What keeps `name` from being a container name, if anything: the rule of [`check_container`].
pub(crate) fn container_problem(name: &str) -> Option<ContainerProblem> {
    let (reason, expected) = if name.is_empty() {
        ("must not be empty", "container name, not empty")
    } else if name.len() > MAX_CONTAINER_NAME {
        (
            "longer than 256 bytes",
            "container name of at most 256 bytes",
        )
    } else if name.contains('/') {
        ("must not contain `/`", "container name without `/`")
    } else if name.chars().any(char::is_control) {
        (
            "must not contain control characters",
            "container name without control characters",
        )
    } else if is_dot_segment(name) {
        (
            "must not be `.` or `..`",
            "container name other than `.` or `..`",
        )
    } else {
        return None;
    };
    Some(ContainerProblem { reason, expected })
}

/// Refuses an object name that is empty, longer than 1024 bytes, holds a control character, or
/// has `.` or `..` between its slashes (`..`, `a/../b`, `./a`).
///
/// # Errors
///
/// [`SwiftErrorKind::InvalidName`], naming the object and the reason.
pub fn check_object(name: &str) -> Result<(), SwiftError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_OBJECT_NAME {
        "longer than 1024 bytes"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else if name.split('/').any(is_dot_segment) {
        "must not have `.` or `..` between slashes"
    } else {
        return Ok(());
    };
    Err(invalid("object", name, reason))
}

/// Percent-encodes a container name (or any single path segment or query value).
pub(crate) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Percent-encodes an object name, keeping its `/`.
pub(crate) fn encode_object(s: &str) -> String {
    utf8_percent_encode(s, OBJECT).to_string()
}

/// A validated place below the storage URL: the account, a container or an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SwiftPath<'a> {
    Account,
    Container(&'a str),
    Object(&'a str, &'a str),
}

impl<'a> SwiftPath<'a> {
    /// The path segments below the storage URL. An object name's slashes separate segments,
    /// as Swift reads them.
    fn segments(self) -> impl Iterator<Item = &'a str> {
        let (container, object) = match self {
            SwiftPath::Account => (None, None),
            SwiftPath::Container(c) => (Some(c), None),
            SwiftPath::Object(c, o) => (Some(c), Some(o)),
        };
        container
            .into_iter()
            .chain(object.into_iter().flat_map(|o| o.split('/')))
    }

    /// The encoded `/container/object`, as `X-Copy-From` wants it.
    pub(crate) fn encoded(self) -> String {
        match self {
            SwiftPath::Account => String::new(),
            SwiftPath::Container(c) => format!("/{}", encode_component(c)),
            SwiftPath::Object(c, o) => format!("/{}/{}", encode_component(c), encode_object(o)),
        }
    }

    /// `base` (a storage URL) with this path's segments pushed onto it, and `query` (already
    /// encoded, without `?`) when not empty.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Protocol`] when `base` cannot take path segments, or when the URL did
    /// not keep every segment as given (which validation rules out).
    pub(crate) fn url(self, base: &Url, query: &str) -> Result<Url, SwiftError> {
        let no_path = || {
            SwiftError::from(SwiftErrorKind::Protocol {
                message: "the storage URL cannot take a path".into(),
            })
        };
        let mut url = base.clone();
        if !matches!(self, SwiftPath::Account) {
            // A storage URL ending in `/` has an empty last segment: the names replace it.
            url.path_segments_mut()
                .map_err(|()| no_path())?
                .pop_if_empty();
            let before = segment_count(&url);
            let mut pushed = 0;
            {
                let mut segments = url.path_segments_mut().map_err(|()| no_path())?;
                for s in self.segments() {
                    segments.push(s);
                    pushed += 1;
                }
            }
            // Every segment pushed must be there as given: a name that URL normalisation
            // removed would send the request somewhere else. Validation rules this out; this
            // keeps it so whatever validation misses.
            if segment_count(&url) != before + pushed {
                return Err(SwiftErrorKind::Protocol {
                    message: "a name would change the URL's path".into(),
                }
                .into());
            }
        }
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        Ok(url)
    }
}

fn segment_count(url: &Url) -> usize {
    if url.path() == "/" {
        return 0;
    }
    url.path_segments().map_or(0, Iterator::count)
}

/// The `/container` path, after validation.
pub(crate) fn container_path(container: &str) -> Result<SwiftPath<'_>, SwiftError> {
    check_container(container)?;
    Ok(SwiftPath::Container(container))
}

/// The `/container/object` path, after validation.
pub(crate) fn object_path<'a>(
    container: &'a str,
    object: &'a str,
) -> Result<SwiftPath<'a>, SwiftError> {
    check_container(container)?;
    check_object(object)?;
    Ok(SwiftPath::Object(container, object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: SwiftPath<'_>) -> Result<String, SwiftError> {
        let base = Url::parse("https://swift.example.com/v1/AUTH_acc").unwrap();
        path.url(&base, "").map(String::from)
    }

    #[test]
    fn awkward_names_are_encoded_segment_by_segment() {
        assert_eq!(
            url(object_path("my bucket", "a b/ż?#%.txt").unwrap()).unwrap(),
            "https://swift.example.com/v1/AUTH_acc/my%20bucket/a%20b/%C5%BC%3F%23%25.txt"
        );
        assert_eq!(
            url(container_path("%2e%2e").unwrap()).unwrap(),
            "https://swift.example.com/v1/AUTH_acc/%252e%252e"
        );
        assert_eq!(
            object_path("my bucket", "a b/ż?#%.txt").unwrap().encoded(),
            "/my%20bucket/a%20b/%C5%BC%3F%23%25.txt"
        );
    }

    #[test]
    fn a_storage_url_with_a_trailing_slash_or_no_path_takes_names_too() {
        let path = object_path("CRM", "Invoice").unwrap();
        for (base, want) in [
            ("http://h/v1/AUTH_a/", "http://h/v1/AUTH_a/CRM/Invoice"),
            ("http://h", "http://h/CRM/Invoice"),
            ("http://h/", "http://h/CRM/Invoice"),
        ] {
            let base = Url::parse(base).unwrap();
            assert_eq!(path.url(&base, "").unwrap().as_str(), want);
        }
        let base = Url::parse("http://h/v1/AUTH_a").unwrap();
        assert_eq!(
            SwiftPath::Account
                .url(&base, "format=json")
                .unwrap()
                .as_str(),
            "http://h/v1/AUTH_a?format=json"
        );
    }

    #[test]
    fn names_a_url_would_normalise_are_refused() {
        for name in [".", "..", "", "a/b", "a\r\nb", ".\t.", "a\0"] {
            let err = check_container(name).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    SwiftErrorKind::InvalidName {
                        kind: "container",
                        ..
                    }
                ),
                "{name:?}: {err}"
            );
        }
        for name in ["..", ".", "a/../b", "./a", "a/.", "", "a\nb"] {
            assert!(check_object(name).is_err(), "{name:?}");
        }
        for name in ["...", ".a", "a..", "a/..b/c", "a//b", "/a"] {
            assert!(check_object(name).is_ok(), "{name:?}");
        }
        assert!(check_container("...").is_ok());
        assert!(check_container(&"x".repeat(257)).is_err());
        assert!(check_container(&"x".repeat(256)).is_ok());
        assert!(check_object(&"x".repeat(1025)).is_err());
        let e = check_container("a/b").unwrap_err().to_string();
        assert_eq!(e, r#"invalid container name "a/b": must not contain `/`"#);
        let e = check_container("a\r\nb").unwrap_err().to_string();
        assert!(!e.contains('\n') && e.contains(r"a\r\nb"), "{e}");
    }

    #[test]
    fn a_dot_segment_that_slipped_through_is_caught_when_building_the_url() {
        // Validation refuses these first; the URL builder refuses them on its own too.
        for path in [
            SwiftPath::Container(".."),
            SwiftPath::Object("CRM", "a/../b"),
            SwiftPath::Container(".\t."),
        ] {
            let err = url(path).unwrap_err();
            assert!(
                matches!(err.kind(), SwiftErrorKind::Protocol { .. }),
                "{path:?}: {err}"
            );
        }
    }
}
