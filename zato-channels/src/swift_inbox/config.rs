//! The configuration of a Swift inbox channel, `channels.swift_inbox.<name>`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::bounds;
use zato_core::{ConfigProblem, DataFormat};
use zato_swift::check_container;

/// How an object's body is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InboxFormat {
    /// JSON, whatever the object's content type.
    #[default]
    Json,
    /// XML, whatever the object's content type.
    Xml,
    /// A SOAP 1.1 or 1.2 envelope.
    Soap,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// By the object's content type: JSON (`application/json`, `+json`), XML
    /// (`application/xml`, `text/xml`, `+xml`), SOAP 1.2 (`application/soap+xml`) or a form. An
    /// object of any other type is malformed.
    ByContentType,
}

impl InboxFormat {
    /// The data format an object of `content_type` is decoded as, or `None` when this format
    /// goes by the content type and that one is none it knows.
    pub fn for_content_type(self, content_type: Option<&str>) -> Option<DataFormat> {
        let fixed = match self {
            InboxFormat::Json => Some(DataFormat::Json),
            InboxFormat::Xml => Some(DataFormat::Xml),
            InboxFormat::Soap => Some(DataFormat::Soap),
            InboxFormat::Form => Some(DataFormat::Form),
            InboxFormat::ByContentType => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        let essence = content_type?
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/soap+xml" => Some(DataFormat::Soap),
            "application/json" => Some(DataFormat::Json),
            "application/xml" | "text/xml" => Some(DataFormat::Xml),
            "application/x-www-form-urlencoded" => Some(DataFormat::Form),
            e if e.ends_with("+json") => Some(DataFormat::Json),
            e if e.ends_with("+xml") => Some(DataFormat::Xml),
            _ => None,
        }
    }
}

/// Where a channel claims the objects it handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClaimsMode {
    /// The platform's claim store when it has one (a node of a cluster claims in the cluster's
    /// PostgreSQL), Swift otherwise.
    #[default]
    Auto,
    /// The platform's claim store only: without one (a node outside a cluster) the channel
    /// does not poll, and says why.
    Cluster,
    /// Claim objects in the claims container, even in a cluster.
    Swift,
}

/// A Swift inbox channel: it polls a container of an outgoing Swift connection and invokes its
/// service once for each object found there, then moves the object on.
///
/// Names of containers are checked as Swift checks them; the inbox, archive, error and claims
/// containers must differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SwiftInboxConfig {
    /// The channel's name, unique among Swift inbox channels.
    pub name: String,
    /// Whether it polls now.
    pub is_active: bool,
    /// The outgoing Swift connection (`outgoing.swift`) it reads and moves objects through.
    pub connection: String,
    /// The inbox: the container it polls.
    pub container: String,
    /// Only objects whose names start with this.
    pub prefix: String,
    /// Seconds between polls of an inbox found empty (a poll that found work polls again at
    /// once).
    pub poll_interval: f64,
    /// Objects per listing page: a listing of any size is read page by page.
    pub batch_size: u32,
    /// The most objects handled at once on this node.
    pub concurrency: u32,
    /// How each object's body is decoded.
    pub data_format: InboxFormat,
    /// The service each object invokes.
    pub service: String,
    /// Where an object goes once its service succeeded; when unset, it is deleted.
    pub archive_container: Option<String>,
    /// Where an object goes when it is malformed, or its service failed `max_attempts` times,
    /// with the error in its `X-Object-Meta-Zato-Error`.
    pub error_container: String,
    /// How many times an object's service may fail before the object goes to the error
    /// container. Attempts are counted in the claim store, so the count survives restarts.
    pub max_attempts: u32,
    /// Where objects are claimed.
    pub claims: ClaimsMode,
    /// With Swift claims: the container holding them; `<container>-claims` when unset.
    pub claims_container: Option<String>,
    /// Seconds a claim lasts unless renewed; its holder renews it while it works, so it runs
    /// out only when the holder stopped (a node died mid-object). Another node takes the object
    /// over after that.
    pub lease: f64,
    /// Seconds a service may take on one object; past that the attempt failed (504).
    pub timeout: f64,
    /// The largest object read, in bytes; a larger one is malformed.
    pub max_bytes: u64,
    /// Create the inbox, archive, error (and claims) containers when they are missing.
    pub create_containers: bool,
}

