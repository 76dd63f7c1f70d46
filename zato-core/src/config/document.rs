//! The config document of a node, in TOML, YAML or JSON, and the address of each object in it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::{ConfigError, ConfigProblem, key};

/// What reads and exports show in place of a secret. Importing it, or writing it in an update,
/// keeps the secret in force.
pub const SECRET_PLACEHOLDER: &str = "******";

/// A part of the config document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Section {
    /// Which services are active: `services`.
    Services,
    /// Security definitions: `security`, each with its `type`.
    Security,
    /// Outgoing connections by kind: `outgoing.swift`.
    Outgoing,
    /// Channels by kind: `channels.http`.
    Channels,
    /// Publish/subscribe by kind: `pubsub.topics`, `pubsub.subscriptions`.
    #[serde(rename = "pubsub")]
    PubSub,
    /// Where traces go, by kind: `telemetry.otlp`.
    Telemetry,
}

impl Section {
    /// Every section, in the order a change creates objects: what is referred to comes before
    /// what refers to it.
    pub const ALL: [Section; 6] = [
        Section::Services,
        Section::Security,
        Section::Outgoing,
        Section::Channels,
        Section::PubSub,
        Section::Telemetry,
    ];

    /// The section's key in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Services => "services",
            Section::Security => "security",
            Section::Outgoing => "outgoing",
            Section::Channels => "channels",
            Section::PubSub => "pubsub",
            Section::Telemetry => "telemetry",
        }
    }

    /// The section named `name`.
    pub fn parse(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the section holds lists by kind (`channels.http`) rather than one list.
    pub fn has_kinds(self) -> bool {
        matches!(
            self,
            Section::Channels | Section::Outgoing | Section::PubSub | Section::Telemetry
        )
    }

    /// The kind under which an object of a section without kinds is addressed.
    pub fn sole_kind(self) -> &'static str {
        match self {
            Section::Services => "service",
            Section::Security => "security",
            Section::Outgoing | Section::Channels | Section::PubSub | Section::Telemetry => "",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The address of one object: SECTION KIND NAME, as the admin API and the CLI name it.
///
/// For the sections without kinds, the kind is `security` or `service`.
///
/// # Examples
///
/// ```
/// use zato_core::config::{ObjectKey, Section};
///
/// let key = ObjectKey::new(Section::Outgoing, "swift", "Invoice Dispatcher");
/// assert_eq!(key.to_string(), r#"outgoing.swift."Invoice Dispatcher""#);
/// assert_eq!(ObjectKey::new(Section::Security, "security", "crm").to_string(), "security.crm");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The section.
    pub section: Section,
    /// The kind: `http`, `swift`; `security` or `service` for the sections without kinds.
    pub kind: String,
    /// The object's name, unique within its kind.
    pub name: String,
}

impl ObjectKey {
    /// The object `name` of `kind` in `section`.
    pub fn new(section: Section, kind: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            section,
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// The path of the object's kind: `channels.http`, `security`.
    pub fn kind_path(&self) -> String {
        if self.section.has_kinds() {
            format!("{}.{}", self.section, key(&self.kind))
        } else {
            self.section.as_str().to_owned()
        }
    }
}

impl fmt::Display for ObjectKey {
    /// The object's path in the document, as validation reports it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind_path(), key(&self.name))
    }
}

/// A document's text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// JSON.
    #[default]
    Json,
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
}

impl Format {
    /// `value` written in this format: pretty JSON, TOML or YAML.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the format cannot hold the value (TOML has no null).
    pub fn render(self, value: &Value) -> Result<String, ConfigError> {
        let cannot = |e: &dyn fmt::Display| ConfigError::one("", format!("as {self}: {e}"));
        match self {
            Format::Json => serde_json::to_string_pretty(value)
                .map(|mut s| {
                    s.push('\n');
                    s
                })
                .map_err(|e| cannot(&e)),
            Format::Toml => toml::to_string(value).map_err(|e| cannot(&e)),
            Format::Yaml => serde_saphyr::to_string(value).map_err(|e| cannot(&e)),
        }
    }

    /// The format named `name`: `json`, `toml`, `yaml` or `yml`, in any case.
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// The format of a file, by its extension.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file when its extension is none of `.json`, `.toml`,
    /// `.yaml` and `.yml`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Format, ConfigError> {
        let path = path.as_ref();
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_name)
            .ok_or_else(|| {
                ConfigError::one(
                    "",
                    format!(
                        "{}: cannot tell the format; name the file .toml, .yaml, .yml or .json",
                        path.display()
                    ),
                )
            })
    }

    /// The format of a media type: `application/toml`, `application/yaml`, `text/yaml`,
    /// `application/json`.
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        let essence = media_type.split(';').next().unwrap_or_default().trim();
        let sub = essence.rsplit('/').next().unwrap_or_default();
        let sub = sub.rsplit('+').next().unwrap_or_default();
        match sub {
            "x-toml" => Some(Format::Toml),
            "x-yaml" => Some(Format::Yaml),
            _ => Format::from_name(sub),
        }
    }

    /// Its lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Yaml => "yaml",
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Toml => "application/toml",
            Format::Yaml => "application/yaml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node's configuration: its channels, outgoing connections, security definitions and which
