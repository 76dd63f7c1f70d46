//! The kinds of objects a document holds: their schemas, which check a document offline, and
//! the kinds a node applies.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::bounds;
use super::document::{ConfigDocument, ObjectKey, SECRET_PLACEHOLDER, Section, kind_of};
use super::error::{ConfigError, ConfigProblem, key};
use crate::kind::KindInfo;

/// A document's objects by address, each in its normal form (see [`ObjectSchema::normalize`]).
pub type Objects = BTreeMap<ObjectKey, Value>;

/// One object as its kind checked it: its normal form, and the kind's typed configuration
/// decoded from it, so applying it decodes nothing again.
#[derive(Clone)]
pub struct Checked {
    normal: Value,
    typed: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The normal form holds secrets: show only the object's name.
        f.debug_struct("Checked")
            .field("name", &self.normal.get("name"))
            .finish_non_exhaustive()
    }
}

impl Checked {
    /// An object in normal form with the configuration its kind decoded it to.
    pub fn new<T: Any + Send + Sync>(normal: Value, typed: T) -> Self {
        Checked {
            normal,
            typed: Arc::new(typed),
        }
    }

    /// An object in normal form, of a kind that works on JSON: its typed configuration is the
    /// normal form itself.
    pub fn untyped(normal: Value) -> Self {
        Checked {
            typed: Arc::new(normal.clone()),
            normal,
        }
    }

    /// The normal form, secrets included.
    pub fn normal(&self) -> &Value {
        &self.normal
    }

    /// The typed configuration, when it is a `T`.
    pub fn typed<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.typed.clone().downcast::<T>().ok()
    }
}

/// One object naming another: a channel naming its security definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referring field, relative to the object: `security`.
    pub field: String,
    /// The object referred to.
    pub to: ObjectKey,
}

/// The schema of one kind of object: what a document may say of it, checked offline.
///
/// Adapter crates implement it for their kinds (`channels.http`, `outgoing.swift`, the security
/// types), so that zato-core knows the document's shape and none of their types.
pub trait ObjectSchema: Send + Sync + fmt::Debug {
    /// The section the kind lives in.
    fn section(&self) -> Section;

    /// The kind: `http`, `swift`; for security definitions, their `type` (`basic_auth`); for
    /// services, `service`.
    fn kind(&self) -> &str;

    /// Parses and checks one object, and returns it in normal form: every field present, with
    /// its default where the object left it out, so that two objects that mean the same are
    /// equal. Secrets stay as given. [`normalize_as`] does it for a serde type.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] with paths relative to the object (`pool_size`).
    fn normalize(&self, object: &Value) -> Result<Value, ConfigError>;

    /// The top-level fields that hold secrets: never shown, written as
    /// [`SECRET_PLACEHOLDER`] to keep the current value.
    fn secret_fields(&self) -> &[&'static str] {
        &[]
    }

    /// The objects a normalized object refers to, which must exist in the same document.
    fn references(&self, _object: &Value) -> Vec<Reference> {
        Vec::new()
    }

    /// Checks one object as [`normalize`](Self::normalize) does, and keeps what it was decoded
    /// to, for [`ObjectKind::apply`]. By default the typed configuration is the normal form.
    ///
    /// # Errors
    ///
    /// As [`normalize`](Self::normalize).
    fn check(&self, object: &Value) -> Result<Checked, ConfigError> {
        self.normalize(object).map(Checked::untyped)
    }

    /// What the admin API, the web admin and the CLI show of the kind. By default, its name.
    fn describe(&self) -> KindInfo {
        KindInfo::new(self.section(), self.kind())
    }

