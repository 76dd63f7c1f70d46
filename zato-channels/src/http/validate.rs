//! Validation of the HTTP configuration: each channel and security definition on its own, then
//! the whole (unique names, security definitions that exist, no two channels claiming one path
//! and method). Every problem is reported at once, each with its path.
//!
//! Paths are relative: a channel's own problems read `url_path`, the whole configuration's
//! `channels[2].url_path`. The caller places them in its document with
//! [`ConfigError::within`]: `http.channels[2].url_path`, or `channels.http."orders".url_path`
//! for a change addressed to one channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use http::Method;
use zato_core::config::bounds;
use zato_core::{ConfigError, ConfigProblem};

use super::config::{HTTP_SECTION, HttpChannelConfig, HttpConfig, SecurityDef};
use super::pattern::Pattern;
use super::security::SecurityCheck;

/// A channel that passed validation, parsed for compiling into the route table.
#[derive(Debug)]
pub(super) struct CheckedChannel {
    pub(super) pattern: Pattern,
    /// Upper-cased; empty allows any method.
    pub(super) methods: Vec<Method>,
    pub(super) security: Option<Arc<SecurityCheck>>,
}

/// Checks a whole configuration and parses what the route table needs, one [`CheckedChannel`]
/// per channel, in order.
///
/// # Errors
///
/// Every problem, with paths relative to the configuration (`channels[2].url_path`,
/// `security[0].header`).
pub(super) fn check_config(
    channels: &[HttpChannelConfig],
    security: &[SecurityDef],
) -> Result<Vec<CheckedChannel>, ConfigError> {
    let mut problems = Vec::new();
    let mut checks: HashMap<&str, Arc<SecurityCheck>> = HashMap::new();
    for (i, def) in security.iter().enumerate() {
        let at = format!("security[{i}]");
        let compiled = match SecurityCheck::new(def) {
            Ok(check) => Some(check),
            Err(own) => {
                problems.extend(placed(own, &at));
                None
            }
        };
        if security[..i].iter().any(|other| other.name() == def.name()) {
            problems.push(ConfigProblem::new(
                format!("{at}.name"),
                format!("`{}` is defined twice", def.name()),
            ));
        } else if let Some(check) = compiled {
            checks.insert(def.name(), Arc::new(check));
        }
    }

    let mut checked: Vec<CheckedChannel> = Vec::with_capacity(channels.len());
    // The names of the channels in `checked`, which holds only the valid ones.
    let mut checked_names: Vec<&str> = Vec::with_capacity(channels.len());
    // Looked up, not searched: a configuration of thousands of channels is checked in one pass.
    let mut names: HashSet<&str> = HashSet::with_capacity(channels.len());
    let mut by_shape: HashMap<Shape, Vec<usize>> = HashMap::new();
    for (i, ch) in channels.iter().enumerate() {
        let at = format!("channels[{i}]");
        let before = problems.len();
        problems.extend(placed(channel_problems(ch), &at));
        if !names.insert(&ch.name) {
            problems.push(ConfigProblem::new(
                format!("{at}.name"),
                format!("`{}` is used by another channel", ch.name),
            ));
        }
        // `Err` when the channel names a definition that did not compile: the channel is then
        // refused with a problem at its `security`, never compiled without the check.
        let security_check: Result<Option<Arc<SecurityCheck>>, ()> = match ch.security.as_deref() {
            None => Ok(None),
            Some(name) => match checks.get(name) {
                Some(check) => Ok(Some(Arc::clone(check))),
                None => {
                    // A blank name is one of `channel_problems`, at this same path.
                    if !name.trim().is_empty() {
                        let message = if security.iter().any(|d| d.name() == name) {
                            format!("the security definition `{name}` is not valid")
                        } else {
                            format!("no security definition is named `{name}`")
                        };
                        problems.push(ConfigProblem::new(format!("{at}.security"), message));
                    }
                    Err(())
                }
            },
        };
        let Ok(pattern) = Pattern::parse(&ch.url_path) else {
            continue;
        };
        let methods = parsed_methods(ch);
        let shape = shape_of(&pattern);
        let taken_by = by_shape.get(&shape).and_then(|same| {
            same.iter()
                .find(|&&j| overlapping(&methods, &checked[j].methods))
                .map(|&j| checked_names[j])
        });
        if let Some(other) = taken_by {
            problems.push(ConfigProblem::new(
                format!("{at}.url_path"),
                format!(
                    "`{}` and its methods are already served by channel `{other}`",
                    ch.url_path
                ),
            ));
        }
        match security_check {
            Ok(security) if problems.len() == before => {
                by_shape.entry(shape).or_default().push(checked.len());
                checked_names.push(&ch.name);
                checked.push(CheckedChannel {
                    pattern,
                    methods,
                    security,
                });
            }
            _ => {}
        }
    }
    ConfigError::check(problems)?;
    Ok(checked)
}

