//! The route table: URL patterns compiled into a segment tree, matched most-specific first.
//!
//! A table is immutable. Changing a channel builds a new table (validating the whole
//! configuration) and swaps it in; requests in flight keep the table they started with.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method};
use zato_core::{ChannelInfo, ChannelKind, DataFormat};

use crate::config::{HttpChannelConfig, SecurityDef};
use crate::error::{ConfigError, ConfigProblem};
use crate::security::SecurityCheck;

/// One segment of a URL pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(Box<str>),
    Param(Box<str>),
}

/// A parsed `url_path`: `/invoice/{id}` is a static segment and a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a `url_path`. Empty segments (`//`, a trailing `/`) are ignored, as in matching.
    pub(crate) fn parse(path: &str) -> Result<Pattern, String> {
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
                segments.push(Segment::Static(normalize_static(seg).into()));
            }
        }
        Ok(Pattern { segments })
    }

    /// The pattern with parameter names erased: two patterns of one shape match the same paths.
    fn shape(&self) -> Vec<Option<&str>> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Static(t) => Some(&**t),
                Segment::Param(_) => None,
            })
            .collect()
    }

    fn param_names(&self) -> Box<[Box<str>]> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) => Some(n.clone()),
                Segment::Static(_) => None,
            })
            .collect()
    }
}

/// A channel compiled for serving: everything a request needs, computed once.
pub(crate) struct Route {
    /// Shared by every request of the channel.
    pub(crate) channel: Arc<ChannelInfo>,
    pub(crate) service: Box<str>,
    /// Empty allows any method.
    methods: Vec<Method>,
    pub(crate) is_active: bool,
    pub(crate) security: Option<Arc<SecurityCheck>>,
    pub(crate) max_body_size: u64,
    pub(crate) timeout: Option<Duration>,
    /// The names of the `{param}` segments, in path order.
    pub(crate) param_names: Box<[Box<str>]>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("channel", &self.channel.name)
            .field("service", &self.service)
            .field("methods", &self.methods)
            .field("is_active", &self.is_active)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl Route {
    fn allows(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(method)
    }

    /// A HEAD where only GET is listed: answered like the GET, and hyper sends no body.
    fn allows_as_get(&self, method: &Method) -> bool {
        *method == Method::HEAD && self.methods.contains(&Method::GET)
    }

    pub(crate) fn data_format(&self) -> DataFormat {
        self.channel.data_format
    }
}

#[derive(Debug, Default)]
struct Node {
    statics: HashMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    routes: Vec<Arc<Route>>,
    /// The `Allow` header of a 405 here: every method some route of this node allows.
    allow: Option<HeaderValue>,
}

impl Node {
    fn insert(&mut self, segments: &[Segment], route: Arc<Route>) {
        match segments.split_first() {
            None => self.routes.push(route),
            Some((Segment::Static(s), rest)) => self
                .statics
                .entry(s.clone())
                .or_default()
                .insert(rest, route),
            Some((Segment::Param(_), rest)) => self
                .param
                .get_or_insert_with(Box::default)
                .insert(rest, route),
        }
    }

    fn finish(&mut self) {
        self.allow = allow_header(self.routes.iter());
        self.statics.values_mut().for_each(Node::finish);
        if let Some(p) = &mut self.param {
            p.finish();
        }
    }

