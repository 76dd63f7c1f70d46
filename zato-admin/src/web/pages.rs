//! The web admin's pages, rendered on the server with maud (which escapes every value).

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};
use serde_json::{Map, Value};

use super::form::{FieldType, input_name, shown};
use super::session::Flash;

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Services,
    Channels,
    Outgoing,
    Security,
    Import,
    Export,
    Cluster,
    Metrics,
    History,
    None,
}

const NAV: [(Nav, &str, &str); 9] = [
    (Nav::Services, "/admin/services", "Services"),
    (Nav::Channels, "/admin/channels", "Channels"),
    (Nav::Outgoing, "/admin/outgoing", "Outgoing"),
    (Nav::Security, "/admin/security", "Security"),
    (Nav::Import, "/admin/import", "Import"),
    (Nav::Export, "/admin/export", "Export"),
    (Nav::Cluster, "/admin/cluster", "Cluster"),
    (Nav::Metrics, "/admin/metrics", "Metrics"),
    (Nav::History, "/admin/history", "History"),
];

/// What every page of a session shows around its content.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) title: &'a str,
    pub(crate) nav: Nav,
    pub(crate) csrf: &'a str,
    pub(crate) version: u64,
    pub(crate) flash: Option<Flash>,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · zato-rs admin" }
            link rel="stylesheet" href="/admin/style.css";
        }
    }
}