/// A path pattern's shape as a map key: two patterns of the same shape match the same paths.
type Shape = Vec<Option<Vec<u8>>>;

fn shape_of(pattern: &Pattern) -> Shape {
    pattern
        .shape()
        .into_iter()
        .map(|s| s.map(<[u8]>::to_vec))
        .collect()
}

/// Whether two method lists overlap; none listed means every method.
fn overlapping(a: &[Method], b: &[Method]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|m| b.contains(m))
}

/// The channels among `channels` that serve what an earlier one already serves: as
/// `(index, problem at its url_path)`. Each channel is assumed valid on its own. Linear in the
/// channels: they are grouped by path shape.
pub(super) fn route_clashes(channels: &[&HttpChannelConfig]) -> Vec<(usize, ConfigProblem)> {
    let mut problems = Vec::new();
    let mut by_shape: HashMap<Shape, Vec<(Vec<Method>, &str)>> = HashMap::new();
    for (i, ch) in channels.iter().enumerate() {
        let Ok(pattern) = Pattern::parse(&ch.url_path) else {
            continue;
        };
        let methods = parsed_methods(ch);
        let same = by_shape.entry(shape_of(&pattern)).or_default();
        match same.iter().find(|(m, _)| overlapping(&methods, m)) {
            Some((_, other)) => problems.push((
                i,
                ConfigProblem::new(
                    "url_path",
                    format!(
                        "`{}` and its methods are already served by channel `{other}`",
                        ch.url_path
                    ),
                ),
            )),
            None => same.push((methods, &ch.name)),
        }
    }
    problems
}

impl HttpConfig {
    /// Checks the whole configuration: each channel and definition, unique names, security
    /// names that exist, and no two channels claiming the same path and method.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem, each with its path in a node's configuration
    /// document, where this is the `http` section: `http.channels[2].url_path`,
    /// `http.security[0].header`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::{HttpChannelConfig, HttpConfig};
    ///
    /// let config = HttpConfig::new(vec![HttpChannelConfig::new("", "no-slash", "s")], vec![]);
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.problems().len(), 2);
    /// assert_eq!(err.problems()[1].path, "http.channels[0].url_path");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_config(&self.channels, &self.security)
            .map(drop)
            .map_err(|e| e.within(HTTP_SECTION))
    }
}

/// Checks `channel` as it would join `others`: on its own, and against them (name, path and
/// methods, security definition).
///
/// # Errors
///
/// Every problem, with paths relative to the channel (`url_path`).
pub(super) fn check_channel_among(
    channel: &HttpChannelConfig,
    others: &[HttpChannelConfig],
    security: &[SecurityDef],
) -> Result<(), ConfigError> {
    let mut all = Vec::with_capacity(others.len() + 1);
    all.extend_from_slice(others);
    all.push(channel.clone());
    // Checked last, so a clash is reported on it rather than on the channel it clashes with.
    let Err(err) = check_config(&all, security) else {
        return Ok(());
    };
    let own = format!("channels[{}]", others.len());
    let problems = err
        .into_problems()
        .into_iter()
        .map(|mut p| {
            let relative = p.path.strip_prefix(&own).and_then(|rest| {
                if rest.is_empty() {
                    Some(rest)
                } else if let Some(field) = rest.strip_prefix('.') {
                    Some(field)
                } else {
                    rest.starts_with('[').then_some(rest)
                }
            });
            // Another channel's problem (none is expected, they were valid together) keeps its
            // path in the configuration.
            p.path = match relative {
                Some(rest) => rest.to_owned(),
                None => format!("{HTTP_SECTION}.{}", p.path),
            };
            p
        })
        .collect();
    Err(ConfigError::new(problems))
}

/// `problems` with `prefix` in front of each path.
fn placed(problems: Vec<ConfigProblem>, prefix: &str) -> Vec<ConfigProblem> {
    if problems.is_empty() {
        return problems;
    }
    ConfigError::new(problems).within(prefix).into_problems()
}

