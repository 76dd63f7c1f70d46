//! `zato config check FILE`: the node's own validation, offline, with every problem listed; the
//! kinds this CLI does not know are named as not checked. `--node` asks a running node instead,
//! which knows its own kinds (see `commands.rs`).

use std::path::Path;

use crate::error::CliError;

/// Checks the document at `path`: prints what could not be checked, then `FILE: ok`, or every
/// problem on its own line of standard error and fails.
pub(crate) fn run(path: &Path) -> Result<(), CliError> {
    let bytes = crate::file::read_file(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Local(format!("{}: not UTF-8 text", path.display())))?;
    let shown = path.display();
    match check_document(path, &text) {
        Ok(unchecked) => {
            let mut out = String::new();
            for what in &unchecked {
                out.push_str(&format!(
                    "{shown}: not checked: {what} (a kind this CLI does not know; `zato config check --node {shown}` asks a running node)\n"
                ));
            }
            if unchecked.is_empty() {
                out.push_str(&format!("{shown}: ok"));
            } else {
                out.push_str(&format!("{shown}: ok, but for what was not checked"));
            }
            crate::output::print(&out)
        }
        Err(Failure::Unavailable(why)) => Err(CliError::Local(format!("config check: {why}"))),
        Err(Failure::Usage(why)) => Err(CliError::Usage(why)),
        Err(Failure::Problems {
            problems,
            unchecked,
        }) => {
            let mut out = String::new();
            for what in &unchecked {
                out.push_str(&format!(
                    "{shown}: not checked: {what} (a kind this CLI does not know; `zato config check --node {shown}` asks a running node)\n"
                ));
            }
            if !out.is_empty() {
                crate::output::print(out.trim_end())?;
            }
            Err(problems_error(path, &problems))
        }
    }
}

/// Prints each problem on its own line of standard error; the error sums them up.
pub(crate) fn problems_error(path: &Path, problems: &[String]) -> CliError {
    for problem in problems {
        let line = format!("{}: {}", path.display(), crate::error::one_line(problem));
        eprintln!("zato: {}", crate::output::shown(&line));
    }
    let n = problems.len();
    CliError::Local(format!(
        "{}: not valid, {n} problem{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    ))
}

/// Why a document was not found valid.
#[derive(Debug)]
enum Failure {
    /// Each problem as `path: message`, and what could not be checked.
    #[cfg_attr(
        not(feature = "offline-check"),
        allow(dead_code, reason = "built by the offline check only")
    )]
    Problems {
        problems: Vec<String>,
        unchecked: Vec<String>,
    },
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

/// The one place that calls the node's configuration checker, with the kinds built into this
/// CLI. The objects of other kinds are set aside, and named: a node with a plug-in of its own
/// knows kinds this CLI cannot.
#[cfg(feature = "offline-check")]
fn check_document(path: &Path, text: &str) -> Result<Vec<String>, Failure> {
    use zato::config::{ConfigDocument, Format, Section};

    let lines = |e: &zato::config::ConfigError| -> Vec<String> {
        e.problems().iter().map(ToString::to_string).collect()
    };
    // The message names the file already: `node.txt: cannot tell the format; …`.
    let format = Format::from_path(path).map_err(|e| Failure::Usage(lines(&e).join("; ")))?;
    // An unknown section does not hide the problems of the objects: both are reported.
    let (mut doc, shape) =
        ConfigDocument::parse_lenient(text, format).map_err(|e| Failure::Problems {
            problems: lines(&e),
            unchecked: Vec::new(),
        })?;
    let shape: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let checker = zato::config::checker();
    let mut unchecked = Vec::new();
    // What a reference to an object set aside would be refused with: not this CLI's business.
    let mut set_aside = Vec::new();
    for (section, kinds) in [
        (Section::Channels, &mut doc.channels),
        (Section::Outgoing, &mut doc.outgoing),
        (Section::PubSub, &mut doc.pubsub),
    ] {
        kinds.retain(|kind, objects| {
            if checker.schema(section, kind).is_some() {
                return true;
            }
            unchecked.push(format!("{section}.{}", zato::config::key(kind)));
            for name in objects.iter().filter_map(|o| o.get("name")?.as_str()) {
                set_aside.push(format!(
                    "no {section} {kind} named `{name}` in the configuration"
                ));
            }
            false
        });
    }
    doc.security.retain(|object| {
        let Some(ty) = object.get("type").and_then(|t| t.as_str()) else {
            return true;
        };
        if checker.schema(Section::Security, ty).is_some() {
            return true;
        }
        let name = object.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        unchecked.push(format!(
            "security.{} (of type `{ty}`)",
            zato::config::key(name)
        ));
        set_aside.push(format!(
            "no security definition named `{name}` in the configuration"
        ));
        false
    });
    match checker.check(&doc) {
        Ok(_) if shape.is_empty() => Ok(unchecked),
        Ok(_) => Err(Failure::Problems {
            problems: shape,
            unchecked,
        }),
        Err(e) => {
            let problems: Vec<String> = shape
                .into_iter()
                .chain(
                    e.problems()
                        .iter()
                        .filter(|p| !set_aside.contains(&p.message))
                        .map(ToString::to_string),
                )
                .collect();
            if problems.is_empty() {
                Ok(unchecked)
            } else {
                Err(Failure::Problems {
                    problems,
                    unchecked,
                })
            }
        }
    }
}

#[cfg(not(feature = "offline-check"))]
fn check_document(_path: &Path, _text: &str) -> Result<Vec<String>, Failure> {
    Err(Failure::Unavailable(
        "this zato was built without the offline-check feature",
    ))
}
