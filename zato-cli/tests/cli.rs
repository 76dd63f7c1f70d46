//! The built `zato` binary against a fake admin API (wiremock) that answers as the contract says:
//! what it sends (paths, bodies, headers, query strings) and what it prints and exits with.

mod support;

use serde_json::{Value, json};
use support::{TOKEN, temp_file, zato, zato_env};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DISPATCHER: &str = "/api/outgoing/swift/Invoice%20Dispatcher";

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn swift_list() -> Value {
    json!({"version": 41, "items": [
        {"kind": "swift", "name": "Invoice Dispatcher", "version": 12,
         "config": {"name": "Invoice Dispatcher", "is_active": true, "auth_url": "http://127.0.0.1:8080/auth/v1.0",
                    "user": "test:tester", "key": "******", "pool_size": 4}},
        {"kind": "swift", "name": "CRM", "version": 3,
         "config": {"name": "CRM", "is_active": false, "auth_url": "https://keystone.example.com/v3",
                    "user": "crm", "key": "******", "pool_size": 10}}
    ]})
}

#[tokio::test]
async fn conn_list_prints_an_aligned_table_and_sends_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/outgoing/swift"))
        .and(header("authorization", bearer().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(swift_list()))
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(&server.uri(), &["conn", "list"]).ok();

    assert_eq!(
        run.stdout,
        "NAME                VERSION  ACTIVE  AUTH URL                         USER         POOL SIZE\n\
         Invoice Dispatcher  12       yes     http://127.0.0.1:8080/auth/v1.0  test:tester  4\n\
         CRM                 3        no      https://keystone.example.com/v3  crm          10\n"
    );
    assert!(!run.all().contains(TOKEN));
}

#[tokio::test]
async fn conn_get_addresses_the_name_percent_encoded_and_prints_the_object() {
    let server = MockServer::start().await;
    let config = json!({"name": "Invoice Dispatcher", "auth_url": "http://127.0.0.1:8080/auth/v1.0",
                        "key": "******", "pool_size": 4});
    Mock::given(method("GET"))
        .and(path(DISPATCHER))
        .and(header("authorization", bearer().as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"12\"")
                .set_body_json(&config),
        )
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &["conn", "get", "swift", "Invoice Dispatcher"],
    )
    .ok();

    // Pretty JSON: one field per line, and the same object.
    assert!(
        run.stdout.contains("\n  \"pool_size\": 4"),
        "{}",
        run.stdout
    );
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), config);
}

#[tokio::test]
async fn conn_edit_sends_a_merge_patch_with_if_match_and_prints_the_new_version() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(DISPATCHER))
        .and(header("authorization", bearer().as_str()))
        .and(header("if-match", "\"12\""))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"key": "NEW", "pool_size": 10, "custom_options": {"region": "eu"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "version": 42,
            "object": {"section": "outgoing", "kind": "swift", "name": "Invoice Dispatcher", "version": 13}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &[
            "conn",
            "edit",
            "swift",
            "Invoice Dispatcher",
            "--set",
            "key=NEW",
            "--set",
            "pool_size=10",
            "--set",
            "custom_options.region=eu",
            "--if-match",
            "12",
        ],
    )
    .ok();

    assert_eq!(
        run.stdout,
        "updated outgoing swift \"Invoice Dispatcher\" (version 13)\n"
    );
    assert_eq!(run.stderr, "");
    let sent = &server.received_requests().await.unwrap()[0];
    let author = sent
        .headers
        .get("x-zato-author")
        .expect("writes name their author");
    assert!(author.to_str().unwrap().starts_with("cli:"), "{author:?}");
}

