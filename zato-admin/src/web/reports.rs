//! The pages about the whole configuration: import and its review, export, the cluster, the
//! metrics and the history.

use maud::{Markup, html};
use serde_json::Value;
use zato_core::ConfigProblem;
use zato_core::config::{Diff, HistoryEntry};

use super::form::shown;
use super::pages::{csrf_input, errors_list, nodes_table};

pub(crate) fn import_form(csrf: &str, general: &[String]) -> Markup {
    html! {
        (errors_list(general))
        p { "Upload a configuration document (TOML, YAML or JSON). You will see what it changes before anything is applied." }
        form.object method="post" action="/admin/import" enctype="multipart/form-data" {
            (csrf_input(csrf))
            div.field {
                label for="document" { "Document" }
                input #document type="file" name="document" accept=".toml,.yaml,.yml,.json";
            }
            div.field {
                label for="format" { "Format" }
                select #format name="format" {
                    option value="" { "by the file name" }
                    option value="toml" { "TOML" } option value="yaml" { "YAML" } option value="json" { "JSON" }
                }
            }
            div.field {
                label.check for="replace" {
                    input #replace type="checkbox" name="replace" value="true";
                    " Replace: delete the objects the document does not hold"
                }
            }
            div.buttons { button type="submit" { "Review changes" } }
        }
    }
}

pub(crate) fn import_review(
    csrf: &str,
    pending: &str,
    file: &str,
    replace: bool,
    diff: &Diff,
    warnings: &[ConfigProblem],
) -> Markup {
    let groups: [(&str, &Vec<String>); 4] = [
        ("Created", &diff.created),
        ("Updated", &diff.updated),
        ("Deleted", &diff.deleted),
        ("Unchanged", &diff.unchanged),
    ];
    html! {
        p { "What importing " strong { (file) } @if replace { " with replace" } " would change. Nothing is applied until you confirm." }
        (warnings_box(warnings))
        div.scroll {
            table #diff {
                thead { tr { th scope="col" { "Change" } th scope="col" { "Object" } } }
                tbody {
                    @for (label, paths) in groups {
                        @for path in paths {
                            tr class=(label.to_ascii_lowercase()) { td { (label) } td { code { (path) } } }
                        }
                    }
                }
            }
        }
        @if diff.is_empty() {
            p { "The document changes nothing." }
        } @else {
            form method="post" action="/admin/import/apply" {
                (csrf_input(csrf))
                input type="hidden" name="pending" value=(pending);
                div.buttons {
                    button type="submit" { "Apply these changes" }
                    " " a href="/admin/import" { "Cancel" }
                }
            }
        }
    }
}

pub(crate) fn export() -> Markup {
    html! {
        p { "The whole configuration as one document. Secrets are written as " code { "******" } ", which an import reads as “keep the secret in force”." }
        ul.downloads {
            @for (f, label) in [("toml", "TOML"), ("yaml", "YAML"), ("json", "JSON")] {
                li { a.button href={ "/admin/export/download?format=" (f) } download { "Download " (label) } }
            }
        }
    }
}

pub(crate) fn cluster(status: Option<Result<Value, String>>) -> Markup {
    html! {
        @match status {
            None => p { "This node is not in a cluster: it keeps its configuration to itself." },
            Some(Err(e)) => div.errors role="alert" { p { "The cluster's state could not be read: " (e) } },
            Some(Ok(status)) => {
                p { "Cluster version " strong { (shown(&status["version"])) } "; this node is " strong { (shown(&status["this_node"])) } "." }
                @let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
                (nodes_table("Nodes and the versions they applied", &nodes))
            }
        }
    }
}

/// Requests of one channel.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ChannelStats {
    pub(crate) kind: String,
    pub(crate) channel: String,
    pub(crate) requests: u64,
    pub(crate) client_errors: u64,
    pub(crate) server_errors: u64,
}

pub(crate) fn metrics(rows: &[ChannelStats]) -> Markup {
    html! {
        p { "Requests answered per channel since this node started. The full set is at " code { "/metrics" } " (Prometheus)." }
        @if rows.is_empty() {
            p { "No channel has answered a request yet." }
        } @else {
            div.scroll {
                table #metrics {
                    thead { tr {
                        th scope="col" { "Kind" } th scope="col" { "Channel" } th.num scope="col" { "Requests" }
                        th.num scope="col" { "4xx" } th.num scope="col" { "5xx" } th.num scope="col" { "Error rate" }
                    } }
                    tbody {
                        @for r in rows {
                            @let rate = if r.requests == 0 { 0.0 } else {
                                (r.client_errors + r.server_errors) as f64 * 100.0 / r.requests as f64
                            };
                            tr {
                                td { (r.kind) } td { (r.channel) } td.num { (r.requests) }
                                td.num { (r.client_errors) } td.num { (r.server_errors) }
                                td.num class=[(rate > 0.0).then_some("bad")] { (format!("{rate:.1} %")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn history(entries: &[HistoryEntry]) -> Markup {
    html! {
        p { "The last changes, newest first, with who made them." }
        @if entries.is_empty() {
            p { "No change yet." }
        } @else {
            div.scroll {
                table #history {
                    thead { tr {
                        th.num scope="col" { "Version" } th scope="col" { "Time" }
                        th scope="col" { "Author" } th scope="col" { "Changes" }
                    } }
                    tbody {
                        @for e in entries {
                            tr {
                                td.num { (e.version) } td { (e.time) } td { (e.author) }
                                td { @for c in &e.changes { code { (c) } br; } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What is valid but will not work yet (a channel naming a service this node has not
/// deployed): shown, never blocking.
pub(crate) fn warnings_box(warnings: &[ConfigProblem]) -> Markup {
    html! {
        @if !warnings.is_empty() {
            section.warnings role="status" {
                p { "Warnings: valid, but not working until this is done." }
                ul {
                    @for w in warnings {
                        li { code { (w.path) } ": " (w.message) }
                    }
                }
            }
        }
    }
}
