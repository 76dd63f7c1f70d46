//! Watching the file a node's configuration was seeded from, and importing each edit.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::document::{ConfigDocument, Format};
use super::error::ConfigError;
use super::runtime::{ConfigRuntime, ImportOptions};

/// How long edits are let settle before the file is read: an editor writes a file in several
/// steps.
const SETTLE: Duration = Duration::from_millis(200);

/// Reads a watched file's text into the document to import.
pub type Prepare = dyn Fn(&str, Format) -> Result<ConfigDocument, ConfigError> + Send + Sync;

/// A file being watched; watching stops when it is dropped.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
}

impl fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileWatch")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConfigRuntime {
    /// Watches `path` and imports it, whole (`replace`), each time it is written: the embedded
    /// store's way of taking edits made to its seed file. `prepare` turns the file's text into
    /// the document to import (parse it, fill in what the environment supplies); a document that
    /// does not read or is refused is logged with its problems and changes nothing. Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the file's format cannot be told from its name or it cannot be
    /// watched.
    pub fn watch_file(
        &self,
        path: impl AsRef<Path>,
        prepare: Arc<Prepare>,
    ) -> Result<FileWatch, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let format = Format::from_path(&path)?;
        let cannot = |e: notify::Error| {
            ConfigError::one("", format!("cannot watch {}: {e}", path.display()))
        };
        // Editors often replace a file by renaming another over it: watch its folder, and keep
        // the events naming the file.
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map(|n| n.to_os_string());
        // One pending notice is enough: the file is read whole when the task gets to it.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
                if ours && (event.kind.is_modify() || event.kind.is_create()) {
                    let _ = tx.try_send(());
                }
            })
            .map_err(cannot)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(cannot)?;
        let runtime = self.clone();
        let watched = path.clone();
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                tokio::time::sleep(SETTLE).await;
                // Notices that came while settling are about this same read.
                while rx.try_recv().is_ok() {}
                runtime.reimport(&watched, format, prepare.as_ref()).await;
            }
        });
        tracing::info!(file = %path.display(), "watching the configuration file");
        Ok(FileWatch {
            _watcher: watcher,
            task,
            path,
        })
    }

    async fn reimport(&self, path: &Path, format: Format, prepare: &Prepare) {
        let shown = path.display();
        let text = match tokio::fs::read_to_string(path).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(file = %shown, error = %e, "configuration file not read");
                return;
            }
        };
        let doc = match prepare(&text, format) {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(file = %shown, error = %e, "configuration file not applied");
                return;
            }
        };
        let options = ImportOptions {
            dry_run: false,
            replace: true,
        };
        match self.import(&doc, options, &format!("file {shown}")).await {
            Ok(outcome) if outcome.diff.is_empty() => {
                tracing::debug!(file = %shown, "configuration file saved with no change");
            }
            Ok(outcome) => tracing::info!(
                file = %shown,
                version = outcome.version,
                created = outcome.diff.created.len(),
                updated = outcome.diff.updated.len(),
                deleted = outcome.diff.deleted.len(),
                "configuration file applied"
            ),
            Err(e) => tracing::warn!(file = %shown, error = %e, "configuration file not applied"),
        }
    }
}