/// The problems of a channel on its own, paths relative to it.
pub(super) fn channel_problems(ch: &HttpChannelConfig) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if ch.name.trim().is_empty() {
        problems.push(ConfigProblem::new("name", "must not be empty"));
    }
    if let Err(msg) = Pattern::parse(&ch.url_path) {
        problems.push(ConfigProblem::new("url_path", msg));
    }
    if let Some(limit) = &ch.rate_limit {
        problems.extend(limit.problems("rate_limit"));
    }
    if let Some(limit) = &ch.caller_rate_limit {
        problems.extend(limit.problems("caller_rate_limit"));
    }
    if let Some(url) = &ch.public_url {
        let scheme = url.starts_with("http://") || url.starts_with("https://");
        if !scheme || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(ConfigProblem::new(
                "public_url",
                "must be an http:// or https:// URL",
            ));
        }
    }
    for (i, m) in ch.methods.iter().enumerate() {
        if m.is_empty() || Method::from_bytes(m.as_bytes()).is_err() {
            problems.push(ConfigProblem::new(
                format!("methods[{i}]"),
                format!("`{m}` is not an HTTP method"),
            ));
        } else if ch.methods[..i].iter().any(|o| o.eq_ignore_ascii_case(m)) {
            problems.push(ConfigProblem::new(
                format!("methods[{i}]"),
                format!("`{m}` is listed twice"),
            ));
        }
    }
    if ch.service.trim().is_empty() {
        problems.push(ConfigProblem::new("service", "must not be empty"));
    }
    problems.extend(bounds::count(
        "max_items",
        ch.max_items as u64,
        1,
        bounds::MAX_ITEMS,
    ));
    problems.extend(bounds::count(
        "max_body_size",
        ch.max_body_size,
        1,
        bounds::MAX_BYTES,
    ));
    if let Some(timeout) = ch.timeout {
        problems.extend(bounds::positive_seconds(
            "timeout",
            timeout.as_secs_f64(),
            bounds::MAX_SECONDS,
        ));
    }
    if ch.security.as_deref().is_some_and(|s| s.trim().is_empty()) {
        problems.push(ConfigProblem::new(
            "security",
            "must name a security definition; leave it out for an open channel",
        ));
    }
    problems
}

/// The methods as [`Method`]s, upper-cased; those [`channel_problems`] refuses are left out.
fn parsed_methods(ch: &HttpChannelConfig) -> Vec<Method> {
    ch.methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .collect()
}

/// The problems of a security definition on its own, paths relative to it: those of
/// [`SecurityCheck::new`], so that validation and the route table cannot disagree.
pub(super) fn security_problems(def: &SecurityDef) -> Vec<ConfigProblem> {
    SecurityCheck::new(def).err().unwrap_or_default()
}

/// Reads a channel from JSON, as a change addressed to one channel brings it.
///
/// # Errors
///
/// Every field that is missing or does not read, each at its own path (`timeout`), with serde's
/// message.
pub(super) fn channel_from_json(
    value: serde_json::Value,
) -> Result<HttpChannelConfig, ConfigError> {
    match serde_json::from_value::<HttpChannelConfig>(value.clone()) {
        Ok(channel) => Ok(channel),
        Err(whole) => Err(locate(&value, &whole)),
    }
}

