//! The runtime of a node's configuration: reads, writes and imports made through the store and
//! applied to the running objects, each built first and swapped in.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::document::{ConfigDocument, ObjectKey, Section};
use super::error::{ConfigError, ConfigProblem};
use super::schema::{Checked, Checker, ObjectKind, ObjectSchema, Objects, Step, redacted};
use super::store::{Commit, ConfigStore, HistoryEntry, Op, Snapshot, StoreError};
use crate::Platform;
use crate::kind::{self, Description, Kind, KindInfo};

/// How long a write waits for the change before it (an import of thousands of objects, say)
/// before it is refused with [`ChangeError::Busy`]: five seconds, unless
/// [`ConfigRuntime::set_write_wait`] says otherwise.
pub const DEFAULT_WRITE_WAIT: Duration = Duration::from_secs(5);

/// What an import would change, or changed: object paths, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    /// Objects the document adds.
    pub created: Vec<String>,
    /// Objects it changes.
    pub updated: Vec<String>,
    /// Objects it removes: only an import with `replace` removes any.
    pub deleted: Vec<String>,
    /// Objects it holds as they are.
    pub unchanged: Vec<String>,
}

impl Diff {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// How a document is imported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Only compute the diff; change nothing.
    pub dry_run: bool,
    /// Delete the objects the document does not hold. Without it nothing is deleted.
    pub replace: bool,
}

/// What an import did, or would do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The store's version after it (before it, for a dry run).
    pub version: u64,
    /// What changed, or would.
    pub diff: Diff,
    /// What is valid but will not work yet: a channel naming a service this node has not
    /// deployed ([`ConfigRuntime::service_warnings`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ConfigProblem>,
}

/// What a write to one object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The store's version after it.
    pub version: u64,
    /// The object.
    pub key: ObjectKey,
    /// What happened to it; `None` when the write changed nothing.
    pub op: Option<Op>,
    /// The object's version after it; `None` once deleted.
    pub object_version: Option<u64>,
    /// What is valid but will not work yet: the object is a channel naming a service this
    /// node has not deployed ([`ConfigRuntime::service_warnings`]).
    pub warnings: Vec<ConfigProblem>,
}

/// How [`ConfigRuntime::put`] writes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Only a new object.
    Create,
    /// A new object or a whole replacement.
    Upsert,
    /// A JSON merge patch (RFC 7396) over an existing object.
    Patch,
}

/// Why a change was refused or failed; in each case nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// The configuration is invalid: every problem, with its path.
    #[error(transparent)]
    Invalid(ConfigError),
    /// No such object.
    #[error("{0}: no such object")]
    NotFound(ObjectKey),
    /// The object exists already.
    #[error("{0}: exists already")]
    Exists(ObjectKey),
    /// Other objects refer to the one to delete.
    #[error("{key}: still referred to by {}", by.join(", "))]
    Referenced {
        /// The object.
        key: ObjectKey,
        /// Who refers to it.
        by: Vec<String>,
    },
    /// The write was based on another version of the object than the current one.
    #[error("{key}: changed meanwhile, it is at version {}", current.map_or_else(|| "none (deleted)".to_owned(), |v| v.to_string()))]
    Stale {
        /// The object.
        key: ObjectKey,
        /// Its version now; `None` when it does not exist.
        current: Option<u64>,
    },
    /// The configuration is valid, but this node failed to apply it; what it had applied was
    /// put back.
    #[error("not applied: {0}")]
    ApplyFailed(ConfigError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another change was still being applied when the write's wait ran out; nothing changed,
    /// try again.
    #[error("the configuration is busy with another change; waited {} ms, try again", waited.as_millis())]
    Busy {
        /// How long the write waited.
        waited: Duration,
    },
}

/// A node's configuration, live: reads and writes go through the store and are applied to the
/// running channels, connections and services, with no restart.
///
/// Every write is checked as a whole document first (every problem reported with its path),
/// then applied kind by kind, each object built first and swapped in; if one fails, those
/// already applied are put back and nothing is recorded. Only then is the change committed to the
/// store, with a new version. Writes run one at a time.
///
/// Kinds are registered by the adapter crates that own them ([`ObjectKind`]); `services` is
/// built in.
#[derive(Clone)]
pub struct ConfigRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    platform: Platform,
    store: Arc<dyn ConfigStore>,
    kinds: RwLock<BTreeMap<(Section, String), Arc<dyn ObjectKind>>>,
    writing: tokio::sync::Mutex<()>,
    /// How long a write waits for the one before it, in milliseconds.
    write_wait_ms: AtomicU64,
    applied: AtomicU64,
    /// The objects as this node applied them: what a catch-up diffs the store against.
    applied_objects: std::sync::Mutex<Objects>,
    replication: RwLock<Option<Arc<dyn super::store::Replication>>>,
}

