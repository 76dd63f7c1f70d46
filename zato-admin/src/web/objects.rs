//! Channels, outgoing connections and security definitions: lists, create and edit forms,
//! activation, deletion and write-only secrets, each change made through the config runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{Map, Value};
use zato_core::config::{ChangeError, ObjectKey, ObjectSchema, PutMode, Section, WriteOutcome};

use super::api::{self, Reply};
use super::form::{self, Form};
use super::pages::{self, KindList, Nav, ObjectForm};
use super::session::Flash;
use super::{ACK_WAIT, AUTHOR, Ctx, redirect, section_of};

fn nav(section: Section) -> Nav {
    match section {
        Section::Channels => Nav::Channels,
        Section::Outgoing => Nav::Outgoing,
        Section::Security => Nav::Security,
        _ => Nav::Services,
    }
}

fn section_title(section: Section) -> &'static str {
    match section {
        Section::Channels => "Channels",
        Section::Outgoing => "Outgoing connections",
        Section::Security => "Security definitions",
        _ => "Services",
    }
}

fn kind_title(section: Section, kind: &str) -> String {
    match section {
        Section::Channels => format!("{kind} channels"),
        Section::Outgoing => format!("{kind} connections"),
        _ => section_title(section).to_owned(),
    }
}

/// Where a kind's pages are.
fn base(section: Section, kind: &str) -> String {
    match section {
        Section::Security => "/admin/security".to_owned(),
        s => format!("/admin/{s}/{}", form::segment(kind)),
    }
}

/// What the forms of one object need to know of its kind.
struct Kind {
    section: Section,
    /// The kind the store files it under (`security` for every security definition).
    kind: String,
    /// The security definition's type.
    security_type: Option<String>,
    schema: Arc<dyn ObjectSchema>,
}

impl Kind {
    fn find(
        ctx: &Ctx<'_>,
        section: Section,
        kind: &str,
        security_type: Option<&str>,
    ) -> Option<Kind> {
        let schema_kind = match section {
            Section::Security => security_type?,
            _ => kind,
        };
        let schema = ctx
            .inner
            .runtime
            .checker()
            .schema(section, schema_kind)?
            .clone();
        Some(Kind {
            section,
            kind: kind.to_owned(),
            security_type: security_type.map(str::to_owned),
            schema,
        })
    }

    fn secrets(&self) -> &[&'static str] {
        self.schema.secret_fields()
    }

    fn base(&self) -> String {
        base(self.section, &self.kind)
    }

    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey::new(self.section, self.kind.clone(), name)
    }
}

/// A `GET` of a section's pages; `None` when the path names nothing.
pub(super) async fn get(ctx: &Ctx<'_>, segs: &[&str], query: &[(String, String)]) -> Option<Reply> {
    let (section, kind, used) = section_of(segs)?;
    let rest = &segs[used..];
    let Some(kind) = kind else {
        return Some(list(ctx, section).await);
    };
    match rest {
        [] if section == Section::Security => Some(list(ctx, section).await),
        [] => Some(redirect(&format!(
            "/admin/{section}#{}",
            pages::slug(&kind_title(section, &kind))
        ))),
        ["new"] => {
            let ty = query
                .iter()
                .find(|(k, _)| k == "type")
                .map(|(_, v)| v.as_str());
            let kind = Kind::find(ctx, section, &kind, ty)?;
            let shape = form::template(kind.schema.as_ref(), ty);
            let title = format!("New: {}", kind_title(section, &kind.kind));
            Some(form_page(
                ctx,
                StatusCode::OK,
                &title,
                &kind,
                None,
                &shape,
                &shape,
                &Problems::default(),
            ))
        }
        [name, "delete"] => {
            let key = ObjectKey::new(section, kind.clone(), *name);
            if !matches!(ctx.inner.runtime.get(&key).await, Ok(Some(_))) {
                return None;
            }
            let action = format!("{}/{}/delete", base(section, &kind), form::segment(name));
            let back = format!("/admin/{section}");
            Some(ctx.page(
                "Delete",
                nav(section),
                pages::confirm_delete(&ctx.csrf, &key.to_string(), &action, &back),
            ))
        }
        [name] => {
            let key = ObjectKey::new(section, kind.clone(), *name);
            let (current, version) = match ctx.inner.runtime.get(&key).await {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(e) => return Some(super::store_failed(ctx, &e.to_string())),
            };
            let ty = current.get("type").and_then(Value::as_str);
            let kind = Kind::find(ctx, section, &kind, ty)?;
            let shape = current.as_object().cloned().unwrap_or_default();
            Some(form_page(
                ctx,
                StatusCode::OK,
                &key.to_string(),
                &kind,
                Some(version),
                &shape,
                &shape,
                &Problems::default(),
            ))
        }
        _ => None,
    }
}

