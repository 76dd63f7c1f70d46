//! The local endpoint's storage: in memory, optionally written through to a directory.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::client::Metadata;

/// One stored object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredObject {
    #[serde(skip)]
    pub(crate) data: Bytes,
    pub(crate) content_type: String,
    pub(crate) etag: String,
    pub(crate) metadata: Metadata,
    /// Seconds since the epoch, with microseconds.
    pub(crate) modified: f64,
    /// For a static large object: its segments as `(container, object)`.
    pub(crate) segments: Option<Vec<(String, String)>>,
}

/// One container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Container {
    pub(crate) metadata: Metadata,
    #[serde(skip)]
    pub(crate) objects: BTreeMap<String, StoredObject>,
}

impl Container {
    pub(crate) fn bytes(&self) -> u64 {
        self.objects.values().map(|o| o.data.len() as u64).sum()
    }
}

/// The whole account.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) metadata: Metadata,
    pub(crate) containers: BTreeMap<String, Container>,
    dir: Option<PathBuf>,
}

fn enc(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

fn dec(name: &str) -> String {
    percent_decode_str(name).decode_utf8_lossy().into_owned()
}

const CONTAINER_META: &str = ".container.json";
const ACCOUNT_META: &str = ".account.json";

impl Store {
    /// An empty store, or the one saved in `dir`.
    pub(crate) fn open(dir: Option<PathBuf>) -> io::Result<Self> {
        let mut store = Store {
            dir: dir.clone(),
            ..Store::default()
        };
        let Some(dir) = dir else {
            return Ok(store);
        };
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::create_dir_all(dir.join("meta"))?;
        if let Ok(raw) = std::fs::read(dir.join("meta").join(ACCOUNT_META)) {
            store.metadata = serde_json::from_slice(&raw).unwrap_or_default();
        }
        for entry in std::fs::read_dir(dir.join("meta"))? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let cname = dec(&entry.file_name().to_string_lossy());
            let mut container: Container = std::fs::read(entry.path().join(CONTAINER_META))
                .ok()
                .and_then(|raw| serde_json::from_slice(&raw).ok())
                .unwrap_or_default();
            for obj in std::fs::read_dir(entry.path())? {
                let obj = obj?;
                let fname = obj.file_name().to_string_lossy().into_owned();
                let Some(oname) = fname
                    .strip_suffix(".json")
                    .filter(|_| fname != CONTAINER_META)
                else {
                    continue;
                };
                let Ok(raw) = std::fs::read(obj.path()) else {
                    continue;
                };
                let Ok(mut stored) = serde_json::from_slice::<StoredObject>(&raw) else {
                    continue;
                };
                let data_path = dir.join("data").join(enc(&cname)).join(oname);
                stored.data = Bytes::from(std::fs::read(data_path).unwrap_or_default());
                container.objects.insert(dec(oname), stored);
            }
            store.containers.insert(cname, container);
        }
        Ok(store)
    }

    fn paths(dir: &Path, container: &str, object: &str) -> (PathBuf, PathBuf) {
        (
            dir.join("data").join(enc(container)).join(enc(object)),
            dir.join("meta")
                .join(enc(container))
                .join(format!("{}.json", enc(object))),
        )
    }

    /// Writes the account metadata through to the directory.
    pub(crate) fn save_account(&self) -> io::Result<()> {
        if let Some(dir) = &self.dir {
            std::fs::write(
                dir.join("meta").join(ACCOUNT_META),
                serde_json::to_vec(&self.metadata)?,
            )?;
        }
        Ok(())
    }

    /// Writes a container's metadata through to the directory.
    pub(crate) fn save_container(&self, name: &str) -> io::Result<()> {
        let (Some(dir), Some(c)) = (&self.dir, self.containers.get(name)) else {
            return Ok(());
        };
        let meta = dir.join("meta").join(enc(name));
        std::fs::create_dir_all(&meta)?;
        std::fs::create_dir_all(dir.join("data").join(enc(name)))?;
        std::fs::write(meta.join(CONTAINER_META), serde_json::to_vec(c)?)
    }

    /// Removes a container's directories.
    pub(crate) fn remove_container(&self, name: &str) -> io::Result<()> {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir.join("meta").join(enc(name)));
            let _ = std::fs::remove_dir_all(dir.join("data").join(enc(name)));
        }
        Ok(())
    }

    /// Writes an object through to the directory.
    pub(crate) fn save_object(&self, container: &str, object: &str) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let Some(o) = self
            .containers
            .get(container)
            .and_then(|c| c.objects.get(object))
        else {
            return Ok(());
        };
        let (data, meta) = Self::paths(dir, container, object);
        std::fs::write(data, &o.data)?;
        std::fs::write(meta, serde_json::to_vec(o)?)
    }

    /// Removes an object's files.
    pub(crate) fn remove_object(&self, container: &str, object: &str) -> io::Result<()> {
        if let Some(dir) = &self.dir {
            let (data, meta) = Self::paths(dir, container, object);
            let _ = std::fs::remove_file(data);
            let _ = std::fs::remove_file(meta);
        }
        Ok(())
    }
}