    /// Depth-first, static children before the parameter child, so the most specific pattern
    /// wins segment by segment. Remembers every node whose path matched but whose methods did
    /// not, for the 405.
    fn walk<'t, 'p, I>(
        &'t self,
        mut rest: I,
        method: &Method,
        params: &mut Vec<&'p str>,
        wrong_method: &mut Vec<&'t Node>,
    ) -> Option<&'t Arc<Route>>
    where
        I: Iterator<Item = &'p str> + Clone,
    {
        let Some(seg) = rest.next() else {
            let exact = self.routes.iter().find(|r| r.allows(method));
            if let Some(route) =
                exact.or_else(|| self.routes.iter().find(|r| r.allows_as_get(method)))
            {
                return Some(route);
            }
            if !self.routes.is_empty() {
                wrong_method.push(self);
            }
            return None;
        };
        if let Some(child) = self.statics.get(&*normalize_static(seg)) {
            if let Some(found) = child.walk(rest.clone(), method, params, wrong_method) {
                return Some(found);
            }
        }
        if let Some(child) = &self.param {
            params.push(seg);
            if let Some(found) = child.walk(rest, method, params, wrong_method) {
                return Some(found);
            }
            params.pop();
        }
        None
    }
}

/// What a path and method matched.
#[derive(Debug)]
pub(crate) enum Lookup<'t, 'p> {
    /// A route, with the raw (still percent-encoded) values of its parameters in path order.
    Found(&'t Arc<Route>, Vec<&'p str>),
    /// The path exists, but not for this method: the `Allow` header, and the format of the
    /// channels on the path, to answer in.
    WrongMethod(Option<Cow<'t, HeaderValue>>, DataFormat),
    /// No channel has this path.
    NotFound,
}

/// The compiled channels and the configuration they came from.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    root: Node,
    pub(crate) channels: Vec<HttpChannelConfig>,
    pub(crate) security: Vec<SecurityDef>,
}

impl RouteTable {
    /// Validates a whole configuration and compiles it.
    pub(crate) fn build(
        channels: &[HttpChannelConfig],
        security: &[SecurityDef],
    ) -> Result<RouteTable, ConfigError> {
        let mut problems = Vec::new();
        let mut checks: HashMap<&str, Arc<SecurityCheck>> = HashMap::new();
        for (i, def) in security.iter().enumerate() {
            let path = format!("security[{i}]");
            let before = problems.len();
            def.check(&path, &mut problems);
            if checks.contains_key(def.name()) {
                problems.push(ConfigProblem::new(
                    format!("{path}.name"),
                    format!("`{}` is defined twice", def.name()),
                ));
            } else if problems.len() == before {
                if let Some(check) = SecurityCheck::new(def) {
                    checks.insert(def.name(), Arc::new(check));
                }
            }
        }

        let mut root = Node::default();
        let mut seen: Vec<(&str, Pattern, Vec<Method>)> = Vec::with_capacity(channels.len());
        for (i, ch) in channels.iter().enumerate() {
            let path = format!("channels[{i}]");
            let before = problems.len();
            ch.check(&path, &mut problems);
            if seen.iter().any(|(name, ..)| *name == ch.name) {
                problems.push(ConfigProblem::new(
                    format!("{path}.name"),
                    format!("`{}` is used by another channel", ch.name),
                ));
            }
            let security = match ch.security.as_deref() {
                Some(name) if !name.trim().is_empty() => match checks.get(name) {
                    Some(check) => Some(check.clone()),
                    None => {
                        let known = security.iter().any(|d| d.name() == name);
                        if !known {
                            problems.push(ConfigProblem::new(
                                format!("{path}.security"),
                                format!("no security definition is named `{name}`"),
                            ));
                        }
                        None
                    }
                },
                _ => None,
            };
            let Ok(pattern) = Pattern::parse(&ch.url_path) else {
                continue;
            };
            let methods = ch.parsed_methods();
            let shape = pattern.shape();
            let overlapping = |other: &[Method]| {
                methods.is_empty() || other.is_empty() || methods.iter().any(|m| other.contains(m))
            };
            if let Some((other, ..)) = seen
                .iter()
                .find(|(_, p, m)| p.shape() == shape && overlapping(m))
            {
                problems.push(ConfigProblem::new(
                    format!("{path}.url_path"),
                    format!(
                        "`{}` and its methods are already served by channel `{other}`",
                        ch.url_path
                    ),
                ));
            }
            if problems.len() != before {
                continue;
            }
            let info = ChannelInfo::new(ch.name.as_str(), ChannelKind::Http, ch.data_format)
                .with_params(ch.params());
            let route = Arc::new(Route {
                channel: Arc::new(info),
                service: ch.service.as_str().into(),
                methods: methods.clone(),
                is_active: ch.is_active,
                security,
                max_body_size: ch.max_body_size,
                timeout: ch.timeout,
                param_names: pattern.param_names(),
            });
            root.insert(&pattern.segments, route);
            seen.push((&ch.name, pattern, methods));
        }
        ConfigError::check(problems)?;
        root.finish();
        Ok(RouteTable {
            root,
            channels: channels.to_vec(),
            security: security.to_vec(),
        })
    }