    /// The problems among the objects of this kind in one document, each valid on its own (two
    /// channels serving the same path), with their paths in the document. Run by every check,
    /// so that a dry run and `zato config check` refuse what applying would.
    fn check_among(&self, _objects: &BTreeMap<ObjectKey, Checked>) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

/// One step of a change to one kind's objects, as [`ObjectKind::apply_all`] takes them: `T` is
/// the object as the kind reads it ([`Checked`] for an [`ObjectKind`], the typed configuration
/// for a [`Kind`](crate::kind::Kind)).
#[derive(Debug, Clone, PartialEq)]
pub enum Step<T> {
    /// Create or replace the object.
    Put(T),
    /// Remove the object of this name.
    Remove(String),
}

/// Why a batch of steps failed: the step that failed, and how many steps before it stay
/// applied (those the config runtime puts back).
#[derive(Debug)]
pub struct BatchError {
    applied: usize,
    failed: usize,
    error: ConfigError,
}

impl BatchError {
    /// The steps before `applied` stay applied; the step `failed` failed with `error` (paths
    /// relative to its object). A kind that swaps a whole batch in at once says `applied: 0`.
    pub fn new(applied: usize, failed: usize, error: ConfigError) -> Self {
        BatchError {
            applied,
            failed,
            error,
        }
    }

    /// How many steps, from the first, stay applied.
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// The step that failed.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Why it failed, paths relative to the failed step's object.
    pub fn into_error(self) -> ConfigError {
        self.error
    }
}

/// A kind a node applies: its schema, and how an object of it is built and swapped in.
///
/// `apply` builds the new object (a pool, a route table) and swaps it in; when building fails
/// the old one stays. Building checks the configuration, not the remote system: a wrong password
/// is applied, and fails on use.
#[async_trait::async_trait]
pub trait ObjectKind: ObjectSchema {
    /// Creates or replaces the object; it comes checked by [`ObjectSchema::check`], with its
    /// secrets.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] relative to the object when it cannot be built; nothing changed.
    async fn apply(&self, object: &Checked) -> Result<(), ConfigError>;

    /// Removes the object `name`. Work already running on it finishes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when it cannot be removed; nothing changed.
    async fn remove(&self, name: &str) -> Result<(), ConfigError>;

    /// Applies every step one change makes to this kind's objects, in order: what the config
    /// runtime calls, so that a kind whose objects share one structure (the HTTP channels' route
    /// table) builds it once per change rather than once per object. By default, one
    /// [`apply`](Self::apply) or [`remove`](Self::remove) after another.
    ///
    /// # Errors
    ///
    /// A [`BatchError`] naming the step that failed and how many before it stay applied.
    async fn apply_all(&self, steps: &[Step<&Checked>]) -> Result<(), BatchError> {
        for (i, step) in steps.iter().enumerate() {
            let done = match step {
                Step::Put(object) => self.apply(object).await,
                Step::Remove(name) => self.remove(name).await,
            };
            done.map_err(|error| BatchError::new(i, i, error))?;
        }
        Ok(())
    }

    /// Tests the object against its remote system, as Zato's Ping button does: what was done and
    /// how it went.
    ///
    /// # Errors
    ///
    /// Why the remote system could not be reached or refused, in one line.
    async fn ping(&self, _name: &str) -> Result<String, String> {
        Err(format!("a {} cannot be pinged", self.kind()))
    }

