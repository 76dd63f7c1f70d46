//! The web admin of the running InvoiceDispatcher, driven in a real browser (Chromium through
//! chromedriver and WebDriver) as an operator uses it: log in, create a channel and call it,
//! break and heal the Swift key, review an import before applying it, switch a channel off, see
//! field errors, log out. And what a browser cannot show: forms without the CSRF token or the
//! session cookie are refused, and no page holds a secret.
//!
//! The browser tests need `/usr/bin/chromedriver` (Debian's `chromium-driver`; `ZATO_CHROMEDRIVER`
//! names another): a plain `cargo test` reports them as ignored, and `--include-ignored` (as
//! `.ci/run` runs them) fails them when there is none. With `ZATO_UPDATE_SCREENSHOTS=1` the
//! README's screenshots in `docs/screenshots/` are taken anew.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use invoice_dispatcher as app;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "web-admin-token-for-tests";

/// One browser at a time: two cores are shared by the node, chromedriver and Chromium.
static BROWSER_SLOT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The chromedriver to use: the browser tests are ignored unless asked for, and then need it.
fn chromedriver() -> PathBuf {
    let path = std::env::var_os("ZATO_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    assert!(
        path.exists(),
        "no chromedriver at {}: install chromium and chromium-driver, or set ZATO_CHROMEDRIVER",
        path.display()
    );
    path
}

/// chromedriver and the Chromium it starts, in a process group of their own: dropping it ends
/// them both, on success and on panic alike, and removes the browser's profile.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's own (it leads the group).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_browser(chromedriver: &Path) -> (Client, Driver) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let profile =
        std::env::temp_dir().join(format!("zato-web-admin-{}-{port}", std::process::id()));
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, profile };
    let url = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("ZATO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--hide-scrollbars", "--no-first-run",
                "--disable-crash-reporter", "--disable-breakpad",
                format!("--user-data-dir={}", driver.profile.display()),
            ],
        }),
    );
    // chromedriver takes a moment to listen: bounded retries.
    let mut last = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (client, driver),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start a session: {last:?}");
}

/// A running node and a browser pointed at its admin.
struct Admin {
    running: Option<app::Running>,
    base: String,
    admin: String,
    http: reqwest::Client,
    browser: Client,
    // Dropped last: it ends the browser even when a test panics.
    _driver: Driver,
    _slot: tokio::sync::MutexGuard<'static, ()>,
}

impl Admin {
    async fn start() -> Admin {
        let chromedriver = chromedriver();
        let slot = BROWSER_SLOT.lock().await;
        let (running, base, admin) = app::start_local_node(TOKEN)
            .await
            .expect("the example starts");
        let (browser, driver) = start_browser(&chromedriver).await;
        Admin {
            running: Some(running),
            base,
            admin,
            http: reqwest::Client::new(),
            browser,
            _driver: driver,
            _slot: slot,
        }
    }

