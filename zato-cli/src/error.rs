//! What can go wrong, each as the one line `zato` prints, and the exit code it ends with.

use std::process::ExitCode;

/// A failed command. Its Display is the line printed after `zato: `; it never holds the token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command line asks for something that cannot be done (a bad `--set`, an unknown file
    /// extension): exit code 2, as for clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// A local file could not be read or written, or holds what it should not: exit code 1.
    #[error("{0}")]
    Local(String),
    /// The admin API answered with an error, or a service or a ping failed: exit code 1.
    #[error("{0}")]
    Api(String),
    /// No connection to the admin API: exit code 3.
    #[error("cannot reach the admin API at {url}: {cause}")]
    Unreachable {
        /// The base URL, without any user or password in it.
        url: String,
        /// The innermost cause, as the system gave it (`connection refused`).
        cause: String,
    },
    /// The admin API did not answer in time: exit code 3.
    #[error("no answer from the admin API at {url} within {secs} s (see --timeout)")]
    Timeout {
        /// The base URL, without any user or password in it.
        url: String,
        /// The `--timeout`.
        secs: u64,
    },
    /// Standard output is closed (`zato conn list | head -1`): exit quietly.
    #[error("standard output is closed")]
    ClosedOutput,
}

impl CliError {
    /// The process's exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Local(_) | CliError::Api(_) => ExitCode::from(1),
            CliError::Unreachable { .. } | CliError::Timeout { .. } => ExitCode::from(3),
            CliError::ClosedOutput => ExitCode::SUCCESS,
        }
    }
}

/// One line, whatever the server put in a message: no control characters, bounded length.
pub(crate) fn one_line(text: &str) -> String {
    const MAX_CHARS: usize = 2000;
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect();
    if text.chars().count() > MAX_CHARS {
        line.push('…');
    }
    line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_becomes_one_line() {
        assert_eq!(one_line("bad\nthing\r\n"), "bad thing");
        assert_eq!(one_line(&"x".repeat(5000)).chars().count(), 2001);
    }

    #[test]
    fn exit_codes_tell_usage_api_and_connection_apart() {
        assert_eq!(
            CliError::Usage(String::new()).exit_code(),
            ExitCode::from(2)
        );
        assert_eq!(CliError::Api(String::new()).exit_code(), ExitCode::from(1));
        let unreachable = CliError::Unreachable {
            url: "u".into(),
            cause: "c".into(),
        };
        assert_eq!(unreachable.exit_code(), ExitCode::from(3));
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the admin API at u: c"
        );
    }
}