    /// Runs the object `name` now, for kinds that run (a scheduled job), and says what started.
    ///
    /// # Errors
    ///
    /// Why it could not be run, in one line; by default, that this kind does not run.
    async fn run(&self, _name: &str) -> Result<String, String> {
        Err(format!("a {} cannot be run", self.kind()))
    }
}

/// Parses `object` as `T` and writes it back: the normal form of a kind whose schema is a serde
/// type. Every unknown field is reported, not only the first; the fields named in `secrets` keep
/// their given value (a [`Secret`](crate::Secret) writes itself as `***`).
///
/// # Errors
///
/// A [`ConfigError`] with one problem per unknown field, or the type's own error.
///
/// # Examples
///
/// ```
/// use zato_core::config::normalize_as;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Ftp { name: String, #[serde(default)] port: u16 }
///
/// let normal = normalize_as::<Ftp>(&serde_json::json!({"name": "backup"}), &[]).unwrap();
/// assert_eq!(normal, serde_json::json!({"name": "backup", "port": 0}));
/// let err = normalize_as::<Ftp>(&serde_json::json!({"name": "b", "hots": 1, "prot": 2}), &[])
///     .unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// assert_eq!(err.problems()[0].path, "hots");
/// ```
pub fn normalize_as<T: DeserializeOwned + Serialize>(
    object: &Value,
    secrets: &[&str],
) -> Result<Value, ConfigError> {
    decode_as::<T>(object, secrets).map(|(_, normal)| normal)
}

/// Like [`normalize_as`], returning the decoded value beside its normal form.
///
/// # Errors
///
/// As [`normalize_as`].
pub fn decode_as<T: DeserializeOwned + Serialize>(
    object: &Value,
    secrets: &[&str],
) -> Result<(T, Value), ConfigError> {
    let decoded = decode_lenient::<T>(object, secrets);
    ConfigError::check(decoded.problems)?;
    decoded
        .value
        .ok_or_else(|| ConfigError::one("", "cannot be read"))
}

/// What [`decode_lenient`] read of an object.
pub(crate) struct Decoded<T> {
    /// The value and its normal form, read without the fields set aside, when the rest reads.
    pub(crate) value: Option<(T, Value)>,
    /// Every problem serde found.
    pub(crate) problems: Vec<ConfigProblem>,
    /// The top-level fields taken out for their problems.
    pub(crate) aside: Vec<String>,
}

/// Reads `object` as far as it can. serde stops at the first problem: each unknown field and
/// each field of the wrong type is taken out and the rest read again, so that every one is
/// reported, and the kind's own checks can still run on the rest. Bounded by the object's own
/// fields.
pub(crate) fn decode_lenient<T: DeserializeOwned + Serialize>(
    object: &Value,
    secrets: &[&str],
) -> Decoded<T> {
    let mut trimmed = object.clone();
    let mut problems = Vec::new();
    let mut aside: Vec<String> = Vec::new();
    let parsed = loop {
        match serde_path_to_error::deserialize::<_, T>(trimmed.clone()) {
            Ok(parsed) => break Some(parsed),
            Err(e) => {
                let at = e.path().to_string();
                let msg = e.inner().to_string();
                if let Some(field) =
                    unknown_field(&msg).filter(|f| trimmed.get(f.as_str()).is_some())
                {
                    if let Some(map) = trimmed.as_object_mut() {
                        map.remove(&field);
                    }
                    problems.push(ConfigProblem::new(key(&field), "unknown field"));
                    aside.push(field);
                    continue;
                }
                let problem = serde_problem(&at, &msg, object);
                // A field taken out for its type is required: reported already.
                if aside.iter().any(|f| problem.path == key(f)) && problem.message == "required" {
                    break None;
                }
                problems.push(problem);
                let field = top_field(&at).filter(|f| trimmed.get(f.as_str()).is_some());
                match (field, trimmed.as_object_mut()) {
                    (Some(field), Some(map)) => {
                        map.remove(&field);
                        aside.push(field);
                    }
                    _ => break None,
                }
            }
        }
    };
    let Some(parsed) = parsed else {
        return Decoded {
            value: None,
            problems,
            aside,
        };
    };
    let mut normal = match serde_json::to_value(&parsed) {
        Ok(normal) => normal,
        Err(e) => {
            problems.push(ConfigProblem::new(
                "",
                format!("cannot be written back: {e}"),
            ));
            return Decoded {
                value: None,
                problems,
                aside,
            };
        }
    };
    if let (Some(normal), Some(given)) = (normal.as_object_mut(), object.as_object()) {
        for field in secrets {
            // Absent and null are the same: no secret. A field the type does not write when
            // unset (a shorthand read once) stays out.
            let v = given.get(*field).cloned().unwrap_or(Value::Null);
            if v.is_null() && !normal.contains_key(*field) {
                continue;
            }
            normal.insert((*field).to_owned(), v);
        }
    }
    Decoded {
        value: Some((parsed, normal)),
        problems,
        aside,
    }
}

/// The top-level field of a path serde_path_to_error wrote: `pool_size` of `pool_size`,
/// `methods[1]` or `custom_options.x`; `None` for the object itself.
fn top_field(at: &str) -> Option<String> {
    let end = at.find(['.', '[']).unwrap_or(at.len());
    let field = &at[..end];
    (!field.is_empty()).then(|| field.to_owned())
}

/// The field of serde's "unknown field `x`, expected …".
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// serde's message as a problem: at the field it names when it names one (`missing field
/// `name``), else at the object. Values are never quoted back: a wrong secret must not show.
fn serde_problem(at: &str, msg: &str, object: &Value) -> ConfigProblem {
    // serde_path_to_error writes `.` for the object itself.
    let at = if at == "." { "" } else { at };
    let named = |prefix: &str| {
        let rest = msg.strip_prefix(prefix)?;
        Some(rest[..rest.find('`')?].to_owned())
    };
    if let Some(field) = named("missing field `") {
        let field = key(&field);
        let path = if at.is_empty() {
            field
        } else {
            format!("{at}.{field}")
        };
        return ConfigProblem::new(path, "required");
    }
    // "invalid type: integer `5`, expected a string" quotes the value: keep what was expected.
    let expected = msg
        .split_once(", expected ")
        .map(|(_, e)| format!("expected {e}"));
    let message = expected.unwrap_or_else(|| {
        if object.is_object() {
            msg.split(" at line ").next().unwrap_or(msg).to_owned()
        } else {
            format!("expected a table, found {}", kind_of(object))
        }
    });
    ConfigProblem::new(at, message)
}

/// Checks whole documents against the schemas of the kinds it knows.
#[derive(Debug, Clone, Default)]
pub struct Checker {
    schemas: BTreeMap<(Section, String), Arc<dyn ObjectSchema>>,
}

impl Checker {
    /// A checker that knows the `services` section only.
    pub fn new() -> Self {
        let mut checker = Checker::default();
        checker.add(Arc::new(ServiceSchema));
        checker
    }

