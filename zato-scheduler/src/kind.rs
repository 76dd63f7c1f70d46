//! The config document's kind `channels.scheduler`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::ChannelAdapter;
use zato_core::config::{ConfigError, ObjectKind, ObjectSchema, Section, normalize_as};

use crate::adapter::Scheduler;
use crate::job::JobConfig;

/// `channels.scheduler`: jobs, applied to one scheduler (or only checked, without one).
#[derive(Debug, Clone, Default)]
pub struct SchedulerKind {
    scheduler: Option<Scheduler>,
}

impl SchedulerKind {
    /// The kind applying to `scheduler`.
    pub fn new(scheduler: Scheduler) -> Self {
        SchedulerKind {
            scheduler: Some(scheduler),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        SchedulerKind { scheduler: None }
    }

    fn scheduler(&self) -> Result<&Scheduler, ConfigError> {
        self.scheduler
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "this node has no scheduler to apply it to"))
    }
}

impl ObjectSchema for SchedulerKind {
    fn section(&self) -> Section {
        Section::Channels
    }

    fn kind(&self) -> &str {
        "scheduler"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<JobConfig>(object, &[])?;
        let job: JobConfig = serde_json::from_value(normal.clone())
            .map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(job.problems())?;
        Ok(normal)
    }
}

#[async_trait]
impl ObjectKind for SchedulerKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        ChannelAdapter::upsert_channel(self.scheduler()?, object.clone()).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        ChannelAdapter::remove_channel(self.scheduler()?, name).await
    }

    /// Runs the job now, active or not, on this node.
    async fn run(&self, name: &str) -> Result<String, String> {
        let scheduler = self.scheduler().map_err(|e| e.to_string())?;
        let cid = scheduler.run_now(name).map_err(|e| e.to_string())?;
        Ok(format!("job `{name}` started, cid {cid}"))
    }
}

impl Scheduler {
    /// The config document's kind `channels.scheduler` on this scheduler. Register it with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        Arc::new(SchedulerKind::new(self.clone()))
    }
}