impl Default for SwiftInboxConfig {
    fn default() -> Self {
        SwiftInboxConfig {
            name: String::new(),
            is_active: true,
            connection: String::new(),
            container: String::new(),
            prefix: String::new(),
            poll_interval: 5.0,
            batch_size: 100,
            concurrency: 4,
            data_format: InboxFormat::Json,
            service: String::new(),
            archive_container: None,
            error_container: String::new(),
            max_attempts: 5,
            claims: ClaimsMode::Auto,
            claims_container: None,
            lease: 60.0,
            timeout: 60.0,
            max_bytes: 10 * 1024 * 1024,
            create_containers: false,
        }
    }
}

/// The largest object a channel may be set to read: 1 GiB.
const MAX_MAX_BYTES: u64 = 1024 * 1024 * 1024;

fn secs(value: f64) -> Duration {
    zato_core::config::bounds::duration(value)
}

impl SwiftInboxConfig {
    /// A channel `name` polling `container` through `connection` into `service`, failed objects
    /// to `error_container`, with the defaults: JSON, polling every 5 s, pages of 100, 4 objects
    /// at once, 5 attempts, leases of 60 s, successes deleted.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::swift_inbox::SwiftInboxConfig;
    ///
    /// let channel = SwiftInboxConfig::new("invoices", "Invoice Dispatcher", "invoices-in", "invoice.dispatcher", "invoices-error")
    ///     .with_archive("invoices-archive")
    ///     .with_concurrency(8);
    /// assert!(channel.problems().is_empty());
    /// assert_eq!(channel.claims_container(), "invoices-in-claims");
    /// ```
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        container: impl Into<String>,
        service: impl Into<String>,
        error_container: impl Into<String>,
    ) -> Self {
        SwiftInboxConfig {
            name: name.into(),
            connection: connection.into(),
            container: container.into(),
            service: service.into(),
            error_container: error_container.into(),
            ..SwiftInboxConfig::default()
        }
    }

    /// The same channel, archiving what succeeded in `container`.
    pub fn with_archive(mut self, container: impl Into<String>) -> Self {
        self.archive_container = Some(container.into());
        self
    }

    /// The same channel handling up to `concurrency` objects at once.
    pub fn with_concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// The same channel polling every `seconds` when idle.
    pub fn with_poll_interval(mut self, seconds: f64) -> Self {
        self.poll_interval = seconds;
        self
    }

    /// The same channel reading listings `batch_size` objects per page.
    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// The same channel giving up on an object after `max_attempts` failures.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The same channel claiming objects where `claims` says.
    pub fn with_claims(mut self, claims: ClaimsMode) -> Self {
        self.claims = claims;
        self
    }

    /// The same channel with leases of `seconds`.
    pub fn with_lease(mut self, seconds: f64) -> Self {
        self.lease = seconds;
        self
    }

    /// The same channel decoding objects as `format` says.
    pub fn with_data_format(mut self, format: InboxFormat) -> Self {
        self.data_format = format;
        self
    }

    /// The same channel, creating its containers when missing, or not.
    pub fn with_create_containers(mut self, create: bool) -> Self {
        self.create_containers = create;
        self
    }

    /// The container Swift claims are kept in.
    pub fn claims_container(&self) -> String {
        self.claims_container
            .clone()
            .unwrap_or_else(|| format!("{}-claims", self.container))
    }

    pub(crate) fn poll_every(&self) -> Duration {
        secs(self.poll_interval)
    }

    pub(crate) fn lease_duration(&self) -> Duration {
        secs(self.lease)
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        secs(self.timeout)
    }

    /// Every problem of the channel, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut bad =
            |path: &str, message: String| problems.push(ConfigProblem::new(path, message));
        for (field, value) in [
            ("name", &self.name),
            ("connection", &self.connection),
            ("service", &self.service),
        ] {
            if value.trim().is_empty() {
                bad(field, "required".to_owned());
            }
        }
        let claims_container = self.claims_container();
        let mut containers = vec![
            ("container", Some(self.container.as_str())),
            ("archive_container", self.archive_container.as_deref()),
            ("error_container", Some(self.error_container.as_str())),
        ];
        if self.claims != ClaimsMode::Cluster {
            containers.push(("claims_container", Some(claims_container.as_str())));
        }
        for (field, name) in &containers {
            let Some(name) = name else { continue };
            if name.is_empty() {
                bad(field, "required".to_owned());
            } else if let Err(e) = check_container(name) {
                bad(field, e.to_string());
            }
        }
        for (i, (field, name)) in containers.iter().enumerate() {
            let same = containers[..i]
                .iter()
                .find(|(_, other)| name.is_some() && other == name);
            if let Some((other, _)) = same {
                bad(
                    field,
                    format!("must not be the same container as `{other}`"),
                );
            }
        }
        if self.prefix.chars().any(char::is_control) || self.prefix.len() > 1024 {
            bad(
                "prefix",
                "at most 1024 bytes, no control characters".to_owned(),
            );
        }
        let seconds = |v: f64, min: f64, max: f64| v.is_finite() && v >= min && v <= max;
        if !seconds(self.poll_interval, 0.01, 3600.0) {
            bad("poll_interval", "must be 0.01 to 3600 seconds".to_owned());
        }
        if !seconds(self.lease, 1.0, 3600.0) {
            bad("lease", "must be 1 to 3600 seconds".to_owned());
        }
        if let Some(problem) =
            bounds::positive_seconds("timeout", self.timeout, bounds::MAX_SECONDS)
        {
            bad("timeout", problem.message);
        }
        if !(1..=10_000).contains(&self.batch_size) {
            bad("batch_size", "must be 1 to 10000".to_owned());
        }
        if !(1..=256).contains(&self.concurrency) {
            bad("concurrency", "must be 1 to 256".to_owned());
        }
        if !(1..=1000).contains(&self.max_attempts) {
            bad("max_attempts", "must be 1 to 1000".to_owned());
        }
        if !(1..=MAX_MAX_BYTES).contains(&self.max_bytes) {
            bad("max_bytes", format!("must be 1 to {MAX_MAX_BYTES}"));
        }
        problems
    }
}

