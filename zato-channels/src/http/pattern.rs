//! URL patterns (`/invoice/{id}`) and the percent decoding of paths.
//!
//! A path is split into segments at `/` before anything is decoded, so an escaped slash (`%2F`)
//! is text inside its segment, never a separator. A static segment matches when its decoded
//! bytes equal the pattern's: `/invoice%2Edispatcher` reaches `/invoice.dispatcher`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// One segment of a URL pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// Text matched exactly, held percent-decoded.
    Static(Box<[u8]>),
    /// A `{name}` segment matching any one segment.
    Param(Box<str>),
}

/// A parsed `url_path`: `/invoice/{id}` is a static segment and a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    pub(super) segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a `url_path`. Empty segments (`//`, a trailing `/`) are ignored, as in matching.
    ///
    /// The error says what is wrong, to be placed at the field's path.
    pub(super) fn parse(path: &str) -> Result<Pattern, String> {
        if !path.starts_with('/') {
            return Err(format!("`{path}` must start with `/`"));
        }
        if path.contains(['?', '#']) {
            return Err(format!("`{path}` must hold no query string or fragment"));
        }
        let mut segments = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            if let Some(inner) = seg.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(format!("segment `{seg}` opens `{{` without closing it"));
                };
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
                if !valid {
                    return Err(format!(
                        "parameter `{{{name}}}` needs a name of letters, digits, `_`, `-` or `.`"
                    ));
                }
                if segments.contains(&Segment::Param(name.into())) {
                    return Err(format!("parameter `{{{name}}}` appears twice"));
                }
                segments.push(Segment::Param(name.into()));
            } else if seg.contains(['{', '}']) {
                return Err(format!(
                    "segment `{seg}` mixes text and a parameter; a parameter is a whole segment"
                ));
            } else {
                segments.push(Segment::Static(static_key(seg).into()));
            }
        }
        Ok(Pattern { segments })
    }

    /// The pattern with parameter names erased: two patterns of one shape match the same paths.
    pub(super) fn shape(&self) -> Vec<Option<&[u8]>> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Static(t) => Some(&**t),
                Segment::Param(_) => None,
            })
            .collect()
    }

    /// The names of the `{param}` segments, in path order.
    pub(super) fn param_names(&self) -> Box<[Box<str>]> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) => Some(n.clone()),
                Segment::Static(_) => None,
            })
            .collect()
    }
}

/// A static segment as patterns and paths are compared: its percent-decoded bytes. Bytes, not
/// text, so two different invalid UTF-8 sequences never compare equal. Borrows unless the
/// segment holds an escape.
pub(super) fn static_key(seg: &str) -> Cow<'_, [u8]> {
    percent_decode_str(seg).into()
}

/// The value of a path parameter: percent-decoded, invalid UTF-8 replaced, an invalid escape
/// kept as it came.
pub(super) fn param_value(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_into_segments() {
        let p = Pattern::parse("/invoice//{id}/line/").unwrap();
        assert_eq!(
            p.segments,
            [
                Segment::Static(b"invoice".as_slice().into()),
                Segment::Param("id".into()),
                Segment::Static(b"line".as_slice().into()),
            ]
        );
        assert_eq!(&*p.param_names(), [Box::from("id")]);
        for bad in ["x", "/a?b", "/{a", "/{}", "/{a}/{a}", "/a{b}", "/{a b}"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn static_segments_compare_decoded() {
        assert_eq!(&*static_key("invoice%2Edispatcher"), b"invoice.dispatcher");
        assert_eq!(static_key("a%2fb"), static_key("a%2Fb"));
        assert!(matches!(static_key("plain"), Cow::Borrowed(_)));
        // Invalid escapes stay as they came; distinct invalid bytes stay distinct.
        assert_eq!(&*static_key("%zz%4"), b"%zz%4");
        assert_ne!(static_key("%FE"), static_key("%FF"));
        assert_eq!(&*static_key("\u{e9}%7e"), "\u{e9}~".as_bytes());
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(param_value("a%20b%2Fc"), "a b/c");
        assert_eq!(param_value("100%"), "100%");
        assert_eq!(param_value("%zz%4"), "%zz%4");
        assert_eq!(param_value("caf%C3%A9"), "caf\u{e9}");
        assert_eq!(param_value("%FF"), "\u{fffd}");
    }
}