#[tokio::test]
async fn channel_edit_and_delete_address_the_channel_as_kind_and_name() {
    let server = MockServer::start().await;
    let channel = "/api/channels/http/invoice.dispatcher.json";
    Mock::given(method("PATCH"))
        .and(path(channel))
        .and(body_json(json!({"is_active": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "version": 43,
            "object": {"section": "channels", "kind": "http", "name": "invoice.dispatcher.json", "version": 5}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(channel))
        .and(header("if-match", "*"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"version": 44})))
        .expect(1)
        .mount(&server)
        .await;

    let edit = zato(
        &server.uri(),
        &[
            "channel",
            "edit",
            "http",
            "invoice.dispatcher.json",
            "--set",
            "is_active=false",
        ],
    )
    .ok();
    let delete = zato(
        &server.uri(),
        &[
            "channel",
            "delete",
            "http",
            "invoice.dispatcher.json",
            "--if-match",
            "*",
        ],
    )
    .ok();

    assert_eq!(
        edit.stdout,
        "updated channel http \"invoice.dispatcher.json\" (version 5)\n"
    );
    assert_eq!(
        delete.stdout,
        "deleted channel http \"invoice.dispatcher.json\" (configuration version 44)\n"
    );
}

#[tokio::test]
async fn enmasse_import_dry_run_sends_the_document_and_prints_the_diff() {
    let server = MockServer::start().await;
    let document = "[[outgoing.swift]]\nname = \"Invoice Dispatcher\"\npool_size = 8\n";
    let file = temp_file("node.toml");
    std::fs::write(&file, document).unwrap();
    Mock::given(method("POST"))
        .and(path("/api/config/import"))
        .and(query_param("dry_run", "true"))
        .and(query_param("replace", "false"))
        .and(query_param("format", "toml"))
        .and(header("content-type", "application/toml"))
        .and(header("authorization", bearer().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "dry_run": true, "version": 41,
            "diff": {
                "created": ["channels.http.\"crm.ping\""],
                "updated": ["outgoing.swift.\"Invoice Dispatcher\""],
                "deleted": [],
                "unchanged": ["security.\"crm.basic\"", "services.\"invoice.dispatcher\""]
            }
        })))
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &["enmasse", "import", file.to_str().unwrap(), "--dry-run"],
    )
    .ok();

    assert_eq!(
        run.stdout,
        "+ channels.http.\"crm.ping\"\n\
         ~ outgoing.swift.\"Invoice Dispatcher\"\n\
         = security.\"crm.basic\"\n\
         = services.\"invoice.dispatcher\"\n\
         dry run: 1 created, 1 updated, 0 deleted, 2 unchanged; nothing was changed (the node is at version 41)\n"
    );
    let sent = &server.received_requests().await.unwrap()[0];
    assert_eq!(sent.body, document.as_bytes());
    assert_eq!(
        sent.url.query(),
        Some("dry_run=true&replace=false&format=toml")
    );
}

#[tokio::test]
async fn enmasse_export_writes_the_format_its_output_file_names() {
    let server = MockServer::start().await;
    let document = "[[outgoing.swift]]\nname = \"Invoice Dispatcher\"\nkey = \"******\"\n";
    Mock::given(method("GET"))
        .and(path("/api/config"))
        .and(query_param("format", "toml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"41\"")
                .set_body_raw(document, "application/toml"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let file = temp_file("export.toml");

    let run = zato(
        &server.uri(),
        &["enmasse", "export", "--output", file.to_str().unwrap()],
    )
    .ok();

    assert_eq!(std::fs::read_to_string(&file).unwrap(), document);
    assert!(
        run.stdout
            .starts_with("exported the configuration as toml to "),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn an_invalid_edit_is_one_line_naming_the_object_and_exits_1() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(DISPATCHER))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "status": 400, "kind": "invalid",
            "message": "invalid configuration: outgoing.swift.\"Invoice Dispatcher\".pool_size: must be at least 1",
            "problems": [{"path": "outgoing.swift.\"Invoice Dispatcher\".pool_size", "message": "must be at least 1"}]
        }})))
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &[
            "conn",
            "edit",
            "swift",
            "Invoice Dispatcher",
            "--set",
            "pool_size=0",
        ],
    );

    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "zato: outgoing swift \"Invoice Dispatcher\": invalid configuration: outgoing.swift.\"Invoice Dispatcher\".pool_size: must be at least 1\n"
    );
}

