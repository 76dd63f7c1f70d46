//! `zato config check FILE`: offline, no admin API involved.

mod support;

use support::{temp_file, zato_env};

/// Nothing listens there: the check must not need the admin API.
const NOWHERE: [(&str, &str); 1] = [("ZATO_ADMIN_URL", "http://127.0.0.1:9")];

#[cfg(feature = "offline-check")]
#[test]
fn a_valid_document_is_ok() {
    let file = temp_file("valid.toml");
    std::fs::write(
        &file,
        "[[services]]\nname = \"invoice.dispatcher\"\nis_active = true\n",
    )
    .unwrap();

    let run = zato_env(&NOWHERE, &["config", "check", file.to_str().unwrap()]).ok();

    assert_eq!(run.stdout, format!("{}: ok\n", file.display()));
}

#[cfg(feature = "offline-check")]
#[test]
fn every_problem_is_printed_on_its_own_line_with_its_path() {
    let file = temp_file("invalid.toml");
    std::fs::write(
        &file,
        "[[outgoing.swift]]\nname = \"s\"\nauth_url = \"https://a.example.com/auth/v1.0\"\nuser = \"u\"\nkey = \"k\"\npool_size = 0\n\n[[services]]\nname = \"s\"\nis_active = \"yes\"\n",
    )
    .unwrap();

    let run = zato_env(&NOWHERE, &["config", "check", file.to_str().unwrap()]);

    assert_eq!(run.code, Some(1), "{run:?}");
    let shown = file.display().to_string();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines
            .contains(&format!("zato: {shown}: services.s.is_active: expected a boolean").as_str()),
        "{}",
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("zato: {shown}: outgoing.swift.s.pool_size: "))),
        "{}",
        run.stderr
    );
    assert_eq!(lines[2], format!("zato: {shown}: not valid, 2 problems"));
}

/// One problem hides none of the others: an unknown section, a field of the wrong type and,
/// in the same object, a value out of range and an unknown field are reported in one run.
#[cfg(feature = "offline-check")]
#[test]
fn every_problem_is_reported_in_one_run() {
    let file = temp_file("many.json");
    std::fs::write(
        &file,
        r#"{
  "chanels": {},
  "outgoing": {"swift": [{"name": "s", "auth_url": "https://a.example.com/auth/v1.0",
    "user": "u", "key": "k", "retries": "five", "pool_size": 0, "pool_sise": 3}]}
}"#,
    )
    .unwrap();
    let shown = file.display().to_string();

    let run = zato_env(&NOWHERE, &["config", "check", &shown]);

    assert_eq!(run.code, Some(1), "{run:?}");
    let paths: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("zato: {shown}: ")))
        .filter_map(|l| l.split_once(": ").map(|(path, _)| path))
        .collect();
    for path in [
        "chanels",
        "outgoing.swift.s.retries",
        "outgoing.swift.s.pool_size",
        "outgoing.swift.s.pool_sise",
    ] {
        assert!(
            paths.contains(&path),
            "{path} is not reported: {}",
            run.stderr
        );
    }
}

#[cfg(feature = "offline-check")]
#[test]
fn a_kind_this_cli_does_not_know_is_named_as_not_checked_and_the_rest_is_checked() {
    let file = temp_file("plugin.toml");
    std::fs::write(
        &file,
        "[[outgoing.file_sink]]\nname = \"audit\"\npath = \"/tmp/audit.log\"\n\n[[security]]\ntype = \"hmac\"\nname = \"h\"\n\n[[services]]\nname = \"s\"\nis_active = true\n",
    )
    .unwrap();
    let shown = file.display().to_string();

    let run = zato_env(&NOWHERE, &["config", "check", &shown]).ok();

    assert_eq!(
        run.stdout,
        format!(
            "{shown}: not checked: outgoing.file_sink (a kind this CLI does not know; `zato config check --node {shown}` asks a running node)\n\
             {shown}: not checked: security.h (of type `hmac`) (a kind this CLI does not know; `zato config check --node {shown}` asks a running node)\n\
             {shown}: ok, but for what was not checked\n"
        )
    );

    // The rest is checked still.
    std::fs::write(
        &file,
        "[[outgoing.file_sink]]\nname = \"audit\"\n\n[[services]]\nname = \"s\"\nis_active = \"yes\"\n",
    )
    .unwrap();
    let run = zato_env(&NOWHERE, &["config", "check", &shown]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("not checked: outgoing.file_sink"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr,
        format!(
            "zato: {shown}: services.s.is_active: expected a boolean\nzato: {shown}: not valid, 1 problem\n"
        )
    );
}

#[test]
fn checking_on_the_node_needs_the_node() {
    let file = temp_file("on-node.toml");
    std::fs::write(&file, "[[services]]\nname = \"s\"\n").unwrap();

    let run = zato_env(
        &NOWHERE,
        &["config", "check", "--node", file.to_str().unwrap()],
    );

    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stderr
            .starts_with("zato: cannot reach the admin API at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
}

#[cfg(feature = "offline-check")]
#[test]
fn a_file_of_no_known_format_is_a_usage_error() {
    let file = temp_file("node.txt");
    std::fs::write(&file, "").unwrap();

    let run = zato_env(&NOWHERE, &["config", "check", file.to_str().unwrap()]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("cannot tell the format"),
        "{}",
        run.stderr
    );
}

#[cfg(not(feature = "offline-check"))]
#[test]
fn without_the_feature_the_check_says_so() {
    let file = temp_file("any.toml");
    std::fs::write(&file, "").unwrap();

    let run = zato_env(&NOWHERE, &["config", "check", file.to_str().unwrap()]);

    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "zato: config check: this zato was built without the offline-check feature\n"
    );
}

#[test]
fn a_missing_file_names_the_file() {
    let run = zato_env(&NOWHERE, &["config", "check", "/nonexistent/node.toml"]);

    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("zato: /nonexistent/node.toml: cannot read: "),
        "{}",
        run.stderr
    );
}

/// Every config document the repository ships (examples and their configs) passes the check as
/// it is: a newcomer's first `zato config check` must not fail on our own files.
#[cfg(feature = "offline-check")]
#[test]
fn every_config_file_shipped_in_the_repository_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if name != "Cargo.toml"
                && [".json", ".toml", ".yaml", ".yml"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 3,
        "the shipped config files were found: {files:?}"
    );
    for file in &files {
        let run = zato_env(&NOWHERE, &["config", "check", file.to_str().unwrap()]);
        assert_eq!(run.code, Some(0), "{}: {run:?}", file.display());
    }
}
