//! The web admin at `/admin/`: the configuration through forms in a browser, on the admin API's
//! listener and over the same runtime calls.
//!
//! A login with the admin token opens a session (an `HttpOnly`, `SameSite=Strict` cookie);
//! sessions are bounded in number and expire. Every form carries the session's CSRF token, and
//! every `POST` under `/admin/` is checked for it before it is routed: without it the answer is
//! 403. Pages are HTML rendered on the server; no form needs JavaScript.

mod document;
mod form;
mod objects;
mod pages;
mod reports;
mod session;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::Value;
use subtle::ConstantTimeEq;
use zato_core::config::{ObjectKey, PutMode, Section};

use crate::Inner;
use crate::api::{self, Reply};
use form::Form;
use pages::{Frame, Nav};
use session::Flash;
pub(crate) use session::Sessions;

/// The session cookie.
const SESSION_COOKIE: &str = "zato_admin";
/// Why a form comes from another site, as the browser says through `Sec-Fetch-Site` and
/// `Origin`; `None` for the web admin's own pages, and for clients that send neither (the CSRF
/// token still has to match).
fn cross_site(req: &Request<Incoming>) -> Option<&'static str> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // A browser that says where the request comes from is believed: the pages are served with
    // `Referrer-Policy: no-referrer`, under which Chromium sends `Origin: null` on the admin's
    // own forms.
    if let Some(site) = header("sec-fetch-site") {
        return (!matches!(site, "same-origin" | "none"))
            .then_some("The form was refused: it was sent from another site.");
    }
    let origin = header("origin")?;
    let host = header("host")?;
    let own = origin.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
    });
    (!own).then_some("The form was refused: its Origin is not this admin's.")
}

/// The cookie the login form's CSRF token is checked against: there is no session yet.
const LOGIN_COOKIE: &str = "zato_admin_login";
/// How long a refused login waits before answering; refusals are answered one at a time, so at
/// most one guess a second is answered.
const LOGIN_DELAY: Duration = Duration::from_secs(1);
/// Who the store records for changes made here.
const AUTHOR: &str = "web-admin";
/// How long a change waits for the cluster's nodes to apply it.
const ACK_WAIT: Duration = Duration::from_secs(5);

const STYLE: &str = include_str!("style.css");

/// A request of a logged-in session.
struct Ctx<'a> {
    inner: &'a Inner,
    session: String,
    csrf: String,
}

impl Ctx<'_> {
    /// A page of this session, with the message of its last change.
    fn page(&self, title: &str, nav: Nav, body: maud::Markup) -> Reply {
        self.page_with(StatusCode::OK, title, nav, body)
    }

    fn page_with(&self, status: StatusCode, title: &str, nav: Nav, body: maud::Markup) -> Reply {
        let frame = Frame {
            title,
            nav,
            csrf: &self.csrf,
            version: self.inner.runtime.applied_version(),
            flash: self.inner.sessions.take_flash(&self.session),
        };
        html(status, pages::page(frame, body))
    }

    /// Shows `flash` on the next page, and sends the browser there.
    fn done(&self, flash: Flash, to: &str) -> Reply {
        self.inner.sessions.set_flash(&self.session, flash);
        redirect(to)
    }
}

fn html(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    let h = reply.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    reply
}