    /// The same checker knowing one more kind.
    pub fn with(mut self, schema: Arc<dyn ObjectSchema>) -> Self {
        self.add(schema);
        self
    }

    /// Adds a kind; one of the same section and kind is replaced.
    pub fn add(&mut self, schema: Arc<dyn ObjectSchema>) {
        self.schemas
            .insert((schema.section(), schema.kind().to_owned()), schema);
    }

    /// The schema of `kind` in `section`.
    pub fn schema(&self, section: Section, kind: &str) -> Option<&Arc<dyn ObjectSchema>> {
        self.schemas.get(&(section, kind.to_owned()))
    }

    /// The schema an object of the document is read with: for security definitions, their
    /// `type`.
    pub fn schema_of(&self, key: &ObjectKey, object: &Value) -> Option<&Arc<dyn ObjectSchema>> {
        match key.section {
            Section::Security => {
                let ty = object.get("type").and_then(Value::as_str)?;
                self.schema(Section::Security, ty)
            }
            section => self.schema(section, &key.kind),
        }
    }

    /// Checks a document offline, and returns its objects in normal form. A secret written as
    /// [`SECRET_PLACEHOLDER`] passes: it keeps whatever secret the node has.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem of every object, each with its path: unknown
    /// kinds, missing or repeated names, each kind's own problems, and references to objects
    /// the document does not hold.
    pub fn check(&self, doc: &ConfigDocument) -> Result<Objects, ConfigError> {
        self.check_with(doc, None)
    }

    /// Like [`check`](Self::check), with the objects in force: a secret written as
    /// [`SECRET_PLACEHOLDER`] takes the current object's value.
    pub(crate) fn check_with(
        &self,
        doc: &ConfigDocument,
        current: Option<&Objects>,
    ) -> Result<Objects, ConfigError> {
        self.check_typed(doc, current)
            .map(|checked| checked.into_iter().map(|(k, c)| (k, c.normal)).collect())
    }

    /// Like [`check_with`](Self::check_with), keeping each object as its kind decoded it.
    pub(crate) fn check_typed(
        &self,
        doc: &ConfigDocument,
        current: Option<&Objects>,
    ) -> Result<BTreeMap<ObjectKey, Checked>, ConfigError> {
        self.check_objects(doc, current, None)
    }

