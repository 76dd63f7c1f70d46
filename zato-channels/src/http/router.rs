//! The route table: URL patterns compiled into a segment tree, matched most-specific first.
//!
//! A table is immutable. Changing a channel builds a new table (validating the whole
//! configuration) and swaps it in; requests in flight keep the table they started with.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fnv::FnvHashMap;
use http::{HeaderValue, Method};
use zato_core::{ChannelInfo, ConfigError, DataFormat};

use super::config::{HttpChannelConfig, SecurityDef};
use super::pattern::{Segment, static_key};
use super::security::SecurityCheck;
use super::validate::check_config;

/// A channel compiled for serving: everything a request needs, computed once.
pub(super) struct Route {
    /// Shared by every request of the channel.
    pub(super) channel: Arc<ChannelInfo>,
    pub(super) service: Box<str>,
    /// Empty allows any method.
    methods: Vec<Method>,
    pub(super) is_active: bool,
    pub(super) security: Option<Arc<SecurityCheck>>,
    pub(super) max_body_size: u64,
    pub(super) timeout: Option<Duration>,
    /// The names of the `{param}` segments, in path order.
    pub(super) param_names: Box<[Box<str>]>,
    /// Where the channel's requests are counted, made on its first request.
    pub(super) meter: std::sync::OnceLock<zato_core::metrics::ChannelMeter>,
    /// The `soap:address` of its WSDL, when configured.
    pub(super) public_url: Option<Box<str>>,
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

    pub(super) fn data_format(&self) -> DataFormat {
        self.channel.data_format
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Keyed by the percent-decoded segment. FNV rather than SipHash: the keys are the
    /// configured paths, so a caller cannot choose colliding ones, and every request hashes.
    statics: FnvHashMap<Box<[u8]>, Node>,
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
        if let Some(child) = self.statics.get(&*static_key(seg))
            && let Some(found) = child.walk(rest.clone(), method, params, wrong_method)
        {
            return Some(found);
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

/// The non-empty segments of a URL path, as `path.split('/').filter(|s| !s.is_empty())` gives
/// them, found with a byte loop: `str::split`'s searcher costs more on paths this short.
#[derive(Debug, Clone)]
struct Segments<'p>(&'p str);

impl<'p> Iterator for Segments<'p> {
    type Item = &'p str;

    fn next(&mut self) -> Option<&'p str> {
        let path = self.0;
        // `/` is ASCII, so every cut falls on a character boundary.
        let start = path.bytes().position(|b| b != b'/')?;
        let end = path[start..]
            .bytes()
            .position(|b| b == b'/')
            .map_or(path.len(), |i| start + i);
        self.0 = &path[end..];
        Some(&path[start..end])
    }
}

/// What a path and method matched.
#[derive(Debug)]
pub(super) enum Lookup<'t, 'p> {
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
pub(super) struct RouteTable {
    root: Node,
    /// The routes of each pattern without parameters, by its path as a request in canonical
    /// form spells it (`/invoice/list`), in the order the tree holds them. A request whose path
    /// is one of these is answered from here with one hash, not a walk: the static chain is the
    /// walk's first try at every segment, so its pick is the walk's whenever it has one.
    exact: FnvHashMap<Box<str>, Vec<Arc<Route>>>,
    pub(super) channels: Vec<HttpChannelConfig>,
    pub(super) security: Vec<SecurityDef>,
}

impl RouteTable {
    /// Validates a whole configuration and compiles it.
    ///
    /// # Errors
    ///
    /// Every problem, with paths relative to the configuration (`channels[2].url_path`).
    pub(super) fn build(
        channels: &[HttpChannelConfig],
        security: &[SecurityDef],
    ) -> Result<RouteTable, ConfigError> {
        let checked = check_config(channels, security)?;
        let mut root = Node::default();
        let mut exact: FnvHashMap<Box<str>, Vec<Arc<Route>>> = FnvHashMap::default();
        for (ch, checked) in channels.iter().zip(checked) {
            let info = ChannelInfo::new(ch.name.as_str(), super::HTTP_KIND, ch.data_format)
                .with_params(ch.params())
                .with_max_items(ch.max_items);
            let route = Arc::new(Route {
                channel: Arc::new(info),
                service: ch.service.as_str().into(),
                methods: checked.methods,
                is_active: ch.is_active,
                security: checked.security,
                max_body_size: ch.max_body_size,
                timeout: ch.timeout,
                param_names: checked.pattern.param_names(),
                meter: std::sync::OnceLock::new(),
                public_url: ch.public_url.as_deref().map(Into::into),
            });
            if let Some(path) = canonical_path(&checked.pattern.segments) {
                exact.entry(path).or_default().push(Arc::clone(&route));
            }
            root.insert(&checked.pattern.segments, route);
        }
        root.finish();
        Ok(RouteTable {
            root,
            exact,
            channels: channels.to_vec(),
            security: security.to_vec(),
        })
    }