impl fmt::Debug for ConfigRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<String> = self
            .kinds()
            .keys()
            .map(|(s, k)| format!("{s}.{k}"))
            .collect();
        f.debug_struct("ConfigRuntime")
            .field("store", &self.inner.store)
            .field("kinds", &kinds)
            .field("applied", &self.applied_version())
            .finish()
    }
}

/// The built-in kind: services' settings, applied to the platform's registry.
#[derive(Debug)]
struct ServiceKind(Platform);

#[async_trait::async_trait]
impl Kind for ServiceKind {
    type Config = super::schema::ServiceSettings;
    const SECTION: Section = Section::Services;
    const NAME: &'static str = "service";

    fn describe() -> Description<Self::Config> {
        Description::new(
            "a service's settings: whether it takes invocations",
            super::schema::ServiceSettings {
                name: "invoice.dispatcher".into(),
                is_active: true,
            },
        )
    }

    async fn apply(&self, settings: Arc<Self::Config>) -> Result<(), ConfigError> {
        if !self
            .0
            .services()
            .set_active(&settings.name, settings.is_active)
        {
            tracing::warn!(service = ?settings.name, "settings kept for a service not deployed on this node");
        }
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        // Without settings a service is active.
        self.0.services().set_active(name, true);
        Ok(())
    }
}

impl ConfigRuntime {
    /// A runtime over `store`, applying to `platform`, knowing the `services` section. Register
    /// the other kinds, then [`import`](Self::import) a document or [`load`](Self::load) what the
    /// store holds.
    pub fn new(platform: Platform, store: Arc<dyn ConfigStore>) -> Self {
        let runtime = ConfigRuntime {
            inner: Arc::new(Inner {
                platform: platform.clone(),
                store,
                kinds: RwLock::new(BTreeMap::new()),
                writing: tokio::sync::Mutex::new(()),
                write_wait_ms: AtomicU64::new(millis(DEFAULT_WRITE_WAIT)),
                applied: AtomicU64::new(0),
                applied_objects: std::sync::Mutex::new(Objects::new()),
                replication: RwLock::new(None),
            }),
        };
        runtime.register(kind::live(ServiceKind(platform)));
        runtime
    }

    /// How long a write ([`put`](Self::put), [`import`](Self::import),
    /// [`delete`](Self::delete)) waits for the change before it to be done; after that it is
    /// refused with [`ChangeError::Busy`] (a 503 on the admin API). [`DEFAULT_WRITE_WAIT`]
    /// unless set.
    pub fn set_write_wait(&self, wait: Duration) {
        self.inner
            .write_wait_ms
            .store(millis(wait).max(1), Ordering::Relaxed);
    }

    /// The turn of one write, waited for at most the write wait.
    async fn write_turn(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, ChangeError> {
        let waited = Duration::from_millis(self.inner.write_wait_ms.load(Ordering::Relaxed));
        tokio::time::timeout(waited, self.inner.writing.lock())
            .await
            .map_err(|_| ChangeError::Busy { waited })
    }

    /// Adds a kind, replacing one of the same section and kind.
    pub fn register(&self, kind: Arc<dyn ObjectKind>) {
        let mut kinds = self
            .inner
            .kinds
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kinds.insert((kind.section(), kind.kind().to_owned()), kind);
        drop(kinds);
        // Before anything of this kind can be committed.
        self.inner.store.protect(&self.secret_field_names());
    }

    fn kinds(&self) -> KindMap {
        self.inner
            .kinds
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The kinds registered in `section`, sorted: `http`, `swift`; for security definitions,
    /// their types (`apikey`, `basic_auth`).
    pub fn kind_names(&self, section: Section) -> Vec<String> {
        self.kinds()
            .into_keys()
            .filter(|(s, _)| *s == section)
            .map(|(_, k)| k)
            .collect()
    }

    /// Every registered kind as the admin API, the web admin and the CLI show it, sorted by
    /// section and kind.
    pub fn describe(&self) -> Vec<KindInfo> {
        self.kinds().values().map(|k| k.describe()).collect()
    }

    /// The platform it applies to.
    pub fn platform(&self) -> &Platform {
        &self.inner.platform
    }

    /// The channels among `objects` naming a service this node has not deployed, each a
    /// problem at its `service` field. Warnings, not errors: the service may be deployed later,
    /// and until then the channel answers that it has none. Every channel kind names its service
    /// in a field called `service`.
    pub fn service_warnings<'a>(
        &self,
        objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Value)>,
    ) -> Vec<ConfigProblem> {
        let services = self.inner.platform.services();
        objects
            .into_iter()
            .filter(|(key, _)| key.section == Section::Channels)
            .filter_map(|(key, object)| {
                let name = object.get("service")?.as_str()?;
                (!services.contains(name)).then(|| {
                    ConfigProblem::new(
                        format!("{key}.service"),
                        format!(
                            "no service `{}` is deployed on this node; the channel fails until one is",
                            crate::text::escape_invisible(name, &[])
                        ),
                    )
                })
            })
            .collect()
    }