fn secure_headers(h: &mut http::HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn redirect(to: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        reply.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(reply.headers_mut());
    reply
}

fn refused(status: StatusCode, title: &str, text: &str) -> Reply {
    html(status, pages::message(title, text))
}

fn cookie(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(reply: &mut Reply, name: &str, value: &str, max_age: Option<Duration>) {
    let age = max_age.map_or_else(String::new, |a| format!("; Max-Age={}", a.as_secs()));
    let text = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{age}");
    if let Ok(v) = HeaderValue::from_str(&text) {
        reply.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Answers a request under `/admin/`; `segs` is its path after `admin`.
pub(super) async fn handle(inner: &Arc<Inner>, req: Request<Incoming>, segs: &[&str]) -> Reply {
    let method = req.method().clone();
    let segs: Vec<&str> = segs.iter().copied().filter(|s| !s.is_empty()).collect();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["style.css"]) => {
            let mut reply = api::text_reply(StatusCode::OK, "text/css; charset=utf-8", STYLE);
            secure_headers(reply.headers_mut());
            return reply;
        }
        (&Method::GET, ["login"]) => return login_page(None, StatusCode::OK),
        _ => {}
    }
    let session =
        cookie(&req, SESSION_COOKIE).and_then(|id| inner.sessions.csrf(&id).map(|csrf| (id, csrf)));
    if method == Method::POST {
        // Without a session only the login form can carry a valid token: refused before its
        // body is read.
        if session.is_none() && segs.as_slice() != ["login"] {
            return refused(StatusCode::FORBIDDEN, "Forbidden", "Log in first.");
        }
        if let Some(why) = cross_site(&req) {
            return refused(StatusCode::FORBIDDEN, "Forbidden", why);
        }
        let login_token = cookie(&req, LOGIN_COOKIE);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let form = match api::body(req).await {
            Ok(bytes) => Form::read(&content_type, bytes).await,
            Err(refusal) => {
                return refused(refusal.status, "Request refused", &refusal.message);
            }
        };
        let form = match form {
            Ok(f) => f,
            Err(e) => return refused(StatusCode::BAD_REQUEST, "Request refused", &e.0),
        };
        // The CSRF check runs before any routing.
        let given = form.get("csrf").unwrap_or_default();
        let expected = match segs.as_slice() {
            ["login"] => login_token,
            _ => session.as_ref().map(|(_, csrf)| csrf.clone()),
        };
        if !expected.is_some_and(|e| same(given, &e)) {
            return refused(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The form was refused: its CSRF token is missing or stale, or the session ended. Log in and try again.",
            );
        }
        if segs.as_slice() == ["login"] {
            return log_in(inner, &form).await;
        }
        let Some((session, csrf)) = session else {
            return refused(StatusCode::FORBIDDEN, "Forbidden", "Log in first.");
        };
        let ctx = Ctx {
            inner,
            session,
            csrf,
        };
        return post(&ctx, &segs, &form).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "The web admin takes GET and POST.",
        );
    }
    let Some((session, csrf)) = session else {
        return redirect("/admin/login");
    };
    let ctx = Ctx {
        inner,
        session,
        csrf,
    };
    if segs.as_slice() == ["export", "download"] {
        return document::download(inner, &req).await;
    }
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    get(&ctx, &segs, &query).await
}

fn login_page(error: Option<&str>, status: StatusCode) -> Reply {
    let token = session::token();
    let mut reply = html(status, pages::login(&token, error));
    set_cookie(&mut reply, LOGIN_COOKIE, &token, None);
    reply
}

async fn log_in(inner: &Inner, form: &Form) -> Reply {
    let given = form.get("token").unwrap_or_default().trim();
    if !same(given, inner.token.expose()) {
        // One refusal at a time, each after the delay: guesses sent side by side wait in turn.
        let _turn = inner.sessions.refusals.lock().await;
        tokio::time::sleep(LOGIN_DELAY).await;
        return login_page(
            Some("That is not the admin token."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let id = inner.sessions.open();
    let mut reply = redirect("/admin/services");
    set_cookie(&mut reply, SESSION_COOKIE, &id, Some(session::MAX_AGE));
    set_cookie(&mut reply, LOGIN_COOKIE, "", Some(Duration::ZERO));
    tracing::info!("web admin: a session was opened");
    reply
}

async fn get(ctx: &Ctx<'_>, segs: &[&str], query: &[(String, String)]) -> Reply {
    match segs {
        [] => redirect("/admin/services"),
        ["services"] => services(ctx, None).await,
        ["import"] => ctx.page("Import", Nav::Import, reports::import_form(&ctx.csrf, &[])),
        ["export"] => ctx.page("Export", Nav::Export, reports::export()),
        ["cluster"] => cluster(ctx).await,
        ["history"] => match ctx.inner.runtime.history().await {
            Ok(entries) => ctx.page("History", Nav::History, reports::history(&entries)),
            Err(e) => store_failed(ctx, &e.to_string()),
        },
        ["metrics"] => ctx.page(
            "Metrics",
            Nav::Metrics,
            reports::metrics(&channel_stats(
                &ctx.inner.runtime.platform().metrics().render(),
            )),
        ),
        _ => objects::get(ctx, segs, query)
            .await
            .unwrap_or_else(not_found),
    }
}

async fn post(ctx: &Ctx<'_>, segs: &[&str], form: &Form) -> Reply {
    match segs {
        ["logout"] => {
            ctx.inner.sessions.close(&ctx.session);
            let mut reply = redirect("/admin/login");
            set_cookie(&mut reply, SESSION_COOKIE, "", Some(Duration::ZERO));
            reply
        }
        ["services", name, "invoke"] => invoke(ctx, name, form).await,
        ["services", name, "active"] => service_active(ctx, name, form).await,
        ["import"] => document::review(ctx, form).await,
        ["import", "apply"] => document::apply(ctx, form).await,
        _ => objects::post(ctx, segs, form)
            .await
            .unwrap_or_else(not_found),
    }
}

fn not_found() -> Reply {
    refused(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page in the admin.",
    )
}

async fn services(ctx: &Ctx<'_>, invoked: Option<pages::Invoked>) -> Reply {
    match api::service_items(ctx.inner).await {
        Ok((_, items)) => ctx.page(
            "Services",
            Nav::Services,
            pages::services(&ctx.csrf, &items, invoked.as_ref()),
        ),
        Err(e) => store_failed(ctx, &e.to_string()),
    }
}

fn store_failed(ctx: &Ctx<'_>, why: &str) -> Reply {
    ctx.page_with(
        StatusCode::SERVICE_UNAVAILABLE,
        "Store unavailable",
        Nav::None,
        maud::html! { div.errors role="alert" { p { (why) } } },
    )
}

/// Activates or deactivates a service: its settings in the `services` section.
async fn service_active(ctx: &Ctx<'_>, name: &str, form: &Form) -> Reply {
    let active = form.get("is_active") == Some("true");
    let key = ObjectKey::new(Section::Services, Section::Services.sole_kind(), name);
    let settings = serde_json::json!({"name": name, "is_active": active});
    let runtime = &ctx.inner.runtime;
    let flash = match runtime
        .put(&key, settings, PutMode::Upsert, None, AUTHOR)
        .await
    {
        Ok(o) => Flash {
            message: format!(
                "{} {key}.",
                if active { "Activated" } else { "Deactivated" }
            ),
            version: o.op.is_some().then_some(o.version),
            nodes: api::nodes_after(ctx.inner, o.version, ACK_WAIT)
                .await
                .and_then(|n| n.as_array().cloned()),
            warnings: o.warnings,
        },
        Err(e) => Flash {
            message: format!("Nothing was changed: {e}"),
            version: None,
            nodes: None,
            warnings: Vec::new(),
        },
    };
    ctx.done(flash, "/admin/services")
}

async fn invoke(ctx: &Ctx<'_>, name: &str, form: &Form) -> Reply {
    let payload = form.get("payload").unwrap_or_default().to_owned();
    let (cid, status, response) =
        api::invoke_service(ctx.inner, name, Bytes::from(payload.clone())).await;
    let response = match &response {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    let invoked = pages::Invoked {
        service: name.to_owned(),
        payload,
        cid: cid.to_string(),
        status,
        response,
    };
    services(ctx, Some(invoked)).await
}

async fn cluster(ctx: &Ctx<'_>) -> Reply {
    let status = match ctx.inner.runtime.replication() {
        Some(r) => Some(r.status().await.map_err(|e| e.to_string())),
        None => None,
    };
    ctx.page("Cluster", Nav::Cluster, reports::cluster(status))
}

/// Requests per channel, from the Prometheus text of the platform's metrics.
fn channel_stats(text: &str) -> Vec<reports::ChannelStats> {
    let mut rows: Vec<reports::ChannelStats> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("zato_channel_requests_total{") else {
            continue;
        };
        let Some((labels, count)) = rest.split_once("} ") else {
            continue;
        };
        let Ok(count) = count.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split("\",")
                .filter_map(|l| l.split_once("=\""))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let (kind, channel) = (label("kind"), label("channel"));
        let status: u16 = label("status").parse().unwrap_or(0);
        let count = count as u64;
        let i = match rows
            .iter()
            .position(|r| r.kind == kind && r.channel == channel)
        {
            Some(i) => i,
            None => {
                rows.push(reports::ChannelStats {
                    kind,
                    channel,
                    ..reports::ChannelStats::default()
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[i];
        row.requests += count;
        match status {
            400..=499 => row.client_errors += count,
            500..=599 => row.server_errors += count,
            _ => {}
        }
    }
    rows.sort_by(|a, b| (&a.kind, &a.channel).cmp(&(&b.kind, &b.channel)));
    rows
}

/// The section a path names, and its kind: `channels/http`, `security`.
fn section_of(segs: &[&str]) -> Option<(Section, Option<String>, usize)> {
    match segs {
        ["security", ..] => Some((Section::Security, Some("security".into()), 1)),
        [s @ ("channels" | "outgoing"), kind, ..] => {
            Some((Section::parse(s)?, Some((*kind).to_owned()), 2))
        }
        [s @ ("channels" | "outgoing")] => Some((Section::parse(s)?, None, 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_per_channel() {
        let text = concat!(
            "# TYPE zato_channel_requests counter\n",
            "zato_channel_requests_total{kind=\"http\",channel=\"invoice.json\",status=\"200\"} 2\n",
            "zato_channel_requests_total{kind=\"http\",channel=\"invoice.json\",status=\"503\"} 1\n",
            "zato_channel_requests_total{kind=\"http\",channel=\"invoice.json\",status=\"400\"} 1\n",
            "zato_channel_requests_total{kind=\"amqp\",channel=\"q\",status=\"200\"} 5\n",
        );
        let rows = channel_stats(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].channel, "q");
        assert_eq!(rows[1].requests, 4);
        assert_eq!(rows[1].client_errors, 1);
        assert_eq!(rows[1].server_errors, 1);
    }
}