    /// Finds the channel for a path and method. Allocates only when the route has parameters.
    pub(super) fn lookup<'t, 'p>(&'t self, path: &'p str, method: &Method) -> Lookup<'t, 'p> {
        if let Some(routes) = self.exact.get(path)
            && let Some(route) = routes
                .iter()
                .find(|r| r.allows(method))
                .or_else(|| routes.iter().find(|r| r.allows_as_get(method)))
        {
            return Lookup::Found(route, Vec::new());
        }
        self.walk(path, method)
    }

    /// [`lookup`](Self::lookup) by walking the tree alone.
    fn walk<'t, 'p>(&'t self, path: &'p str, method: &Method) -> Lookup<'t, 'p> {
        let segments = Segments(path);
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

/// The path a request spells a pattern without parameters with when it has no empty segment
/// and no escape, or `None` when the pattern has a parameter or a segment that only an escape
/// can spell (`%`, `/`, bytes that are not UTF-8).
fn canonical_path(segments: &[Segment]) -> Option<Box<str>> {
    let mut path = String::new();
    for seg in segments {
        let Segment::Static(bytes) = seg else {
            return None;
        };
        let text = std::str::from_utf8(bytes).ok()?;
        if text.contains(['%', '/']) {
            return None;
        }
        path.push('/');
        path.push_str(text);
    }
    if path.is_empty() {
        path.push('/');
    }
    Some(path.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_as_str_split_does() {
        for path in [
            "/",
            "",
            "/echo",
            "echo",
            "//a//b/",
            "/a/b/c",
            "/ż/ółw/",
            "///",
        ] {
            let ours: Vec<&str> = Segments(path).collect();
            let theirs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            assert_eq!(ours, theirs, "{path}");
        }
    }

    fn table(channels: &[HttpChannelConfig]) -> RouteTable {
        RouteTable::build(channels, &[]).unwrap()
    }

    /// What a lookup found, comparably: the channel and its parameters, or the 405's `Allow`.
    fn outcome(found: Lookup<'_, '_>) -> String {
        match found {
            Lookup::Found(r, p) => format!("found {} {p:?}", r.channel.name),
            Lookup::WrongMethod(allow, format) => format!("405 {allow:?} {format:?}"),
            Lookup::NotFound => "404".to_owned(),
        }
    }

    #[test]
    fn exact_paths_pick_what_the_walk_picks() {
        let t = table(&[
            HttpChannelConfig::new("root", "/", "s").with_methods(["GET"]),
            HttpChannelConfig::new("get", "/x", "s").with_methods(["GET"]),
            HttpChannelConfig::new("post", "/x", "s").with_methods(["POST"]),
            HttpChannelConfig::new("param", "/{p}", "s").with_methods(["DELETE"]),
            HttpChannelConfig::new("deep", "/a/b/c", "s").with_methods(["PUT"]),
            HttpChannelConfig::new("deep-param", "/a/{x}/c", "s"),
            HttpChannelConfig::new("escaped", "/e%2Ff", "s"),
            HttpChannelConfig::new("percent", "/p%25q", "s"),
            HttpChannelConfig::new("text", "/ż", "s"),
        ]);
        // `/`, `/x` (two routes), `/a/b/c`, `/ż`: patterns with a parameter or an escape-only
        // segment have none.
        assert_eq!(t.exact.len(), 4, "{:?}", t.exact.keys());
        for path in [
            "/", "", "/x", "/x/", "//x", "/%78", "/y", "/a/b/c", "/a/b/c/", "/a/z/c", "/e/f",
            "/e%2Ff", "/p%q", "/p%25q", "/ż", "/%C5%BC",
        ] {
            for method in [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
            ] {
                assert_eq!(
                    outcome(t.lookup(path, &method)),
                    outcome(t.walk(path, &method)),
                    "{method} {path}"
                );
            }
        }
        assert_eq!(found(&t, "/x", Method::HEAD).0, "get");
        assert_eq!(
            found(&t, "/a/b/c", Method::GET),
            ("deep-param", vec!["b".into()])
        );
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
    }
}