#[tokio::test]
async fn a_stale_if_match_names_both_versions() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/security/crm.basic"))
        .and(header("if-match", "\"3\""))
        .respond_with(ResponseTemplate::new(412).insert_header("etag", "\"5\"").set_body_json(json!({
            "error": {"status": 412, "kind": "stale", "message": "security \"crm.basic\" is at version 5"}
        })))
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &["security", "delete", "crm.basic", "--if-match", "3"],
    );

    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "zato: security \"crm.basic\": changed since version 3 (now version 5): get it again and retry\n"
    );
}

#[tokio::test]
async fn a_refused_token_is_one_line_that_never_shows_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer")
                .set_body_json(json!({"error": {"status": 401, "kind": "unauthorized", "message": "unauthorized"}})),
        )
        .mount(&server)
        .await;

    let run = zato(&server.uri(), &["service", "list"]);

    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        "zato: 401 unauthorized: the admin token was refused (set --token or ZATO_ADMIN_TOKEN)\n"
    );
    assert!(!run.all().contains(TOKEN));
}

#[tokio::test]
async fn a_refused_connection_exits_3_naming_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let run = zato(&url, &["conn", "list"]);

    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("zato: cannot reach the admin API at {url}: connection refused\n")
    );
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn json_before_or_after_the_subcommand_prints_the_api_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/outgoing/swift"))
        .respond_with(ResponseTemplate::new(200).set_body_json(swift_list()))
        .expect(2)
        .mount(&server)
        .await;

    let before = zato(&server.uri(), &["--json", "conn", "list"]).ok();
    let after = zato(&server.uri(), &["conn", "list", "swift", "--json"]).ok();

    assert_eq!(
        serde_json::from_str::<Value>(&before.stdout).unwrap(),
        swift_list()
    );
    assert_eq!(
        serde_json::from_str::<Value>(&after.stdout).unwrap(),
        swift_list()
    );
}

#[tokio::test]
async fn service_invoke_prints_the_reply_and_fails_when_the_service_did() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/services/invoice.dispatcher/invoke"))
        .and(body_json(json!({"id": "123"})))
        // The admin API answers with the service's own status.
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "cid": "c0ffee", "status": 503,
            "response": {"error": "outgoing swift \"Invoice Dispatcher\": authentication failed"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(
        &server.uri(),
        &[
            "service",
            "invoke",
            "invoice.dispatcher",
            "--data",
            r#"{"id": "123"}"#,
        ],
    );

    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.contains("authentication failed"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "zato: service \"invoice.dispatcher\": failed with status 503 (cid c0ffee)\n"
    );
}

#[test]
fn usage_errors_exit_2_before_any_call() {
    // Nothing listens there: a call would exit 3, not 2.
    let env = [("ZATO_ADMIN_URL", "http://127.0.0.1:9")];
    let bad_set = zato_env(
        &env,
        &["conn", "edit", "swift", "CRM", "--set", "pool_size"],
    );
    assert_eq!(bad_set.code, Some(2), "{bad_set:?}");
    assert!(
        bad_set.stderr.contains("expected FIELD=VALUE"),
        "{}",
        bad_set.stderr
    );

    let no_name = zato_env(&env, &["conn", "create", "swift", "--set", "pool_size=1"]);
    assert_eq!(no_name.code, Some(2), "{no_name:?}");
    assert_eq!(
        no_name.stderr,
        "zato: new outgoing swift: the object needs a name (--set name=NAME, or \"name\" in --file)\n"
    );

    let unknown_format = zato_env(&env, &["enmasse", "import", "node.txt"]);
    assert_eq!(unknown_format.code, Some(2), "{unknown_format:?}");
}

#[test]
fn help_shows_examples_for_the_command_and_its_subcommands() {
    for args in [
        &["--help"][..],
        &["conn", "--help"],
        &["conn", "edit", "--help"],
        &["channel", "edit", "--help"],
        &["enmasse", "import", "--help"],
        &["service", "invoke", "--help"],
        &["config", "check", "--help"],
    ] {
        let run = zato_env(&[("ZATO_ADMIN_TOKEN", TOKEN)], args).ok();
        assert!(
            run.stdout.contains("Examples:"),
            "zato {args:?}: {}",
            run.stdout
        );
        assert!(!run.stdout.contains(TOKEN), "zato {args:?} shows the token");
    }
}

