//! [`ChannelTasks`]: the bookkeeping of an adapter that runs one task per channel (a poller, a
//! timer): its channels' configurations and counters, each channel's task, and the adapter's
//! serving state, changed one change at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::channel::ChannelError;

/// One channel: its configuration, its counters (kept across changes), and its task when it
/// runs.
struct Task<C, S> {
    config: Arc<C>,
    state: Arc<S>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

/// Starts a channel's task: given its configuration, its counters, and a receiver that turns
/// `true` when the task must stop.
pub type Launch<'a, C, S> =
    &'a (dyn Fn(Arc<C>, Arc<S>, watch::Receiver<bool>) -> JoinHandle<()> + Send + Sync);

/// The channels of an adapter that runs one task per channel, of configuration `C` and counters
/// `S`.
///
/// - A change replaces a channel whole: its old task is told to stop and awaited (up to the
///   limit given, then aborted), then the new one starts if the adapter serves and the channel
///   is active. Counters survive changes.
/// - Changes, [`start`](Self::start) and [`stop`](Self::stop) take turns.
/// - A stopped adapter does not start again.
pub struct ChannelTasks<C, S> {
    adapter: String,
    channels: Mutex<BTreeMap<String, Task<C, S>>>,
    changing: tokio::sync::Mutex<()>,
    serving: AtomicBool,
    stopped: AtomicBool,
}

impl<C, S> fmt::Debug for ChannelTasks<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels: Vec<String> = self
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("ChannelTasks")
            .field("adapter", &self.adapter)
            .field("channels", &channels)
            .field("serving", &self.serving.load(Ordering::SeqCst))
            .finish()
    }
}

impl<C, S> ChannelTasks<C, S>
where
    C: Send + Sync + 'static,
    S: Default + Send + Sync + 'static,
{
    /// No channel yet, not serving, for the adapter named `adapter`.
    pub fn new(adapter: impl Into<String>) -> Self {
        ChannelTasks {
            adapter: adapter.into(),
            channels: Mutex::new(BTreeMap::new()),
            changing: tokio::sync::Mutex::new(()),
            serving: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Task<C, S>>> {
        // Every write is one insert, remove or field swap: a panic leaves the map whole.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The adapter's name.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// The channels' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The configuration and counters of the channel `name`.
    pub fn get(&self, name: &str) -> Option<(Arc<C>, Arc<S>)> {
        self.lock()
            .get(name)
            .map(|t| (t.config.clone(), t.state.clone()))
    }

    /// `f` of each channel, by name.
    pub fn map<T>(&self, mut f: impl FnMut(&str, &Arc<C>, &Arc<S>) -> T) -> Vec<T> {
        self.lock()
            .iter()
            .map(|(name, t)| f(name, &t.config, &t.state))
            .collect()
    }

    /// Whether the adapter serves.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    /// Starts the task of `name` unless it runs or the channel is inactive.
    fn launch(&self, name: &str, active: impl Fn(&C) -> bool, launch: Launch<'_, C, S>) {
        let mut map = self.lock();
        let Some(task) = map.get_mut(name) else {
            return;
        };
        if task.running.is_some() || !active(&task.config) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let handle = launch(task.config.clone(), task.state.clone(), stopped);
        task.running = Some((stop, handle));
    }

    /// Tells the task of `name` to stop and waits for it, at most `limit`, then aborts it.
    async fn halt(&self, name: &str, limit: Duration) {
        let running = self.lock().get_mut(name).and_then(|t| t.running.take());
        if let Some((stop, handle)) = running {
            let _ = stop.send(true);
            let abort = handle.abort_handle();
            if tokio::time::timeout(limit, handle).await.is_err() {
                tracing::warn!(adapter = %self.adapter, channel = %name, "channel task did not stop in time: aborted");
                abort.abort();
            }
        }
    }

    /// Creates the channel `name`, or replaces it: its task stops first (waiting at most
    /// `limit`), its counters are kept, and the new task starts when the adapter serves and
    /// `active` says so.
    pub async fn upsert(
        &self,
        name: &str,
        config: C,
        limit: Duration,
        active: impl Fn(&C) -> bool,
        launch: Launch<'_, C, S>,
    ) {
        let _one_at_a_time = self.changing.lock().await;
        self.halt(name, limit).await;
        {
            let mut map = self.lock();
            let state = map.get(name).map(|t| t.state.clone()).unwrap_or_default();
            map.insert(
                name.to_owned(),
                Task {
                    config: Arc::new(config),
                    state,
                    running: None,
                },
            );
        }
        if self.is_serving() {
            self.launch(name, active, launch);
        }
    }

    /// Removes the channel `name` once its task stopped (waiting at most `limit`). Returns
    /// whether there was one.
    pub async fn remove(&self, name: &str, limit: Duration) -> bool {
        let _one_at_a_time = self.changing.lock().await;
        if !self.lock().contains_key(name) {
            return false;
        }
        self.halt(name, limit).await;
        self.lock().remove(name);
        true
    }

    /// Begins serving: starts the task of every active channel.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Stopped`] once stopped, [`ChannelError::AlreadyServing`] when serving.
    pub async fn start(
        &self,
        active: impl Fn(&C) -> bool,
        launch: Launch<'_, C, S>,
    ) -> Result<(), ChannelError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(ChannelError::Stopped(self.adapter.clone()));
        }
        if self.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing(self.adapter.clone()));
        }
        let _one_at_a_time = self.changing.lock().await;
        for name in self.names() {
            self.launch(&name, &active, launch);
        }
        Ok(())
    }

    /// Stops serving for good: every task is told to stop and awaited, each at most `limit`.
    pub async fn stop(&self, limit: Duration) {
        self.stopped.store(true, Ordering::SeqCst);
        let _one_at_a_time = self.changing.lock().await;
        self.serving.store(false, Ordering::SeqCst);
        let names = self.names();
        futures_util::future::join_all(names.iter().map(|n| self.halt(n, limit))).await;
    }
}

