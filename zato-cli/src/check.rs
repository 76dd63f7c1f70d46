//! `zato config check FILE`: the node's own validation, offline, with every problem listed.

use std::path::Path;

use crate::error::CliError;

/// Checks the document at `path`: prints `FILE: ok`, or every problem on its own line of
/// standard error and fails.
pub(crate) fn run(path: &Path) -> Result<(), CliError> {
    let bytes = crate::commands::read_file(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Local(format!("{}: not UTF-8 text", path.display())))?;
    match check_document(path, &text) {
        Ok(()) => crate::output::print(&format!("{}: ok", path.display())),
        Err(Failure::Unavailable(why)) => Err(CliError::Local(format!("config check: {why}"))),
        Err(Failure::Usage(why)) => Err(CliError::Usage(why)),
        Err(Failure::Problems(problems)) => {
            for problem in &problems {
                eprintln!(
                    "zato: {}: {}",
                    path.display(),
                    crate::error::one_line(problem)
                );
            }
            let n = problems.len();
            Err(CliError::Local(format!(
                "{}: not valid, {n} problem{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            )))
        }
    }
}

/// Why a document was not found valid.
#[derive(Debug)]
enum Failure {
    /// Each problem as `path: message`.
    #[cfg_attr(
        not(feature = "offline-check"),
        allow(dead_code, reason = "built by the offline check only")
    )]
    Problems(Vec<String>),
    /// The file cannot be a document (its extension names no format); the text names the file.
    #[cfg_attr(
        not(feature = "offline-check"),
        allow(dead_code, reason = "built by the offline check only")
    )]
    Usage(String),
    /// This build cannot check.
    #[cfg_attr(
        feature = "offline-check",
        allow(dead_code, reason = "used without the offline check only")
    )]
    Unavailable(&'static str),
}

/// The one place that calls the node's configuration checker.
#[cfg(feature = "offline-check")]
fn check_document(path: &Path, text: &str) -> Result<(), Failure> {
    fn problems(e: zato::config::ConfigError) -> Failure {
        Failure::Problems(e.problems().iter().map(ToString::to_string).collect())
    }
    // The message names the file already: `node.txt: cannot tell the format; …`.
    let format = zato::config::Format::from_path(path).map_err(|e| {
        let lines: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
        Failure::Usage(lines.join("; "))
    })?;
    let doc = zato::config::ConfigDocument::parse(text, format).map_err(problems)?;
    zato::config::checker().check(&doc).map_err(problems)?;
    Ok(())
}

#[cfg(not(feature = "offline-check"))]
fn check_document(_path: &Path, _text: &str) -> Result<(), Failure> {
    Err(Failure::Unavailable(
        "this zato was built without the offline-check feature",
    ))
}