/// A page of a logged-in session: the navigation bar, the message of the last change, `body`.
pub(crate) fn page(frame: Frame<'_>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(frame.title))
            body {
                header.bar {
                    a.brand href="/admin/services" { "zato-rs" }
                    nav {
                        @for (nav, href, label) in NAV {
                            a href=(href) class=[(nav == frame.nav).then_some("current")] { (label) }
                        }
                    }
                    span.version title="The configuration version this node has applied" {
                        "config v" (frame.version)
                    }
                    form.logout method="post" action="/admin/logout" {
                        (csrf_input(frame.csrf))
                        button type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (frame.title) }
                    @if let Some(flash) = &frame.flash { (flash_box(flash)) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

pub(crate) fn csrf_input(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

fn flash_box(flash: &Flash) -> Markup {
    html! {
        section.flash role="status" {
            p {
                (flash.message)
                @if let Some(v) = flash.version {
                    " " span.new-version { "New version: " strong { (v) } }
                }
            }
            (super::reports::warnings_box(&flash.warnings))
            @if let Some(nodes) = &flash.nodes {
                (nodes_table("Nodes", nodes))
            }
        }
    }
}

/// Per-node acknowledgements or states, whatever fields they have.
pub(crate) fn nodes_table(caption: &str, nodes: &[Value]) -> Markup {
    let mut columns: Vec<String> = Vec::new();
    for node in nodes {
        if let Some(map) = node.as_object() {
            for k in map.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    html! {
        div.scroll {
            table.nodes {
                caption { (caption) }
                thead { tr { @for c in &columns { th scope="col" { (c) } } } }
                tbody {
                    @for node in nodes {
                        tr { @for c in &columns { td { (cell(&node[c.as_str()])) } } }
                    }
                }
            }
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => shown(other),
    }
}

/// The login form; `error` when a token was refused.
pub(crate) fn login(csrf: &str, error: Option<&str>) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main {
                    h1 { "zato-rs admin" }
                    form method="post" action="/admin/login" {
                        (csrf_input(csrf))
                        @if let Some(e) = error { p.error role="alert" { (e) } }
                        label for="token" { "Admin token" }
                        input #token type="password" name="token" autocomplete="current-password" required autofocus;
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
    .into_string()
}

/// A page for a refused or failed request, outside or inside a session.
pub(crate) fn message(title: &str, text: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.login { main { h1 { (title) } p { (text) } p { a href="/admin/" { "Back to the admin" } } } }
        }
    }
    .into_string()
}

/// The outcome of an invocation from the services page.
#[derive(Debug)]
pub(crate) struct Invoked {
    pub(crate) service: String,
    pub(crate) payload: String,
    pub(crate) cid: String,
    pub(crate) status: u16,
    pub(crate) response: String,
}

pub(crate) fn services(csrf: &str, items: &[Value], invoked: Option<&Invoked>) -> Markup {
    html! {
        @if let Some(r) = invoked {
            section.result #invoke-result {
                h2 { "Response of " (r.service) }
                dl {
                    dt { "cid" } dd #cid { code { (r.cid) } }
                    dt { "Status" } dd #status { (r.status) }
                }
                pre #response { (r.response) }
            }
        }
        div.scroll {
            table.stack {
                thead { tr { th scope="col" { "Service" } th scope="col" { "Deployed" } th scope="col" { "Active" } th scope="col" { "Invoke with JSON" } } }
                tbody {
                    @for item in items {
                        @let name = item["name"].as_str().unwrap_or_default();
                        @let id = format!("payload-{}", slug(name));
                        tr {
                            td data-label="Service" { strong { (name) } }
                            td data-label="Deployed" { (yes_no(item["deployed"].as_bool())) }
                            td data-label="Active" {
                                (yes_no(item["is_active"].as_bool()))
                                @if let Some(active) = item["is_active"].as_bool() {
                                    form.inline method="post" action={ "/admin/services/" (super::form::segment(name)) "/active" } {
                                        (csrf_input(csrf))
                                        input type="hidden" name="is_active" value=(!active);
                                        button type="submit" { @if active { "Deactivate" } @else { "Activate" } }
                                    }
                                }
                            }
                            td.wide {
                                @if item["deployed"].as_bool() == Some(true) {
                                    form.invoke method="post" action={ "/admin/services/" (super::form::segment(name)) "/invoke" } {
                                        (csrf_input(csrf))
                                        label for=(id) { "Request for " (name) }
                                        textarea id=(id) name="payload" rows="3" {
                                            @match invoked.filter(|r| r.service == name) {
                                                Some(r) => (r.payload),
                                                None => "{}",
                                            }
                                        }
                                        button type="submit" { "Invoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

/// An HTML id made of a name.
pub(crate) fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// One kind's objects, for the list of a section.
#[derive(Debug)]
pub(crate) struct KindList {
    pub(crate) title: String,
    /// Where the kind's pages are: `/admin/channels/http`, `/admin/security`.
    pub(crate) base: String,
    /// The links that create one: (label, href).
    pub(crate) create: Vec<(String, String)>,
    pub(crate) secrets: Vec<String>,
    pub(crate) items: Vec<(String, Value, u64)>,
}

/// The fields a list shows besides the name, when an object has them.
const SUMMARY: [&str; 10] = [
    "type",
    "url_path",
    "service",
    "data_format",
    "address",
    "queue",
    "auth_url",
    "user",
    "username",
    "security",
];

pub(crate) fn kind_lists(csrf: &str, lists: &[KindList]) -> Markup {
    html! {
        @if lists.is_empty() { p { "This node has no kinds of this section." } }
        @for list in lists {
            section.kind id=(slug(&list.title)) {
                h2 { (list.title) }
                p.actions { @for (label, href) in &list.create { a.button href=(href) { (label) } " " } }
                @if list.items.is_empty() {
                    p { "None yet." }
                } @else {
                    @let columns: Vec<&str> = SUMMARY.iter().copied()
                        .filter(|c| !list.secrets.iter().any(|s| s == c))
                        .filter(|c| list.items.iter().any(|(_, o, _)| o.get(*c).is_some_and(|v| !v.is_null())))
                        .collect();
                    div.scroll {
                        table.stack {
                            thead { tr {
                                th scope="col" { "Name" }
                                @for c in &columns { th scope="col" { (c) } }
                                th scope="col" { "Active" } th scope="col" { "Version" } th scope="col" { "Actions" }
                            } }
                            tbody {
                                @for (name, object, version) in &list.items {
                                    @let href = format!("{}/{}", list.base, super::form::segment(name));
                                    @let active = object.get("is_active").and_then(Value::as_bool);
                                    tr id={ "row-" (slug(name)) } {
                                        td data-label="Name" { a href=(href) { (name) } }
                                        @for c in &columns { td data-label=(c) { (cell(&object[*c])) } }
                                        td.active data-label="Active" { (yes_no(active)) }
                                        td data-label="Version" { (version) }
                                        td.row-actions {
                                            a.button href=(href) { "Edit" }
                                            @if let Some(active) = active {
                                                form method="post" action={ (href) "/active" } {
                                                    (csrf_input(csrf))
                                                    input type="hidden" name="is_active" value=(!active);
                                                    button type="submit" { @if active { "Deactivate" } @else { "Activate" } }
                                                }
                                            }
                                            " " a.button.danger href={ (href) "/delete" } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A create or edit form for one object.
#[derive(Debug)]
pub(crate) struct ObjectForm<'a> {
    pub(crate) action: String,
    /// `None` for a new object.
    pub(crate) version: Option<u64>,
    pub(crate) security_type: Option<&'a str>,
    /// The fields in order, with the values to show.
    pub(crate) values: &'a Map<String, Value>,
    /// The shape the values are typed by.
    pub(crate) shape: &'a Map<String, Value>,
    pub(crate) secrets: &'a [&'a str],
    pub(crate) errors: &'a BTreeMap<String, Vec<String>>,
    pub(crate) general: &'a [String],
    /// Where the change-secret form posts, for an existing object with secrets.
    pub(crate) secret_action: Option<String>,
    pub(crate) secret_errors: &'a BTreeMap<String, Vec<String>>,
    /// Where the ping form posts, for an existing outgoing connection.
    pub(crate) ping_action: Option<String>,
    pub(crate) back: String,
}

pub(crate) fn errors_list(general: &[String]) -> Markup {
    html! {
        @if !general.is_empty() {
            div.errors role="alert" {
                p { "Nothing was changed." }
                ul { @for e in general { li { (e) } } }
            }
        }
    }
}

fn field(name: &str, ty: FieldType, value: &Value, errors: Option<&Vec<String>>) -> Markup {
    let id = format!("field-{name}");
    let err_id = format!("error-{name}");
    let invalid = errors.is_some_and(|e| !e.is_empty());
    html! {
        div class={ "field" @if invalid { " invalid" } } {
            @if ty == FieldType::Bool {
                label.check for=(id) {
                    input id=(id) type="checkbox" name=(input_name(name)) value="true" checked[value.as_bool() == Some(true)]
                        aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)];
                    " " (name)
                }
            } @else {
                label for=(id) { (name) }
                @match ty {
                    FieldType::Json => textarea id=(id) name=(input_name(name)) rows="3"
                        aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)] { (shown(value)) },
                    FieldType::Number => input id=(id) type="text" inputmode="decimal" name=(input_name(name)) value=(shown(value))
                        aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)];,
                    _ => input id=(id) type="text" name=(input_name(name)) value=(shown(value))
                        placeholder=[(ty == FieldType::Optional).then_some("none")]
                        aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)];,
                }
            }
            @if let Some(errors) = errors.filter(|e| !e.is_empty()) {
                p.field-error id=(err_id) { (errors.join("; ")) }
            }
        }
    }
}

pub(crate) fn object_form(csrf: &str, f: &ObjectForm<'_>) -> Markup {
    let creating = f.version.is_none();
    html! {
        (errors_list(f.general))
        div.object-page {
        form.object method="post" action=(f.action) novalidate {
            (csrf_input(csrf))
            @if let Some(v) = f.version { input type="hidden" name="version" value=(v); }
            @if let Some(ty) = f.security_type {
                input type="hidden" name="type" value=(ty);
                p { "Type: " strong { (ty) } }
            }
            // The name first, then the fields in the schema's order.
            @for (name, example) in f.shape.iter().filter(|(k, _)| *k == "name").chain(f.shape.iter().filter(|(k, _)| *k != "name")) {
                @let errors = f.errors.get(name.as_str());
                @if name == "type" && f.security_type.is_some() {
                } @else if f.secrets.contains(&name.as_str()) {
                    @if creating {
                        div class={ "field" @if errors.is_some() { " invalid" } } {
                            label for={ "field-" (name) } { (name) }
                            input id={ "field-" (name) } type="password" name=(input_name(name)) autocomplete="new-password";
                            @if let Some(errors) = errors { p.field-error { (errors.join("; ")) } }
                        }
                    }
                } @else if name == "name" && !creating {
                    p { "Name: " strong { (shown(&f.values[name.as_str()])) } }
                } @else {
                    (field(name, FieldType::of(example), f.values.get(name).unwrap_or(&Value::Null), errors))
                }
            }
            div.buttons {
                button type="submit" { @if creating { "Create" } @else { "Save" } }
                " " a href=(f.back) { "Cancel" }
            }
        }
        div.side {
        @if let Some(action) = &f.ping_action {
            section.ping {
                h2 { "Ping" }
                p.hint { "Tries the remote system with the configuration in force." }
                form method="post" action=(action) {
                    (csrf_input(csrf))
                    button type="submit" { "Ping" }
                }
            }
        }
        @if let Some(action) = &f.secret_action {
            section.secret {
                h2 { "Secrets" }
                p.hint { "Secrets are write-only: they are never shown. A new value replaces the one in force." }
                @for secret in f.secrets {
                    @let errors = f.secret_errors.get(*secret);
                    form.object method="post" action=(action) {
                        (csrf_input(csrf))
                        input type="hidden" name="field" value=(secret);
                        div class={ "field" @if errors.is_some() { " invalid" } } {
                            label for={ "secret-" (secret) } { "New " (secret) }
                            input id={ "secret-" (secret) } type="password" name="secret1" autocomplete="new-password";
                        }
                        div class={ "field" @if errors.is_some() { " invalid" } } {
                            label for={ "secret-" (secret) "-again" } { "New " (secret) ", again" }
                            input id={ "secret-" (secret) "-again" } type="password" name="secret2" autocomplete="new-password";
                            @if let Some(errors) = errors { p.field-error { (errors.join("; ")) } }
                        }
                        div.buttons { button type="submit" { "Change " (secret) } }
                    }
                }
            }
        }
        }
        }
    }
}

/// Asks before a deletion, which cannot be undone.
pub(crate) fn confirm_delete(csrf: &str, path: &str, action: &str, back: &str) -> Markup {
    html! {
        form.object method="post" action=(action) {
            (csrf_input(csrf))
            p { "Delete " code { (path) } "? It stops at once on this node and, in a cluster, on every node." }
            div.buttons {
                button.danger type="submit" { "Delete" }
                a href=(back) { "Cancel" }
            }
        }
    }
}
