//! `pubsub.topics`, `pubsub.subscriptions` and `pubsub.permissions` as kinds of the config
//! document, and the plug-in that attaches them with their store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use zato_core::Platform;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self as seam, AttachError, Description, Kind, Plugin};

use crate::config::{Delivery, PermissionConfig, SubscriptionConfig, TopicConfig};
use crate::pubsub::PubSub;
use crate::store::{PgStore, SqliteStore, Store};

/// Where a node keeps its topics, as the node tells the plug-in before it attaches: put it in
/// the platform's outgoing connections under [`StoreLocation::KEY`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A SQLite file: a single node.
    Sqlite(PathBuf),
    /// A PostgreSQL database's schema: the cluster's.
    Postgres {
        /// The database's URL.
        url: zato_core::Secret<String>,
        /// The schema of the tables.
        schema: String,
    },
}

impl StoreLocation {
    /// The name it is registered under among the platform's outgoing connections.
    pub const KEY: &'static str = "zato.pubsub.store";

    /// The SQLite file `pubsub.sqlite` in the node's data directory `dir`.
    pub fn in_data_dir(dir: impl Into<PathBuf>) -> Self {
        StoreLocation::Sqlite(dir.into().join("pubsub.sqlite"))
    }

    /// Opens the store.
    ///
    /// # Errors
    ///
    /// A [`StoreError`](crate::StoreError) when it cannot be opened.
    pub async fn open(&self) -> Result<Arc<dyn Store>, crate::StoreError> {
        Ok(match self {
            StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
            StoreLocation::Postgres { url, schema } => {
                Arc::new(PgStore::connect(url.expose(), schema, 8).await?)
            }
        })
    }
}

fn applied(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::one("", format!("the pub/sub store failed: {e}"))
}

/// `pubsub.topics`.
#[derive(Debug, Clone)]
pub struct TopicKind(pub PubSub);

#[async_trait]
impl Kind for TopicKind {
    type Config = TopicConfig;
    const SECTION: Section = Section::PubSub;
    const NAME: &'static str = "topics";

    fn describe() -> Description<TopicConfig> {
        Description::new(
            "a topic: publications kept until every subscription took them, bounded in age, depth and message size",
            TopicConfig::new("invoices.stored"),
        )
    }

    fn check(config: &TopicConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<TopicConfig>) -> Result<(), ConfigError> {
        self.0.put_topic(TopicConfig::clone(&config));
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.0.remove_topic(name);
        Ok(())
    }
}

/// `pubsub.subscriptions`.
#[derive(Debug, Clone)]
pub struct SubscriptionKind(pub PubSub);

#[async_trait]
impl Kind for SubscriptionKind {
    type Config = SubscriptionConfig;
    const SECTION: Section = Section::PubSub;
    const NAME: &'static str = "subscriptions";

    fn describe() -> Description<SubscriptionConfig> {
        let mut example = SubscriptionConfig::new("invoice.audit", "invoices.*", Delivery::Service);
        example.service = Some("invoice.audit".into());
        Description::new(
            "a subscription to a topic or pattern, delivered in order to a service, pushed through an outgoing.http connection, or pulled",
            example,
        )
    }

    fn check(config: &SubscriptionConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn references(config: &SubscriptionConfig) -> Vec<Reference> {
        let mut refs = Vec::new();
        if config.delivery == Delivery::Push
            && let Some(outgoing) = &config.outgoing
        {
            refs.push(Reference {
                field: "outgoing".into(),
                to: ObjectKey::new(Section::Outgoing, "http", outgoing.as_str()),
            });
        }
        if let Some(topic) = &config.dead_letter_topic {
            refs.push(Reference {
                field: "dead_letter_topic".into(),
                to: ObjectKey::new(Section::PubSub, "topics", topic.as_str()),
            });
        }
        refs
    }

    async fn apply(&self, config: Arc<SubscriptionConfig>) -> Result<(), ConfigError> {
        self.0
            .put_subscription(SubscriptionConfig::clone(&config))
            .await
            .map_err(applied)
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.0.remove_subscription(name).await.map_err(applied)
    }
}

/// `pubsub.permissions`.
#[derive(Debug, Clone)]
pub struct PermissionKind(pub PubSub);

#[async_trait]
impl Kind for PermissionKind {
    type Config = PermissionConfig;
    const SECTION: Section = Section::PubSub;
    const NAME: &'static str = "permissions";

    fn describe() -> Description<PermissionConfig> {
        Description::new(
            "what callers under a security definition may publish to and pull from over the REST API",
            PermissionConfig {
                name: "crm".into(),
                security: "crm".into(),
                publish: vec!["invoices.*".into()],
                subscribe: vec!["crm.**".into()],
            },
        )
    }

    fn check(config: &PermissionConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn references(config: &PermissionConfig) -> Vec<Reference> {
        vec![Reference {
            field: "security".into(),
            to: ObjectKey::new(Section::Security, "security", config.security.as_str()),
        }]
    }

    async fn apply(&self, config: Arc<PermissionConfig>) -> Result<(), ConfigError> {
        self.0.put_permission(PermissionConfig::clone(&config));
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.0.remove_permission(name);
        Ok(())
    }
}

/// The pub/sub plug-in: its three kinds, the services of its REST API, and its store.
#[derive(Debug, Default)]
pub struct PubSubPlugin {
    store: Mutex<Option<Arc<dyn Store>>>,
}

/// The plug-in, its store where the node says ([`StoreLocation`]), by default
/// `zato-data/pubsub.sqlite`.
pub fn plugin() -> PubSubPlugin {
    PubSubPlugin::default()
}

impl PubSubPlugin {
    /// The plug-in over `store`, whatever the node says.
    pub fn with_store(store: Arc<dyn Store>) -> Self {
        PubSubPlugin {
            store: Mutex::new(Some(store)),
        }
    }
}

#[async_trait]
impl Plugin for PubSubPlugin {
    fn name(&self) -> &str {
        "pubsub"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![
            seam::schema::<TopicKind>(),
            seam::schema::<SubscriptionKind>(),
            seam::schema::<PermissionKind>(),
        ]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let given = self.store.lock().ok().and_then(|s| s.clone());
        let store = match given {
            Some(store) => store,
            None => {
                let location = platform
                    .outgoing()
                    .get::<StoreLocation>(StoreLocation::KEY)
                    .map(|l| StoreLocation::clone(&l))
                    .unwrap_or_else(|| StoreLocation::in_data_dir(PathBuf::from("zato-data")));
                location.open().await?
            }
        };
        let pubsub = PubSub::start(platform, store).await?;
        crate::rest::deploy_into(platform)?;
        crate::metrics::register(platform, &pubsub);
        Ok(vec![
            seam::live(TopicKind(pubsub.clone())),
            seam::live(SubscriptionKind(pubsub.clone())),
            seam::live(PermissionKind(pubsub)),
        ])
    }
}