    /// Like [`check_typed`](Self::check_typed), with references also resolved among `kept`:
    /// the objects a partial import leaves in place.
    pub(crate) fn check_objects(
        &self,
        doc: &ConfigDocument,
        current: Option<&Objects>,
        kept: Option<&Objects>,
    ) -> Result<BTreeMap<ObjectKey, Checked>, ConfigError> {
        let entries = doc.entries();
        // Counted before anything is decoded: a document of too many objects costs no more.
        let mut counts: BTreeMap<(Section, &str), usize> = BTreeMap::new();
        for (section, kind, _, _) in &entries {
            *counts.entry((*section, kind.as_str())).or_default() += 1;
        }
        let too_many: Vec<ConfigProblem> = counts
            .into_iter()
            .filter(|(_, n)| *n > bounds::MAX_OBJECTS_PER_KIND)
            .map(|((section, kind), n)| {
                ConfigProblem::new(
                    ObjectKey::new(section, kind, "").kind_path(),
                    format!(
                        "{n} objects; at most {} per kind",
                        bounds::MAX_OBJECTS_PER_KIND
                    ),
                )
            })
            .collect();
        ConfigError::check(too_many)?;
        let mut problems = Vec::new();
        let mut objects = BTreeMap::new();
        let mut seen_kinds = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (section, kind, at, object) in entries {
            let Some(name) = object.get("name").and_then(Value::as_str) else {
                if object.is_object() {
                    problems.push(ConfigProblem::new(
                        format!("{at}.name"),
                        "required, as text",
                    ));
                }
                continue;
            };
            if name.trim().is_empty() {
                problems.push(ConfigProblem::new(
                    format!("{at}.name"),
                    "must not be empty",
                ));
                continue;
            }
            if let Some(problem) = name_problem(name) {
                problems.push(ConfigProblem::new(format!("{at}.name"), problem));
                continue;
            }
            let k = ObjectKey::new(section, kind.clone(), name);
            if !names.insert(k.clone()) {
                problems.push(ConfigProblem::new(
                    format!("{at}.name"),
                    format!("`{name}` is the name of an earlier {}", k.kind_path()),
                ));
                continue;
            }
            let schema = match self.schema_of(&k, object) {
                Some(schema) => schema,
                None => {
                    if section == Section::Security {
                        let known = self.kinds(Section::Security).join(", ");
                        let msg = match object.get("type") {
                            Some(Value::String(t)) => {
                                format!("unknown type `{t}`; this node knows: {known}")
                            }
                            _ => format!("`type` is required, one of: {known}"),
                        };
                        problems.push(ConfigProblem::new(k.to_string(), msg));
                    } else if seen_kinds.insert((section, kind.clone())) {
                        let known = self.kinds(section).join(", ");
                        problems.push(ConfigProblem::new(
                            k.kind_path(),
                            format!("unknown kind `{kind}`; this node knows: {known}"),
                        ));
                    }
                    continue;
                }
            };
            let path = k.to_string();
            let mut long = Vec::new();
            long_texts(object, "", &mut long);
            if !long.is_empty() {
                problems.extend(ConfigError::new(long).within(&path).into_problems());
                continue;
            }
            // Offline there is no current secret to keep: the placeholder stands as it is.
            let Some(current) = current else {
                match schema.check(object) {
                    Ok(normal) => {
                        objects.insert(k, normal);
                    }
                    Err(e) => problems.extend(e.within(&path).into_problems()),
                }
                continue;
            };
            let object = match with_current_secrets(schema.as_ref(), object, current.get(&k)) {
                Ok(object) => object,
                Err(p) => {
                    problems.extend(ConfigError::new(p).within(&path).into_problems());
                    continue;
                }
            };
            match schema.check(&object) {
                Ok(normal) => {
                    objects.insert(k, normal);
                }
                Err(e) => problems.extend(e.within(&path).into_problems()),
            }
        }
        for (k, object) in &objects {
            let Some(schema) = self.schema_of(k, &object.normal) else {
                continue;
            };
            for r in schema.references(&object.normal) {
                if !objects.contains_key(&r.to) && !kept.is_some_and(|o| o.contains_key(&r.to)) {
                    let what = match r.to.section {
                        Section::Security => "security definition".to_owned(),
                        Section::Services => "service".to_owned(),
                        s => format!("{s} {}", r.to.kind),
                    };
                    problems.push(ConfigProblem::new(
                        format!("{k}.{}", r.field),
                        format!("no {what} named `{}` in the configuration", r.to.name),
                    ));
                }
            }
        }
        for schema in self.schemas.values() {
            problems.extend(schema.check_among(&objects));
        }
        ConfigError::check(problems).map(|()| objects)
    }

    /// Every kind it knows, as the admin API and the CLI show it, sorted by section and kind.
    pub fn describe(&self) -> Vec<KindInfo> {
        self.schemas.values().map(|s| s.describe()).collect()
    }

