//! The whole document: an import reviewed as a dry run's diff before it is applied, and the
//! export's download.

use http::header::{self, HeaderValue};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use zato_core::config::{ChangeError, ConfigDocument, Format, ImportOptions};

use super::api::{self, Reply};
use super::form::Form;
use super::pages::Nav;
use super::reports;
use super::session::{self, Flash, PendingImport};
use super::{ACK_WAIT, AUTHOR, Ctx, Inner, refused, secure_headers};

/// The largest document the import form takes: 2 MiB.
const MAX_DOCUMENT: usize = 2 * 1024 * 1024;

pub(super) async fn review(ctx: &Ctx<'_>, form: &Form) -> Reply {
    let again = |errors: Vec<String>| {
        ctx.page_with(
            StatusCode::BAD_REQUEST,
            "Import",
            Nav::Import,
            reports::import_form(&ctx.csrf, &errors),
        )
    };
    let Some(upload) = form.file("document") else {
        return again(vec!["Choose a document to upload.".into()]);
    };
    // A reviewed import is kept in its session until confirmed: bounded by the sessions' number
    // and this size.
    if upload.bytes.len() > MAX_DOCUMENT {
        return again(vec![format!(
            "The document is larger than {} MiB.",
            MAX_DOCUMENT / (1024 * 1024)
        )]);
    }
    let format = match form.get("format").filter(|f| !f.is_empty()) {
        Some(f) => Format::from_name(f),
        None => Format::from_path(&upload.file_name).ok(),
    };
    let Some(format) = format else {
        return again(vec![format!(
            "{}: say its format, or name it .toml, .yaml or .json",
            upload.file_name
        )]);
    };
    let Ok(text) = std::str::from_utf8(&upload.bytes) else {
        return again(vec!["The document is not UTF-8.".into()]);
    };
    let doc = match ConfigDocument::parse(text, format) {
        Ok(doc) => doc,
        Err(e) => return again(e.problems().iter().map(ToString::to_string).collect()),
    };
    let replace = form.get("replace") == Some("true");
    let options = ImportOptions {
        dry_run: true,
        replace,
    };
    match ctx.inner.runtime.import(&doc, options, AUTHOR).await {
        Ok(outcome) => {
            let pending = PendingImport {
                id: session::token(),
                doc,
                replace,
                version: outcome.version,
                diff: outcome.diff,
            };
            let body = reports::import_review(
                &ctx.csrf,
                &pending.id,
                &upload.file_name,
                replace,
                &pending.diff,
                &outcome.warnings,
            );
            ctx.inner.sessions.set_pending(&ctx.session, pending);
            ctx.page("Review the import", Nav::Import, body)
        }
        Err(e) => again(change_messages(&e)),
    }
}

pub(super) async fn apply(ctx: &Ctx<'_>, form: &Form) -> Reply {
    let id = form.get("pending").unwrap_or_default();
    let Some(pending) = ctx.inner.sessions.take_pending(&ctx.session, id) else {
        return ctx.page_with(
            StatusCode::CONFLICT,
            "Import",
            Nav::Import,
            reports::import_form(
                &ctx.csrf,
                &["That import is no longer waiting: upload it again.".into()],
            ),
        );
    };
    let runtime = &ctx.inner.runtime;
    // Applied only as reviewed: when the configuration changed meanwhile, review it again.
    if runtime.applied_version() != pending.version {
        let options = ImportOptions {
            dry_run: true,
            replace: pending.replace,
        };
        return match runtime.import(&pending.doc, options, AUTHOR).await {
            Ok(outcome) => {
                let pending = PendingImport {
                    id: session::token(),
                    version: outcome.version,
                    diff: outcome.diff,
                    ..pending
                };
                let body = maud::html! {
                    div.errors role="alert" { p { "The configuration changed since your review: this is what the import would change now." } }
                    (reports::import_review(&ctx.csrf, &pending.id, "the document", pending.replace, &pending.diff, &outcome.warnings))
                };
                ctx.inner.sessions.set_pending(&ctx.session, pending);
                ctx.page_with(StatusCode::CONFLICT, "Review the import", Nav::Import, body)
            }
            Err(e) => ctx.page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Import",
                Nav::Import,
                reports::import_form(&ctx.csrf, &change_messages(&e)),
            ),
        };
    }
    let options = ImportOptions {
        dry_run: false,
        replace: pending.replace,
    };
    match runtime.import(&pending.doc, options, AUTHOR).await {
        Ok(outcome) => {
            let d = &outcome.diff;
            let message = format!(
                "Imported: {} created, {} updated, {} deleted.",
                d.created.len(),
                d.updated.len(),
                d.deleted.len()
            );
            let nodes = api::nodes_after(ctx.inner, outcome.version, ACK_WAIT).await;
            ctx.done(
                Flash {
                    message,
                    version: Some(outcome.version),
                    nodes: nodes.and_then(|n| n.as_array().cloned()),
                    warnings: Vec::new(),
                },
                "/admin/import",
            )
        }
        Err(e) => ctx.page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Import",
            Nav::Import,
            reports::import_form(&ctx.csrf, &change_messages(&e)),
        ),
    }
}

/// A refused change as lines for a page.
fn change_messages(e: &ChangeError) -> Vec<String> {
    match e {
        ChangeError::Invalid(c) | ChangeError::ApplyFailed(c) => {
            c.problems().iter().map(ToString::to_string).collect()
        }
        other => vec![other.to_string()],
    }
}

/// The export's download: `?format=toml|yaml|json`.
pub(super) async fn download(inner: &Inner, req: &Request<Incoming>) -> Reply {
    let format = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned())
        .and_then(|mut q| q.find(|(k, _)| k == "format"))
        .and_then(|(_, f)| Format::from_name(&f));
    let Some(format) = format else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Export",
            "Choose TOML, YAML or JSON.",
        );
    };
    let exported = inner.runtime.export().await;
    let text = exported
        .map_err(|e| e.to_string())
        .and_then(|(v, doc)| Ok((v, doc.to_text(format).map_err(|e| e.to_string())?)));
    match text {
        Ok((version, text)) => {
            let mut reply = api::text_reply(StatusCode::OK, format.media_type(), text);
            let name = format!(
                "attachment; filename=\"zato-config-v{version}.{}\"",
                format.as_str()
            );
            if let Ok(v) = HeaderValue::from_str(&name) {
                reply.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            secure_headers(reply.headers_mut());
            reply
        }
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, "Export", &e),
    }
}
