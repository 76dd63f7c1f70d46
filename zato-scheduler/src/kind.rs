//! The config document's kind `channels.scheduler`, and the scheduler's plug-in.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::Platform;
use zato_core::config::{ConfigError, ConfigProblem, ObjectKind, ObjectSchema, Section};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};

use crate::adapter::Scheduler;
use crate::config::JobConfig;

/// `channels.scheduler`: jobs, applied to one scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerKind {
    scheduler: Scheduler,
}

impl SchedulerKind {
    /// The kind applying to `scheduler`.
    pub fn new(scheduler: Scheduler) -> Self {
        SchedulerKind { scheduler }
    }
}

#[async_trait]
impl Kind for SchedulerKind {
    type Config = JobConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "scheduler";

    fn describe() -> Description<JobConfig> {
        let example = JobConfig {
            name: "invoices.hourly".into(),
            service: "invoice.dispatcher".into(),
            hours: 1,
            ..JobConfig::default()
        };
        Description::new(
            "a scheduled job: a service invoked once, on an interval or on a cron expression",
            example,
        )
        .runs()
    }

    fn check(job: &JobConfig) -> Vec<ConfigProblem> {
        job.problems()
    }

    async fn apply(&self, job: Arc<JobConfig>) -> Result<(), ConfigError> {
        self.scheduler.upsert(JobConfig::clone(&job)).await;
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.scheduler.remove(name).await
    }

    /// Runs the job now, active or not, on this node.
    async fn run(&self, name: &str) -> Result<String, String> {
        let cid = self.scheduler.run_now(name).map_err(|e| e.to_string())?;
        Ok(format!("job `{name}` started, cid {cid}"))
    }
}

/// The scheduler's plug-in: `channels.scheduler`, on a scheduler attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedulerPlugin;

/// The scheduler's plug-in, for `zato::Node`.
pub fn plugin() -> SchedulerPlugin {
    SchedulerPlugin
}

#[async_trait]
impl Plugin for SchedulerPlugin {
    fn name(&self) -> &str {
        "scheduler"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![kind::schema::<SchedulerKind>()]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let scheduler = Scheduler::attach(platform)?;
        Ok(vec![scheduler.config_kind()])
    }
}

impl Scheduler {
    /// The config document's kind `channels.scheduler` on this scheduler. Register it with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        kind::live(SchedulerKind::new(self.clone()))
    }
}
