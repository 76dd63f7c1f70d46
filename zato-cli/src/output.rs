//! What `zato` prints on standard output: aligned tables, pretty JSON, one-line outcomes.

use std::io::{self, Write};

use serde_json::Value;

use crate::error::CliError;

/// `text` as it may reach a terminal: every control character but line feed and tab, and every
/// invisible or bidirectional format character, written as `\uXXXX`. A name or value from a
/// node (`\u{1b}]0;…` sets the window title, `\u{1b}[2J` clears the screen, U+202E reorders
/// the line) shows as what it is instead of acting on the terminal. Valid inside JSON strings.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    zato_core::text::escape_invisible(text, &['\n', '\t'])
}

/// Writes `text` and a newline to standard output, unless it already ends with one; anything
/// that would act on a terminal is escaped ([`shown`]).
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let text = &*shown(text);
    let mut out = io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    result.map_err(|e| match e.kind() {
        io::ErrorKind::BrokenPipe => CliError::ClosedOutput,
        _ => CliError::Local(format!("cannot write to standard output: {e}")),
    })
}

/// A JSON value, indented.
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Rows under a header, each column as wide as its widest cell; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A value as a table cell: text as it is, `-` when absent, anything else as compact JSON.
pub(crate) fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.replace(['\n', '\r', '\t'], " "),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(other) => other.to_string(),
    }
}

/// A list of names as one cell: `id, target`; elements that are objects show their `name`.
pub(crate) fn names(value: Option<&Value>) -> String {
    let Some(Value::Array(items)) = value else {
        return cell(value);
    };
    if items.is_empty() {
        return "-".to_owned();
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("name")
                .map_or_else(|| item.to_string(), |n| cell(Some(n))),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An import's diff, one object per line: `+` created, `~` updated, `-` deleted, `=` unchanged,
/// then a summary line.
pub(crate) fn diff(answer: &Value) -> String {
    let diff = answer.get("diff");
    let list = |key: &str| -> Vec<String> {
        diff.and_then(|d| d.get(key))
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| cell(Some(i))).collect())
            .unwrap_or_default()
    };
    let (created, updated, deleted, unchanged) = (
        list("created"),
        list("updated"),
        list("deleted"),
        list("unchanged"),
    );
    let mut out = String::new();
    for (marker, items) in [
        ("+", &created),
        ("~", &updated),
        ("-", &deleted),
        ("=", &unchanged),
    ] {
        for item in items {
            out.push_str(&format!("{marker} {item}\n"));
        }
    }
    let counts = format!(
        "{} created, {} updated, {} deleted, {} unchanged",
        created.len(),
        updated.len(),
        deleted.len(),
        unchanged.len()
    );
    let dry_run = answer
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let version = cell(answer.get("version"));
    if dry_run {
        out.push_str(&format!(
            "dry run: {counts}; nothing was changed (the node is at version {version})\n"
        ));
    } else {
        out.push_str(&format!("imported: {counts} (version {version})\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_values_from_a_node_cannot_act_on_the_terminal() {
        let hostile = "crm\u{1b}]0;owned\u{7}\u{1b}[2J\r\u{202e}\u{200b}\u{9b}31m";
        let rows = vec![vec![hostile.to_owned(), cell(Some(&json!(hostile)))]];
        let text = shown(&table(&["NAME", "SERVICE"], &rows)).into_owned();
        let raw: Vec<char> = text
            .chars()
            .filter(|c| *c != '\n' && zato_core::text::is_invisible(*c))
            .collect();
        assert!(raw.is_empty(), "{raw:?} in {text:?}");
        assert!(
            text.contains("crm\\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u202e\\u200b\\u009b31m"),
            "{text}"
        );
        // JSON stays JSON.
        let json = shown(&pretty(&json!({"name": hostile}))).into_owned();
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["name"], hostile);
    }

    #[test]
    fn tables_align_columns_by_characters() {
        let rows = vec![
            vec![
                "Invoice Dispatcher".to_owned(),
                "12".to_owned(),
                "yes".to_owned(),
            ],
            vec!["Zürich".to_owned(), "3".to_owned(), "no".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "VERSION", "ACTIVE"], &rows),
            "NAME                VERSION  ACTIVE\n\
             Invoice Dispatcher  12       yes\n\
             Zürich              3        no\n"
        );
    }

    #[test]
    fn cells_show_absent_values_as_a_dash() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(Some(&json!(true))), "yes");
        assert_eq!(cell(Some(&json!(10))), "10");
        assert_eq!(
            names(Some(&json!(["id", {"name": "target", "type": "list"}]))),
            "id, target"
        );
        assert_eq!(names(Some(&json!([]))), "-");
    }

    #[test]
    fn the_diff_has_one_line_per_object_and_a_summary() {
        let answer = json!({"dry_run": true, "version": 7, "diff": {
            "created": ["channels.http.\"x\""], "updated": ["outgoing.swift.\"Invoice Dispatcher\""],
            "deleted": [], "unchanged": ["security.\"crm\"", "services.\"a\""]}});
        assert_eq!(
            diff(&answer),
            "+ channels.http.\"x\"\n\
             ~ outgoing.swift.\"Invoice Dispatcher\"\n\
             = security.\"crm\"\n\
             = services.\"a\"\n\
             dry run: 1 created, 1 updated, 0 deleted, 2 unchanged; nothing was changed (the node is at version 7)\n"
        );
    }
}
