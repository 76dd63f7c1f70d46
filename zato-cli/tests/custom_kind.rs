//! A kind of the host's own, `outgoing.file_sink` from `examples/custom_kind.rs`, driven through
//! the real `zato` binary against a node that has it: the CLI learns the kind from the node.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Run, TOKEN, temp_file, zato};

/// `examples/custom_kind.rs`, built by cargo as this package's example `custom_kind_node`, beside
/// this test's own executable.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's executable");
    // target/debug/deps/custom_kind-HASH → target/debug/examples/custom_kind_node
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    debug.join("examples").join("custom_kind_node")
}

/// The example's node, running as a process of its own with its shipped config, on free ports,
/// killed when the test ends however it ends.
struct Started {
    child: Child,
    http: String,
    admin: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Started {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/custom_kind.json");
    let dir = temp_file("node");
    std::fs::create_dir_all(&dir).expect("the node's directory");
    let mut child = Command::new(example_binary())
        .current_dir(&dir)
        .env("ZATO_CONFIG", config)
        .env("ZATO_HTTP_ADDR", "127.0.0.1:0")
        .env("ZATO_ADMIN_ADDR", "127.0.0.1:0")
        .env("ZATO_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example runs (cargo builds it with this package's tests)");
    let stdout = child.stdout.take().expect("its stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Its log goes to a pipe, not a terminal: no colour codes.
            if line.contains('\u{1b}') {
                let _ = tx.send(Err(line));
            } else if let Some(ready) = line.strip_prefix("READY ") {
                let _ = tx.send(Ok(ready.to_owned()));
            }
        }
    });
    // From here on, a failure kills the child.
    let mut started = Started {
        child,
        http: String::new(),
        admin: String::new(),
    };
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the node says READY within a minute")
        .unwrap_or_else(|line| panic!("a log line with colour codes in a pipe: {line:?}"));
    let field = |name: &str| {
        ready
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .map(|addr| format!("http://{addr}"))
            .expect("an address")
    };
    started.http = field("http=");
    started.admin = field("admin=");
    started
}

impl Started {
    /// Runs the CLI off the runtime's threads, which serve the node meanwhile.
    async fn zato(&self, args: &[&str]) -> Run {
        let url = self.admin.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            zato(&url, &args)
        })
        .await
        .expect("the zato run")
    }

    /// Calls `file_sink.append` through its HTTP channel.
    async fn append(&self, body: &str) -> (u16, String) {
        let resp = reqwest::Client::new()
            .post(format!("{}/file_sink/append", self.http))
            .body(body.to_owned())
            .send()
            .await
            .expect("the channel answers");
        (resp.status().as_u16(), resp.text().await.expect("a body"))
    }
}

