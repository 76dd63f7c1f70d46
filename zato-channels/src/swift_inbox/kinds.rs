//! The config document's kind `channels.swift_inbox`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::ChannelAdapter;
use zato_core::config::{
    ConfigError, ObjectKey, ObjectKind, ObjectSchema, Reference, Section, normalize_as,
};

use super::adapter::SwiftInboxAdapter;
use super::config::SwiftInboxConfig;

/// `channels.swift_inbox`: Swift inbox channels, applied to one adapter (or only checked,
/// without one). Each names its Swift connection in `outgoing.swift`.
#[derive(Debug, Clone, Default)]
pub struct SwiftInboxKind {
    adapter: Option<SwiftInboxAdapter>,
}

impl SwiftInboxKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: SwiftInboxAdapter) -> Self {
        SwiftInboxKind {
            adapter: Some(adapter),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        SwiftInboxKind { adapter: None }
    }

    fn adapter(&self) -> Result<&SwiftInboxAdapter, ConfigError> {
        self.adapter.as_ref().ok_or_else(|| {
            ConfigError::one("", "this node has no Swift inbox adapter to apply it to")
        })
    }
}

impl ObjectSchema for SwiftInboxKind {
    fn section(&self) -> Section {
        Section::Channels
    }

    fn kind(&self) -> &str {
        "swift_inbox"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<SwiftInboxConfig>(object, &[])?;
        let channel: SwiftInboxConfig = serde_json::from_value(normal.clone())
            .map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(channel.problems())?;
        Ok(normal)
    }

    fn references(&self, object: &Value) -> Vec<Reference> {
        object
            .get("connection")
            .and_then(Value::as_str)
            .map(|name| Reference {
                field: "connection".to_owned(),
                to: ObjectKey::new(Section::Outgoing, "swift", name),
            })
            .into_iter()
            .collect()
    }
}

#[async_trait]
impl ObjectKind for SwiftInboxKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        ChannelAdapter::upsert_channel(self.adapter()?, object.clone()).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        ChannelAdapter::remove_channel(self.adapter()?, name).await
    }
}

impl SwiftInboxAdapter {
    /// The config document's kind `channels.swift_inbox` on this adapter. Register it with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime), beside `outgoing.swift`.
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        Arc::new(SwiftInboxKind::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_channel_names_its_connection_and_gets_the_defaults() {
        let kind = SwiftInboxKind::schema();
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
