//! The plug-in seam: every kind of channel and outgoing connection implements [`Kind`].
//!
//! A kind is one folder of its crate. Through [`Kind`] it says its name and section, its typed
//! configuration (decoded and checked once, problems named by path), how an object is applied
//! (built and swapped in) and removed live, how it is pinged or run where that applies, and what
//! the admin API, the web admin and the CLI show of it ([`KindInfo`], derived from an example
//! object). A [`Plugin`] groups the kinds of one folder and attaches them to a node's
//! [`Platform`]: the node learns its kinds from the plug-ins it was given, never from a list in
//! zato-core, so a kind written in a crate of its own gets the config check, the admin API, the
//! CLI, enmasse and the web admin with no change to ours.
//!
//! The config runtime works on the object-safe [`ObjectSchema`] and [`ObjectKind`]; [`schema`]
//! and [`live`] turn a typed kind into them.
//!
//! # Examples
//!
//! An outgoing connection kind keeping a counter per object:
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use zato_core::config::{ConfigError, ConfigProblem, Section};
//! use zato_core::kind::{self, Description, Kind};
//!
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct CounterConfig {
//!     name: String,
//!     #[serde(default)]
//!     start: u64,
//! }
//!
//! #[derive(Debug, Default)]
//! struct Counters(Mutex<BTreeMap<String, u64>>);
//!
//! #[async_trait::async_trait]
//! impl Kind for Counters {
//!     type Config = CounterConfig;
//!     const SECTION: Section = Section::Outgoing;
//!     const NAME: &'static str = "counter";
//!
//!     fn describe() -> Description<CounterConfig> {
//!         Description::new("a counter", CounterConfig { name: "hits".into(), start: 0 })
//!     }
//!
//!     fn check(config: &CounterConfig) -> Vec<ConfigProblem> {
//!         let mut problems = Vec::new();
//!         if config.start > 1000 {
//!             problems.push(ConfigProblem::new("start", "must be at most 1000"));
//!         }
//!         problems
//!     }
//!
//!     async fn apply(&self, config: Arc<CounterConfig>) -> Result<(), ConfigError> {
//!         self.0.lock().unwrap().insert(config.name.clone(), config.start);
//!         Ok(())
//!     }
//!
//!     async fn remove(&self, name: &str) -> Result<(), ConfigError> {
//!         self.0.lock().unwrap().remove(name);
//!         Ok(())
//!     }
//! }
//!
//! let schema = kind::schema::<Counters>();
//! let err = schema.check(&serde_json::json!({"name": "a", "start": 5000})).unwrap_err();
//! assert_eq!(err.problems()[0].path, "start");
//! let info = schema.describe();
//! assert_eq!(info.kind, "counter");
//! assert!(info.fields.iter().any(|f| f.name == "start" && !f.required));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Platform;
use crate::config::{
    BatchError, Checked, ConfigDocument, ConfigError, ConfigProblem, ObjectKey, ObjectKind,
    ObjectSchema, Reference, Section, Step, decode_lenient,
};

/// A kind of object in the config document: a channel kind, an outgoing connection kind, a
/// security type. Implement it once per kind; [`schema`] and [`live`] make the config runtime's
/// objects of it.
///
/// Its configuration is decoded from the document once, checked once ([`check`](Self::check))
/// and handed to [`apply`](Self::apply) already typed. `apply` builds the new object (a pool, a
/// consumer, a route) and swaps it in; when building fails the old one stays. Building checks
/// the configuration, not the remote system: a wrong password is applied, and fails on use or
/// on [`ping`](Self::ping).
#[async_trait]
pub trait Kind: Send + Sync + fmt::Debug + 'static {
    /// The configuration of one object, in the document's field names. Use
    /// `#[serde(deny_unknown_fields)]`, and [`Secret`](crate::Secret) for secret fields.
    type Config: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The section the kind lives in: [`Section::Channels`], [`Section::Outgoing`] or, for a
    /// security type, [`Section::Security`].
    const SECTION: Section;

    /// The kind's name in the document (`channels.<NAME>`, `outgoing.<NAME>`), or the security
    /// definition's `type`.
    const NAME: &'static str;

    /// The top-level fields that hold secrets: never shown, written as
    /// [`SECRET_PLACEHOLDER`](crate::config::SECRET_PLACEHOLDER) to keep the current value.
    const SECRETS: &'static [&'static str] = &[];

    /// What the admin API, the web admin and the CLI show of the kind.
    fn describe() -> Description<Self::Config>;

    /// Rewrites the object as given before it is decoded, for kinds whose document has a
    /// shorthand (a `url` standing for several fields).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] relative to the object.
    fn prepare(_object: &mut Value) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The problems of a decoded object, paths relative to it (`pool_size`). Serde has already
    /// checked the types and the unknown fields.
    fn check(_config: &Self::Config) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// The objects it refers to, which must exist in the same document.
    fn references(_config: &Self::Config) -> Vec<Reference> {
        Vec::new()
    }

    /// The problems of an object with the objects it refers to, paths relative to it: a
    /// channel naming a security definition of a type it cannot check. `objects` gives an
    /// object of the same document, in normal form, by its key; it runs after the references
    /// were found to exist.
    fn check_referenced(
        _config: &Self::Config,
        _objects: &dyn Fn(&ObjectKey) -> Option<Value>,
    ) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// The problems among the objects of this kind in one document, each valid on its own: as
    /// `(index in configs, problem relative to that object)`. Two HTTP channels serving the
    /// same path are each valid, and clash together.
    fn check_among(_configs: &[&Self::Config]) -> Vec<(usize, ConfigProblem)> {
        Vec::new()
    }

    /// Creates or replaces the object.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] relative to the object when it cannot be built; nothing changed.
    async fn apply(&self, config: Arc<Self::Config>) -> Result<(), ConfigError>;

    /// Removes the object `name`. Work already running on it finishes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when it cannot be removed; nothing changed.
    async fn remove(&self, name: &str) -> Result<(), ConfigError>;

    /// Applies every step one change makes to this kind's objects, in order. Override it when
    /// the objects share one structure that is costly to build (a route table): build it once
    /// for the whole batch and swap it in once. By default, one [`apply`](Self::apply) or
    /// [`remove`](Self::remove) after another.
    ///
    /// # Errors
    ///
    /// A [`BatchError`] naming the step that failed and how many before it stay applied (none,
    /// for a kind that swaps the whole batch in at once).
    async fn apply_all(&self, steps: Vec<Step<Arc<Self::Config>>>) -> Result<(), BatchError> {
        for (i, step) in steps.into_iter().enumerate() {
            let done = match step {
                Step::Put(config) => self.apply(config).await,
                Step::Remove(name) => self.remove(&name).await,
            };
            done.map_err(|error| BatchError::new(i, i, error))?;
        }
        Ok(())
    }

    /// Tests the object against its remote system, as Zato's Ping button does: what was done and
    /// how it went. Say [`Description::pings`] when a kind implements it.
    ///
    /// # Errors
    ///
    /// Why the remote system could not be reached or refused, in one line.
    async fn ping(&self, _name: &str) -> Result<String, String> {
        Err(format!("a {} cannot be pinged", Self::NAME))
    }

    /// Runs the object `name` now, for kinds that run (a scheduled job). Say
    /// [`Description::runs`] when a kind implements it.
    ///
    /// # Errors
    ///
    /// Why it could not be run, in one line.
    async fn run(&self, _name: &str) -> Result<String, String> {
        Err(format!("a {} cannot be run", Self::NAME))
    }
}