/// Every kind of a section, each with its objects.
async fn list(ctx: &Ctx<'_>, section: Section) -> Reply {
    let runtime = &ctx.inner.runtime;
    let checker = runtime.checker();
    let kinds = runtime.kind_names(section);
    let mut lists = Vec::new();
    let secrets_of = |kind: &str| -> Vec<String> {
        checker
            .schema(section, kind)
            .map(|s| s.secret_fields().iter().map(|f| (*f).to_owned()).collect())
            .unwrap_or_default()
    };
    if section == Section::Security {
        let items = match runtime.list(section, section.sole_kind()).await {
            Ok((_, items)) => items,
            Err(e) => return super::store_failed(ctx, &e.to_string()),
        };
        lists.push(KindList {
            title: section_title(section).to_owned(),
            base: base(section, ""),
            create: kinds
                .iter()
                .map(|t| {
                    (
                        format!("New {t}"),
                        format!("/admin/security/new?type={}", form::segment(t)),
                    )
                })
                .collect(),
            secrets: kinds.iter().flat_map(|k| secrets_of(k)).collect(),
            items: items.into_iter().map(|(k, o, v)| (k.name, o, v)).collect(),
        });
    } else {
        for kind in &kinds {
            let items = match runtime.list(section, kind).await {
                Ok((_, items)) => items,
                Err(e) => return super::store_failed(ctx, &e.to_string()),
            };
            let title = kind_title(section, kind);
            lists.push(KindList {
                create: vec![(
                    format!("New {kind}"),
                    format!("{}/new", base(section, kind)),
                )],
                title,
                base: base(section, kind),
                secrets: secrets_of(kind),
                items: items.into_iter().map(|(k, o, v)| (k.name, o, v)).collect(),
            });
        }
    }
    ctx.page(
        section_title(section),
        nav(section),
        pages::kind_lists(&ctx.csrf, &lists),
    )
}

/// What a refused change said, placed at the fields it names.
#[derive(Default)]
struct Problems {
    fields: BTreeMap<String, Vec<String>>,
    general: Vec<String>,
    secrets: BTreeMap<String, Vec<String>>,
}

impl Problems {
    fn of(key: &ObjectKey, e: &ChangeError) -> Problems {
        let mut p = Problems::default();
        match e {
            ChangeError::Invalid(c) | ChangeError::ApplyFailed(c) => {
                for problem in c.problems() {
                    match form::field_of(key, &problem.path) {
                        Some(field) if !field.is_empty() => {
                            p.fields
                                .entry(field)
                                .or_default()
                                .push(problem.message.clone());
                        }
                        _ => p.general.push(problem.to_string()),
                    }
                }
            }
            other => p.general.push(other.to_string()),
        }
        if p.general.is_empty() && !p.fields.is_empty() {
            p.general.push("Correct the highlighted fields.".into());
        }
        p
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one form, drawn from the parts a create, an edit and a refusal each have"
)]
fn form_page(
    ctx: &Ctx<'_>,
    status: StatusCode,
    title: &str,
    kind: &Kind,
    version: Option<u64>,
    shape: &Map<String, Value>,
    values: &Map<String, Value>,
    problems: &Problems,
) -> Reply {
    let base = kind.base();
    let name = values
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let action = match version {
        None => base.clone(),
        Some(_) => format!("{base}/{}", form::segment(name)),
    };
    let secret_action =
        (version.is_some() && !kind.secrets().is_empty()).then(|| format!("{action}/secret"));
    let ping_action =
        (version.is_some() && kind.section == Section::Outgoing).then(|| format!("{action}/ping"));
    let f = ObjectForm {
        action,
        version,
        security_type: kind.security_type.as_deref(),
        values,
        shape,
        secrets: kind.secrets(),
        errors: &problems.fields,
        general: &problems.general,
        secret_action,
        secret_errors: &problems.secrets,
        ping_action,
        back: format!("/admin/{}", kind.section),
    };
    ctx.page_with(
        status,
        title,
        nav(kind.section),
        pages::object_form(&ctx.csrf, &f),
    )
}