/// Runs `handling` (a consumer's work on one message) on the caller's task as far as it goes
/// without waiting, and spawns the rest on `tasks` only when it must wait.
///
/// A trivial service answers and its message is settled within that first step: no task is
/// spawned and no other thread woken, which at tens of thousands of messages a second is most
/// of a consumer's cost. A service that waits (on I/O, a timer, a lock) goes on in a task of
/// its own, as if spawned at once; it is polled again there, so nothing it waits for is missed.
///
/// # Examples
///
/// ```
/// use tokio::task::JoinSet;
/// use zato_core::tasks::run_or_spawn;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut tasks = JoinSet::new();
/// run_or_spawn(&mut tasks, async {});
/// assert!(tasks.is_empty(), "done at once: nothing spawned");
/// run_or_spawn(&mut tasks, async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
/// });
/// assert_eq!(tasks.len(), 1);
/// tasks.join_next().await.unwrap().unwrap();
/// # });
/// ```
pub fn run_or_spawn<F>(tasks: &mut tokio::task::JoinSet<()>, handling: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use futures_util::FutureExt;
    let mut handling = Box::pin(handling);
    if (&mut handling).now_or_never().is_none() {
        tasks.spawn(handling);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[derive(Debug, Default)]
    struct Counter(AtomicU64);

    #[tokio::test]
    async fn tasks_follow_changes_and_keep_their_counters() {
        let tasks: ChannelTasks<bool, Counter> = ChannelTasks::new("test");
        let launch: Launch<'_, bool, Counter> = &|_config, state, mut stop| {
            tokio::spawn(async move {
                state.0.fetch_add(1, Ordering::SeqCst);
                let _ = stop.wait_for(|s| *s).await;
            })
        };
        let limit = Duration::from_secs(5);
        tasks.upsert("a", true, limit, |c| *c, launch).await;
        tasks.upsert("off", false, limit, |c| *c, launch).await;
        tasks.start(|c| *c, launch).await.unwrap();
        assert!(tasks.start(|c| *c, launch).await.is_err());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(tasks.get("a").unwrap().1.0.load(Ordering::SeqCst), 1);
        assert_eq!(tasks.get("off").unwrap().1.0.load(Ordering::SeqCst), 0);
        // Replaced: the old task stops, a new one starts, the counter goes on.
        tasks.upsert("a", true, limit, |c| *c, launch).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(tasks.get("a").unwrap().1.0.load(Ordering::SeqCst), 2);
        assert!(tasks.remove("a", limit).await);
        assert!(!tasks.remove("a", limit).await);
        tasks.stop(limit).await;
        assert!(!tasks.is_serving());
        assert!(matches!(
            tasks.start(|c| *c, launch).await,
            Err(ChannelError::Stopped(_))
        ));
    }
}