/// A fresh path under the test's own directory, with nothing at it.
fn fresh(name: &str) -> String {
    let path = temp_file(name);
    let _ = std::fs::remove_file(&path);
    path.to_str().expect("a UTF-8 path").to_owned()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_gets_edits_pings_and_deletes_a_kind_it_learns_from_the_node() {
    let node = start();
    let log = fresh("errors.log");

    let kinds = node.zato(&["kinds"]).await.ok();
    let line = kinds
        .stdout
        .lines()
        .find(|l| l.contains("file_sink"))
        .unwrap_or_else(|| panic!("file_sink in {kinds:?}"));
    assert!(line.starts_with("outgoing"), "{line}");
    assert!(line.contains("a file that each call appends"), "{line}");
    assert!(kinds.stdout.starts_with("SECTION"), "{kinds:?}");
    let json = node.zato(&["--json", "kinds"]).await.ok();
    let json: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let sink = json["items"]
        .as_array()
        .and_then(|items| items.iter().find(|k| k["kind"] == "file_sink"))
        .expect("file_sink in --json kinds");
    assert_eq!(sink["pings"], true);

    // The kind's own checks, named by path.
    let refused = node
        .zato(&[
            "conn",
            "create",
            "file_sink",
            "--set",
            "name=errors",
            "--set",
            "path=\"\"",
            "--set",
            "max_bytes=0",
        ])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("path: must not be empty"),
        "{refused:?}"
    );
    assert!(
        refused.stderr.contains("max_bytes: must be at least 1"),
        "{refused:?}"
    );

    let created = node
        .zato(&[
            "conn",
            "create",
            "file_sink",
            "--set",
            "name=errors",
            "--set",
            &format!("path={log}"),
        ])
        .await
        .ok();
    assert!(
        created
            .stdout
            .starts_with("created outgoing file_sink \"errors\""),
        "{created:?}"
    );

    let list = node.zato(&["conn", "list", "file_sink"]).await.ok();
    let mut lines = list.stdout.lines();
    let header = lines.next().unwrap_or_default();
    for column in ["NAME", "VERSION", "ACTIVE", "PATH", "MAX BYTES"] {
        assert!(header.contains(column), "{column} in {header}");
    }
    assert!(list.stdout.contains("audit"), "{list:?}");
    let errors = lines
        .find(|l| l.starts_with("errors "))
        .unwrap_or_else(|| panic!("errors in {list:?}"));
    assert!(
        errors.contains(&log) && errors.contains("1048576"),
        "{errors}"
    );

    let got = node
        .zato(&["conn", "get", "file_sink", "errors"])
        .await
        .ok();
    let got: Value = serde_json::from_str(&got.stdout).expect("the object as JSON");
    assert_eq!(got["path"], log.as_str());
    assert_eq!(got["max_bytes"], 1_048_576);

    // Services reach it at once.
    let request = r#"{"sink": "errors", "event": "paid"}"#;
    let (status, body) = node.append(request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(read(&log), format!("{request}\n"));

    let pinged = node
        .zato(&["conn", "ping", "file_sink", "errors"])
        .await
        .ok();
    assert!(pinged.stdout.contains("ping ok"), "{pinged:?}");
    assert!(pinged.stdout.contains("is writable"), "{pinged:?}");

    // Edited live: the file is now full.
    let edited = node
        .zato(&[
            "conn",
            "edit",
            "file_sink",
            "errors",
            "--set",
            "max_bytes=10",
        ])
        .await
        .ok();
    assert!(
        edited
            .stdout
            .starts_with("updated outgoing file_sink \"errors\""),
        "{edited:?}"
    );
    let (status, body) = node.append(request).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_bytes"), "{body}");
    assert_eq!(read(&log), format!("{request}\n"), "nothing appended");

    let deleted = node
        .zato(&["conn", "delete", "file_sink", "errors"])
        .await
        .ok();
    assert!(
        deleted
            .stdout
            .starts_with("deleted outgoing file_sink \"errors\""),
        "{deleted:?}"
    );
    let gone = node.zato(&["conn", "get", "file_sink", "errors"]).await;
    assert_eq!(gone.code, Some(1), "{gone:?}");
    let (status, _) = node.append(request).await;
    assert_eq!(status, 503);

    // A kind the node lacks: the node's answer names those it has.
    let unknown = node.zato(&["conn", "list", "ftp"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("no outgoing kind `ftp`") && unknown.stderr.contains("file_sink"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_with_the_kind_is_exported_checked_and_imported_back() {
    let node = start();
    let exported = fresh("exported.json");
    let out = node
        .zato(&["enmasse", "export", "--output", &exported])
        .await
        .ok();
    assert!(out.stdout.contains("exported"), "{out:?}");
    let mut doc: Value =
        serde_json::from_str(&read(&exported)).expect("the export is a JSON document");
    assert_eq!(doc["outgoing"]["file_sink"][0]["name"], "audit");

    // Offline, the CLI cannot check a kind it does not know: it says so and checks the rest.
    let offline = node.zato(&["config", "check", &exported]).await.ok();
    assert!(
        offline.stdout.contains(&format!(
            "{exported}: not checked: outgoing.file_sink (a kind this CLI does not know; `zato config check --node {exported}` asks a running node)"
        )),
        "{offline:?}"
    );
    let on_node = node
        .zato(&["config", "check", "--node", &exported])
        .await
        .ok();
    assert!(
        on_node
            .stdout
            .starts_with(&format!("{exported}: ok (checked by the node at")),
        "{on_node:?}"
    );

    // One more sink, and a wrong one: the node checks the whole document, changing nothing.
    let sinks = doc["outgoing"]["file_sink"]
        .as_array_mut()
        .expect("the file sinks");
    sinks.push(
        serde_json::json!({"name": "payments", "path": fresh("payments.log"), "max_bytes": 0}),
    );
    let edited = fresh("edited.json");
    write(&edited, &doc);
    let bad = node.zato(&["config", "check", "--node", &edited]).await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(
        bad.stderr.contains(&format!(
            "zato: {edited}: outgoing.file_sink.payments.max_bytes: must be at least 1"
        )),
        "{bad:?}"
    );
    assert!(
        bad.stderr
            .ends_with(&format!("zato: {edited}: not valid, 1 problem\n")),
        "{bad:?}"
    );
    let refused = node.zato(&["enmasse", "import", &edited]).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");

    doc["outgoing"]["file_sink"][1]["max_bytes"] = 4096.into();
    write(&edited, &doc);
    let dry = node
        .zato(&["enmasse", "import", &edited, "--dry-run"])
        .await
        .ok();
    assert!(
        dry.stdout.contains("outgoing.file_sink.payments"),
        "{dry:?}"
    );
    let list = node.zato(&["conn", "list", "file_sink"]).await.ok();
    assert!(
        !list.stdout.contains("payments"),
        "a dry run changes nothing"
    );
    node.zato(&["enmasse", "import", &edited]).await.ok();
    let got = node
        .zato(&["conn", "get", "file_sink", "payments"])
        .await
        .ok();
    assert!(got.stdout.contains("4096"), "{got:?}");

    // The export imports back unchanged.
    let again = fresh("again.json");
    node.zato(&["enmasse", "export", "--output", &again])
        .await
        .ok();
    let same = node.zato(&["enmasse", "import", &again]).await.ok();
    assert!(
        same.stdout.contains("0 created, 0 updated, 0 deleted"),
        "{same:?}"
    );
}

fn write(path: &str, doc: &Value) {
    std::fs::write(
        Path::new(path),
        serde_json::to_string_pretty(doc).expect("JSON"),
    )
    .expect("the test's file is written");
}