/// What a kind says of itself: one line of summary and an example object, from which the
/// fields, their defaults and which are required are worked out.
#[derive(Debug, Clone)]
pub struct Description<C> {
    summary: String,
    example: C,
    pings: bool,
    runs: bool,
}

impl<C> Description<C> {
    /// A kind summed up in one line (`an OpenStack Swift connection`), with a valid object.
    pub fn new(summary: impl Into<String>, example: C) -> Self {
        Description {
            summary: summary.into(),
            example,
            pings: false,
            runs: false,
        }
    }

    /// The same, for a kind whose objects can be pinged.
    pub fn pings(mut self) -> Self {
        self.pings = true;
        self
    }

    /// The same, for a kind whose objects can be run now.
    pub fn runs(mut self) -> Self {
        self.runs = true;
        self
    }
}

/// A kind as the admin API, the web admin and the CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KindInfo {
    /// The section.
    pub section: Section,
    /// The kind: `swift`; for a security type, the type (`basic_auth`).
    pub kind: String,
    /// One line.
    pub summary: String,
    /// Its fields, in the order of the example.
    pub fields: Vec<FieldInfo>,
    /// A valid object, secrets left out.
    pub example: Value,
    /// Whether its objects can be pinged.
    pub pings: bool,
    /// Whether its objects can be run now.
    pub runs: bool,
}