/// A `POST` to a section's pages; `None` when the path names nothing.
pub(super) async fn post(ctx: &Ctx<'_>, segs: &[&str], form: &Form) -> Option<Reply> {
    let (section, kind, used) = section_of(segs)?;
    let kind = kind?;
    let rest = &segs[used..];
    let runtime = &ctx.inner.runtime;
    match rest {
        [] => Some(create(ctx, section, &kind, form).await),
        [name, action @ ..] => {
            let key = ObjectKey::new(section, kind.clone(), *name);
            let (current, version) = match runtime.get(&key).await {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(e) => return Some(super::store_failed(ctx, &e.to_string())),
            };
            let ty = current.get("type").and_then(Value::as_str);
            let kind = Kind::find(ctx, section, &kind, ty)?;
            match action {
                [] => Some(update(ctx, &kind, &key, &current, form).await),
                ["active"] => {
                    let active = form.get("is_active") == Some("true");
                    let patch = serde_json::json!({ "is_active": active });
                    let result = runtime.put(&key, patch, PutMode::Patch, None, AUTHOR).await;
                    let done = if active { "Activated" } else { "Deactivated" };
                    Some(outcome(ctx, &kind, &key, &current, version, result, done).await)
                }
                ["delete"] => Some(match runtime.delete(&key, None, AUTHOR).await {
                    Ok(o) => {
                        let nodes = api::nodes_after(ctx.inner, o.version, ACK_WAIT).await;
                        ctx.done(
                            Flash {
                                message: format!("Deleted {key}."),
                                version: Some(o.version),
                                nodes: nodes.and_then(|n| n.as_array().cloned()),
                                warnings: Vec::new(),
                            },
                            &format!("/admin/{section}"),
                        )
                    }
                    Err(e) => list_with_error(ctx, section, &e).await,
                }),
                ["secret"] => Some(change_secret(ctx, &kind, &key, &current, version, form).await),
                ["ping"] if section == Section::Outgoing => {
                    let started = std::time::Instant::now();
                    let message = match runtime.ping(&key).await {
                        Ok(Ok(what)) => format!(
                            "Ping of {key}: ok in {} ms, {what}.",
                            started.elapsed().as_millis()
                        ),
                        Ok(Err(why)) => format!("Ping of {key} failed: {why}"),
                        Err(e) => format!("Ping of {key} failed: {e}"),
                    };
                    let flash = Flash {
                        message,
                        version: None,
                        nodes: None,
                        warnings: Vec::new(),
                    };
                    Some(ctx.done(flash, &format!("{}/{}", kind.base(), form::segment(name))))
                }
                _ => None,
            }
        }
    }
}

async fn list_with_error(ctx: &Ctx<'_>, section: Section, e: &ChangeError) -> Reply {
    ctx.inner.sessions.set_flash(
        &ctx.session,
        Flash {
            message: format!("Nothing was changed: {e}"),
            version: None,
            nodes: None,
            warnings: Vec::new(),
        },
    );
    let mut reply = list(ctx, section).await;
    *reply.status_mut() = StatusCode::CONFLICT;
    reply
}

async fn create(ctx: &Ctx<'_>, section: Section, kind: &str, form: &Form) -> Reply {
    let ty = (section == Section::Security).then(|| form.get("type").unwrap_or_default());
    let Some(kind) = Kind::find(ctx, section, kind, ty) else {
        return super::not_found();
    };
    let shape = form::template(kind.schema.as_ref(), ty);
    let (mut object, bad_json) = form::object_from(&shape, kind.secrets(), form);
    if let Some(ty) = ty {
        object.insert("type".into(), Value::String(ty.to_owned()));
    }
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let key = kind.key(&name);
    let title = format!("New: {}", kind_title(section, &kind.kind));
    if !bad_json.is_empty() || name.is_empty() {
        let mut problems = Problems::default();
        for (field, message) in bad_json {
            problems.fields.entry(field).or_default().push(message);
        }
        if name.is_empty() {
            problems
                .fields
                .entry("name".into())
                .or_default()
                .push("required".into());
        }
        problems
            .general
            .push("Correct the highlighted fields.".into());
        return form_page(
            ctx,
            StatusCode::BAD_REQUEST,
            &title,
            &kind,
            None,
            &shape,
            &object,
            &problems,
        );
    }
    let mut with_secrets = object.clone();
    with_secrets.extend(form::secrets_from(kind.secrets(), form));
    let result = ctx
        .inner
        .runtime
        .put(
            &key,
            Value::Object(with_secrets),
            PutMode::Create,
            None,
            AUTHOR,
        )
        .await;
    match result {
        Ok(o) => done(ctx, &kind, &key, o, "Created").await,
        Err(e) => form_page(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &title,
            &kind,
            None,
            &shape,
            &object,
            &Problems::of(&key, &e),
        ),
    }
}