#[tokio::test]
async fn no_answer_within_the_timeout_exits_3() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(30)))
        .mount(&server)
        .await;

    let run = zato(&server.uri(), &["--timeout", "1", "service", "list"]);

    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "zato: no answer from the admin API at {} within 1 s (see --timeout)\n",
            server.uri()
        )
    );
}

#[tokio::test]
async fn in_a_cluster_a_write_prints_each_nodes_ack_and_require_all_fails_when_one_is_behind() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(DISPATCHER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "version": 42,
            "object": {"section": "outgoing", "kind": "swift", "name": "Invoice Dispatcher", "version": 42},
            "nodes": [
                {"node": "n1", "status": "applied"},
                {"node": "n2", "status": "failed", "error": "outgoing.swift: cannot build the pool"},
                {"node": "n3", "status": "not_answered"}
            ]
        })))
        .mount(&server)
        .await;
    let edit = [
        "conn",
        "edit",
        "swift",
        "Invoice Dispatcher",
        "--set",
        "pool_size=6",
    ];

    // Committed: exit 0, each node's outcome printed.
    let run = zato(&server.uri(), &edit).ok();
    assert_eq!(
        run.stdout,
        "updated outgoing swift \"Invoice Dispatcher\" (version 42)\n  node n1: applied\n  \
         node n2: failed: outgoing.swift: cannot build the pool\n  node n3: not answered\n"
    );

    // With --require-all, a node that did not apply it is an error, naming the nodes.
    let mut args = edit.to_vec();
    args.push("--require-all");
    let run = zato(&server.uri(), &args);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("n2, n3"), "{}", run.stderr);
    assert!(run.stderr.contains("committed"), "{}", run.stderr);
}

#[tokio::test]
async fn cluster_status_lists_each_node_with_its_version_lag_heartbeat_and_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/cluster"))
        .and(header("authorization", bearer().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "version": 44, "this_node": "n1",
            "nodes": [
                {"node": "n1", "applied": 44, "lag": 0, "heartbeat_secs_ago": 0.4, "live": true, "last_error": null},
                {"node": "n2", "applied": 41, "lag": 3, "heartbeat_secs_ago": 31.0, "live": false,
                 "last_error": "outgoing.swift: cannot build the pool"}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let run = zato(&server.uri(), &["cluster", "status"]).ok();

    assert_eq!(
        run.stdout,
        "configuration version 44\n\
         NODE  APPLIED  LAG  HEARTBEAT          LAST ERROR\n\
         n1    44       0    0.4 s ago          -\n\
         n2    41       3    31.0 s ago (down)  outgoing.swift: cannot build the pool\n"
    );
}

#[tokio::test]
async fn apispec_prints_the_nodes_openapi_document_in_the_format_asked() {
    let server = MockServer::start().await;
    let doc = json!({"openapi": "3.1.0", "info": {"title": "zato-rs node", "version": "config-3"}, "paths": {}});
    Mock::given(method("GET"))
        .and(path("/openapi.json"))
        .and(header("authorization", bearer().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(&doc))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/openapi.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string("openapi: 3.1.0\npaths: {}\n"))
        .mount(&server)
        .await;

    let run = zato(&server.uri(), &["apispec"]).ok();
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), doc);
    let run = zato(&server.uri(), &["apispec", "--format", "yaml"]).ok();
    assert_eq!(run.stdout, "openapi: 3.1.0\npaths: {}\n");
}

#[tokio::test]
async fn apispec_wsdl_fetches_the_soap_channels_wsdl_and_needs_the_channel() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/channels/http/invoice.dispatcher.soap/wsdl"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<wsdl:definitions/>\n"))
        .expect(1)
        .mount(&server)
        .await;
    let run = zato(
        &server.uri(),
        &[
            "apispec",
            "--format",
            "wsdl",
            "--channel",
            "invoice.dispatcher.soap",
        ],
    )
    .ok();
    assert_eq!(run.stdout, "<wsdl:definitions/>\n");
    let run = zato(&server.uri(), &["apispec", "--format", "wsdl"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--channel"), "{}", run.stderr);
}