impl KindInfo {
    /// A kind known by name only.
    pub fn new(section: Section, kind: impl Into<String>) -> Self {
        KindInfo {
            section,
            kind: kind.into(),
            summary: String::new(),
            fields: Vec::new(),
            example: Value::Object(serde_json::Map::new()),
            pings: false,
            runs: false,
        }
    }
}

/// One field of a kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FieldInfo {
    /// The field's name.
    pub name: String,
    /// Whether an object must give it.
    pub required: bool,
    /// Whether it holds a secret.
    pub secret: bool,
    /// Its value when left out, for the optional fields.
    pub default: Option<Value>,
    /// The JSON type of its value: `string`, `integer`, `number`, `boolean`, `array`,
    /// `object`, or `null` when the example leaves it unset.
    pub json_type: &'static str,
}

/// The JSON type name of `v`.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes, checks and normalizes one object of `K`.
fn check_object<K: Kind>(object: &Value) -> Result<(Value, K::Config), ConfigError> {
    let mut given = object.clone();
    K::prepare(&mut given)?;
    let decoded = decode_lenient::<K::Config>(&given, K::SECRETS);
    let mut problems = decoded.problems;
    let Some((config, normal)) = decoded.value else {
        return Err(ConfigError::new(problems));
    };
    // The kind's own checks run on the rest too; what they say of a field set aside for its
    // type would be about its default, not about what was written.
    let aside = |path: &str| {
        decoded.aside.iter().any(|f| {
            let f = crate::config::key(f);
            path == f || path.starts_with(&format!("{f}.")) || path.starts_with(&format!("{f}["))
        })
    };
    problems.extend(K::check(&config).into_iter().filter(|p| !aside(&p.path)));
    ConfigError::check(problems)?;
    Ok((normal, config))
}

/// Decodes and checks one object of `K`, as the config runtime does before applying it: for
/// APIs that take an object as JSON.
///
/// # Errors
///
/// A [`ConfigError`] listing every problem, paths relative to the object.
pub fn decode<K: Kind>(object: &Value) -> Result<K::Config, ConfigError> {
    check_object::<K>(object).map(|(_, config)| config)
}

/// The example of `K` in normal form, with the fields it describes.
fn describe<K: Kind>() -> KindInfo {
    let description = K::describe();
    let mut info = KindInfo::new(K::SECTION, K::NAME);
    info.summary = description.summary;
    info.pings = description.pings;
    info.runs = description.runs;
    let Ok(mut example) = serde_json::to_value(&description.example) else {
        return info;
    };
    if K::SECTION == Section::Security
        && let Some(map) = example.as_object_mut()
    {
        map.insert("type".into(), Value::String(K::NAME.to_owned()));
    }
    let Value::Object(map) = &example else {
        return info;
    };
    for (field, value) in map {
        let secret = K::SECRETS.contains(&field.as_str());
        // Left out, is it refused as required, or given a default?
        let mut without = map.clone();
        without.remove(field);
        let (required, default) = if field == "name" {
            (true, None)
        } else {
            match check_object::<K>(&Value::Object(without)) {
                Ok((normal, _)) => (false, normal.get(field).cloned()),
                Err(e) => (
                    e.problems()
                        .iter()
                        .any(|p| p.path == crate::config::key(field)),
                    None,
                ),
            }
        };
        info.fields.push(FieldInfo {
            name: field.clone(),
            required,
            secret,
            default,
            json_type: json_type(value),
        });
    }
    if let Some(map) = example.as_object_mut() {
        for secret in K::SECRETS {
            map.remove(*secret);
        }
    }
    info.example = example;
    info
}

/// The schema of a kind without an object to apply to: what checks documents offline.
pub struct Schema<K>(PhantomData<fn() -> K>);

impl<K> fmt::Debug for Schema<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schema")
            .field(&std::any::type_name::<K>())
            .finish()
    }
}

/// The schema of `K`, for checking documents offline.
pub fn schema<K: Kind>() -> Arc<dyn ObjectSchema> {
    Arc::new(Schema::<K>(PhantomData))
}