/// Finds which fields made a channel unreadable. serde names no path, so each field is tried on
/// its own in a channel known to read: the fields that fail there are the offending ones, and a
/// field whose absence fails is required.
fn locate(value: &serde_json::Value, whole: &serde_json::Error) -> ConfigError {
    let Some(given) = value.as_object() else {
        return ConfigError::one("", "a channel must be a JSON object");
    };
    let Ok(serde_json::Value::Object(good)) =
        serde_json::to_value(HttpChannelConfig::new("probe", "/probe", "probe"))
    else {
        return ConfigError::one("", whole.to_string());
    };
    let mut problems = Vec::new();
    for field in good.keys().filter(|k| !given.contains_key(*k)) {
        let mut without = good.clone();
        without.remove(field);
        if serde_json::from_value::<HttpChannelConfig>(without.into()).is_err() {
            problems.push(ConfigProblem::new(field.as_str(), "is required"));
        }
    }
    for (field, v) in given.iter().filter(|(k, _)| good.contains_key(*k)) {
        let mut with = good.clone();
        with.insert(field.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<HttpChannelConfig>(with.into()) {
            problems.push(ConfigProblem::new(field.as_str(), e.to_string()));
        }
    }
    if problems.is_empty() {
        // Only fields together fail: say what serde said, at the channel.
        problems.push(ConfigProblem::new("", whole.to_string()));
    }
    ConfigError::new(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpConfig;

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let config = HttpConfig::new(
            vec![
                HttpChannelConfig::new("a", "/a/{id}", "s"),
                HttpChannelConfig::new("a", "/a/{other}", "s"),
                HttpChannelConfig::new("c", "c/{", "").with_methods(["GET", "get", "BAD METHOD"]),
                HttpChannelConfig::new("d", "/d", "s").with_security("nobody"),
            ],
            vec![SecurityDef::api_key("k", "bad header", "")],
        );
        let err = config.validate().unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "http.security[0].header",
                "http.security[0].key",
                "http.channels[1].name",
                "http.channels[1].url_path",
                "http.channels[2].url_path",
                "http.channels[2].methods[1]",
                "http.channels[2].methods[2]",
                "http.channels[2].service",
                "http.channels[3].security",
            ],
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("http.channels[1].url_path: `/a/{other}` and its methods are already served by channel `a`"),
            "{err}"
        );
    }

    #[test]
    fn a_channel_naming_an_invalid_definition_is_refused_not_told_it_is_missing() {
        let err = check_config(
            &[HttpChannelConfig::new("a", "/a", "s").with_security("crm")],
            &[
                SecurityDef::basic_auth("crm", "u:x", "p"),
                SecurityDef::basic_auth("crm", "u", "p"),
            ],
        )
        .unwrap_err();
        let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "security[0].username: must be non-empty and hold no `:`",
                "security[1].name: `crm` is defined twice",
                "channels[0].security: the security definition `crm` is not valid",
            ],
            "{err}"
        );
    }

    #[test]
    fn a_channel_is_never_compiled_without_the_check_it_names() {
        let defs = [
            SecurityDef::BasicAuth {
                name: "basic".into(),
                username: "u".into(),
                password: zato_core::Secret::new("p".into()),
                realm: "line\nbreak".into(),
                ip_allow: vec![],
                ip_deny: vec![],
            },
            SecurityDef::api_key("key", "X Key", "k"),
            SecurityDef::api_key("empty", "X-Key", ""),
        ];
        for def in &defs {
            let channel = HttpChannelConfig::new("a", "/a", "s").with_security(def.name());
            let err = check_config(std::slice::from_ref(&channel), std::slice::from_ref(def))
                .unwrap_err();
            assert!(
                err.problems()
                    .iter()
                    .any(|p| p.path == "channels[0].security"),
                "{err}"
            );
            let err = check_channel_among(&channel, &[], std::slice::from_ref(def)).unwrap_err();
            assert!(err.problems().iter().any(|p| p.path == "security"), "{err}");
        }
        let ok = SecurityDef::api_key("key", "X-Key", "k");
        let checked = check_config(
            &[
                HttpChannelConfig::new("a", "/a", "s").with_security("key"),
                HttpChannelConfig::new("b", "/b", "s"),
            ],
            &[ok],
        )
        .unwrap();
        assert_eq!(checked[0].security.as_ref().map(|c| c.name()), Some("key"));
        assert!(checked[1].security.is_none());
    }

    #[test]
    fn a_channel_from_json_names_each_bad_field() {
        let ok = channel_from_json(serde_json::json!({
            "name": "a", "url_path": "/a", "service": "s", "timeout": 1.5
        }))
        .unwrap();
        assert_eq!(ok.timeout, Some(std::time::Duration::from_millis(1500)));

        let err = channel_from_json(serde_json::json!({
            "name": "a", "url_path": 7, "timeout": -1, "data_format": "yaml", "extra": true
        }))
        .unwrap_err();
        let found: Vec<(&str, &str)> = err
            .problems()
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(found.len(), 4, "{err}");
        assert_eq!(found[0], ("service", "is required"));
        let at = |path: &str| {
            found
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, m)| *m)
                .unwrap_or_else(|| panic!("no problem at {path}: {err}"))
        };
        assert!(at("url_path").contains("invalid type"), "{err}");
        assert!(at("timeout").contains("at most 86400"), "{err}");
        assert!(
            at("data_format").contains("unknown variant `yaml`"),
            "{err}"
        );

        let err = channel_from_json(serde_json::json!(["a"])).unwrap_err();
        assert_eq!(err.problems()[0].path, "");
    }

    #[test]
    fn a_channel_joining_others_gets_the_problems_at_its_own_paths() {
        let others = [
            HttpChannelConfig::new("a", "/a", "s"),
            HttpChannelConfig::new("b", "/b/{x}", "s").with_methods(["GET"]),
        ];
        let new = HttpChannelConfig::new("c", "/c", "").with_security("crm");
        let err = check_channel_among(&new, &others, &[]).unwrap_err();
        let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "service: must not be empty",
                "security: no security definition is named `crm`",
            ],
            "{err}"
        );
        let clash = HttpChannelConfig::new("c", "/b/{y}", "s");
        let err = check_channel_among(&clash, &others, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: url_path: `/b/{y}` and its methods are already served by channel `b`"
        );
        check_channel_among(&clash.with_methods(["POST"]), &others, &[]).unwrap();
    }

    #[test]
    fn a_non_object_is_not_a_channel() {
        let err = channel_from_json(serde_json::json!(["a"])).unwrap_err();
        assert_eq!(err.problems()[0].path, "");
    }
}
