//! The server's configuration while it serves: the whole of it, one channel, one security
//! definition; and [`ChannelAdapter`], through which the platform lists and changes the channels.
//!
//! Every change is made on a copy, validated as a whole and compiled into a new route table,
//! then swapped in; on error nothing changes. Paths in errors:
//!
//! - the whole configuration: `http.channels[2].url_path`, as in a node's configuration document;
//! - one channel, addressed by name: `channels.http."invoice.json".url_path`, as
//!   [`Channels::apply`](zato_core::Channels::apply) reports it (through the trait the path is
//!   relative, `url_path`, and the platform places it);
//! - one security definition: `http.security.crm.header`.

use std::sync::Arc;

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};

use zato_core::config::{BatchError, Step, key};
use zato_core::{
    ChannelAdapter, ChannelError, ChannelKind, ChannelSummary, ConfigError, ConfigProblem,
};

use super::config::{HTTP_SECTION, HttpChannelConfig, HttpConfig, SecurityDef};
use super::router::RouteTable;
use super::server::HttpServer;
use super::validate::{channel_from_json, check_channel_among, security_problems};

/// How a channel is put into the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Put {
    /// Only a new name.
    Add,
    /// Only an existing name.
    Update,
    /// Either.
    Upsert,
}

/// Where a change to the channel `name` is reported, as the platform reports it.
fn channel_path(name: &str) -> String {
    format!("channels.{}.{}", super::HTTP_KIND, key(name))
}

fn security_path(name: &str) -> String {
    format!("{HTTP_SECTION}.security.{}", key(name))
}

impl HttpServer {
    /// The configuration being served.
    pub fn config(&self) -> HttpConfig {
        let table = self.shared.routes.load();
        HttpConfig::new(table.channels.clone(), table.security.clone())
    }

    /// The channel named `name`, as configured.
    pub fn channel(&self, name: &str) -> Option<HttpChannelConfig> {
        let table = self.shared.routes.load();
        table.channels.iter().find(|c| c.name == name).cloned()
    }