    /// The kinds known in `section`.
    fn kinds(&self, section: Section) -> Vec<String> {
        self.schemas
            .keys()
            .filter(|(s, _)| *s == section)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

/// Why `name` cannot name an object: a character that does not show (a control character, an
/// invisible or bidirectional format character), which would rewrite the terminal or reorder
/// what a listing shows. The character is named by code point, never quoted.
fn name_problem(name: &str) -> Option<String> {
    if name.len() > bounds::MAX_NAME_BYTES {
        return Some(format!(
            "{} bytes long; at most {} bytes",
            name.len(),
            bounds::MAX_NAME_BYTES
        ));
    }
    let (at, c) = name
        .chars()
        .enumerate()
        .find(|(_, c)| crate::text::is_invisible(*c))?;
    Some(format!(
        "must not hold a control or invisible character U+{:04X} (character {})",
        u32::from(c),
        at + 1
    ))
}

/// Adds a problem for each text in `value` longer than
/// [`MAX_TEXT_BYTES`](bounds::MAX_TEXT_BYTES), at its path below `at` (`service`,
/// `methods[1]`, `headers.accept`). Keys count as text too.
fn long_texts(value: &Value, at: &str, problems: &mut Vec<ConfigProblem>) {
    let over = |s: &str| s.len() > bounds::MAX_TEXT_BYTES;
    let problem = |at: &str, s: &str| {
        ConfigProblem::new(
            at,
            format!(
                "{} bytes long; at most {} bytes",
                s.len(),
                bounds::MAX_TEXT_BYTES
            ),
        )
    };
    match value {
        Value::String(s) if over(s) => problems.push(problem(at, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                long_texts(item, &format!("{at}[{i}]"), problems);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if over(k) {
                    problems.push(problem(at, k));
                    continue;
                }
                let path = if at.is_empty() {
                    key(k)
                } else {
                    format!("{at}.{}", key(k))
                };
                long_texts(v, &path, problems);
            }
        }
        _ => {}
    }
}

/// `object` with each secret written as the placeholder replaced by the current value.
fn with_current_secrets(
    schema: &dyn ObjectSchema,
    object: &Value,
    current: Option<&Value>,
) -> Result<Value, Vec<ConfigProblem>> {
    let mut object = object.clone();
    let mut problems = Vec::new();
    for field in schema.secret_fields() {
        let Some(map) = object.as_object_mut() else {
            break;
        };
        if map.get(*field).and_then(Value::as_str) != Some(SECRET_PLACEHOLDER) {
            continue;
        }
        match current.and_then(|c| c.get(*field)).filter(|v| !v.is_null()) {
            Some(v) => {
                map.insert((*field).to_owned(), v.clone());
            }
            None => problems.push(ConfigProblem::new(
                key(field),
                format!("`{SECRET_PLACEHOLDER}` keeps the current secret, and there is none: give the secret"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(object)
    } else {
        Err(problems)
    }
}

/// `object` with its secret fields shown as the placeholder.
pub(crate) fn redacted(schema: Option<&Arc<dyn ObjectSchema>>, object: &Value) -> Value {
    let mut object = object.clone();
    if let (Some(schema), Some(map)) = (schema, object.as_object_mut()) {
        for field in schema.secret_fields() {
            if let Some(v) = map.get_mut(*field)
                && !v.is_null()
            {
                *v = Value::String(SECRET_PLACEHOLDER.to_owned());
            }
        }
    }
    object
}

/// A service's settings in the document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// The service's name.
    pub name: String,
    /// An inactive service refuses every invocation with a 503.
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// The schema of `services`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceSchema;

impl ObjectSchema for ServiceSchema {
    fn section(&self) -> Section {
        Section::Services
    }

    fn kind(&self) -> &str {
        Section::Services.sole_kind()
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        normalize_as::<ServiceSettings>(object, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Conn;

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ConnConfig {
        name: String,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        pool_size: u32,
        #[serde(default)]
        uses: Option<String>,
    }

    impl ObjectSchema for Conn {
        fn section(&self) -> Section {
            Section::Outgoing
        }
        fn kind(&self) -> &str {
            "ftp"
        }
        fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
            normalize_as::<ConnConfig>(object, self.secret_fields())
        }
        fn secret_fields(&self) -> &[&'static str] {
            &["password"]
        }
        fn references(&self, object: &Value) -> Vec<Reference> {
            object["uses"]
                .as_str()
                .map(|s| Reference {
                    field: "uses".into(),
                    to: ObjectKey::new(Section::Services, "service", s),
                })
                .into_iter()
                .collect()
        }
    }

    fn checker() -> Checker {
        Checker::new().with(Arc::new(Conn))
    }

    #[test]
    fn every_problem_of_every_object_at_once() {
        let doc = ConfigDocument::from_value(serde_json::json!({
            "outgoing": {
                "ftp": [
                    {"name": "a", "pool_size": "five", "hots": 1},
                    {"name": "a"},
                    {"pool_size": 1},
                    {"name": "b", "uses": "nowhere"}
                ],
                "sftp": [{"name": "x"}, {"name": "y"}]
            },
            "services": [{"name": "s", "is_active": "yes"}]
        }))
        .unwrap();
        let err = checker().check(&doc).unwrap_err();
        let shown: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "outgoing.ftp.a.hots: unknown field",
                "outgoing.ftp.a.pool_size: expected u32",
                "outgoing.ftp[1].name: `a` is the name of an earlier outgoing.ftp",
                "outgoing.ftp[2].name: required, as text",
                "outgoing.sftp: unknown kind `sftp`; this node knows: ftp",
                "services.s.is_active: expected a boolean",
                "outgoing.ftp.b.uses: no service named `nowhere` in the configuration",
            ],
            "{err}"
        );
    }

    #[test]
    fn objects_come_out_normalized_with_their_secrets() {
        let doc = ConfigDocument::from_value(serde_json::json!({
            "outgoing": {"ftp": [{"name": "a", "password": "pa55"}]},
            "services": [{"name": "s"}]
        }))
        .unwrap();
        let objects = checker().check(&doc).unwrap();
        let a = &objects[&ObjectKey::new(Section::Outgoing, "ftp", "a")];
        assert_eq!(a["password"], "pa55");
        assert_eq!(a["pool_size"], 0);
        let s = &objects[&ObjectKey::new(Section::Services, "service", "s")];
        assert_eq!(s["is_active"], true);
    }

    #[test]
    fn the_placeholder_keeps_the_current_secret_and_needs_one() {
        let doc = ConfigDocument::from_value(serde_json::json!({
            "outgoing": {"ftp": [{"name": "a", "password": SECRET_PLACEHOLDER}]}
        }))
        .unwrap();
        // Offline, it stands for the node's secret, whatever it is.
        checker().check(&doc).unwrap();
        // On a node without one, it is refused.
        let err = checker()
            .check_with(&doc, Some(&Objects::new()))
            .unwrap_err();
        assert_eq!(err.problems()[0].path, "outgoing.ftp.a.password");
        let mut current = Objects::new();
        current.insert(
            ObjectKey::new(Section::Outgoing, "ftp", "a"),
            serde_json::json!({"name": "a", "password": "old"}),
        );
        let objects = checker().check_with(&doc, Some(&current)).unwrap();
        assert_eq!(objects.values().next().unwrap()["password"], "old");
    }

    #[test]
    fn names_with_characters_that_do_not_show_are_refused_in_every_kind() {
        for bad in [
            "\r",
            "\n",
            "\0",
            "\u{1b}[2J",
            "\u{202e}",
            "\u{200b}",
            "\u{9b}",
        ] {
            let name = format!("crm{bad}x");
            let doc = ConfigDocument::from_value(serde_json::json!({
                "outgoing": {"ftp": [{"name": name}]},
                "services": [{"name": name}]
            }))
            .unwrap();
            let err = checker().check(&doc).unwrap_err();
            let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
            assert_eq!(
                paths,
                ["outgoing.ftp[0].name", "services[0].name"],
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("(character 4)"), "{err}");
            assert!(!err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let err = normalize_as::<ConnConfig>(
            &serde_json::json!({"name": "a", "password": 12345678}),
            &["password"],
        )
        .unwrap_err();
        assert!(!err.to_string().contains("12345678"), "{err}");
    }
}
