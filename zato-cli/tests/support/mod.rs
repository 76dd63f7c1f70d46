//! Runs the built `zato` binary and captures what it printed.

#![allow(dead_code, reason = "each test file uses some of the helpers")]
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

use std::path::PathBuf;
use std::process::Command;

/// The token the fake admin API expects.
pub(crate) const TOKEN: &str = "t0k3n-s3cret";

/// What one run of `zato` did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Panics with everything printed unless the run succeeded.
    pub(crate) fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "zato failed: {self:?}");
        self
    }

    /// Everything printed, to check that no secret is in it.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `zato ARGS` against the admin API at `url` with the test token, both from the
/// environment as a user would set them.
pub(crate) fn zato(url: &str, args: &[&str]) -> Run {
    zato_env(
        &[("ZATO_ADMIN_URL", url), ("ZATO_ADMIN_TOKEN", TOKEN)],
        args,
    )
}

/// Runs `zato ARGS` with exactly these `ZATO_*` variables set.
pub(crate) fn zato_env(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zato"));
    command
        .args(args)
        .env_remove("ZATO_ADMIN_URL")
        .env_remove("ZATO_ADMIN_TOKEN");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the zato binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A fresh path for a test's file, under cargo's temporary directory for integration tests.
pub(crate) fn temp_file(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("zato-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory can be made");
    dir.join(name)
}