/// services are active.
///
/// ```toml
/// [[channels.http]]
/// name = "invoice.dispatcher.json"
/// url_path = "/invoice.dispatcher"
/// service = "invoice.dispatcher"
///
/// [[outgoing.swift]]
/// name = "Invoice Dispatcher"
/// pool_size = 5
///
/// [[security]]
/// type = "basic_auth"
/// name = "crm"
/// username = "crm"
/// password = "secret"
///
/// [[services]]
/// name = "invoice.dispatcher"
/// is_active = true
/// ```
///
/// Each object stays in the schema of its kind, which the adapter crate owning the kind checks
/// (see [`Checker`](super::Checker)); this type only knows the document's shape, so that TOML,
/// YAML and JSON read into one schema.
///
/// # Examples
///
/// ```
/// use zato_core::config::{ConfigDocument, Format};
///
/// let doc = ConfigDocument::parse(
///     "[[outgoing.swift]]\nname = \"Invoice Dispatcher\"\npool_size = 5\n",
///     Format::Toml,
/// ).unwrap();
/// assert_eq!(doc.outgoing["swift"][0]["pool_size"], 5);
/// let json = doc.to_text(Format::Json).unwrap();
/// assert_eq!(ConfigDocument::parse(&json, Format::Json).unwrap(), doc);
///
/// let err = ConfigDocument::parse("{\"chanels\": {}}", Format::Json).unwrap_err();
/// assert_eq!(err.problems()[0].path, "chanels");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigDocument {
    /// Channels by kind: `http`, later `amqp`, `zmq`, `swift_inbox`.
    pub channels: BTreeMap<String, Vec<Value>>,
    /// Outgoing connections by kind: `swift`.
    pub outgoing: BTreeMap<String, Vec<Value>>,
    /// Security definitions, each with its `type`.
    pub security: Vec<Value>,
    /// Services' settings: `{name, is_active}`.
    pub services: Vec<Value>,
    /// Publish/subscribe objects by kind: `topics`, `subscriptions`.
    pub pubsub: BTreeMap<String, Vec<Value>>,
    /// Where traces go, by kind: `otlp`.
    pub telemetry: BTreeMap<String, Vec<Value>>,
}

impl ConfigDocument {
    /// Reads a document.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the text is not the format (with the parser's position), or when
    /// its shape is wrong: every unknown key and every misplaced value, each with its path. The
    /// objects themselves are checked by a [`Checker`](super::Checker). A text over
    /// [`MAX_DOCUMENT_BYTES`](super::bounds::MAX_DOCUMENT_BYTES) is refused unread.
    pub fn parse(text: &str, format: Format) -> Result<ConfigDocument, ConfigError> {
        let (doc, problems) = ConfigDocument::parse_lenient(text, format)?;
        ConfigError::check(problems).map(|()| doc)
    }

    /// Reads a document as far as its shape allows: the sections it knows, and the problems of
    /// the rest (an unknown section, a misplaced value), so that a check can report those
    /// beside the problems of the objects rather than stop at the first.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the text is not the format, or not a table of sections at all.
    pub fn parse_lenient(
        text: &str,
        format: Format,
    ) -> Result<(ConfigDocument, Vec<ConfigProblem>), ConfigError> {
        if text.len() > super::bounds::MAX_DOCUMENT_BYTES {
            return Err(ConfigError::one(
                "",
                format!(
                    "the document is {} bytes; at most {} bytes",
                    text.len(),
                    super::bounds::MAX_DOCUMENT_BYTES
                ),
            ));
        }
        let value: Value = match format {
            // Strict, as TOML, YAML and SimpleIO are: a second `"channels"` must not silently
            // replace the first.
            Format::Json => strict_json(text).map_err(|e| syntax(format, e))?,
            Format::Toml => toml::from_str(text).map_err(|e| syntax(format, e))?,
            Format::Yaml => serde_saphyr::from_str(text).map_err(|e| syntax(format, e))?,
        };
        ConfigDocument::from_value_lenient(value)
    }

    /// Reads a document already parsed into a JSON value.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse), for the shape.
    pub fn from_value(value: Value) -> Result<ConfigDocument, ConfigError> {
        let (doc, problems) = ConfigDocument::from_value_lenient(value)?;
        ConfigError::check(problems).map(|()| doc)
    }