    /// Finds the channel for a path and method. Allocates only when the route has parameters.
    pub(crate) fn lookup<'t, 'p>(&'t self, path: &'p str, method: &Method) -> Lookup<'t, 'p> {
        let segments = path.split('/').filter(|s| !s.is_empty());
        let mut params = Vec::new();
        // Allocates only for a 405 on a path several patterns match.
        let mut wrong_method = Vec::new();
        match self
            .root
            .walk(segments, method, &mut params, &mut wrong_method)
        {
            Some(route) => Lookup::Found(route, params),
            None => match wrong_method.as_slice() {
                [] => Lookup::NotFound,
                [node] => Lookup::WrongMethod(
                    node.allow.as_ref().map(Cow::Borrowed),
                    node.routes
                        .first()
                        .map_or(DataFormat::Json, |r| r.data_format()),
                ),
                nodes => Lookup::WrongMethod(
                    allow_header(nodes.iter().flat_map(|n| n.routes.iter())).map(Cow::Owned),
                    nodes
                        .iter()
                        .find_map(|n| n.routes.first())
                        .map_or(DataFormat::Json, |r| r.data_format()),
                ),
            },
        }
    }
}

/// The `Allow` header of a 405: every method some of `routes` allows, HEAD with GET.
fn allow_header<'r>(routes: impl Iterator<Item = &'r Arc<Route>>) -> Option<HeaderValue> {
    let mut methods: Vec<&str> = Vec::new();
    for r in routes {
        for m in &r.methods {
            if !methods.contains(&m.as_str()) {
                methods.push(m.as_str());
            }
        }
    }
    if methods.contains(&"GET") && !methods.contains(&"HEAD") {
        methods.push("HEAD");
    }
    HeaderValue::from_str(&methods.join(", ")).ok()
}

/// A static segment as patterns and paths are compared: escapes of unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`) decoded, the others kept with uppercase hex, so `%2F`
/// stays text rather than a separator. Allocates only for a segment holding `%`.
fn normalize_static(seg: &str) -> Cow<'_, str> {
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = seg.as_bytes();
    let mut out = String::with_capacity(seg.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let b = h << 4 | l;
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(b));
                } else {
                    out.push('%');
                    out.push(char::from(bytes[i + 1]).to_ascii_uppercase());
                    out.push(char::from(bytes[i + 2]).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        // Not an escape: copy the character whole.
        let ch_len = seg[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&seg[i..i + ch_len]);
        i += ch_len;
    }
    Cow::Owned(out)
}

/// Decodes `%XX` escapes of a path segment; an invalid escape stays as it came.
pub(crate) fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]
mod tests {
    use super::*;

    fn table(channels: &[HttpChannelConfig]) -> RouteTable {
        RouteTable::build(channels, &[]).unwrap()
    }