    /// A checker knowing every registered kind.
    pub fn checker(&self) -> Checker {
        self.kinds()
            .into_values()
            .fold(Checker::new(), |c, k| c.with(k as Arc<dyn ObjectSchema>))
    }

    /// The kind that applies `object`, stored under `key`.
    fn kind_of(&self, key: &ObjectKey, object: &Value) -> Option<Arc<dyn ObjectKind>> {
        kind_in(&self.kinds(), key, object)
    }

    /// Makes this node one of a cluster: writes then report each node's acknowledgement.
    pub fn set_replication(&self, replication: Arc<dyn super::store::Replication>) {
        *self
            .inner
            .replication
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(replication);
    }

    /// The cluster this node is one of, if any.
    pub fn replication(&self) -> Option<Arc<dyn super::store::Replication>> {
        self.inner
            .replication
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The names of every registered kind's secret fields: what a store encrypts at rest.
    pub fn secret_field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .kinds()
            .values()
            .flat_map(|k| k.secret_fields().iter().map(|f| (*f).to_owned()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The version this node has applied.
    pub fn applied_version(&self) -> u64 {
        self.inner.applied.load(Ordering::Relaxed)
    }

    /// The configuration now, secrets included: for the node's own use, never to be shown.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.inner.store.load().await
    }

    /// The latest versions, newest first.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.store.history().await
    }

    /// `object` as it may be shown: secrets as the placeholder.
    fn shown(&self, key: &ObjectKey, object: &Value) -> Value {
        let schema = self
            .kind_of(key, object)
            .map(|k| k as Arc<dyn ObjectSchema>);
        redacted(schema.as_ref(), object)
    }

    /// The whole document, secrets shown as the placeholder, with the store's version.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn export(&self) -> Result<(u64, ConfigDocument), StoreError> {
        let snapshot = self.snapshot().await?;
        let mut doc = ConfigDocument::default();
        for (key, stored) in &snapshot.objects {
            doc.push(key, self.shown(key, &stored.value));
        }
        Ok((snapshot.version, doc))
    }

