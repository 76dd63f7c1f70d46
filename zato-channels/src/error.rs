//! Errors of channel configuration and of starting and stopping channels.

use std::fmt;

/// One problem found in a configuration, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where: `channels[2].url_path`, `security[0].header`, `channel "orders".security`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigProblem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A configuration was refused; nothing of it was applied. Lists every problem, not only the
/// first.
///
/// # Examples
///
/// ```
/// use zato_channels::{HttpChannelConfig, HttpConfig};
///
/// let config = HttpConfig::new(vec![HttpChannelConfig::new("", "no-slash", "s")], vec![]);
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// assert!(err.to_string().contains("channels[0].url_path"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// `Ok` when there is no problem, else the error listing them.
    pub(crate) fn check(problems: Vec<ConfigProblem>) -> Result<(), ConfigError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    pub(crate) fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![ConfigProblem::new(path, message)],
        }
    }

    /// Every problem found, in configuration order.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration")?;
        for (i, p) in self.problems.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Why a channel could not start, stop or take a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The configuration was refused; the channel keeps its previous one.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `start` was called on a channel already serving or already stopped.
    #[error("the channel is already {0}")]
    AlreadyStarted(&'static str),
}
