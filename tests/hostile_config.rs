//! Config documents a careless operator or a hostile caller writes.
//!
//! - The corpus in `tests/bad_input/config/`: each `CASE.json` is refused by the check that
//!   `zato config check`, the admin API and a node's start run, with the problem its
//!   `CASE.expect` names (`path:` and a text the message `contains:`).
//! - Extreme numbers in every numeric field of every kind compiled in: the check refuses them
//!   with the field's path, or the object is applied on a running node, and nothing panics.
//!
//! A Swift `pool_wait` of `1e300` once passed the check and then panicked the node when its pool
//! was built; a `timeout` of `2e19` became a zero timeout. Every configured number now has a
//! documented range (`zato_core::config::bounds`).

#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Number, Value};
use zato::config::{ChangeError, ConfigDocument, ImportOptions, ObjectKey, Section};
use zato::kind::KindInfo;

/// Numbers a careless operator or a hostile document gives.
fn extreme() -> impl Strategy<Value = Number> {
    let fixed = [
        1e300,
        -1e300,
        2e19,
        1.8446744073709552e19,
        1e15,
        86_400.000_1,
        3600.5,
        1e-300,
        -0.0,
        0.0,
        -1.0,
        f64::MAX,
        f64::MIN_POSITIVE,
    ]
    .map(|f| Number::from_f64(f).expect("finite"));
    let ints = [
        Number::from(0u64),
        Number::from(u64::from(u32::MAX)),
        Number::from(u64::from(u32::MAX) + 1),
        Number::from(u64::MAX),
        Number::from(i64::MIN),
        Number::from(-1i64),
        Number::from(1_000_000_000u64),
    ];
    prop_oneof![
        // Ordinary values too, so that objects get past the check and are applied.
        (0u64..100_000).prop_map(Number::from),
        (0.0f64..100_000.0).prop_filter_map("finite", Number::from_f64),
        proptest::sample::select(fixed.to_vec()),
        proptest::sample::select(ints.to_vec()),
        any::<u64>().prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

/// The numeric fields of every kind, as `(kind, field)`.
fn numeric_fields(kinds: &[KindInfo]) -> Vec<(usize, String)> {
    let mut fields = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        for field in &kind.fields {
            if matches!(field.json_type, "integer" | "number") {
                fields.push((i, field.name.clone()));
            }
        }
    }
    fields
}

/// The kind's example with its secrets filled in and `field` set to `value`, its sockets made
/// in-process so that applying binds no port.
fn object(kind: &KindInfo, field: &str, value: &Number) -> Value {
    let mut object = kind.example.clone();
    let map = object.as_object_mut().expect("an example is an object");
    for f in &kind.fields {
        // A secret map (an OTLP exporter's headers) is a map of names to secret values.
        if f.secret && f.name == "headers" {
            map.insert(f.name.clone(), serde_json::json!({"x-api-key": "s3cret"}));
        } else if f.secret && f.json_type == "string" {
            map.insert(f.name.clone(), Value::String("s3cret".into()));
        }
    }
    if let Some(Value::String(address)) = map.get_mut("address")
        && address.starts_with("tcp://")
    {
        *address = "inproc://config-bounds".into();
    }
    map.insert(field.to_owned(), Value::Number(value.clone()));
    object
}

/// Where `object` of `kind` lives in a document.
fn key_of(kind: &KindInfo, object: &Value) -> ObjectKey {
    let name = object["name"].as_str().unwrap_or("bounds");
    if kind.section == Section::Security {
        ObjectKey::new(kind.section, kind.section.sole_kind(), name)
    } else {
        ObjectKey::new(kind.section, kind.kind.clone(), name)
    }
}

#[test]
fn extreme_numbers_are_refused_with_their_path_or_applied_without_a_panic() {
    let checker = zato::config::checker();
    let kinds = checker.describe();
    let fields = numeric_fields(&kinds);
    assert!(
        fields.len() >= 20,
        "the kinds compiled in describe their numeric fields: {fields:?}"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let node = rt
        .block_on(zato::Node::new().http_addr("127.0.0.1:0").start())
        .expect("node");
    // Every kind's example first, so that the objects each case refers to exist.
    let mut base = ConfigDocument::default();
    for kind in &kinds {
        // A service's settings are examples of no service deployed here.
        if kind.section == Section::Services {
            continue;
        }
        // The TLS listener's example names certificate files this machine does not have; its
        // numbers are none (its fields are file names).
        if kind.section == Section::Channels && kind.kind == "http_tls" {
            continue;
        }
        let mut object = object(kind, "name", &Number::from(0));
        object["name"] = kind.example["name"].clone();
        base.push(&key_of(kind, &object), object);
    }
    rt.block_on(
        node.runtime()
            .import(&base, ImportOptions::default(), "config_bounds"),
    )
    .expect("every kind's example applies");
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (proptest::sample::select(fields.clone()), extreme());
    let result = runner.run(&strategy, |((i, field), value)| {
        let kind = &kinds[i];
        let object = object(kind, &field, &value);
        let schema = checker
            .schema(kind.section, &kind.kind)
            .expect("a described kind has a schema");
        let checked = schema.check(&object);
        // Seconds: every number-typed field is a duration, and the absurd ones are refused at
        // their own path.
        let is_seconds = kind
            .fields
            .iter()
            .any(|f| f.name == field && f.json_type == "number");
        let absurd = value.as_f64().is_some_and(|v| v.abs() >= 1e6 || v < 0.0);
        if is_seconds && absurd {
            let err = checked.as_ref().err();
            prop_assert!(
                err.is_some_and(|e| e.problems().iter().any(|p| p.path == field)),
                "{}.{} = {value} was not refused at `{field}`: {err:?}",
                kind.section,
                kind.kind
            );
        }
        if checked.is_ok() {
            // Applied on a running node: an error is an answer, a panic fails the test.
            let key = key_of(kind, &object);
            let mut doc = ConfigDocument::default();
            doc.push(&key, object.clone());
            let outcome = rt.block_on(node.runtime().import(
                &doc,
                ImportOptions::default(),
                "config_bounds",
            ));
            if let Err(e) = &outcome {
                prop_assert!(
                    matches!(e, ChangeError::Invalid(_) | ChangeError::ApplyFailed(_)),
                    "{key} = {object}: {e}"
                );
            }
        }
        Ok(())
    });
    rt.block_on(node.shutdown());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_reported_swift_values_are_refused_at_their_path() {
    let checker = zato::config::checker();
    let schema = checker
        .schema(Section::Outgoing, "swift")
        .expect("swift is compiled in");
    let base = serde_json::json!({
        "name": "s", "auth_url": "http://127.0.0.1:1/auth/v1.0", "user": "u", "key": "k",
    });
    for (field, value, message) in [
        (
            "pool_wait",
            serde_json::json!(1e300),
            "must be 0.001 to 3600 seconds",
        ),
        (
            "timeout",
            serde_json::json!(2e19),
            "must be 0.001 to 86400 seconds",
        ),
        (
            "pool_size",
            serde_json::json!(1_000_000_000),
            "must be 1 to 1000",
        ),
        ("retries", serde_json::json!(1_000_000), "must be 0 to 100"),
    ] {
        let mut object = base.clone();
        object[field] = value;
        let err = schema.check(&object).expect_err(field);
        let problems: Vec<_> = err
            .problems()
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(problems, [(field, message)], "{field}");
    }
}

#[test]
fn every_document_of_the_config_corpus_is_refused_with_its_problem() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/config");
    let checker = zato::config::checker();
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        cases += 1;
        let expect = std::fs::read_to_string(path.with_extension("expect")).expect("CASE.expect");
        let field = |name: &str| {
            expect
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{}: no `{name}` line", path.display()))
        };
        let (at, contains) = (field("path:"), field("contains:"));
        let text = std::fs::read_to_string(&path).expect("the case");
        let refused = ConfigDocument::parse(&text, zato::config::Format::Json)
            .and_then(|doc| checker.check(&doc).map(drop));
        let err = refused.expect_err(&path.display().to_string());
        assert!(
            err.problems()
                .iter()
                .any(|p| p.path == at && p.message.contains(contains)),
            "{}: expected a problem at `{at}` containing {contains:?}, got {err}",
            path.display()
        );
    }
    assert!(cases >= 5, "{cases} cases in {}", dir.display());
}

#[tokio::test]
async fn a_dry_run_refuses_the_path_clash_that_applying_refuses() {
    let node = zato::Node::new()
        .http_addr("127.0.0.1:0")
        .start()
        .await
        .expect("node");
    let text = include_str!("bad_input/config/http_trailing_slash.json");
    let doc = ConfigDocument::parse(text, zato::config::Format::Json).expect("a document");
    for dry_run in [true, false] {
        let options = ImportOptions {
            dry_run,
            replace: false,
        };
        let outcome = node.runtime().import(&doc, options, "test").await;
        let Err(ChangeError::Invalid(err)) = outcome else {
            panic!("dry run {dry_run}: expected the clash to be refused, got {outcome:?}");
        };
        assert_eq!(err.problems()[0].path, "channels.http.b.url_path", "{err}");
    }
    node.shutdown().await;
}

/// Channels named `c00000`, `c00001`, …, each on its own path.
fn channels(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({"name": format!("c{i:05}"), "url_path": format!("/c/{i:05}"),
                               "service": "demo.ping", "methods": ["POST"], "is_active": true})
        })
        .collect()
}