    /// One object, secrets shown as the placeholder, with its version.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<(Value, u64)>, StoreError> {
        let snapshot = self.snapshot().await?;
        Ok(snapshot
            .objects
            .get(key)
            .map(|s| (self.shown(key, &s.value), s.version)))
    }

    /// The objects of `kind` in `section` (`security` and `service` for the sections without
    /// kinds), secrets shown as the placeholder, with their versions; and the store's version.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn list(
        &self,
        section: Section,
        kind: &str,
    ) -> Result<(u64, Vec<(ObjectKey, Value, u64)>), StoreError> {
        let snapshot = self.snapshot().await?;
        let items = snapshot
            .objects
            .iter()
            .filter(|(k, _)| k.section == section && k.kind == kind)
            .map(|(k, s)| (k.clone(), self.shown(k, &s.value), s.version))
            .collect();
        Ok((snapshot.version, items))
    }

    /// Applies what the store holds to the running objects, as a node does when it starts over
    /// a store that has content.
    ///
    /// # Errors
    ///
    /// [`ChangeError::ApplyFailed`] listing what could not be applied; the rest is applied.
    pub async fn load(&self) -> Result<u64, ChangeError> {
        let _one = self.inner.writing.lock().await;
        let snapshot = self.snapshot().await?;
        let mut problems = Vec::new();
        for section in Section::ALL {
            for (key, stored) in snapshot
                .objects
                .iter()
                .filter(|(k, _)| k.section == section)
            {
                match self.kind_of(key, &stored.value) {
                    Some(kind) => {
                        if let Err(e) = kind.apply(&Checked::untyped(stored.value.clone())).await {
                            problems.extend(e.within(&key.to_string()).into_problems());
                        }
                    }
                    None => problems.push(ConfigProblem::new(
                        key.to_string(),
                        "no kind on this node applies it",
                    )),
                }
            }
        }
        *self.applied_objects() = snapshot.values();
        self.inner
            .applied
            .store(snapshot.version, Ordering::Relaxed);
        ConfigError::check(problems).map_err(ChangeError::ApplyFailed)?;
        Ok(snapshot.version)
    }

    /// Imports a document: all of it or nothing.
    ///
    /// Objects the document holds are created or replaced; without `replace`, the others stay.
    /// A secret written as the placeholder keeps its current value, so an export imported back
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// [`ChangeError::Invalid`] listing every problem of the document,
    /// [`ChangeError::ApplyFailed`] when this node could not apply it (what it had applied is put
    /// back), [`ChangeError::Busy`] when another change held the runtime for longer than the
    /// write wait, or the store's error. In every case nothing changed.
    pub async fn import(
        &self,
        doc: &ConfigDocument,
        options: ImportOptions,
        author: &str,
    ) -> Result<ImportOutcome, ChangeError> {
        let _one = self.write_turn().await?;
        let snapshot = self.snapshot().await?;
        let current = snapshot.values();
        let checker = self.checker();
        // Without replace, the document may refer to objects the node has and keeps.
        let kept = (!options.replace).then_some(&current);
        let given = checker
            .check_objects(doc, Some(&current), kept)
            .map_err(ChangeError::Invalid)?;
        let checked = if options.replace {
            given.clone()
        } else {
            // The document's objects first, so that positions in errors are the document's.
            let mut merged = doc.clone();
            for (key, value) in &current {
                if !given.contains_key(key) {
                    merged.push(key, value.clone());
                }
            }
            checker
                .check_typed(&merged, Some(&current))
                .map_err(ChangeError::Invalid)?
        };
        let next = normals(&checked);
        let mut diff = diff(&current, &next);
        // Without replace, the objects the document left out are not its business.
        let given_paths: std::collections::BTreeSet<String> =
            given.keys().map(ToString::to_string).collect();
        diff.unchanged.retain(|path| given_paths.contains(path));
        let warnings = self.service_warnings(given.iter().map(|(k, c)| (k, c.normal())));
        if options.dry_run {
            return Ok(ImportOutcome {
                dry_run: true,
                version: snapshot.version,
                diff,
                warnings,
            });
        }
        let version = self
            .commit(&snapshot, &current, next, Some(&checked), author)
            .await?;
        Ok(ImportOutcome {
            dry_run: false,
            version,
            diff,
            warnings,
        })
    }

    /// Creates, replaces or patches one object, as `mode` says. `if_match`, when given, is the
    /// object's version the write is based on.
    ///
    /// # Errors
    ///
    /// [`ChangeError::Stale`], [`ChangeError::Exists`], [`ChangeError::NotFound`],
    /// [`ChangeError::Invalid`] (every problem of the object, and of objects it refers to),
    /// [`ChangeError::ApplyFailed`], [`ChangeError::Busy`] or the store's. In every case nothing
    /// changed.
    pub async fn put(
        &self,
        key: &ObjectKey,
        object: Value,
        mode: PutMode,
        if_match: Option<u64>,
        author: &str,
    ) -> Result<WriteOutcome, ChangeError> {
        let _one = self.write_turn().await?;
        let snapshot = self.snapshot().await?;
        let existing = snapshot.objects.get(key);
        check_version(key, existing.map(|s| s.version), if_match)?;
        let mut object = match (mode, existing) {
            (PutMode::Create, Some(_)) => return Err(ChangeError::Exists(key.clone())),
            (PutMode::Patch, None) => return Err(ChangeError::NotFound(key.clone())),
            (PutMode::Patch, Some(stored)) => {
                let mut merged = stored.value.clone();
                merge_patch(&mut merged, &object);
                merged
            }
            (_, _) => object,
        };
        let Some(map) = object.as_object_mut() else {
            return Err(ChangeError::Invalid(ConfigError::one(
                key.to_string(),
                "expected an object",
            )));
        };
        match map.get("name") {
            None | Some(Value::Null) => {
                map.insert("name".into(), Value::String(key.name.clone()));
            }
            Some(Value::String(n)) if *n == key.name => {}
            Some(_) => {
                return Err(ChangeError::Invalid(ConfigError::one(
                    format!("{key}.name"),
                    "differs from the name the object is addressed by; to rename, create the new object and delete the old",
                )));
            }
        }
        let current = snapshot.values();
        let mut doc = ConfigDocument::default();
        doc.push(key, object);
        for (k, v) in current.iter().filter(|(k, _)| *k != key) {
            doc.push(k, v.clone());
        }
        let checked = self
            .checker()
            .check_typed(&doc, Some(&current))
            .map_err(ChangeError::Invalid)?;
        let next = normals(&checked);
        let op = match (current.get(key), next.get(key)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(_), _) => Some(Op::Updated),
            (None, _) => Some(Op::Created),
        };
        let version = match self
            .commit(&snapshot, &current, next, Some(&checked), author)
            .await
        {
            Ok(version) => version,
            Err(e) => return Err(self.stale_object(e, key, if_match).await),
        };
        let object_version = match op {
            Some(_) => Some(version),
            None => existing.map(|s| s.version),
        };
        let warnings = match checked.get(key) {
            Some(c) => self.service_warnings([(key, c.normal())]),
            None => Vec::new(),
        };
        Ok(WriteOutcome {
            version,
            key: key.clone(),
            op,
            object_version,
            warnings,
        })
    }

    /// Deletes one object. `if_match`, when given, is the object's version the delete is based
    /// on.
    ///
    /// # Errors
    ///
    /// [`ChangeError::NotFound`], [`ChangeError::Stale`], [`ChangeError::Referenced`] when other
    /// objects name it, [`ChangeError::ApplyFailed`], [`ChangeError::Busy`] or the store's. In
    /// every case nothing changed.
    pub async fn delete(
        &self,
        key: &ObjectKey,
        if_match: Option<u64>,
        author: &str,
    ) -> Result<WriteOutcome, ChangeError> {
        let _one = self.write_turn().await?;
        let snapshot = self.snapshot().await?;
        let Some(existing) = snapshot.objects.get(key) else {
            return Err(ChangeError::NotFound(key.clone()));
        };
        check_version(key, Some(existing.version), if_match)?;
        let checker = self.checker();
        let by: Vec<String> = snapshot
            .objects
            .iter()
            .filter(|(k, _)| *k != key)
            .filter(|(k, s)| {
                checker
                    .schema_of(k, &s.value)
                    .is_some_and(|schema| schema.references(&s.value).iter().any(|r| r.to == *key))
            })
            .map(|(k, _)| k.to_string())
            .collect();
        if !by.is_empty() {
            return Err(ChangeError::Referenced {
                key: key.clone(),
                by,
            });
        }
        let current = snapshot.values();
        let mut next = current.clone();
        next.remove(key);
        let version = match self.commit(&snapshot, &current, next, None, author).await {
            Ok(version) => version,
            Err(e) => return Err(self.stale_object(e, key, if_match).await),
        };
        Ok(WriteOutcome {
            version,
            key: key.clone(),
            op: Some(Op::Deleted),
            object_version: None,
            warnings: Vec::new(),
        })
    }

    /// Tests a connection against its remote system.
    ///
    /// # Errors
    ///
    /// [`ChangeError::NotFound`] when there is no such object; the ping's own failure is the
    /// inner `Err`.
    pub async fn ping(&self, key: &ObjectKey) -> Result<Result<String, String>, ChangeError> {
        let snapshot = self.snapshot().await?;
        let Some(stored) = snapshot.objects.get(key) else {
            return Err(ChangeError::NotFound(key.clone()));
        };
        let Some(kind) = self.kind_of(key, &stored.value) else {
            return Err(ChangeError::NotFound(key.clone()));
        };
        Ok(kind.ping(&key.name).await)
    }

    /// Runs the object `key` names now (a scheduled job), through its kind.
    ///
    /// # Errors
    ///
    /// [`ChangeError::NotFound`] when there is no such object; the run's own refusal is the
    /// inner `Err`.
    pub async fn run(&self, key: &ObjectKey) -> Result<Result<String, String>, ChangeError> {
        let snapshot = self.snapshot().await?;
        let Some(stored) = snapshot.objects.get(key) else {
            return Err(ChangeError::NotFound(key.clone()));
        };
        let Some(kind) = self.kind_of(key, &stored.value) else {
            return Err(ChangeError::NotFound(key.clone()));
        };
        Ok(kind.run(&key.name).await)
    }

    /// Applies the change from `current` to `next` and commits it. Must be called holding the
    /// write lock.
    async fn commit(
        &self,
        snapshot: &Snapshot,
        current: &Objects,
        next: Objects,
        checked: Option<&BTreeMap<ObjectKey, Checked>>,
        author: &str,
    ) -> Result<u64, ChangeError> {
        // A node of a cluster may be behind the store it writes to: first apply what others
        // changed, so this change is applied on top of the configuration it is based on.
        if let Err(e) = self.catch_up(snapshot).await {
            tracing::error!(error = %e, "could not apply every change made by other nodes");
        }
        let changes = ordered_changes(current, &next);
        if changes.is_empty() {
            return Ok(snapshot.version);
        }
        let kinds = self.kinds();
        // Each change with the kind that takes it in a batch: the kind that applies the new
        // object, or removes the old one. A security definition changing type has none: it
        // leaves its old kind and joins the new one on its own.
        let plan: Vec<Planned<'_>> = changes
            .iter()
            .map(|(key, value)| {
                let old = current.get(key).cloned();
                let old_kind = old.as_ref().and_then(|o| kind_in(&kinds, key, o));
                let batch = match value {
                    Some(v) => kind_in(&kinds, key, v)
                        .filter(|k| old_kind.as_ref().is_none_or(|o| o.kind() == k.kind())),
                    None => old_kind.clone(),
                };
                Planned {
                    key,
                    value: value.as_ref(),
                    old,
                    old_kind,
                    batch,
                }
            })
            .collect();
        let mut done: Vec<Applied> = Vec::new();
        let mut at = 0;
        while at < plan.len() {
            let Some(kind) = plan[at].batch.clone() else {
                match self.apply_one(&kinds, &plan[at], checked).await {
                    Ok(step) => done.push(step),
                    Err(e) => {
                        self.undo(done).await;
                        return Err(ChangeError::ApplyFailed(
                            e.within(&plan[at].key.to_string()),
                        ));
                    }
                }
                at += 1;
                continue;
            };
            // The run of changes the same kind takes: one batch, so that a kind sharing one
            // structure among its objects builds it once per change, not once per object.
            let end = plan[at..]
                .iter()
                .position(|p| !p.batch.as_ref().is_some_and(|k| Arc::ptr_eq(k, &kind)))
                .map_or(plan.len(), |n| at + n);
            let batch = &plan[at..end];
            let objects: Vec<Option<Checked>> = batch
                .iter()
                .map(|p| p.value.map(|v| checked_object(checked, p.key, v)))
                .collect();
            let steps: Vec<Step<&Checked>> = batch
                .iter()
                .zip(&objects)
                .map(|(p, o)| match o {
                    Some(o) => Step::Put(o),
                    None => Step::Remove(p.key.name.clone()),
                })
                .collect();
            let failure = kind.apply_all(&steps).await.err();
            let applied = failure
                .as_ref()
                .map_or(batch.len(), |e| e.applied().min(batch.len()));
            done.extend(batch[..applied].iter().map(|p| Applied {
                key: p.key.clone(),
                old: p.old.clone(),
                old_kind: p.old_kind.clone(),
                new_kind: p.value.map(|_| Arc::clone(&kind)),
            }));
            if let Some(e) = failure {
                let key = batch[e.failed().min(batch.len() - 1)].key.to_string();
                self.undo(done).await;
                return Err(ChangeError::ApplyFailed(e.into_error().within(&key)));
            }
            at = end;
        }
        let commit = Commit {
            base: snapshot.version,
            author: author.to_owned(),
            changes: changes.clone(),
        };
        match self.inner.store.commit(commit).await {
            Ok(version) => {
                *self.applied_objects() = next;
                self.inner.applied.store(version, Ordering::Relaxed);
                let what: Vec<String> = changes
                    .iter()
                    .map(|(k, v)| {
                        let op = match (v, current.contains_key(k)) {
                            (None, _) => Op::Deleted,
                            (Some(_), true) => Op::Updated,
                            (Some(_), false) => Op::Created,
                        };
                        format!("{op} {k}")
                    })
                    .collect();
                tracing::info!(version, author = ?author, changes = ?what, "configuration changed");
                Ok(version)
            }
            Err(e) => {
                self.undo(done).await;
                Err(ChangeError::Store(e))
            }
        }
    }

    /// A write with `If-Match` that lost a race in the store (another node committed first)
    /// is, to its caller, a write based on a stale version of the object: 412, as on one node.
    async fn stale_object(
        &self,
        e: ChangeError,
        key: &ObjectKey,
        if_match: Option<u64>,
    ) -> ChangeError {
        match (e, if_match) {
            (ChangeError::Store(StoreError::Stale { .. }), Some(_)) => {
                let current = match self.snapshot().await {
                    Ok(s) => s.objects.get(key).map(|o| o.version),
                    Err(e) => return ChangeError::Store(e),
                };
                ChangeError::Stale {
                    key: key.clone(),
                    current,
                }
            }
            (e, _) => e,
        }
    }

    fn applied_objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.inner
            .applied_objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies what the store holds beyond what this node applied: the changes other nodes of a
    /// cluster made. Returns the version now applied and how many objects changed.
    ///
    /// # Errors
    ///
    /// [`ChangeError::ApplyFailed`] listing the objects this node could not apply; the others
    /// are applied, and the version counts as applied. Those that failed are tried again by the
    /// next catch-up. Or the store's error.
    pub async fn sync(&self) -> Result<(u64, usize), ChangeError> {
        let _one = self.inner.writing.lock().await;
        let snapshot = self.snapshot().await?;
        let changed = self
            .catch_up(&snapshot)
            .await
            .map_err(ChangeError::ApplyFailed)?;
        Ok((self.applied_version(), changed))
    }

    /// Applies the difference between what this node applied and `snapshot`, when the snapshot
    /// is newer. Must be called holding the write lock.
    async fn catch_up(&self, snapshot: &Snapshot) -> Result<usize, ConfigError> {
        let applied = self.applied_version();
        let current = self.applied_objects().clone();
        let next = snapshot.values();
        if snapshot.version <= applied && current == next {
            return Ok(0);
        }
        let changes = ordered_changes(&current, &next);
        let mut now = current.clone();
        let mut problems = Vec::new();
        for (key, value) in &changes {
            let old_kind = current.get(key).and_then(|o| self.kind_of(key, o));
            let result = match value {
                Some(v) => match self.kind_of(key, v) {
                    Some(kind) => {
                        // A security definition changing type leaves its old kind first.
                        let left = match old_kind.as_ref().filter(|o| o.kind() != kind.kind()) {
                            Some(o) => o.remove(&key.name).await,
                            None => Ok(()),
                        };
                        match left {
                            Ok(()) => kind.apply(&Checked::untyped(v.clone())).await,
                            Err(e) => Err(e),
                        }
                    }
                    None => Err(ConfigError::one("", "no kind on this node applies it")),
                },
                None => match &old_kind {
                    Some(kind) => kind.remove(&key.name).await,
                    None => Ok(()),
                },
            };
            match result {
                Ok(()) => {
                    match value {
                        Some(v) => now.insert(key.clone(), v.clone()),
                        None => now.remove(key),
                    };
                }
                Err(e) => problems.extend(e.within(&key.to_string()).into_problems()),
            }
        }
        *self.applied_objects() = now;
        self.inner
            .applied
            .store(snapshot.version.max(applied), Ordering::Relaxed);
        if !changes.is_empty() {
            tracing::info!(
                version = snapshot.version,
                changed = changes.len(),
                failed = problems.len(),
                "caught up with the config store"
            );
        }
        ConfigError::check(problems).map(|()| changes.len())
    }

    /// Applies one change on its own: a security definition changing type, or an object no
    /// kind on this node applies. What to put back on success.
    async fn apply_one(
        &self,
        kinds: &KindMap,
        p: &Planned<'_>,
        checked: Option<&BTreeMap<ObjectKey, Checked>>,
    ) -> Result<Applied, ConfigError> {
        let new_kind = match p.value {
            Some(v) => match kind_in(kinds, p.key, v) {
                Some(kind) => {
                    // A security definition changing type leaves its old kind first.
                    if let Some(o) = p.old_kind.as_ref().filter(|o| o.kind() != kind.kind()) {
                        o.remove(&p.key.name).await?;
                    }
                    kind.apply(&checked_object(checked, p.key, v)).await?;
                    Some(kind)
                }
                None => return Err(ConfigError::one("", "no kind on this node applies it")),
            },
            None => {
                if let Some(kind) = &p.old_kind {
                    kind.remove(&p.key.name).await?;
                }
                None
            }
        };
        Ok(Applied {
            key: p.key.clone(),
            old: p.old.clone(),
            old_kind: p.old_kind.clone(),
            new_kind,
        })
    }

    /// Puts back what a failed change applied, newest first: each kind's run of steps as one
    /// batch, as it was applied.
    async fn undo(&self, done: Vec<Applied>) {
        let mut steps = done.into_iter().rev().peekable();
        while let Some(step) = steps.next() {
            let Some(kind) = step.batch_kind() else {
                self.undo_one(step).await;
                continue;
            };
            let mut run = vec![step];
            while let Some(next) =
                steps.next_if(|n| n.batch_kind().is_some_and(|k| Arc::ptr_eq(&k, &kind)))
            {
                run.push(next);
            }
            let objects: Vec<Option<Checked>> = run
                .iter()
                .map(|s| s.old.clone().map(Checked::untyped))
                .collect();
            let back: Vec<Step<&Checked>> = run
                .iter()
                .zip(&objects)
                .map(|(s, o)| match o {
                    Some(o) => Step::Put(o),
                    None => Step::Remove(s.key.name.clone()),
                })
                .collect();
            if let Err(e) = kind.apply_all(&back).await {
                let object = run
                    .get(e.failed())
                    .map(|s| s.key.to_string())
                    .unwrap_or_default();
                let error = e.into_error();
                tracing::error!(%object, error = %error, "could not put objects back after a failed change");
            }
        }
    }

    /// Puts back one step of a failed change.
    async fn undo_one(&self, step: Applied) {
        let result = match (&step.old, &step.old_kind, &step.new_kind) {
            (Some(old), Some(old_kind), new_kind) => {
                let left = match new_kind {
                    Some(new) if new.kind() != old_kind.kind() => new.remove(&step.key.name).await,
                    _ => Ok(()),
                };
                match left {
                    Ok(()) => old_kind.apply(&Checked::untyped(old.clone())).await,
                    Err(e) => Err(e),
                }
            }
            (None, _, Some(new)) => new.remove(&step.key.name).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(object = %step.key, error = %e, "could not put an object back after a failed change");
        }
    }
}

