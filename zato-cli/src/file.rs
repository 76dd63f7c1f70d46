//! The local files `zato` reads (a configuration document, an object's JSON), bounded in size.
//! `commands.rs` and `check.rs` both read through here, so neither imports the other for it.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// The largest file `zato` reads: a configuration document or an object's JSON.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A file's bytes, refused when larger than [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    let fail = |e: std::io::Error| CliError::Local(format!("{}: cannot read: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(fail)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CliError::Local(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    std::fs::read(path).map_err(fail)
}

/// A file holding one JSON object, as the fields of an object to create or replace.
pub(crate) fn json_object_file(path: &Path) -> Result<Map<String, Value>, CliError> {
    let bytes = read_file(path)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::Local(format!(
            "{}: must hold a JSON object",
            path.display()
        ))),
        Err(e) => Err(CliError::Local(format!(
            "{}: not JSON: {e}",
            path.display()
        ))),
    }
}
