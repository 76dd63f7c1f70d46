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
        "[[outgoing.ftp]]\nname = \"a\"\n\n[[services]]\nname = \"s\"\nis_active = \"yes\"\n",
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
            .any(|l| l.starts_with(&format!("zato: {shown}: outgoing.ftp: unknown kind `ftp`"))),
        "{}",
        run.stderr
    );
    assert_eq!(lines[2], format!("zato: {shown}: not valid, 2 problems"));
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