/// The kinds a runtime knows, by section and kind.
type KindMap = BTreeMap<(Section, String), Arc<dyn ObjectKind>>;

/// The kind among `kinds` that applies `object`, stored under `key`.
fn kind_in(kinds: &KindMap, key: &ObjectKey, object: &Value) -> Option<Arc<dyn ObjectKind>> {
    let kind = match key.section {
        Section::Security => object.get("type")?.as_str()?.to_owned(),
        _ => key.kind.clone(),
    };
    kinds.get(&(key.section, kind)).cloned()
}

/// The object to apply for `key`: as the checker decoded it when that is the value applied.
fn checked_object(
    checked: Option<&BTreeMap<ObjectKey, Checked>>,
    key: &ObjectKey,
    value: &Value,
) -> Checked {
    match checked.and_then(|c| c.get(key)) {
        Some(c) if c.normal() == value => c.clone(),
        _ => Checked::untyped(value.clone()),
    }
}

/// One change of a commit, with what it replaces and the kind that takes it in a batch.
struct Planned<'a> {
    key: &'a ObjectKey,
    value: Option<&'a Value>,
    old: Option<Value>,
    old_kind: Option<Arc<dyn ObjectKind>>,
    batch: Option<Arc<dyn ObjectKind>>,
}

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The normal forms of checked objects.
fn normals(checked: &BTreeMap<ObjectKey, Checked>) -> Objects {
    checked
        .iter()
        .map(|(k, c)| (k.clone(), c.normal().clone()))
        .collect()
}