macro_rules! schema_of_kind {
    () => {
        fn section(&self) -> Section {
            K::SECTION
        }

        fn kind(&self) -> &str {
            K::NAME
        }

        fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
            check_object::<K>(object).map(|(normal, _)| normal)
        }

        fn check(&self, object: &Value) -> Result<Checked, ConfigError> {
            check_object::<K>(object).map(|(normal, config)| Checked::new(normal, config))
        }

        fn secret_fields(&self) -> &[&'static str] {
            K::SECRETS
        }

        fn references(&self, object: &Value) -> Vec<Reference> {
            match serde_json::from_value::<K::Config>(object.clone()) {
                Ok(config) => K::references(&config),
                Err(_) => Vec::new(),
            }
        }

        fn describe(&self) -> KindInfo {
            describe::<K>()
        }

        fn check_among(
            &self,
            objects: &std::collections::BTreeMap<ObjectKey, Checked>,
        ) -> Vec<ConfigProblem> {
            let mine: Vec<(&ObjectKey, Arc<K::Config>)> = objects
                .iter()
                .filter(|(key, _)| key.section == K::SECTION && key.kind == K::NAME)
                .filter_map(|(key, object)| Some((key, object.typed::<K::Config>()?)))
                .collect();
            let lookup = |key: &ObjectKey| objects.get(key).map(|c| c.normal().clone());
            let mut problems: Vec<ConfigProblem> = mine
                .iter()
                .flat_map(|(key, config)| {
                    let found = K::check_referenced(config, &lookup);
                    ConfigError::new(found)
                        .within(&key.to_string())
                        .into_problems()
                })
                .collect();
            if mine.len() < 2 {
                return problems;
            }
            let configs: Vec<&K::Config> = mine.iter().map(|(_, c)| c.as_ref()).collect();
            problems.extend(
                K::check_among(&configs)
                    .into_iter()
                    .filter_map(|(i, problem)| {
                        let (key, _) = mine.get(i)?;
                        Some(ConfigError::new(vec![problem]).within(&key.to_string()))
                    })
                    .flat_map(ConfigError::into_problems),
            );
            problems
        }
    };
}

impl<K: Kind> ObjectSchema for Schema<K> {
    schema_of_kind!();
}

/// A kind applying to a node: what the config runtime registers.
#[derive(Debug)]
pub struct Live<K>(pub K);

/// `kind` as the config runtime registers it.
pub fn live<K: Kind>(kind: K) -> Arc<dyn ObjectKind> {
    Arc::new(Live(kind))
}

impl<K: Kind> ObjectSchema for Live<K> {
    schema_of_kind!();
}

#[async_trait]
impl<K: Kind> ObjectKind for Live<K> {
    async fn apply(&self, object: &Checked) -> Result<(), ConfigError> {
        let config = match object.typed::<K::Config>() {
            Some(config) => config,
            None => Arc::new(check_object::<K>(object.normal())?.1),
        };
        self.0.apply(config).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.0.remove(name).await
    }

    async fn apply_all(&self, steps: &[Step<&Checked>]) -> Result<(), BatchError> {
        // Every object decoded before any is applied: a failure here leaves nothing applied.
        let mut typed = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            typed.push(match step {
                Step::Put(object) => Step::Put(match object.typed::<K::Config>() {
                    Some(config) => config,
                    None => Arc::new(
                        check_object::<K>(object.normal())
                            .map_err(|e| BatchError::new(0, i, e))?
                            .1,
                    ),
                }),
                Step::Remove(name) => Step::Remove(name.clone()),
            });
        }
        self.0.apply_all(typed).await
    }

    async fn ping(&self, name: &str) -> Result<String, String> {
        self.0.ping(name).await
    }

    async fn run(&self, name: &str) -> Result<String, String> {
        self.0.run(name).await
    }
}

/// Why a plug-in could not attach to a node.
pub type AttachError = Box<dyn std::error::Error + Send + Sync>;

/// How a plug-in reads the node's environment: `ZATO_*` variables by name, unset and blank
/// alike as `None`.
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Send + Sync);

