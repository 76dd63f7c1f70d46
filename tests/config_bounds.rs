//! Extreme numbers in every numeric field of every kind compiled in: the check refuses them with
//! the field's path, or the object is applied on a running node, and nothing panics.
//!
//! A Swift `pool_wait` of `1e300` once passed the check and then panicked the node when its pool
//! was built; a `timeout` of `2e19` became a zero timeout. Every configured number now has a
//! documented range (`zato_core::config::bounds`).

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
        86_400.0001,
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
        if f.secret && f.json_type == "string" {
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
            let name = object["name"].as_str().unwrap_or("bounds").to_owned();
            let section = kind.section;
            let key = if section == Section::Security {
                ObjectKey::new(section, section.sole_kind(), &name)
            } else {
                ObjectKey::new(section, kind.kind.clone(), &name)
            };
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
            "must be more than 0 and at most 3600 seconds",
        ),
        (
            "timeout",
            serde_json::json!(2e19),
            "must be more than 0 and at most 86400 seconds",
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
