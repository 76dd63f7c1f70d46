//! [`ContainerName`]: a container name as a SimpleIO element, checked when it is decoded and
//! described, rule included, in the API specifications.

use std::fmt;
use std::ops::Deref;

use zato_core::sio::{Errors, Node, Path, SioType, TextRule, TypeDesc, Writer};

use crate::error::SwiftError;
use crate::names::{MAX_CONTAINER_NAME, check_container, container_problem};

/// The rule of [`check_container`] as a regular expression, for JSON Schema: one character or
/// more, none of them `/` or a control character (Unicode's `Cc`, U+0000–U+001F and
/// U+007F–U+009F, which is what `char::is_control` tests), and not `.` or `..`.
const PATTERN: &str = r"^(?:[^./\x00-\x1f\x7f-\x9f]|\.[^./\x00-\x1f\x7f-\x9f]|\.\.[^/\x00-\x1f\x7f-\x9f])[^/\x00-\x1f\x7f-\x9f]*$";

/// The rule [`ContainerName`] states in the API specifications. Its length is counted in
/// characters there, while Swift's bound is 256 bytes: every name over 256 characters is over
/// 256 bytes too, but one of fewer characters, some of several bytes, may also be.
const RULE: TextRule = TextRule {
    name: "container name",
    min_length: 1,
    max_length: Some(MAX_CONTAINER_NAME),
    pattern: Some(PATTERN),
};

/// A Swift container name that [`check_container`] accepts: not empty, at most 256 bytes, no `/`
/// or control character, not `.` or `..`.
///
/// As a SimpleIO element it decodes like text, and a name breaking the rule is the caller's
/// fault: a 400 naming the element and what was wrong, before the service runs. The generated
/// OpenAPI document states the rule (`minLength`, `maxLength`, `pattern`).
///
/// # Examples
///
/// ```
/// use zato_swift::ContainerName;
///
/// let crm = ContainerName::new("CRM").unwrap();
/// assert_eq!(crm, "CRM");
/// assert_eq!(crm.len(), 3); // derefs to `str`
/// assert!(ContainerName::new("..").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerName(String);

impl ContainerName {
    /// `name`, if it can be a container name.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidName`](crate::SwiftErrorKind::InvalidName), naming the reason.
    pub fn new(name: impl Into<String>) -> Result<Self, SwiftError> {
        let name = name.into();
        check_container(&name)?;
        Ok(ContainerName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, as a `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for ContainerName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ContainerName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ContainerName> for String {
    fn from(name: ContainerName) -> String {
        name.0
    }
}

impl TryFrom<String> for ContainerName {
    type Error = SwiftError;
    fn try_from(name: String) -> Result<Self, SwiftError> {
        ContainerName::new(name)
    }
}

impl TryFrom<&str> for ContainerName {
    type Error = SwiftError;
    fn try_from(name: &str) -> Result<Self, SwiftError> {
        ContainerName::new(name)
    }
}

impl PartialEq<str> for ContainerName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContainerName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl SioType for ContainerName {
    fn type_desc() -> TypeDesc {
        TypeDesc::CheckedText(RULE)
    }

    /// Text, then the rule. What was sent is quoted with escapes in the error, so a control
    /// character in it never reaches a log line or a header raw.
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        let text = String::decode(node, path, errors)?;
        match container_problem(&text) {
            None => Some(ContainerName(text)),
            Some(problem) => {
                errors.wrong_type(path, problem.expected, &format!("{text:?}"));
                None
            }
        }
    }

    fn encode(&self, name: &str, w: &mut Writer<'_>) {
        w.string(name, &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Option<ContainerName>, bool) {
        let mut errors = Errors::default();
        let value = ContainerName::decode(Node::Text(text), &Path::Root, &mut errors);
        (value, errors.is_empty())
    }

    /// Names on both sides of every part of the rule.
    const SAMPLES: &[&str] = &[
        "CRM", "Billing", "a", "...", ".a", "..a", "a.", "a..", "Zürich", "a b", "%2E", "", ".",
        "..", "a/b", "/", "a\tb", "a\nb", "\u{7f}", "\u{85}", "a\u{9f}", "\u{a0}",
    ];

    #[test]
    fn decodes_what_check_container_takes_and_refuses_the_rest() {
        for name in SAMPLES {
            let (value, ok) = decode(name);
            assert_eq!(ok, check_container(name).is_ok(), "{name:?}");
            assert_eq!(value.is_some(), ok, "{name:?}");
        }
        let long = "a".repeat(MAX_CONTAINER_NAME + 1);
        assert_eq!(decode(&long), (None, false));
        assert_eq!(
            decode(&"a".repeat(MAX_CONTAINER_NAME)).0.map(String::from),
            Some("a".repeat(MAX_CONTAINER_NAME))
        );
        assert_eq!(ContainerName::type_desc().to_string(), "container name");
    }

    /// The pattern the specifications state says what the code checks, read by Python's `re`
    /// (the engine schemathesis and other tools read JSON Schema patterns with). Needs
    /// python3: ignored unless run with `--include-ignored`.
    #[test]
    #[ignore = "needs python3"]
    fn the_stated_pattern_agrees_with_the_check() {
        let script = "import json, re, sys\n\
                      p = re.compile(sys.argv[1])\n\
                      print(json.dumps([bool(p.search(s)) for s in json.loads(sys.argv[2])]))";
        let samples: Vec<&str> = SAMPLES.to_vec();
        let out = std::process::Command::new("python3")
            .args(["-c", script, PATTERN])
            .arg(serde_json::to_string(&samples).unwrap())
            .output();
        let out = out.expect("python3 runs");
        assert!(out.status.success(), "{out:?}");
        let matched: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
        for (name, matched) in SAMPLES.iter().zip(matched) {
            // The length bound is stated apart (`maxLength`), so none of these is too long.
            assert_eq!(matched, check_container(name).is_ok(), "{name:?}");
        }
    }
}