async fn update(
    ctx: &Ctx<'_>,
    kind: &Kind,
    key: &ObjectKey,
    current: &Value,
    form: &Form,
) -> Reply {
    let shape = current.as_object().cloned().unwrap_or_default();
    let (mut object, bad_json) = form::object_from(&shape, kind.secrets(), form);
    // The name is the object's address and a security definition's type is fixed: neither is a
    // field of the form.
    object.insert("name".into(), Value::String(key.name.clone()));
    if let Some(ty) = &kind.security_type {
        object.insert("type".into(), Value::String(ty.clone()));
    }
    let version = form.get("version").and_then(|v| v.parse::<u64>().ok());
    if !bad_json.is_empty() {
        let mut problems = Problems::default();
        for (field, message) in bad_json {
            problems.fields.entry(field).or_default().push(message);
        }
        problems
            .general
            .push("Correct the highlighted fields.".into());
        return form_page(
            ctx,
            StatusCode::BAD_REQUEST,
            &key.to_string(),
            kind,
            version.or(Some(0)),
            &shape,
            &object,
            &problems,
        );
    }
    let mut written = object.clone();
    form::keep_secrets(&mut written, current, kind.secrets());
    let result = ctx
        .inner
        .runtime
        .put(
            key,
            Value::Object(written),
            PutMode::Upsert,
            version,
            AUTHOR,
        )
        .await;
    match result {
        Ok(o) => done(ctx, kind, key, o, "Saved").await,
        Err(e) => form_page(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &key.to_string(),
            kind,
            version.or(Some(0)),
            &shape,
            &object,
            &Problems::of(key, &e),
        ),
    }
}

async fn change_secret(
    ctx: &Ctx<'_>,
    kind: &Kind,
    key: &ObjectKey,
    current: &Value,
    version: u64,
    form: &Form,
) -> Reply {
    let field = form.get("field").unwrap_or_default();
    let Some(field) = kind.secrets().iter().find(|s| **s == field) else {
        return super::not_found();
    };
    let (one, two) = (
        form.get("secret1").unwrap_or_default(),
        form.get("secret2").unwrap_or_default(),
    );
    let refusal = if one.is_empty() {
        Some(format!("enter the new {field}"))
    } else if one != two {
        Some("the two values differ".to_owned())
    } else {
        None
    };
    let shape = current.as_object().cloned().unwrap_or_default();
    if let Some(why) = refusal {
        let mut problems = Problems::default();
        problems.secrets.insert((*field).to_owned(), vec![why]);
        problems
            .general
            .push(format!("The {field} was not changed."));
        return form_page(
            ctx,
            StatusCode::BAD_REQUEST,
            &key.to_string(),
            kind,
            Some(version),
            &shape,
            &shape,
            &problems,
        );
    }
    let patch = serde_json::json!({ *field: one });
    let result = ctx
        .inner
        .runtime
        .put(key, patch, PutMode::Patch, None, AUTHOR)
        .await;
    match result {
        Ok(o) => {
            let nodes = api::nodes_after(ctx.inner, o.version, ACK_WAIT).await;
            ctx.done(
                Flash {
                    message: format!("Changed the {field} of {key}."),
                    version: Some(o.version),
                    nodes: nodes.and_then(|n| n.as_array().cloned()),
                    warnings: Vec::new(),
                },
                &format!("{}/{}", kind.base(), form::segment(&key.name)),
            )
        }
        Err(e) => {
            let mut problems = Problems::of(key, &e);
            // A problem with the secret belongs to its own form; its value is never shown.
            if let Some(p) = problems.fields.remove(*field) {
                problems.secrets.insert((*field).to_owned(), p);
            }
            form_page(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &key.to_string(),
                kind,
                Some(version),
                &shape,
                &shape,
                &problems,
            )
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the outcome of a change, with what a refusal needs to show the form again"
)]
async fn outcome(
    ctx: &Ctx<'_>,
    kind: &Kind,
    key: &ObjectKey,
    current: &Value,
    version: u64,
    result: Result<WriteOutcome, ChangeError>,
    what: &str,
) -> Reply {
    match result {
        Ok(o) => done(ctx, kind, key, o, what).await,
        Err(e) => {
            let shape = current.as_object().cloned().unwrap_or_default();
            form_page(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &key.to_string(),
                kind,
                Some(version),
                &shape,
                &shape,
                &Problems::of(key, &e),
            )
        }
    }
}

/// After a change: its version and, in a cluster, the nodes' acknowledgements, on the list.
async fn done(ctx: &Ctx<'_>, kind: &Kind, key: &ObjectKey, o: WriteOutcome, what: &str) -> Reply {
    let nodes = api::nodes_after(ctx.inner, o.version, ACK_WAIT).await;
    let message = if o.op.is_some() {
        format!("{what} {key}.")
    } else {
        format!("{key}: nothing to change.")
    };
    ctx.done(
        Flash {
            message,
            version: o.op.is_some().then_some(o.version),
            nodes: nodes.and_then(|n| n.as_array().cloned()),
            warnings: o.warnings,
        },
        &format!("/admin/{}", kind.section),
    )
}