/// The kind of Swift inbox channels: `channels.swift_inbox` in the config document.
pub const SWIFT_INBOX_KIND: zato_core::ChannelKind = zato_core::ChannelKind::new("swift_inbox");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn every_problem_is_listed() {
        let c = SwiftInboxConfig {
            container: "in".into(),
            error_container: "in".into(),
            archive_container: Some("a/b".into()),
            concurrency: 0,
            lease: 0.5,
            poll_interval: f64::NAN,
            ..SwiftInboxConfig::default()
        };
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        for p in [
            "name",
            "connection",
            "service",
            "archive_container",
            "error_container",
            "concurrency",
            "lease",
            "poll_interval",
        ] {
            assert!(paths.contains(&p.to_owned()), "{p} in {paths:?}");
        }
    }

    #[test]
    fn formats_by_content_type() {
        let by = InboxFormat::ByContentType;
        assert_eq!(
            by.for_content_type(Some("application/json; charset=utf-8")),
            Some(DataFormat::Json)
        );
        assert_eq!(
            by.for_content_type(Some("application/soap+xml")),
            Some(DataFormat::Soap)
        );
        assert_eq!(by.for_content_type(Some("Text/XML")), Some(DataFormat::Xml));
        assert_eq!(by.for_content_type(Some("image/png")), None);
        assert_eq!(by.for_content_type(None), None);
        assert_eq!(
            InboxFormat::Json.for_content_type(Some("image/png")),
            Some(DataFormat::Json)
        );
    }
}