    fn found<'t>(t: &'t RouteTable, path: &str, method: Method) -> (&'t str, Vec<String>) {
        match t.lookup(path, &method) {
            Lookup::Found(r, p) => (&r.channel.name, p.into_iter().map(String::from).collect()),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn static_beats_param_and_params_are_captured() {
        let t = table(&[
            HttpChannelConfig::new("by-id", "/invoice/{id}", "s"),
            HttpChannelConfig::new("latest", "/invoice/latest", "s"),
            HttpChannelConfig::new("line", "/invoice/{id}/line/{n}", "s"),
        ]);
        assert_eq!(found(&t, "/invoice/latest", Method::GET).0, "latest");
        assert_eq!(
            found(&t, "/invoice/42", Method::GET),
            ("by-id", vec!["42".into()])
        );
        assert_eq!(
            found(&t, "/invoice/latest/line/3/", Method::GET),
            ("line", vec!["latest".into(), "3".into()])
        );
        assert!(matches!(
            t.lookup("/invoice", &Method::GET),
            Lookup::NotFound
        ));
        assert!(matches!(
            t.lookup("/invoice/1/2", &Method::GET),
            Lookup::NotFound
        ));
    }

    #[test]
    fn backtracks_when_the_static_branch_dead_ends() {
        let t = table(&[
            HttpChannelConfig::new("a", "/a/b/c", "s"),
            HttpChannelConfig::new("p", "/a/{x}/d", "s"),
        ]);
        assert_eq!(found(&t, "/a/b/d", Method::GET), ("p", vec!["b".into()]));
    }

    #[test]
    fn methods_split_one_path_and_405_lists_them() {
        let t = table(&[
            HttpChannelConfig::new("get", "/x", "s").with_methods(["GET"]),
            HttpChannelConfig::new("post", "/x", "s").with_methods(["post"]),
        ]);
        assert_eq!(found(&t, "/x", Method::POST).0, "post");
        match t.lookup("/x", &Method::DELETE) {
            Lookup::WrongMethod(Some(allow), DataFormat::Json) => {
                assert_eq!(*allow, "GET, POST, HEAD")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(found(&t, "/x", Method::HEAD).0, "get");
        let with_head = table(&[
            HttpChannelConfig::new("get", "/x", "s").with_methods(["GET"]),
            HttpChannelConfig::new("head", "/x", "s").with_methods(["HEAD"]),
        ]);
        assert_eq!(found(&with_head, "/x", Method::HEAD).0, "head");
    }

    #[test]
    fn a_405_allows_the_methods_of_every_pattern_matching_the_path() {
        let t = table(&[
            HttpChannelConfig::new("b", "/a/b", "s").with_methods(["GET"]),
            HttpChannelConfig::new("x", "/a/{x}", "s").with_methods(["POST"]),
        ]);
        assert_eq!(found(&t, "/a/b", Method::POST).0, "x");
        match t.lookup("/a/b", &Method::DELETE) {
            Lookup::WrongMethod(Some(allow), DataFormat::Json) => {
                assert_eq!(*allow, "GET, POST, HEAD")
            }
            other => panic!("{other:?}"),
        }
        // A path only the parameter matches allows only its methods.
        match t.lookup("/a/c", &Method::DELETE) {
            Lookup::WrongMethod(Some(allow), _) => assert_eq!(*allow, "POST"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaped_unreserved_characters_match_static_segments() {
        let t = table(&[
            HttpChannelConfig::new("inv", "/invoice.dispatcher", "s"),
            HttpChannelConfig::new("slash", "/a%2fb/c", "s"),
            HttpChannelConfig::new("p", "/p/{x}", "s"),
        ]);
        assert_eq!(found(&t, "/invoice%2Edispatcher", Method::GET).0, "inv");
        assert_eq!(found(&t, "/%69nvoice%2edispatcher", Method::GET).0, "inv");
        // An escaped slash is text, never a separator, in any hex case.
        assert_eq!(found(&t, "/a%2Fb/c", Method::GET).0, "slash");
        assert!(matches!(t.lookup("/a/b/c", &Method::GET), Lookup::NotFound));
        // Parameters still get their raw value, decoded later.
        assert_eq!(found(&t, "/p/%41", Method::GET), ("p", vec!["%41".into()]));
        assert_eq!(normalize_static("caf%C3%A9%zz%4"), "caf%C3%A9%zz%4");
        assert_eq!(normalize_static("é%7e"), "é~");
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let err = RouteTable::build(
            &[
                HttpChannelConfig::new("a", "/a/{id}", "s"),
                HttpChannelConfig::new("a", "/a/{other}", "s"),
                HttpChannelConfig::new("c", "c/{", "").with_methods(["GET", "get", "BAD METHOD"]),
                HttpChannelConfig::new("d", "/d", "s").with_security("nobody"),
            ],
            &[SecurityDef::api_key("k", "bad header", "")],
        )
        .unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "security[0].header",
                "security[0].key",
                "channels[1].name",
                "channels[1].url_path",
                "channels[2].url_path",
                "channels[2].methods[1]",
                "channels[2].methods[2]",
                "channels[2].service",
                "channels[3].security",
            ],
            "{err}"
        );
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