/// The changes from `current` to `next`, in the order to apply them: what is referred to is
/// created first and deleted last.
fn ordered_changes(current: &Objects, next: &Objects) -> Vec<(ObjectKey, Option<Value>)> {
    let mut changes: Vec<(ObjectKey, Option<Value>)> = Vec::new();
    for (key, value) in next {
        if current.get(key) != Some(value) {
            changes.push((key.clone(), Some(value.clone())));
        }
    }
    for key in current.keys() {
        if !next.contains_key(key) {
            changes.push((key.clone(), None));
        }
    }
    let rank = |s: Section| Section::ALL.iter().position(|x| *x == s).unwrap_or(0);
    changes.sort_by_key(|(k, v)| match v {
        Some(_) => (0, rank(k.section)),
        None => (1, Section::ALL.len() - rank(k.section)),
    });
    changes
}

/// One object a change applied, with what to put back.
struct Applied {
    key: ObjectKey,
    old: Option<Value>,
    old_kind: Option<Arc<dyn ObjectKind>>,
    new_kind: Option<Arc<dyn ObjectKind>>,
}

impl Applied {
    /// The kind that puts this step back in a batch: the old object's kind when the step did
    /// not move it to another, or the new object's kind when it was created. `None` for a step
    /// put back on its own.
    fn batch_kind(&self) -> Option<Arc<dyn ObjectKind>> {
        match (&self.old, &self.old_kind, &self.new_kind) {
            (Some(_), Some(old), Some(new)) if Arc::ptr_eq(old, new) => Some(Arc::clone(old)),
            (Some(_), Some(old), None) => Some(Arc::clone(old)),
            (None, _, Some(new)) => Some(Arc::clone(new)),
            _ => None,
        }
    }
}

/// `Ok` when `if_match` is absent or names the object's version.
fn check_version(
    key: &ObjectKey,
    current: Option<u64>,
    if_match: Option<u64>,
) -> Result<(), ChangeError> {
    match if_match {
        Some(wanted) if current != Some(wanted) => Err(ChangeError::Stale {
            key: key.clone(),
            current,
        }),
        _ => Ok(()),
    }
}

/// The diff from `current` to `next`.
fn diff(current: &Objects, next: &Objects) -> Diff {
    let mut d = Diff::default();
    for (key, value) in next {
        match current.get(key) {
            None => d.created.push(key.to_string()),
            Some(v) if v == value => d.unchanged.push(key.to_string()),
            Some(_) => d.updated.push(key.to_string()),
        }
    }
    for key in current.keys() {
        if !next.contains_key(key) {
            d.deleted.push(key.to_string());
        }
    }
    d
}

/// Applies a JSON merge patch (RFC 7396): objects merge key by key, `null` removes, anything
/// else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