    /// Replaces the whole configuration: every channel and security definition.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem (`http.channels[2].url_path`); the previous
    /// configuration stays in force.
    pub fn apply_config(&self, config: HttpConfig) -> Result<(), ConfigError> {
        let _writer = self.shared.lock_writer();
        let table = RouteTable::build(&config.channels, &config.security)
            .map_err(|e| e.within(HTTP_SECTION))?;
        let taken: Vec<ConfigProblem> = config
            .channels
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                self.taken_elsewhere(&c.name)
                    .map(|m| ConfigProblem::new(format!("{HTTP_SECTION}.channels[{i}].name"), m))
            })
            .collect();
        ConfigError::check(taken)?;
        self.install(table, "http configuration applied");
        Ok(())
    }

    /// Adds a channel.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `channels.http."<name>"` when the channel is invalid, its name is
    /// taken, its path and methods are served by another channel, or its security definition
    /// does not exist.
    pub fn add_channel(&self, channel: HttpChannelConfig) -> Result<(), ConfigError> {
        let at = channel_path(&channel.name);
        self.put_channel(channel, Put::Add)
            .map_err(|e| e.within(&at))
    }

    /// Replaces the channel of the same name.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `channels.http."<name>"` when no channel has that name or the new
    /// one is invalid.
    pub fn update_channel(&self, channel: HttpChannelConfig) -> Result<(), ConfigError> {
        let at = channel_path(&channel.name);
        self.put_channel(channel, Put::Update)
            .map_err(|e| e.within(&at))
    }

    /// Removes the channel named `name`, returning its configuration. Requests already running
    /// on it finish; new ones get a 404.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no channel has that name.
    pub fn remove_channel(&self, name: &str) -> Result<HttpChannelConfig, ConfigError> {
        self.take_channel(name)
            .map_err(|e| e.within(&channel_path(name)))
    }

    /// Adds a security definition, or replaces the one of the same name (rotating credentials
    /// while serving).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `http.security.<name>` when the definition is invalid.
    pub fn set_security(&self, def: SecurityDef) -> Result<(), ConfigError> {
        let at = security_path(def.name());
        ConfigError::check(security_problems(&def)).map_err(|e| e.within(&at))?;
        self.change(|_, security| {
            match security.iter_mut().find(|d| d.name() == def.name()) {
                Some(slot) => *slot = def,
                None => security.push(def),
            }
            Ok(())
        })
    }

    /// Removes the security definition named `name`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no definition has that name or a channel still uses it.
    pub fn remove_security(&self, name: &str) -> Result<(), ConfigError> {
        self.change(|channels, security| {
            let at = security
                .iter()
                .position(|d| d.name() == name)
                .ok_or_else(|| {
                    ConfigError::one(security_path(name), "no such security definition")
                })?;
            let users: Vec<&str> = channels
                .iter()
                .filter(|c| c.security.as_deref() == Some(name))
                .map(|c| c.name.as_str())
                .collect();
            if !users.is_empty() {
                return Err(ConfigError::one(
                    security_path(name),
                    format!(
                        "still used by channel `{}`; change or remove it first",
                        users.join("`, `")
                    ),
                ));
            }
            security.remove(at);
            Ok(())
        })
    }

    /// Why the channel name `name` cannot be used here: another adapter on the platform serves
    /// an HTTP channel of that name (names are unique within a kind, platform-wide).
    fn taken_elsewhere(&self, name: &str) -> Option<String> {
        let owner = self
            .shared
            .platform
            .channels()
            .owner(super::HTTP_KIND, name)?;
        (owner.name() != &*self.shared.name).then(|| {
            format!(
                "`{name}` is a channel of the adapter `{}` on the same platform",
                owner.name()
            )
        })
    }

    /// Adds or replaces a channel. Paths in errors are relative to the channel.
    pub(super) fn put_channel(
        &self,
        channel: HttpChannelConfig,
        put: Put,
    ) -> Result<(), ConfigError> {
        let _writer = self.shared.lock_writer();
        let current = self.shared.routes.load_full();
        let slot = current.channels.iter().position(|c| c.name == channel.name);
        match (put, slot) {
            (Put::Add, Some(_)) => {
                return Err(ConfigError::one(
                    "name",
                    format!("`{}` is used by another channel", channel.name),
                ));
            }
            (Put::Update, None) => return Err(ConfigError::one("", "no such channel")),
            (_, None) => {
                if let Some(message) = self.taken_elsewhere(&channel.name) {
                    return Err(ConfigError::one("name", message));
                }
            }
            _ => {}
        }
        let others: Vec<HttpChannelConfig> = current
            .channels
            .iter()
            .filter(|c| c.name != channel.name)
            .cloned()
            .collect();
        // Checked against the others first, so every problem is the new channel's, at its
        // own paths.
        check_channel_among(&channel, &others, &current.security)?;
        let mut channels = current.channels.clone();
        match slot {
            // Replaced in place: the configuration keeps its order.
            Some(i) => channels[i] = channel,
            None => channels.push(channel),
        }
        let table =
            RouteTable::build(&channels, &current.security).map_err(|e| e.within(HTTP_SECTION))?;
        self.install(table, "http channel changed");
        Ok(())
    }

    /// Applies a batch of channel changes as one: each channel put or removed in order on a
    /// copy, the route table built once and swapped in once. Paths in errors are relative to the
    /// channel of the failed step; on error nothing changed.
    pub(super) fn put_channels(
        &self,
        steps: Vec<Step<Arc<HttpChannelConfig>>>,
    ) -> Result<(), BatchError> {
        let _writer = self.shared.lock_writer();
        let current = self.shared.routes.load_full();
        // Names other HTTP adapters on the platform serve, looked up once for the batch.
        let elsewhere: HashSet<String> = self
            .shared
            .platform
            .channels()
            .adapters()
            .into_iter()
            .filter(|a| a.kind() == super::HTTP_KIND && a.name() != &*self.shared.name)
            .flat_map(|a| a.channels().into_iter().map(|c| c.name))
            .collect();
        let mut channels: Vec<Option<HttpChannelConfig>> =
            current.channels.iter().cloned().map(Some).collect();
        let mut slots: HashMap<String, usize> = current
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        // The step that last put each slot's channel, to place the table's problems.
        let mut put_by: HashMap<usize, usize> = HashMap::new();
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Step::Put(channel) => {
                    let channel = HttpChannelConfig::clone(&channel);
                    let slot = match slots.get(&channel.name).copied() {
                        Some(slot) => slot,
                        None => {
                            if elsewhere.contains(&channel.name) {
                                let message = self
                                    .taken_elsewhere(&channel.name)
                                    .unwrap_or_else(|| "is served by another adapter".to_owned());
                                return Err(BatchError::new(
                                    0,
                                    i,
                                    ConfigError::one("name", message),
                                ));
                            }
                            channels.push(None);
                            slots.insert(channel.name.clone(), channels.len() - 1);
                            channels.len() - 1
                        }
                    };
                    channels[slot] = Some(channel);
                    put_by.insert(slot, i);
                }
                Step::Remove(name) => match slots.remove(&name) {
                    Some(slot) => {
                        channels[slot] = None;
                        put_by.remove(&slot);
                    }
                    None => {
                        return Err(BatchError::new(
                            0,
                            i,
                            ConfigError::one("", "no such channel"),
                        ));
                    }
                },
            }
        }
        // Replaced in place, new ones last: the configuration keeps its order.
        let mut order: Vec<Option<usize>> = Vec::with_capacity(channels.len());
        let channels: Vec<HttpChannelConfig> = channels
            .into_iter()
            .enumerate()
            .filter_map(|(slot, c)| c.inspect(|_| order.push(put_by.get(&slot).copied())))
            .collect();
        let table = RouteTable::build(&channels, &current.security)
            .map_err(|e| batch_problem(e, &order))?;
        self.install(table, "http channels changed");
        Ok(())
    }

    /// Removes a channel. Paths in errors are relative to the channel.
    pub(super) fn take_channel(&self, name: &str) -> Result<HttpChannelConfig, ConfigError> {
        let mut removed = None;
        self.change(|channels, _| {
            let at = channels
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| ConfigError::one("", "no such channel"))?;
            removed = Some(channels.remove(at));
            Ok(())
        })?;
        removed.ok_or_else(|| ConfigError::one("", "no such channel"))
    }

    /// Applies `edit` to a copy of the configuration, validates and compiles it, and swaps it in.
    fn change<F>(&self, edit: F) -> Result<(), ConfigError>
    where
        F: FnOnce(&mut Vec<HttpChannelConfig>, &mut Vec<SecurityDef>) -> Result<(), ConfigError>,
    {
        let _writer = self.shared.lock_writer();
        let current = self.shared.routes.load_full();
        let mut channels = current.channels.clone();
        let mut security = current.security.clone();
        edit(&mut channels, &mut security)?;
        let table = RouteTable::build(&channels, &security).map_err(|e| e.within(HTTP_SECTION))?;
        self.install(table, "http channels changed");
        Ok(())
    }

    /// Swaps `table` in. Call with the writer lock held.
    fn install(&self, table: RouteTable, what: &'static str) {
        self.warn_undeployed(&table);
        let count = table.channels.len();
        self.shared.limits.sync(&table.channels);
        self.shared.routes.store(Arc::new(table));
        tracing::info!(adapter = %self.shared.name, channels = count, "{what}");
    }

    /// A channel may name a service deployed later, so this is a warning, not an error; until
    /// then its callers get a 404 naming the service.
    fn warn_undeployed(&self, table: &RouteTable) {
        let services = self.shared.platform.services();
        for ch in table
            .channels
            .iter()
            .filter(|c| !services.contains(&c.service))
        {
            tracing::warn!(channel = %ch.name, service = %ch.service, "channel names a service not deployed");
        }
    }
}

