//! The one configuration error: every problem at once, each with its path.

use std::fmt;

/// One problem found in a configuration, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigProblem {
    /// Where: `http.channels[2].url_path`, `outgoing.swift."Invoice Dispatcher".auth_url`.
    pub path: String,
    /// What is wrong, in lowercase, without a trailing period.
    pub message: String,
}

impl ConfigProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A configuration was refused; nothing of it was applied. Lists every problem, not only the
/// first, in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// An error listing `problems`.
    pub fn new(problems: Vec<ConfigProblem>) -> Self {
        ConfigError { problems }
    }

    /// An error with one problem.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::new(vec![ConfigProblem::new(path, message)])
    }

    /// `Ok` when there is no problem, else the error listing them.
    ///
    /// # Errors
    ///
    /// The error listing `problems` when there is any.
    pub fn check(problems: Vec<ConfigProblem>) -> Result<(), ConfigError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Every problem found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// The problems, owned.
    pub fn into_problems(self) -> Vec<ConfigProblem> {
        self.problems
    }

    /// The same problems with `prefix` in front of each path: what an object's own validation
    /// found, placed inside the document that holds the object.
    pub fn within(mut self, prefix: &str) -> Self {
        for p in &mut self.problems {
            p.path = join(prefix, &p.path);
        }
        self
    }
}

/// `prefix.path`, or either alone when the other is empty.
fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        // An index or a quoted key attaches without a dot only when it is an index.
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// An object's name as a path segment: bare when it is a plain identifier, quoted otherwise
/// (`"Invoice Dispatcher"`, `"invoice.json"`), with `"` and `\` escaped.
pub fn key(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        for (i, p) in self.problems.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_only_when_needed() {
        assert_eq!(key("crm"), "crm");
        assert_eq!(key("Invoice Dispatcher"), "\"Invoice Dispatcher\"");
        assert_eq!(key("invoice.json"), "\"invoice.json\"");
        assert_eq!(key("a\"b\nc"), "\"a\\\"b\\nc\"");
        assert_eq!(key(""), "\"\"");
    }

    #[test]
    fn within_places_paths_inside_a_document() {
        let err = ConfigError::new(vec![
            ConfigProblem::new("url_path", "must start with /"),
            ConfigProblem::new("[1]", "listed twice"),
            ConfigProblem::new("", "unknown"),
        ])
        .within("http.channels[2]");
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "http.channels[2].url_path",
                "http.channels[2][1]",
                "http.channels[2]"
            ]
        );
    }

    #[test]
    fn check_is_ok_without_problems() {
        assert!(ConfigError::check(Vec::new()).is_ok());
        let err = ConfigError::check(vec![ConfigProblem::new("a", "b")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid configuration: a: b");
    }
}
