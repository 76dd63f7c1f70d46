//! Validation and percent-encoding of container and object names.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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

/// Refuses an empty container name, one with `/`, or one longer than 256 bytes.
///
/// # Errors
///
/// [`SwiftErrorKind::InvalidName`].
pub fn check_container(name: &str) -> Result<(), SwiftError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.contains('/') {
        "must not contain `/`"
    } else if name.len() > MAX_CONTAINER_NAME {
        "longer than 256 bytes"
    } else if name.contains('\0') {
        "must not contain NUL"
    } else {
        return Ok(());
    };
    Err(SwiftErrorKind::InvalidName {
        kind: "container",
        name: cut(name),
        reason,
    }
    .into())
}

/// Refuses an empty object name or one longer than 1024 bytes.
///
/// # Errors
///
/// [`SwiftErrorKind::InvalidName`].
pub fn check_object(name: &str) -> Result<(), SwiftError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_OBJECT_NAME {
        "longer than 1024 bytes"
    } else if name.contains('\0') {
        "must not contain NUL"
    } else {
        return Ok(());
    };
    Err(SwiftErrorKind::InvalidName {
        kind: "object",
        name: cut(name),
        reason,
    }
    .into())
}

/// Percent-encodes a container name (or any single path segment or query value).
pub(crate) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Percent-encodes an object name, keeping its `/`.
pub(crate) fn encode_object(s: &str) -> String {
    utf8_percent_encode(s, OBJECT).to_string()
}

/// The encoded `/container` path, after validation.
pub(crate) fn container_path(container: &str) -> Result<String, SwiftError> {
    check_container(container)?;
    let mut path = String::with_capacity(container.len() + 8);
    path.push('/');
    path.extend(utf8_percent_encode(container, COMPONENT));
    Ok(path)
}

/// The encoded `/container/object` path, after validation.
pub(crate) fn object_path(container: &str, object: &str) -> Result<String, SwiftError> {
    check_container(container)?;
    check_object(object)?;
    let mut path = String::with_capacity(container.len() + object.len() + 16);
    path.push('/');
    path.extend(utf8_percent_encode(container, COMPONENT));
    path.push('/');
    path.extend(utf8_percent_encode(object, OBJECT));
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_names_are_encoded() {
        assert_eq!(
            object_path("my bucket", "a b/ż?#%.txt").unwrap(),
            "/my%20bucket/a%20b/%C5%BC%3F%23%25.txt"
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(check_container("").is_err());
        assert!(check_container("a/b").is_err());
        assert!(check_container(&"x".repeat(257)).is_err());
        assert!(check_container(&"x".repeat(256)).is_ok());
        assert!(check_object("").is_err());
        assert!(check_object(&"x".repeat(1025)).is_err());
        let e = check_container("a/b").unwrap_err().to_string();
        assert!(e.contains("container") && e.contains("`/`"), "{e}");
    }
}
