//! The config document's kind `channels.swift_inbox`, and the Swift inbox's plug-in.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::Platform;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};

use super::adapter::SwiftInboxAdapter;
use super::config::SwiftInboxConfig;

/// `channels.swift_inbox`: Swift inbox channels, applied to one adapter. Each names its Swift
/// connection in `outgoing.swift`.
#[derive(Debug, Clone)]
pub struct SwiftInboxKind {
    adapter: SwiftInboxAdapter,
}

impl SwiftInboxKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: SwiftInboxAdapter) -> Self {
        SwiftInboxKind { adapter }
    }
}

#[async_trait]
impl Kind for SwiftInboxKind {
    type Config = SwiftInboxConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "swift_inbox";

    fn describe() -> Description<SwiftInboxConfig> {
        let example = SwiftInboxConfig {
            name: "invoices.inbox".into(),
            connection: "Invoice Dispatcher".into(),
            container: "invoices-in".into(),
            service: "invoice.dispatcher".into(),
            error_container: "invoices-error".into(),
            ..SwiftInboxConfig::default()
        };
        Description::new(
            "a Swift container polled for objects, each handed to a service once",
            example,
        )
    }

    fn check(channel: &SwiftInboxConfig) -> Vec<ConfigProblem> {
        channel.problems()
    }

    fn references(channel: &SwiftInboxConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "swift", channel.connection.as_str()),
        }]
    }

    async fn apply(&self, channel: Arc<SwiftInboxConfig>) -> Result<(), ConfigError> {
        self.adapter.upsert(SwiftInboxConfig::clone(&channel)).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The Swift inbox's plug-in: `channels.swift_inbox`, on an adapter attached to the platform.
/// Its channels read through the connections of `outgoing.swift`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwiftInboxPlugin;

/// The Swift inbox's plug-in, for `zato::Node`.
pub fn plugin() -> SwiftInboxPlugin {
    SwiftInboxPlugin
}

#[async_trait]
impl Plugin for SwiftInboxPlugin {
    fn name(&self) -> &str {
        "swift_inbox"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![kind::schema::<SwiftInboxKind>()]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = SwiftInboxAdapter::attach(platform)?;
        Ok(vec![adapter.config_kind()])
    }
}

impl SwiftInboxAdapter {
    /// The config document's kind `channels.swift_inbox` on this adapter. Register it with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime), beside `outgoing.swift`.
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        kind::live(SwiftInboxKind::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_channel_names_its_connection_and_gets_the_defaults() {
        let kind = kind::schema::<SwiftInboxKind>();
        let object = json!({"name": "in", "connection": "swift", "container": "invoices-in",
            "service": "s", "error_container": "invoices-error"});
        let normal = kind.normalize(&object).unwrap();
        assert_eq!(normal["poll_interval"], 5.0);
        assert_eq!(normal["claims"], "auto");
        assert_eq!(
            kind.references(&normal)[0].to.to_string(),
            "outgoing.swift.swift"
        );
        let typo = json!({"name": "in", "connection": "swift", "container": "invoices-in",
            "service": "s", "error_container": "e", "poll_intervall": 1});
        let e = kind.normalize(&typo).unwrap_err();
        assert!(e.to_string().contains("poll_intervall"), "{e}");
        let same = json!({"name": "in", "connection": "swift", "container": "x",
            "service": "s", "error_container": "x"});
        let e = kind.normalize(&same).unwrap_err();
        assert!(e.to_string().contains("error_container"), "{e}");
    }
}