    async fn finish(mut self) {
        let _ = self.browser.clone().close().await;
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    async fn goto(&self, path: &str) {
        self.browser
            .goto(&format!("{}{path}", self.admin))
            .await
            .expect("the page loads");
    }

    async fn path(&self) -> String {
        self.browser
            .current_url()
            .await
            .expect("a URL")
            .path()
            .to_owned()
    }

    async fn html(&self) -> String {
        self.browser.source().await.expect("the page's source")
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.browser.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    async fn find_all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.browser
            .find_all(Locator::Css(css))
            .await
            .expect("a search")
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Replaces what the input `css` holds with `value`.
    async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("cleared");
        input.send_keys(value).await.expect("typed");
    }

    /// Clicks a link or a submit button, and waits for the page it leads to.
    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        // A mark on the page's window: gone once the next page has replaced it.
        self.browser
            .execute("window.zatoOldPage = true;", vec![])
            .await
            .expect("marked");
        element.click().await.expect("clicked");
        for _ in 0..200 {
            let loaded = self
                .browser
                .execute(
                    "return window.zatoOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} led to no new page");
    }

    async fn log_in(&self) {
        self.goto("/admin/login").await;
        self.fill("#token", TOKEN).await;
        self.click("form button[type=submit]").await;
        assert_eq!(self.path().await, "/admin/services", "logged in");
    }

    /// A `POST` to the InvoiceDispatcher's channel at `path`.
    async fn dispatch(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .post(format!("{}{path}?target=CRM", self.base))
            .body(r#"{"id":"123"}"#)
            .send()
            .await
            .expect("the channel answers");
        (resp.status(), resp.text().await.expect("body"))
    }

    /// The admin API's answer to `GET path`.
    async fn api(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("the admin API answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn config_version(&self) -> u64 {
        let (_, history) = self.api("/api/config/history").await;
        history["version"].as_u64().expect("a version")
    }

    fn swift_key(&self) -> String {
        self.running
            .as_ref()
            .and_then(|r| r.local.as_ref())
            .expect("the local endpoint")
            .key()
            .to_owned()
    }

    /// Saves the page as `name`.png in the test's own directory and, with
    /// `ZATO_UPDATE_SCREENSHOTS=1`, in `docs/screenshots/` for the README.
    async fn screenshot(&self, name: &str) {
        let png = self.browser.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR"))];
        if README_SCREENSHOTS.contains(&name)
            && std::env::var("ZATO_UPDATE_SCREENSHOTS").as_deref() == Ok("1")
        {
            dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).expect("screenshot directory");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("screenshot written");
        }
    }
}

const JSON_CHANNEL: &str = "/invoice.dispatcher";

/// The screenshots the README shows; the others stay in the test's directory.
const README_SCREENSHOTS: [&str; 2] = ["services", "connection"];

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn an_operator_logs_in_creates_an_http_channel_calls_it_and_logs_out() {
    let admin = Admin::start().await;
    // No session: every page leads to the login form.
    admin.goto("/admin/services").await;
    assert_eq!(admin.path().await, "/admin/login");

    // A wrong token: the form again, saying so.
    admin.fill("#token", "not-the-token").await;
    admin.click("form button[type=submit]").await;
    assert_eq!(admin.path().await, "/admin/login");
    assert!(
        admin
            .text("[role=alert]")
            .await
            .contains("not the admin token")
    );
    admin.find("#token").await;

    admin.log_in().await;
    assert!(admin.html().await.contains("invoice.dispatcher"));

    // The services page invokes a service with JSON and shows the response and its cid.
    admin
        .fill("#payload-invoice-dispatcher", r#"{"target": ["Billing"]}"#)
        .await;
    admin
        .click("form.invoke:has(#payload-invoice-dispatcher) button")
        .await;
    assert_eq!(admin.text("#status").await, "200");
    assert!(admin.text("#response").await.contains("Billing"));
    let cid = admin.text("#cid").await;
    assert_eq!(cid.len(), 26, "a cid: {cid:?}");
    admin.screenshot("services").await;

    // A service deactivated from its row refuses invocations until activated again.
    admin
        .click("form[action$='/invoice.dispatcher/active'] button")
        .await;
    assert!(admin.text(".flash").await.contains("Deactivated services"));
    let (status, _) = admin.dispatch(JSON_CHANNEL).await;
    assert_ne!(status, 200, "an inactive service is not invoked");
    admin
        .click("form[action$='/invoice.dispatcher/active'] button")
        .await;
    assert!(admin.text(".flash").await.contains("Activated services"));
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert_eq!(status, 200, "{body}");

    // Readable on a narrow screen: nothing wider than the window but the tables' own scrolling.
    admin
        .browser
        .set_window_size(390, 844)
        .await
        .expect("resized");
    let overflow = admin
        .browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .expect("measured");
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "the page is {overflow} px wider than a narrow window"
    );
    admin.screenshot("services-narrow").await;
    admin
        .browser
        .set_window_size(1280, 800)
        .await
        .expect("resized");

    // A new HTTP channel through the form.
    admin.goto("/admin/channels").await;
    admin.click("a[href='/admin/channels/http/new']").await;
    admin.fill("#field-name", "crm.orders").await;
    admin.fill("#field-url_path", "/crm/orders").await;
    admin.fill("#field-service", "invoice.dispatcher").await;
    admin.fill("#field-methods", r#"["POST"]"#).await;
    let before = admin.config_version().await;
    admin.click("form.object button[type=submit]").await;
    assert_eq!(admin.path().await, "/admin/channels");
    let flash = admin.text(".flash").await;
    assert!(flash.contains("Created channels.http"), "{flash}");
    assert!(
        flash.contains(&format!("New version: {}", before + 1)),
        "{flash}"
    );
    assert!(admin.html().await.contains("/crm/orders"));
    admin.screenshot("channels").await;

    // It serves at once.
    let (status, body) = admin.dispatch("/crm/orders").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!({"stored": ["CRM"]})
    );

    // Deleting it asks first, then it is gone.
    admin.click("#row-crm-orders a[href$='/delete']").await;
    assert!(admin.html().await.contains("channels.http.\"crm.orders\""));
    admin.click("form.object button.danger").await;
    assert_eq!(admin.path().await, "/admin/channels");
    assert!(admin.text(".flash").await.contains("Deleted"));
    assert!(admin.find_all("#row-crm-orders").await.is_empty());
    let (status, _) = admin.dispatch("/crm/orders").await;
    assert_eq!(status, 404, "deleted");

    // Logging out ends the session: the pages lead to the login form again.
    admin.click("form.logout button").await;
    assert_eq!(admin.path().await, "/admin/login");
    admin.goto("/admin/channels").await;
    assert_eq!(admin.path().await, "/admin/login");
    admin.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn the_swift_key_changed_through_the_form_breaks_and_heals_dispatch() {
    let admin = Admin::start().await;
    admin.log_in().await;
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert_eq!(status, 200, "{body}");

    admin.goto("/admin/outgoing").await;
    admin
        .click("a[href='/admin/outgoing/swift/Invoice%20Dispatcher']")
        .await;
    admin.find("#secret-key").await;
    admin.screenshot("connection").await;

    // A wrong key, typed twice: the change is live, and the next dispatch fails on it.
    admin.fill("#secret-key", "wrong-key").await;
    admin.fill("#secret-key-again", "wrong-key").await;
    admin
        .click("form:has(#secret-key) button[type=submit]")
        .await;
    let flash = admin.text(".flash").await;
    assert!(flash.contains("Changed the key"), "{flash}");
    assert!(flash.contains("New version"), "{flash}");
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(
        body.contains("Invoice Dispatcher"),
        "names the connection: {body}"
    );
    admin.click("section.ping button").await;
    let flash = admin.text(".flash").await;
    assert!(
        flash.contains("failed"),
        "the ping fails on the wrong key: {flash}"
    );

    // Two values that differ change nothing.
    let version = admin.config_version().await;
    admin.fill("#secret-key", "one").await;
    admin.fill("#secret-key-again", "other").await;
    admin
        .click("form:has(#secret-key) button[type=submit]")
        .await;
    assert!(admin.html().await.contains("the two values differ"));
    assert_eq!(admin.config_version().await, version);

    // The right key again: it works.
    let key = admin.swift_key();
    admin.fill("#secret-key", &key).await;
    admin.fill("#secret-key-again", &key).await;
    admin
        .click("form:has(#secret-key) button[type=submit]")
        .await;
    assert!(admin.text(".flash").await.contains("Changed the key"));
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert_eq!(status, 200, "{body}");
    assert!(!admin.html().await.contains(&key), "the key is never shown");
    admin.click("section.ping button").await;
    let flash = admin.text(".flash").await;
    assert!(
        flash.contains(": ok in"),
        "the ping succeeds again: {flash}"
    );

    // The history names each change and who made it.
    admin.goto("/admin/history").await;
    let history = admin.text("#history").await;
    assert!(
        history.contains("web-admin") && history.contains("outgoing.swift"),
        "{history}"
    );
    // Newest first, as the page says, and as the CLI and the API list them.
    let first = admin.text("#history tbody tr:first-child td").await;
    let last = admin.text("#history tbody tr:last-child td").await;
    let (first, last): (u64, u64) = (
        first.trim().parse().expect("a version"),
        last.trim().parse().expect("a version"),
    );
    assert!(first > last, "newest first: {first} then {last}");

    // The metrics page counts the channel's requests and the failed one.
    admin.goto("/admin/metrics").await;
    let rows = admin
        .browser
        .find_all(Locator::Css("#metrics tbody tr"))
        .await
        .expect("rows");
    let mut seen = false;
    for r in rows {
        let text = r.text().await.expect("text");
        if text.contains("invoice.dispatcher.json") {
            seen = true;
            // Kind, channel, requests, 4xx, 5xx, error rate: three calls, one failed.
            let cells: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(cells[2], "3", "{text}");
            assert_eq!(cells[4], "1", "{text}");
            assert!(text.contains("33.3 %"), "{text}");
        }
    }
    assert!(seen, "the channel has a row");
    admin.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn an_import_is_reviewed_as_a_diff_before_it_applies() {
    let admin = Admin::start().await;
    admin.log_in().await;
    let doc = json!({
        "channels": {"http": [
            {"name": "imported.orders", "url_path": "/imported/orders",
             "service": "invoice.dispatcher", "methods": ["POST"]},
            {"name": "invoice.dispatcher.json", "url_path": "/invoice.dispatcher",
             "service": "invoice.dispatcher", "data_format": "json", "methods": ["POST", "PUT"]},
        ]}
    });
    let file = std::env::temp_dir().join(format!("zato-import-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).expect("document written");
    let version = admin.config_version().await;

    admin.goto("/admin/import").await;
    admin
        .find("#document")
        .await
        .send_keys(&file.display().to_string())
        .await
        .expect("file chosen");
    admin.click("form.object button[type=submit]").await;
    let _ = std::fs::remove_file(&file);

    // The review: what would change, and nothing changed yet.
    assert!(
        admin
            .text("#diff tr.created")
            .await
            .contains("imported.orders")
    );
    assert!(
        admin
            .text("#diff tr.updated")
            .await
            .contains("invoice.dispatcher.json")
    );
    assert_eq!(
        admin.config_version().await,
        version,
        "a review applies nothing"
    );
    admin.screenshot("import-review").await;
    let (status, _) = admin.dispatch("/imported/orders").await;
    assert_eq!(status, 404, "not there before the confirmation");

    admin
        .click("form[action='/admin/import/apply'] button")
        .await;
    let flash = admin.text(".flash").await;
    assert!(flash.contains("1 created, 1 updated, 0 deleted"), "{flash}");
    assert!(
        flash.contains(&format!("New version: {}", version + 1)),
        "{flash}"
    );
    let (status, body) = admin.dispatch("/imported/orders").await;
    assert_eq!(status, 200, "{body}");
    admin.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn a_channel_deactivated_from_the_list_stops_serving() {
    let admin = Admin::start().await;
    admin.log_in().await;
    admin.goto("/admin/channels").await;
    let row = "#row-invoice-dispatcher-json";
    assert_eq!(admin.text(&format!("{row} td.active")).await, "yes");
    admin
        .click(&format!("{row} form[action$='/active'] button"))
        .await;
    assert!(admin.text(".flash").await.contains("Deactivated"));
    assert_eq!(admin.text(&format!("{row} td.active")).await, "no");
    let (status, _) = admin.dispatch(JSON_CHANNEL).await;
    assert_ne!(status, 200, "an inactive channel does not serve");

    admin
        .click(&format!("{row} form[action$='/active'] button"))
        .await;
    assert!(admin.text(".flash").await.contains("Activated"));
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert_eq!(status, 200, "{body}");
    admin.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn invalid_values_show_field_errors_and_change_nothing() {
    let admin = Admin::start().await;
    admin.log_in().await;
    let version = admin.config_version().await;
    admin
        .goto("/admin/channels/http/invoice.dispatcher.json")
        .await;
    admin.fill("#field-url_path", "no-leading-slash").await;
    admin.fill("#field-max_items", "0").await;
    admin.click("form.object button[type=submit]").await;

    for field in ["url_path", "max_items"] {
        let input = admin.find(&format!("#field-{field}")).await;
        assert_eq!(
            input
                .attr("aria-invalid")
                .await
                .expect("attribute")
                .as_deref(),
            Some("true"),
            "{field} is marked invalid"
        );
        let box_ = admin.find(&format!(".field:has(#field-{field})")).await;
        let class = box_.attr("class").await.expect("class").unwrap_or_default();
        assert!(class.contains("invalid"), "{field} is highlighted: {class}");
        let message = admin.text(&format!("#error-{field}")).await;
        assert!(!message.is_empty(), "{field} says what is wrong");
    }
    assert!(admin.text(".errors").await.contains("Nothing was changed"));
    admin.screenshot("field-errors").await;
    // What was typed stays in the form, to be corrected.
    let typed = admin
        .find("#field-url_path")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(typed.as_deref(), Some("no-leading-slash"));
    // Nothing applied: the version is the same and the channel serves where it did.
    assert_eq!(admin.config_version().await, version);
    let (status, body) = admin.dispatch(JSON_CHANNEL).await;
    assert_eq!(status, 200, "{body}");
    admin.finish().await;
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium chromium-driver)"]
async fn no_page_shows_a_secret() {
    let admin = Admin::start().await;
    admin.log_in().await;
    let basic_secret = "b4sic-s3cret-never-shown";
    // A security definition created through its form, its password typed in.
    admin.goto("/admin/security").await;
    admin
        .click("a[href='/admin/security/new?type=basic_auth']")
        .await;
    admin.fill("#field-name", "crm.basic").await;
    admin.fill("#field-username", "crm").await;
    admin.fill("#field-password", basic_secret).await;
    admin.click("form.object button[type=submit]").await;
    assert!(
        admin.text(".flash").await.contains("Created security"),
        "{}",
        admin.html().await
    );

    // Edited through its form, the password untouched: it still guards what it guarded.
    admin.goto("/admin/security/crm.basic").await;
    admin.fill("#field-realm", "crm").await;
    admin.click("form.object button[type=submit]").await;
    let flash = admin.text(".flash").await;
    assert!(flash.contains("Saved security"), "{flash}");
    let (_, def) = admin.api("/api/security/crm.basic").await;
    assert_eq!(def["realm"], "crm");
    assert_eq!(def["password"], "******", "the password is kept");

    let secrets = [basic_secret.to_owned(), admin.swift_key(), TOKEN.to_owned()];
    let pages = [
        "/admin/services",
        "/admin/channels",
        "/admin/channels/http/invoice.dispatcher.json",
        "/admin/channels/http/new",
        "/admin/outgoing",
        "/admin/outgoing/swift/Invoice%20Dispatcher",
        "/admin/outgoing/swift/new",
        "/admin/security",
        "/admin/security/crm.basic",
        "/admin/security/new?type=apikey",
        "/admin/import",
        "/admin/export",
        "/admin/cluster",
        "/admin/metrics",
        "/admin/history",
    ];
    for page in pages {
        admin.goto(page).await;
        let html = admin.html().await;
        assert!(!html.contains("Not found"), "{page} is a page of the admin");
        for secret in &secrets {
            assert!(!html.contains(secret.as_str()), "{page} shows a secret");
        }
    }
    // The export's downloads too, fetched with the browser's session.
    let session = admin
        .browser
        .get_named_cookie("zato_admin")
        .await
        .expect("the session cookie");
    for format in ["toml", "yaml", "json"] {
        let resp = admin
            .http
            .get(format!(
                "{}/admin/export/download?format={format}",
                admin.admin
            ))
            .header("cookie", format!("zato_admin={}", session.value()))
            .send()
            .await
            .expect("the export answers");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .is_ok_and(|d| d.starts_with("attachment")),
            "a download"
        );
        let text = resp.text().await.expect("body");
        assert!(text.contains("Invoice Dispatcher"), "{format}: {text}");
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "the {format} export shows a secret"
            );
        }
    }
    admin.finish().await;
}

/// The form fields a page holds: `name="csrf" value="…"`.
fn csrf_of(html: &str) -> String {
    let needle = "name=\"csrf\" value=\"";
    let at = html.find(needle).expect("a CSRF field") + needle.len();
    html[at..].split('"').next().expect("a value").to_owned()
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| {
            let value = c[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_owned(), c.to_owned())
        })
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_the_session_cookie_are_refused() {
    let (running, base, admin) = app::start_local_node(TOKEN)
        .await
        .expect("the example starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let dispatch = || async {
        http.post(format!("{base}{JSON_CHANNEL}?target=CRM"))
            .body("{}")
            .send()
            .await
            .expect("the channel answers")
            .status()
    };

    // No session: pages lead to the login form, and forms are refused.
    let page = http
        .get(format!("{admin}/admin/channels"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/admin/login");

    // The login form has its own CSRF token, bound to a cookie.
    let login = http
        .get(format!("{admin}/admin/login"))
        .send()
        .await
        .expect("answers");
    let (login_cookie, _) = cookie_of(&login, "zato_admin_login").expect("a login cookie");
    let login_csrf = csrf_of(&login.text().await.expect("body"));
    let no_csrf = http
        .post(format!("{admin}/admin/login"))
        .header("cookie", format!("zato_admin_login={login_cookie}"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .expect("answers");
    assert_eq!(no_csrf.status(), 403, "a login without its CSRF token");
    assert!(cookie_of(&no_csrf, "zato_admin").is_none());

    let logged_in = http
        .post(format!("{admin}/admin/login"))
        .header("cookie", format!("zato_admin_login={login_cookie}"))
        .form(&[("token", TOKEN), ("csrf", login_csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(logged_in.status(), 303);
    let (session, attributes) = cookie_of(&logged_in, "zato_admin").expect("a session cookie");
    assert!(attributes.contains("HttpOnly"), "{attributes}");
    assert!(attributes.contains("SameSite=Strict"), "{attributes}");
    let session_cookie = format!("zato_admin={session}");

    let page = http
        .get(format!("{admin}/admin/channels"))
        .header("cookie", &session_cookie)
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.expect("body"));

    let deactivate = format!("{admin}/admin/channels/http/invoice.dispatcher.json/active");
    let attempts: [(&str, Option<&str>, Option<&str>); 4] = [
        ("no CSRF token", Some(&session_cookie), None),
        (
            "a wrong CSRF token",
            Some(&session_cookie),
            Some("0123abcd"),
        ),
        ("no session cookie", None, Some(&csrf)),
        (
            "an unknown session",
            Some("zato_admin=feedbeef"),
            Some(&csrf),
        ),
    ];
    for (what, cookie, token) in attempts {
        let mut req = http.post(&deactivate);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        let mut fields = vec![("is_active", "false")];
        if let Some(token) = token {
            fields.push(("csrf", token));
        }
        let resp = req.form(&fields).send().await.expect("answers");
        assert_eq!(resp.status(), 403, "{what}");
        assert_eq!(dispatch().await, 200, "{what}: the channel is still active");
    }
    // Any path under /admin/ is checked before it is routed, multipart forms too.
    for path in ["/admin/no/such/page", "/admin/import", "/admin/logout"] {
        let resp = http
            .post(format!("{admin}{path}"))
            .header("cookie", &session_cookie)
            .header("content-type", "multipart/form-data; boundary=b")
            .body("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n")
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 403, "{path}");
    }

    // A valid session and token from another site's page: refused by what the browser says
    // of where the form comes from.
    let own_origin = admin.trim_end_matches('/').to_owned();
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let resp = http
            .post(&deactivate)
            .header("cookie", &session_cookie)
            .header(header, value)
            .form(&[("is_active", "false"), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 403, "{header}: {value}");
        assert_eq!(dispatch().await, 200, "{header}: {value}: still active");
    }

    // With both, the same form is taken, from the admin's own origin too.
    let resp = http
        .post(&deactivate)
        .header("origin", &own_origin)
        .header("sec-fetch-site", "same-origin")
        .header("cookie", &session_cookie)
        .form(&[("is_active", "false"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 303);
    assert_ne!(dispatch().await, 200, "deactivated");

    // After the logout the session is refused.
    let out = http
        .post(format!("{admin}/admin/logout"))
        .header("cookie", &session_cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(out.status(), 303);
    let resp = http
        .post(&deactivate)
        .header("cookie", &session_cookie)
        .form(&[("is_active", "true"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 403, "a closed session");
    running.shutdown().await;
}

/// Logs in to the web admin at `admin` without a browser: the session cookie and its CSRF token.
#[cfg(feature = "cluster")]
async fn web_session(http: &reqwest::Client, admin: &str) -> (String, String) {
    let login = http
        .get(format!("{admin}/admin/login"))
        .send()
        .await
        .expect("answers");
    let (login_cookie, _) = cookie_of(&login, "zato_admin_login").expect("a login cookie");
    let login_csrf = csrf_of(&login.text().await.expect("body"));
    let logged_in = http
        .post(format!("{admin}/admin/login"))
        .header("cookie", format!("zato_admin_login={login_cookie}"))
        .form(&[("token", TOKEN), ("csrf", login_csrf.as_str())])
        .send()
        .await
        .expect("answers");
    let (session, _) = cookie_of(&logged_in, "zato_admin").expect("logged in");
    let cookie = format!("zato_admin={session}");
    let page = http
        .get(format!("{admin}/admin/services"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answers");
    let csrf = csrf_of(&page.text().await.expect("body"));
    (cookie, csrf)
}

/// Two nodes of a cluster in this process, sharing the PostgreSQL at `ZATO_TEST_PG_URL` (in a
/// database of the test's own, dropped at the end): the cluster page lists both with the version
/// each applied, and a change made through one node's forms shows each node's ack.
#[cfg(feature = "cluster")]
#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn in_a_cluster_the_admin_shows_the_nodes_and_their_acks() {
    let pg_url = std::env::var("ZATO_TEST_PG_URL").expect("ZATO_TEST_PG_URL names the PostgreSQL");
    let name = format!("zato_test_web_admin_{}", std::process::id());
    let (pg, conn) = tokio_postgres::connect(&pg_url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers");
    tokio::spawn(conn);
    pg.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("a database of the test's own");
    let base = pg_url.split('?').next().unwrap_or_default();
    let db = format!("{}/{name}", &base[..base.rfind('/').unwrap_or(base.len())]);
    let start = |node: &'static str| {
        let db = db.clone();
        async move {
            let config = app::AppConfig::parse(
                include_str!("../examples/invoice_dispatcher/config.json"),
                zato::config::Format::Json,
            )
            .expect("the example's config");
            app::start_node(
                config,
                "127.0.0.1:0",
                None,
                Some(app::AdminSettings {
                    addr: "127.0.0.1:0".into(),
                    token: TOKEN.to_owned().into(),
                }),
                Some(app::ClusterSettings {
                    db: db.into(),
                    secret_key: "the passphrase of the web admin's test cluster"
                        .to_owned()
                        .into(),
                    node: node.to_owned(),
                    schema: "zato".into(),
                }),
            )
            .await
            .expect("the node starts")
        }
    };
    let n1 = start("web-n1").await;
    let n2 = start("web-n2").await;
    let admin = format!(
        "http://{}",
        n1.admin.as_ref().expect("an admin listener").local_addr()
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let (cookie, csrf) = web_session(&http, &admin).await;
    let get = |path: &'static str| {
        let (http, admin, cookie) = (http.clone(), admin.clone(), cookie.clone());
        async move {
            http.get(format!("{admin}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("answers")
                .text()
                .await
                .expect("body")
        }
    };

    let page = get("/admin/cluster").await;
    for node in ["web-n1", "web-n2"] {
        assert!(
            page.contains(&format!("<td>{node}</td>")),
            "{node} listed: {page}"
        );
    }
    assert!(page.contains("<th scope=\"col\">applied</th>"), "{page}");

    // A change through n1's form: the next page shows the new version and both nodes' acks.
    let resp = http
        .post(format!(
            "{admin}/admin/channels/http/invoice.dispatcher.json/active"
        ))
        .header("cookie", &cookie)
        .form(&[("is_active", "false"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 303);
    let page = get("/admin/channels").await;
    let flash = page
        .split("<section class=\"flash\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap_or_default();
    assert!(flash.contains("New version"), "{page}");
    for node in ["web-n1", "web-n2"] {
        assert!(
            flash.contains(&format!("<td>{node}</td><td>applied</td>")),
            "{node} acked: {flash}"
        );
    }
    let n2_http = format!("http://{}", n2.http.local_addr());
    let status = http
        .post(format!("{n2_http}{JSON_CHANNEL}?target=CRM"))
        .body("{}")
        .send()
        .await
        .expect("n2 answers")
        .status();
    assert_ne!(status, 200, "deactivated on n2 as well");

    n2.shutdown().await;
    n1.shutdown().await;
    let _ = pg
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}