/// The route table's problems (`channels[7].url_path`) as the failure of the step that put the
/// channel (`url_path` of step 3). A problem of a channel no step put (it cannot clash with
/// one the batch left as it was without the batch's channel clashing too) is placed on the
/// batch's first step, at its path in the configuration.
fn batch_problem(e: ConfigError, order: &[Option<usize>]) -> BatchError {
    let mut failed: Option<usize> = None;
    let mut problems = Vec::new();
    for mut p in e.into_problems() {
        let step = p
            .path
            .strip_prefix("channels[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(n, rest)| Some((order.get(n.parse::<usize>().ok()?).copied()??, rest)));
        match step {
            Some((step, rest)) if failed.is_none_or(|f| f == step) => {
                failed = Some(step);
                p.path = rest.strip_prefix('.').unwrap_or(rest).to_owned();
                problems.push(p);
            }
            Some(_) => {}
            None if failed.is_none() => {
                p.path = format!("{HTTP_SECTION}.{}", p.path);
                problems.push(p);
            }
            None => {}
        }
    }
    BatchError::new(0, failed.unwrap_or(0), ConfigError::new(problems))
}

/// One channel as the platform lists it: its endpoint is the URL path, after its methods when
/// it has any (`POST /invoice.dispatcher`).
fn summary(adapter: &str, ch: &HttpChannelConfig) -> ChannelSummary {
    let endpoint = if ch.methods.is_empty() {
        ch.url_path.clone()
    } else {
        let methods: Vec<String> = ch.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        format!("{} {}", methods.join(","), ch.url_path)
    };
    ChannelSummary::new(super::HTTP_KIND, ch.name.as_str(), adapter)
        .with_service(ch.service.as_str())
        .with_active(ch.is_active)
        .with_endpoint(endpoint)
}

#[async_trait]
impl ChannelAdapter for HttpServer {
    fn kind(&self) -> ChannelKind {
        super::HTTP_KIND
    }

    fn name(&self) -> &str {
        HttpServer::name(self)
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        let table = self.shared.routes.load();
        let mut all: Vec<ChannelSummary> = table
            .channels
            .iter()
            .map(|c| summary(&self.shared.name, c))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The channel as JSON in [`HttpChannelConfig`]'s schema. A channel holds no secret: the
    /// credentials are in the security definition it names.
    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        let channel = self.channel(name)?;
        match serde_json::to_value(&channel) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::error!(channel = %name, error = %e, "http channel could not be written as JSON");
                None
            }
        }
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let channel = channel_from_json(config)?;
        self.put_channel(channel, Put::Upsert)
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.take_channel(name).map(drop)
    }

    async fn start(&self) -> Result<(), ChannelError> {
        HttpServer::start(self).await
    }

    fn is_serving(&self) -> bool {
        self.shared.is_serving()
    }

    async fn stop(&self) {
        self.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_path_after_its_methods() {
        let open = HttpChannelConfig::new("a", "/a/{id}", "s");
        assert_eq!(summary("http@x", &open).endpoint, "/a/{id}");
        let post = open.with_methods(["post", "PUT"]).with_active(false);
        let s = summary("http@x", &post);
        assert_eq!(s.endpoint, "POST,PUT /a/{id}");
        assert_eq!((s.adapter.as_str(), s.is_active), ("http@x", false));
    }
}