    /// As [`from_value`](Self::from_value), with the problems of the shape beside the document
    /// of the sections it could read.
    fn from_value_lenient(
        value: Value,
    ) -> Result<(ConfigDocument, Vec<ConfigProblem>), ConfigError> {
        let mut doc = ConfigDocument::default();
        let mut problems = Vec::new();
        let top = match value {
            Value::Object(top) => top,
            // An empty YAML or TOML file is an empty document.
            Value::Null => return Ok((doc, problems)),
            other => {
                return Err(ConfigError::one(
                    "",
                    format!(
                        "a config document is a table of sections, not {}",
                        kind_of(&other)
                    ),
                ));
            }
        };
        for (name, value) in top {
            match Section::parse(&name) {
                Some(section) if section.has_kinds() => {
                    let into = match section {
                        Section::Channels => &mut doc.channels,
                        Section::PubSub => &mut doc.pubsub,
                        Section::Telemetry => &mut doc.telemetry,
                        _ => &mut doc.outgoing,
                    };
                    match value {
                        Value::Object(kinds) => {
                            for (kind, list) in kinds {
                                let path = format!("{name}.{}", key(&kind));
                                if let Some(list) = objects(list, &path, &mut problems) {
                                    into.insert(kind, list);
                                }
                            }
                        }
                        Value::Null => {}
                        other => problems.push(ConfigProblem::new(
                            name,
                            format!(
                                "expected a table of lists by kind, found {}",
                                kind_of(&other)
                            ),
                        )),
                    }
                }
                Some(section) => {
                    let into = if section == Section::Security {
                        &mut doc.security
                    } else {
                        &mut doc.services
                    };
                    if let Some(list) = objects(value, &name, &mut problems) {
                        *into = list;
                    }
                }
                None => problems.push(ConfigProblem::new(
                    key(&name),
                    "unknown section; expected channels, outgoing, pubsub, security, services or telemetry",
                )),
            }
        }
        Ok((doc, problems))
    }

    /// The document as a JSON value, without the empty sections and without null fields (TOML
    /// has no null; an absent field reads as its default).
    pub fn to_value(&self) -> Value {
        let mut top = Map::new();
        let by_kind = |m: &BTreeMap<String, Vec<Value>>| {
            Value::Object(
                m.iter()
                    .filter(|(_, list)| !list.is_empty())
                    .map(|(k, list)| (k.clone(), Value::Array(list.iter().map(no_nulls).collect())))
                    .collect(),
            )
        };
        if self.channels.values().any(|l| !l.is_empty()) {
            top.insert("channels".into(), by_kind(&self.channels));
        }
        if self.outgoing.values().any(|l| !l.is_empty()) {
            top.insert("outgoing".into(), by_kind(&self.outgoing));
        }
        if self.pubsub.values().any(|l| !l.is_empty()) {
            top.insert("pubsub".into(), by_kind(&self.pubsub));
        }
        if !self.security.is_empty() {
            let list = self.security.iter().map(no_nulls).collect();
            top.insert("security".into(), Value::Array(list));
        }
        if !self.services.is_empty() {
            let list = self.services.iter().map(no_nulls).collect();
            top.insert("services".into(), Value::Array(list));
        }
        if self.telemetry.values().any(|l| !l.is_empty()) {
            top.insert("telemetry".into(), by_kind(&self.telemetry));
        }
        Value::Object(top)
    }

    /// The document as text.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the format cannot hold a value of the document.
    pub fn to_text(&self, format: Format) -> Result<String, ConfigError> {
        format.render(&self.to_value())
    }

    /// Every object with its path by position (`channels.http[2]`), in document order.
    pub(crate) fn entries(&self) -> Vec<(Section, String, String, &Value)> {
        let mut out = Vec::new();
        for (section, kinds) in [
            (Section::Channels, &self.channels),
            (Section::Outgoing, &self.outgoing),
            (Section::PubSub, &self.pubsub),
            (Section::Telemetry, &self.telemetry),
        ] {
            for (kind, list) in kinds {
                for (i, v) in list.iter().enumerate() {
                    out.push((
                        section,
                        kind.clone(),
                        format!("{section}.{}[{i}]", key(kind)),
                        v,
                    ));
                }
            }
        }
        for (section, list) in [
            (Section::Security, &self.security),
            (Section::Services, &self.services),
        ] {
            for (i, v) in list.iter().enumerate() {
                out.push((
                    section,
                    section.sole_kind().to_owned(),
                    format!("{section}[{i}]"),
                    v,
                ));
            }
        }
        out
    }