/// The kinds of one folder, as a node takes them: their schemas, and how they attach to a
/// platform. A node is given its plug-ins; nothing in the code lists them.
#[async_trait]
pub trait Plugin: Send + Sync + fmt::Debug + 'static {
    /// The plug-in's name, for logs: `amqp`, `swift`.
    fn name(&self) -> &str;

    /// The schemas of its kinds, for checking documents offline.
    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>>;

    /// The environment variables it reads in [`prepare`](Self::prepare), each with what it
    /// does, for the node's documentation.
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Adjusts the document a node is seeded from, by the environment: credentials given as
    /// variables rather than in the file.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable that is wrong.
    fn prepare(&self, _doc: &mut ConfigDocument, _env: Env<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Attaches to `platform`: adds its channel adapters (which the platform then starts and
    /// stops), registers its metrics, and returns its kinds applying to them.
    ///
    /// # Errors
    ///
    /// Why it could not attach.
    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError>;
}

/// A plug-in of one kind, made for each platform by `make`: what a kind of a user's own crate
/// needs.
///
/// # Examples
///
/// ```
/// # use std::sync::Arc;
/// # use zato_core::config::{ConfigError, Section};
/// # use zato_core::kind::{self, Description, Kind};
/// # #[derive(Debug)]
/// # struct Sink;
/// # #[async_trait::async_trait]
/// # impl Kind for Sink {
/// #     type Config = serde_json::Value;
/// #     const SECTION: Section = Section::Outgoing;
/// #     const NAME: &'static str = "sink";
/// #     fn describe() -> Description<serde_json::Value> {
/// #         Description::new("a sink", serde_json::json!({"name": "s"}))
/// #     }
/// #     async fn apply(&self, _: Arc<serde_json::Value>) -> Result<(), ConfigError> { Ok(()) }
/// #     async fn remove(&self, _: &str) -> Result<(), ConfigError> { Ok(()) }
/// # }
/// let plugin = kind::plugin(|_platform: &zato_core::Platform| Ok(Sink));
/// # let _ = plugin;
/// ```
pub fn plugin<K, F>(make: F) -> KindPlugin<K, F>
where
    K: Kind,
    F: Fn(&Platform) -> Result<K, AttachError> + Send + Sync + 'static,
{
    KindPlugin {
        make,
        kind: PhantomData,
    }
}

/// The plug-in [`plugin`] makes.
pub struct KindPlugin<K, F> {
    make: F,
    kind: PhantomData<fn() -> K>,
}

impl<K, F> fmt::Debug for KindPlugin<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KindPlugin")
            .field(&std::any::type_name::<K>())
            .finish()
    }
}

#[async_trait]
impl<K, F> Plugin for KindPlugin<K, F>
where
    K: Kind,
    F: Fn(&Platform) -> Result<K, AttachError> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        K::NAME
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![schema::<K>()]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        Ok(vec![live((self.make)(platform)?)])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::Secret;

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FtpConfig {
        name: String,
        host: String,
        #[serde(default = "port")]
        port: u16,
        #[serde(default)]
        password: Option<Secret<String>>,
    }

    fn port() -> u16 {
        21
    }

    #[derive(Debug)]
    struct Ftp;

    #[async_trait]
    impl Kind for Ftp {
        type Config = FtpConfig;
        const SECTION: Section = Section::Outgoing;
        const NAME: &'static str = "ftp";
        const SECRETS: &'static [&'static str] = &["password"];

        fn describe() -> Description<FtpConfig> {
            Description::new(
                "an FTP server",
                FtpConfig {
                    name: "backup".into(),
                    host: "ftp.example.com".into(),
                    port: 21,
                    password: Some("x".to_owned().into()),
                },
            )
            .pings()
        }

        fn check(config: &FtpConfig) -> Vec<ConfigProblem> {
            if config.port == 0 {
                vec![ConfigProblem::new("port", "must not be 0")]
            } else {
                Vec::new()
            }
        }

        async fn apply(&self, _config: Arc<FtpConfig>) -> Result<(), ConfigError> {
            Ok(())
        }

        async fn remove(&self, _name: &str) -> Result<(), ConfigError> {
            Ok(())
        }
    }

    #[test]
    fn the_description_follows_from_the_example() {
        let info = schema::<Ftp>().describe();
        assert_eq!(info.summary, "an FTP server");
        assert!(info.pings && !info.runs);
        let field = |n: &str| info.fields.iter().find(|f| f.name == n).unwrap().clone();
        assert!(field("name").required);
        assert!(field("host").required);
        assert_eq!(field("host").json_type, "string");
        assert!(!field("port").required);
        assert_eq!(field("port").default, Some(serde_json::json!(21)));
        assert!(field("password").secret && !field("password").required);
        // A secret never shows, even the example's.
        assert!(info.example.get("password").is_none());
    }

    #[test]
    fn an_object_is_decoded_and_checked_once_and_keeps_its_secret() {
        let schema = schema::<Ftp>();
        let checked = schema
            .check(&serde_json::json!({"name": "b", "host": "h", "password": "pa55"}))
            .unwrap();
        assert_eq!(checked.normal()["port"], 21);
        assert_eq!(checked.normal()["password"], "pa55");
        let typed = checked.typed::<FtpConfig>().unwrap();
        assert_eq!(typed.password.as_ref().unwrap().expose(), "pa55");
        let err = schema
            .check(&serde_json::json!({"name": "b", "host": "h", "port": 0}))
            .unwrap_err();
        assert_eq!(err.problems()[0].path, "port");
    }
}