#[test]
fn documents_object_counts_names_and_text_fields_are_bounded_with_their_path() {
    use zato::config::bounds;
    let checker = zato::config::checker();
    // 7 MB of channels (the report had 60,000 in 7 MB): refused before anything is decoded.
    let text = serde_json::json!({"channels": {"http": channels(72_000)}}).to_string();
    assert!(text.len() > 7_000_000, "{}", text.len());
    let Err(err) = ConfigDocument::parse(&text, zato::config::Format::Json) else {
        panic!("a document of {} bytes was read", text.len());
    };
    assert_eq!(err.problems()[0].path, "", "{err}");
    assert!(
        err.problems()[0]
            .message
            .contains(&format!("at most {} bytes", bounds::MAX_DOCUMENT_BYTES)),
        "{err}"
    );
    // One kind's objects are counted: one too many is refused at the kind's path.
    let doc = serde_json::json!({"channels": {"http": channels(bounds::MAX_OBJECTS_PER_KIND + 1)}});
    let doc = ConfigDocument::from_value(doc).expect("a document");
    let err = checker.check(&doc).expect_err("too many");
    assert_eq!(err.problems().len(), 1, "{err}");
    assert_eq!(err.problems()[0].path, "channels.http", "{err}");
    assert!(
        err.problems()[0].message.contains(&format!(
            "at most {} per kind",
            bounds::MAX_OBJECTS_PER_KIND
        )),
        "{err}"
    );
    let doc = serde_json::json!({"channels": {"http": channels(bounds::MAX_OBJECTS_PER_KIND)}});
    checker
        .check(&ConfigDocument::from_value(doc).expect("a document"))
        .expect("as many as the bound");
    // A long name, a long text field anywhere in an object.
    let long_name = "n".repeat(bounds::MAX_NAME_BYTES + 1);
    let long_text = "s".repeat(bounds::MAX_TEXT_BYTES + 1);
    let doc = serde_json::json!({"channels": {"http": [
        {"name": long_name, "url_path": "/a", "service": "demo.ping"},
        {"name": "b", "url_path": "/b", "service": long_text},
        {"name": "c", "url_path": "/c", "service": "demo.ping", "methods": ["GET", long_text]}
    ]}});
    let err = checker
        .check(&ConfigDocument::from_value(doc).expect("a document"))
        .expect_err("too long");
    let found: Vec<(&str, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.path.as_str(), p.message.as_str()))
        .collect();
    let max_name = format!("at most {} bytes", bounds::MAX_NAME_BYTES);
    let max_text = format!("at most {} bytes", bounds::MAX_TEXT_BYTES);
    for (path, message) in [
        ("channels.http[0].name", max_name.as_str()),
        ("channels.http.b.service", max_text.as_str()),
        ("channels.http.c.methods[1]", max_text.as_str()),
    ] {
        assert!(
            found.iter().any(|(p, m)| *p == path && m.contains(message)),
            "{path}: {message} not in {found:?}"
        );
    }
}