    /// Adds an object at the end of its list.
    pub fn push(&mut self, key: &ObjectKey, object: Value) {
        match key.section {
            Section::Channels => self
                .channels
                .entry(key.kind.clone())
                .or_default()
                .push(object),
            Section::Outgoing => self
                .outgoing
                .entry(key.kind.clone())
                .or_default()
                .push(object),
            Section::PubSub => self
                .pubsub
                .entry(key.kind.clone())
                .or_default()
                .push(object),
            Section::Telemetry => self
                .telemetry
                .entry(key.kind.clone())
                .or_default()
                .push(object),
            Section::Security => self.security.push(object),
            Section::Services => self.services.push(object),
        }
    }
}

/// A list of objects at `path`, or a problem.
fn objects(value: Value, path: &str, problems: &mut Vec<ConfigProblem>) -> Option<Vec<Value>> {
    match value {
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                if !v.is_object() {
                    problems.push(ConfigProblem::new(
                        format!("{path}[{i}]"),
                        format!("expected an object, found {}", kind_of(v)),
                    ));
                }
            }
            Some(list)
        }
        Value::Null => Some(Vec::new()),
        other => {
            problems.push(ConfigProblem::new(
                path,
                format!("expected a list of objects, found {}", kind_of(&other)),
            ));
            None
        }
    }
}

/// `text` as JSON, refusing an object that holds a key twice.
fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue { path: "" }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A JSON value whose objects hold each key once; `path` names where it is, for the error.
struct StrictValue<'p> {
    path: &'p str,
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue {
            path: &format!("{}[{}]", self.path, items.len()),
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key(&name)
            } else {
                format!("{}.{}", self.path, key(&name))
            };
            if object.contains_key(&name) {
                return Err(serde::de::Error::custom(format!(
                    "`{path}` is given twice; a key may appear once in an object"
                )));
            }
            let value = map.next_value_seed(StrictValue { path: &path })?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

fn syntax(format: Format, e: impl fmt::Display) -> ConfigError {
    // Parsers' messages span lines (a snippet of the source under the position); one line is
    // enough for a problem.
    let text = e.to_string();
    let line = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ConfigError::one("", format!("not valid {format}: {line}"))
}

/// `null` fields removed, at every depth.
fn no_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), no_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(no_nulls).collect()),
        other => other.clone(),
    }
}

/// A value's type, for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[channels.http]]
name = "invoice.dispatcher.json"
url_path = "/invoice.dispatcher"
service = "invoice.dispatcher"
methods = ["POST"]

[[outgoing.swift]]
name = "Invoice Dispatcher"
pool_size = 5
timeout = 2.5

[[security]]
type = "basic_auth"
name = "crm"
username = "crm"
password = "p"

[[services]]
name = "invoice.dispatcher"
is_active = true
"#;

    #[test]
    fn the_three_formats_read_into_one_document() {
        let doc = ConfigDocument::parse(TOML, Format::Toml).unwrap();
        assert_eq!(doc.channels["http"][0]["methods"][0], "POST");
        assert_eq!(doc.outgoing["swift"][0]["timeout"], 2.5);
        for format in [Format::Json, Format::Yaml, Format::Toml] {
            let text = doc.to_text(format).unwrap();
            let back = ConfigDocument::parse(&text, format).unwrap();
            assert_eq!(back, doc, "{format}:\n{text}");
        }
    }

    #[test]
    fn every_shape_problem_is_reported_with_its_path() {
        let err = ConfigDocument::parse(
            r#"{"chanels": {}, "channels": {"http": {"name": "x"}, "amqp": [1]},
                "security": 3, "scheduler": []}"#,
            Format::Json,
        )
        .unwrap_err();
        let mut paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "chanels",
                "channels.amqp[0]",
                "channels.http",
                "scheduler",
                "security"
            ],
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_name_the_format_on_one_line() {
        for (text, format) in [
            ("{", Format::Json),
            ("[[x", Format::Toml),
            ("a: [", Format::Yaml),
        ] {
            let err = ConfigDocument::parse(text, format).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("not valid {format}")), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn toml_export_drops_nulls() {
        let doc = ConfigDocument::from_value(serde_json::json!({
            "outgoing": {"swift": [{"name": "a", "auth_url": null, "custom_options": {}}]}
        }))
        .unwrap();
        let text = doc.to_text(Format::Toml).unwrap();
        assert!(!text.contains("auth_url"), "{text}");
    }

    #[test]
    fn formats_by_name_path_and_media_type() {
        assert_eq!(Format::from_path("a/b.yml").unwrap(), Format::Yaml);
        assert!(Format::from_path("a/b.ini").is_err());
        assert_eq!(
            Format::from_media_type("application/toml; charset=utf-8"),
            Some(Format::Toml)
        );
        assert_eq!(Format::from_media_type("text/x-yaml"), Some(Format::Yaml));
        assert_eq!(Format::from_media_type("text/plain"), None);
    }
}
