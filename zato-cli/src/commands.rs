//! What each command does: which call it makes and what it prints.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::check;
use crate::cli::{
    BodyArgs, ChangeArgs, ChannelCommand, Cli, ClusterCommand, Command, ConfigCommand, ConnCommand,
    EnmasseCommand, Format, IfMatchArg, PubSubCommand, PubSubObjectCommand, SchedulerCommand,
    SecurityCommand, ServiceCommand, SpecFormat,
};
use crate::client::{AdminClient, Answer, Call, doc_key, segment};
use crate::error::CliError;
use crate::file::{json_object_file, read_file};
use crate::output::{self, cell, names, pretty, print, table};
use crate::patch;

/// Runs the command `cli` names.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    if let Command::Config(ConfigCommand::Check { file, node: false }) = &cli.command {
        return check::run(file);
    }
    let api = Api {
        client: AdminClient::new(cli.url, cli.token, cli.timeout)?,
        json: cli.json,
        require_all: cli.require_all,
    };
    match cli.command {
        Command::Config(ConfigCommand::Check { file, node: true }) => api.check(&file).await,
        Command::Config(ConfigCommand::Check { node: false, .. }) => Ok(()),
        Command::Kinds => api.kinds().await,
        Command::Config(ConfigCommand::History) => api.history().await,
        Command::Enmasse(EnmasseCommand::Export { format, output }) => {
            api.export(format, output.as_deref()).await
        }
        Command::Enmasse(EnmasseCommand::Import {
            file,
            dry_run,
            replace,
        }) => api.import(&file, dry_run, replace).await,
        Command::Conn(command) => api.conn(command).await,
        Command::Channel(command) => api.channel(command).await,
        Command::Security(command) => api.security(command).await,
        Command::Scheduler(command) => api.scheduler(command).await,
        Command::Cluster(ClusterCommand::Status) => api.cluster_status().await,
        Command::Apispec { format, channel } => api.apispec(format, channel.as_deref()).await,
        Command::Service(ServiceCommand::List) => api.services().await,
        Command::Service(ServiceCommand::Invoke { name, data }) => api.invoke(&name, &data).await,
        Command::Pubsub(command) => api.pubsub(command).await,
    }
}

/// Where a family of objects lives in the admin API and how error lines name them.
#[derive(Clone, Copy)]
enum Family<'a> {
    Outgoing(&'a str),
    Channel(&'a str),
    Security,
    /// `topics`, `subscriptions`, `permissions`.
    PubSub(&'a str),
}

impl Family<'_> {
    fn collection(self) -> String {
        match self {
            Family::Outgoing(kind) => format!("/api/outgoing/{}", segment(kind)),
            Family::Channel(kind) => format!("/api/channels/{}", segment(kind)),
            Family::Security => "/api/security".to_owned(),
            Family::PubSub(kind) => format!("/api/pubsub/{}", segment(kind)),
        }
    }

    fn object(self, name: &str) -> String {
        format!("{}/{}", self.collection(), segment(name))
    }

    /// `outgoing swift`, `channel http`, `security`.
    fn label(self) -> String {
        match self {
            Family::Outgoing(kind) => format!("outgoing {kind}"),
            Family::Channel(kind) => format!("channel {kind}"),
            Family::Security => "security".to_owned(),
            Family::PubSub(kind) => format!("pubsub {kind}"),
        }
    }

    /// `outgoing.swift."Invoice Dispatcher"`: the object's path in the config document.
    fn doc_path(self, name: &str) -> String {
        match self {
            Family::Outgoing(kind) => format!("outgoing.{kind}.{}", doc_key(name)),
            Family::Channel(kind) => format!("channels.{kind}.{}", doc_key(name)),
            Family::Security => format!("security.{}", doc_key(name)),
            Family::PubSub(kind) => format!("pubsub.{kind}.{}", doc_key(name)),
        }
    }

    /// `outgoing swift "Invoice Dispatcher"`.
    fn label_of(self, name: &str) -> String {
        format!("{} {}", self.label(), quoted(name))
    }

    /// The columns a list shows after NAME and VERSION, header and config field, for the kinds
    /// that ship with zato; `None` for the others, whose columns follow from their objects.
    fn known_columns(self) -> Option<&'static [(&'static str, &'static str)]> {
        Some(self.columns()).filter(|c| !c.is_empty())
    }

    /// The columns a list shows after NAME and VERSION: header and config field.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Family::Outgoing("swift") => &[
                ("ACTIVE", "is_active"),
                ("AUTH URL", "auth_url"),
                ("USER", "user"),
                ("POOL SIZE", "pool_size"),
            ],
            Family::Channel("http") => &[
                ("ACTIVE", "is_active"),
                ("URL PATH", "url_path"),
                ("SERVICE", "service"),
                ("SECURITY", "security"),
            ],
            Family::Outgoing("amqp") => &[
                ("ACTIVE", "is_active"),
                ("HOST", "host"),
                ("PORT", "port"),
                ("VHOST", "vhost"),
                ("USER", "username"),
            ],
            Family::Channel("amqp") => &[
                ("ACTIVE", "is_active"),
                ("QUEUE", "queue"),
                ("SERVICE", "service"),
                ("CONNECTION", "connection"),
                ("ON ERROR", "on_error"),
            ],
            Family::Channel("zmq") => &[
                ("ACTIVE", "is_active"),
                ("TYPE", "socket_type"),
                ("METHOD", "socket_method"),
                ("ADDRESS", "address"),
                ("SERVICE", "service"),
            ],
            Family::Outgoing("zmq") => &[
                ("ACTIVE", "is_active"),
                ("TYPE", "socket_type"),
                ("METHOD", "socket_method"),
                ("ADDRESS", "address"),
            ],
            Family::Security => &[("TYPE", "type")],
            Family::PubSub("topics") => &[
                ("ACTIVE", "is_active"),
                ("MAX AGE", "max_age"),
                ("MAX DEPTH", "max_depth"),
            ],
            Family::PubSub("subscriptions") => &[
                ("ACTIVE", "is_active"),
                ("TOPIC", "topic"),
                ("DELIVERY", "delivery"),
                ("SERVICE", "service"),
                ("OUTGOING", "outgoing"),
            ],
            Family::PubSub("permissions") => &[
                ("SECURITY", "security"),
                ("PUBLISH", "publish"),
                ("SUBSCRIBE", "subscribe"),
            ],
            Family::Outgoing(_) | Family::Channel(_) | Family::PubSub(_) => &[],
        }
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

struct Api {
    client: AdminClient,
    json: bool,
    require_all: bool,
}

impl Api {
    async fn conn(&self, command: ConnCommand) -> Result<(), CliError> {
        match command {
            ConnCommand::List(args) => {
                self.list(Family::Outgoing(args.kind.as_deref().unwrap_or("swift")))
                    .await
            }
            ConnCommand::Get(o) => self.get(Family::Outgoing(&o.kind), &o.name).await,
            ConnCommand::Create(c) => self.create(Family::Outgoing(&c.kind), &c.body).await,
            ConnCommand::Edit(e) => {
                self.edit(Family::Outgoing(&e.kind), &e.name, &e.change)
                    .await
            }
            ConnCommand::Delete(d) => {
                self.delete(
                    Family::Outgoing(&d.kind),
                    &d.name,
                    d.precondition.if_match.as_deref(),
                )
                .await
            }
            ConnCommand::Ping(o) => self.ping(&o.kind, &o.name).await,
        }
    }

    async fn channel(&self, command: ChannelCommand) -> Result<(), CliError> {
        match command {
            ChannelCommand::List(args) => {
                self.list(Family::Channel(args.kind.as_deref().unwrap_or("http")))
                    .await
            }
            ChannelCommand::Get(o) => self.get(Family::Channel(&o.kind), &o.name).await,
            ChannelCommand::Create(c) => self.create(Family::Channel(&c.kind), &c.body).await,
            ChannelCommand::Edit(e) => {
                self.edit(Family::Channel(&e.kind), &e.name, &e.change)
                    .await
            }
            ChannelCommand::Delete(d) => {
                self.delete(
                    Family::Channel(&d.kind),
                    &d.name,
                    d.precondition.if_match.as_deref(),
                )
                .await
            }
        }
    }

    async fn scheduler(&self, command: SchedulerCommand) -> Result<(), CliError> {
        let jobs = Family::Channel("scheduler");
        let active = |name: String, on: bool| -> Result<(String, ChangeArgs), CliError> {
            let set = crate::patch::Assignment::parse(&format!("is_active={on}"))
                .map_err(CliError::Usage)?;
            Ok((
                name,
                ChangeArgs {
                    set: vec![set],
                    precondition: IfMatchArg { if_match: None },
                },
            ))
        };
        match command {
            SchedulerCommand::List => self.list_jobs().await,
            SchedulerCommand::Get { name } => self.get(jobs, &name).await,
            SchedulerCommand::Create(body) => self.create(jobs, &body).await,
            SchedulerCommand::Edit { name, change } => self.edit(jobs, &name, &change).await,
            SchedulerCommand::Pause { name } => {
                let (name, change) = active(name, false)?;
                self.edit(jobs, &name, &change).await
            }
            SchedulerCommand::Resume { name } => {
                let (name, change) = active(name, true)?;
                self.edit(jobs, &name, &change).await
            }
            SchedulerCommand::Delete { name, precondition } => {
                self.delete(jobs, &name, precondition.if_match.as_deref())
                    .await
            }
            SchedulerCommand::RunNow { name } => {
                let label = jobs.label_of(&name);
                let call = Call::new(Method::POST, format!("{}/run", jobs.object(&name)), &label)
                    .doc_path(jobs.doc_path(&name));
                let answer = self.client.send(call).await?;
                self.show(&answer, &label, |body| {
                    format!("{label}: {}", cell(body.get("message")))
                })
            }
        }
    }

    /// The jobs: with --json a JSON array, each job's configuration with its name and version.
    async fn list_jobs(&self) -> Result<(), CliError> {
        let jobs = Family::Channel("scheduler");
        let label = jobs.label();
        let answer = self
            .client
            .send(Call::new(Method::GET, jobs.collection(), &label))
            .await?;
        let body = answer.json(&label)?;
        let list: Vec<Value> = items(&body)
            .iter()
            .map(|item| {
                let mut job = item.get("config").cloned().unwrap_or_else(|| json!({}));
                if let Some(map) = job.as_object_mut() {
                    map.insert("name".into(), item.get("name").cloned().unwrap_or_default());
                    map.insert(
                        "version".into(),
                        item.get("version").cloned().unwrap_or_default(),
                    );
                }
                job
            })
            .collect();
        if self.json {
            return print(&serde_json::to_string_pretty(&list).unwrap_or_default());
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|job| {
                let when = match job.get("type").and_then(Value::as_str) {
                    Some("cron") => format!(
                        "cron {} {}",
                        cell(job.get("cron")),
                        cell(job.get("timezone"))
                    ),
                    Some("one_time") => format!("once at {}", cell(job.get("start_date"))),
                    _ => {
                        let secs = ["weeks", "days", "hours", "minutes", "seconds"]
                            .iter()
                            .zip([604_800u64, 86_400, 3600, 60, 1])
                            .map(|(f, n)| job.get(*f).and_then(Value::as_u64).unwrap_or(0) * n)
                            .sum::<u64>();
                        format!("every {secs} s")
                    }
                };
                vec![
                    cell(job.get("name")),
                    cell(job.get("version")),
                    cell(job.get("is_active")),
                    when,
                    cell(job.get("service")),
                ]
            })
            .collect();
        print(&table(
            &["NAME", "VERSION", "ACTIVE", "WHEN", "SERVICE"],
            &rows,
        ))
    }

    async fn pubsub(&self, command: PubSubCommand) -> Result<(), CliError> {
        let (kind, command) = match command {
            PubSubCommand::Topic(c) => ("topics", c),
            PubSubCommand::Subscription(c) => ("subscriptions", c),
            PubSubCommand::Permission(c) => ("permissions", c),
            PubSubCommand::Publish { topic, data } => {
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return self
                    .invoke(
                        "zato.pubsub.publish",
                        &json!({"topic": topic, "data": data}),
                    )
                    .await;
            }
            PubSubCommand::Pull { subscription, max } => {
                return self.pull(&subscription, max).await;
            }
            PubSubCommand::Stats => return self.pubsub_stats().await,
            PubSubCommand::Browse { subscription, max } => {
                let found = self
                    .call_service(
                        "zato.pubsub.browse",
                        &json!({"subscription": subscription, "max": max}),
                    )
                    .await?;
                let messages = found["messages"].as_array().cloned().unwrap_or_default();
                let lines: Vec<String> = messages.iter().map(Value::to_string).collect();
                return if lines.is_empty() {
                    Ok(())
                } else {
                    print(&lines.join("\n"))
                };
            }
        };
        let family = Family::PubSub(kind);
        match command {
            PubSubObjectCommand::List => self.list(family).await,
            PubSubObjectCommand::Get { name } => self.get(family, &name).await,
            PubSubObjectCommand::Create(body) => self.create(family, &body).await,
            PubSubObjectCommand::Edit { name, change } => self.edit(family, &name, &change).await,
            PubSubObjectCommand::Delete { name, precondition } => {
                self.delete(family, &name, precondition.if_match.as_deref())
                    .await
            }
        }
    }

    /// Invokes `name` with `data` through the admin API: the service's response.
    async fn call_service(&self, name: &str, data: &Value) -> Result<Value, CliError> {
        let label = format!("service {}", quoted(name));
        let path = format!("/api/services/{}/invoke", segment(name));
        let answer = self
            .client
            .send_for_outcome(Call::new(Method::POST, path, &label).json(data))
            .await?;
        let body = answer.json(&label)?;
        let status = body.get("status").and_then(Value::as_u64);
        if !answer.status.is_success() || status.is_some_and(|s| s >= 400) {
            let response = body.get("response").unwrap_or(&body);
            let message = response["message"]
                .as_str()
                .or_else(|| body["error"]["message"].as_str())
                .unwrap_or("refused");
            return Err(CliError::Api(format!("{label}: {message}")));
        }
        Ok(body.get("response").cloned().unwrap_or(Value::Null))
    }

    /// `zato pubsub stats`: one table of topics, one of subscriptions.
    async fn pubsub_stats(&self) -> Result<(), CliError> {
        let stats = self.call_service("zato.pubsub.stats", &json!({})).await?;
        if self.json {
            return print(&stats.to_string());
        }
        let rows = |key: &str| -> Vec<Vec<String>> {
            stats[key]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|r| {
                            [
                                "name",
                                "depth",
                                "oldest_age_ms",
                                "delivered",
                                "redelivered",
                                "failed",
                                "dead",
                            ]
                            .iter()
                            .map(|f| cell(r.get(*f)))
                            .collect()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let header = [
            "DEPTH",
            "OLDEST (MS)",
            "DELIVERED",
            "REDELIVERED",
            "FAILED",
            "DEAD",
        ];
        let mut topic_header = vec!["TOPIC"];
        topic_header.extend(header);
        let mut sub_header = vec!["SUBSCRIPTION"];
        sub_header.extend(header);
        let text = format!(
            "{}\n{}",
            table(&topic_header, &rows("topics")),
            table(&sub_header, &rows("subscriptions"))
        );
        print(&text)
    }

    /// `zato pubsub pull`: each message's data on a line of its own, then acknowledged.
    async fn pull(&self, subscription: &str, max: u32) -> Result<(), CliError> {
        let pulled = self
            .call_service(
                "zato.pubsub.pull",
                &json!({"subscription": subscription, "max": max}),
            )
            .await?;
        let messages = pulled["messages"].as_array().cloned().unwrap_or_default();
        let mut lines = String::new();
        let mut ids = Vec::with_capacity(messages.len());
        for message in &messages {
            let line = if self.json {
                message.to_string()
            } else {
                message["data"].to_string()
            };
            lines.push_str(&line);
            lines.push('\n');
            ids.push(message["msg_id"].clone());
        }
        if !lines.is_empty() {
            print(lines.trim_end())?;
        }
        if !ids.is_empty() {
            self.call_service(
                "zato.pubsub.ack",
                &json!({"subscription": subscription, "msg_ids": ids}),
            )
            .await?;
        }
        Ok(())
    }

    async fn security(&self, command: SecurityCommand) -> Result<(), CliError> {
        match command {
            SecurityCommand::List => self.list(Family::Security).await,
            SecurityCommand::Get { name } => self.get(Family::Security, &name).await,
            SecurityCommand::Create(body) => self.create(Family::Security, &body).await,
            SecurityCommand::Edit { name, change } => {
                self.edit(Family::Security, &name, &change).await
            }
            SecurityCommand::Delete { name, precondition } => {
                self.delete(Family::Security, &name, precondition.if_match.as_deref())
                    .await
            }
        }
    }

    /// Prints the raw JSON with `--json`, else what `human` makes of it.
    fn show(
        &self,
        answer: &Answer,
        label: &str,
        human: impl FnOnce(&Value) -> String,
    ) -> Result<(), CliError> {
        if self.json {
            print(&answer.text())?;
        } else {
            let body = answer.json(label)?;
            let mut text = human(&body);
            text.push_str(&node_lines(&body));
            text.push_str(&warning_lines(&body));
            print(&text)?;
        }
        if self.require_all
            && let Ok(body) = answer.json(label)
            && let Some(nodes) = body.get("nodes").and_then(Value::as_array)
        {
            let behind: Vec<String> = nodes
                .iter()
                .filter(|n| n.get("status").and_then(Value::as_str) != Some("applied"))
                .map(|n| cell(n.get("node")))
                .collect();
            if !behind.is_empty() {
                return Err(CliError::Api(format!(
                    "{label}: committed, but not applied by every node (--require-all): {}",
                    behind.join(", ")
                )));
            }
        }
        Ok(())
    }

    async fn apispec(&self, format: SpecFormat, channel: Option<&str>) -> Result<(), CliError> {
        let (path, label) = match (format, channel) {
            (SpecFormat::Json, _) => ("/openapi.json".to_owned(), "OpenAPI document".to_owned()),
            (SpecFormat::Yaml, _) => ("/openapi.yaml".to_owned(), "OpenAPI document".to_owned()),
            (SpecFormat::Wsdl, Some(name)) => (
                format!("{}/wsdl", Family::Channel("http").object(name)),
                format!("WSDL of channel http {}", quoted(name)),
            ),
            (SpecFormat::Wsdl, None) => {
                return Err(CliError::Usage(
                    "--format wsdl needs --channel NAME, a SOAP channel".to_owned(),
                ));
            }
        };
        let answer = self
            .client
            .send(Call::new(Method::GET, path, &label))
            .await?;
        // The document itself, whatever --json says: it is already the machine's format.
        print(answer.text().trim_end())
    }

    async fn cluster_status(&self) -> Result<(), CliError> {
        let label = "cluster";
        let answer = self
            .client
            .send_for_problems(Call::new(Method::GET, "/api/cluster".to_owned(), label))
            .await?;
        // A single node is no failure: it says so, as the web admin does.
        if answer.status == StatusCode::NOT_FOUND {
            let body = answer.json(label)?;
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("this node is not in a cluster");
            return print(message);
        }
        if !answer.status.is_success() {
            let body = answer.json(label)?;
            let message = body["error"]["message"].as_str().unwrap_or("refused");
            return Err(CliError::Api(format!("{label}: {message}")));
        }
        self.show(&answer, label, |body| {
            let rows: Vec<Vec<String>> = body
                .get("nodes")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|n| {
                    let live = n.get("live").and_then(Value::as_bool).unwrap_or(false);
                    vec![
                        cell(n.get("node")),
                        cell(n.get("applied")),
                        cell(n.get("lag")),
                        format!(
                            "{} s ago{}",
                            cell(n.get("heartbeat_secs_ago")),
                            if live { "" } else { " (down)" }
                        ),
                        n.get("last_error")
                            .filter(|e| !e.is_null())
                            .map_or_else(|| "-".to_owned(), |e| cell(Some(e))),
                    ]
                })
                .collect();
            format!(
                "configuration version {}\n{}",
                cell(body.get("version")),
                table(
                    &["NODE", "APPLIED", "LAG", "HEARTBEAT", "LAST ERROR"],
                    &rows
                )
            )
        })
    }

    async fn list(&self, family: Family<'_>) -> Result<(), CliError> {
        let label = family.label();
        let answer = self
            .client
            .send(Call::new(Method::GET, family.collection(), &label))
            .await?;
        self.show(&answer, &label, |body| {
            let derived = derived_columns(items(body));
            let columns: Vec<(&str, &str)> = match family.known_columns() {
                Some(known) => known.to_vec(),
                None => derived
                    .iter()
                    .map(|(h, f)| (h.as_str(), f.as_str()))
                    .collect(),
            };
            let mut header = vec!["NAME", "VERSION"];
            header.extend(columns.iter().map(|(h, _)| *h));
            let rows: Vec<Vec<String>> = items(body)
                .iter()
                .map(|item| {
                    let config = item.get("config");
                    let mut row = vec![cell(item.get("name")), cell(item.get("version"))];
                    for (_, field) in &columns {
                        let value = config.and_then(|c| c.get(*field));
                        // A security definition's type is also its kind in the listing.
                        let value = value
                            .or_else(|| (*field == "type").then(|| item.get("kind")).flatten());
                        row.push(cell(value));
                    }
                    row
                })
                .collect();
            table(&header, &rows)
        })
    }

    async fn get(&self, family: Family<'_>, name: &str) -> Result<(), CliError> {
        let label = family.label_of(name);
        let answer = self
            .client
            .send(
                Call::new(Method::GET, family.object(name), &label).doc_path(family.doc_path(name)),
            )
            .await?;
        self.show(&answer, &label, pretty)
    }

    async fn create(&self, family: Family<'_>, args: &BodyArgs) -> Result<(), CliError> {
        let mut body = match &args.file {
            Some(path) => json_object_file(path)?,
            None => Map::new(),
        };
        patch::apply(&mut body, &args.set).map_err(CliError::Usage)?;
        let name = match body.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => {
                return Err(CliError::Usage(format!(
                    "new {}: the object needs a name (--set name=NAME, or \"name\" in --file)",
                    family.label()
                )));
            }
        };
        let label = family.label_of(&name);
        let call = Call::new(Method::POST, family.collection(), &label)
            .doc_path(family.doc_path(&name))
            .json(&Value::Object(body));
        let answer = self.client.send(call).await?;
        self.show(&answer, &label, |body| written("created", &label, body))
    }

    async fn edit(
        &self,
        family: Family<'_>,
        name: &str,
        change: &ChangeArgs,
    ) -> Result<(), CliError> {
        let label = family.label_of(name);
        let mut merge_patch = Map::new();
        patch::apply(&mut merge_patch, &change.set)
            .map_err(|e| CliError::Usage(format!("{label}: {e}")))?;
        let call = Call::new(Method::PATCH, family.object(name), &label)
            .doc_path(family.doc_path(name))
            .json(&Value::Object(merge_patch))
            .if_match(change.precondition.if_match.as_deref());
        let answer = self.client.send(call).await?;
        self.show(&answer, &label, |body| written("updated", &label, body))
    }

    async fn delete(
        &self,
        family: Family<'_>,
        name: &str,
        if_match: Option<&str>,
    ) -> Result<(), CliError> {
        let label = family.label_of(name);
        let call = Call::new(Method::DELETE, family.object(name), &label)
            .doc_path(family.doc_path(name))
            .if_match(if_match);
        let answer = self.client.send(call).await?;
        self.show(&answer, &label, |body| match body.get("version") {
            Some(v) => format!("deleted {label} (configuration version {})", cell(Some(v))),
            None => format!("deleted {label}"),
        })
    }

    async fn ping(&self, kind: &str, name: &str) -> Result<(), CliError> {
        let family = Family::Outgoing(kind);
        let label = family.label_of(name);
        let call = Call::new(
            Method::POST,
            format!("{}/ping", family.object(name)),
            &label,
        )
        .doc_path(family.doc_path(name));
        let answer = self.client.send(call).await?;
        let body = answer.json(&label)?;
        if body.get("ok").and_then(Value::as_bool) != Some(true) {
            let message = body
                .pointer("/error/message")
                .or_else(|| body.get("message"));
            return Err(CliError::Api(format!(
                "{label}: ping failed: {}",
                cell(message)
            )));
        }
        self.show(&answer, &label, |body| {
            let mut line = format!("{label}: ping ok");
            if let Some(ms) = body.get("elapsed_ms").and_then(Value::as_f64) {
                line.push_str(&format!(" in {ms:.1} ms"));
            }
            if let Some(Value::String(message)) = body.get("message")
                && !message.is_empty()
            {
                line.push_str(&format!(": {message}"));
            }
            line
        })
    }

    /// The node's kinds: section, kind, summary.
    async fn kinds(&self) -> Result<(), CliError> {
        let label = "kinds";
        let answer = self
            .client
            .send(Call::new(Method::GET, "/api/kinds".to_owned(), label))
            .await?;
        self.show(&answer, label, |body| {
            let rows: Vec<Vec<String>> = items(body)
                .iter()
                .map(|k| {
                    let mut flags = Vec::new();
                    if k.get("pings") == Some(&Value::Bool(true)) {
                        flags.push("ping");
                    }
                    if k.get("runs") == Some(&Value::Bool(true)) {
                        flags.push("run");
                    }
                    vec![
                        cell(k.get("section")),
                        cell(k.get("kind")),
                        cell(k.get("summary")),
                        if flags.is_empty() {
                            "-".to_owned()
                        } else {
                            flags.join(", ")
                        },
                    ]
                })
                .collect();
            table(&["SECTION", "KIND", "SUMMARY", "ACTIONS"], &rows)
        })
    }

    /// Asks the node to check the whole document at `path` with its kinds: an import's dry run
    /// with `replace`, which changes nothing.
    async fn check(&self, path: &Path) -> Result<(), CliError> {
        let Some(format) = Format::from_extension(path) else {
            return Err(CliError::Usage(format!(
                "{}: cannot tell the format from the extension: use .toml, .yaml, .yml or .json",
                path.display()
            )));
        };
        let text = read_file(path)?;
        let label = format!("check of {}", path.display());
        let mut call = Call::new(Method::POST, "/api/config/import".to_owned(), &label);
        call.query.push(("dry_run", "true".to_owned()));
        call.query.push(("replace", "true".to_owned()));
        call.query.push(("format", format.as_str().to_owned()));
        call.body = Some((format.content_type(), text));
        let answer = self.client.send_for_problems(call).await?;
        if self.json {
            print(&answer.text())?;
        }
        let body = answer.json(&label)?;
        if answer.status.is_success() {
            if self.json {
                return Ok(());
            }
            return print(&format!(
                "{}: ok (checked by the node at {}){}",
                path.display(),
                self.client.shown_url(),
                warning_lines(&body)
            ));
        }
        let error = body.get("error");
        let problems: Vec<String> = error
            .and_then(|e| e.get("problems"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|p| {
                        let message = p.get("message")?.as_str()?;
                        Some(match p.get("path").and_then(Value::as_str) {
                            Some(at) if !at.is_empty() => format!("{at}: {message}"),
                            _ => message.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if problems.is_empty() {
            let message = error.and_then(|e| e.get("message"));
            return Err(CliError::Api(format!("{label}: {}", cell(message))));
        }
        Err(check::problems_error(path, &problems))
    }

    async fn services(&self) -> Result<(), CliError> {
        let label = "services";
        let answer = self
            .client
            .send(Call::new(Method::GET, "/api/services".to_owned(), label))
            .await?;
        self.show(&answer, label, |body| {
            let rows: Vec<Vec<String>> = items(body)
                .iter()
                .map(|item| {
                    let active = item.pointer("/config/is_active");
                    vec![
                        cell(item.get("name")),
                        cell(active),
                        cell(item.get("deployed")),
                        names(item.get("input")),
                        names(item.get("output")),
                    ]
                })
                .collect();
            table(&["NAME", "ACTIVE", "DEPLOYED", "INPUT", "OUTPUT"], &rows)
        })
    }

    async fn invoke(&self, name: &str, data: &Value) -> Result<(), CliError> {
        let label = format!("service {}", quoted(name));
        let path = format!("/api/services/{}/invoke", segment(name));
        let answer = self
            .client
            .send_for_outcome(
                Call::new(Method::POST, path, &label)
                    .doc_path(format!("services.{}", doc_key(name)))
                    .json(data),
            )
            .await?;
        let body = answer.json(&label)?;
        // An answer of the admin API's own (a body too large, …) rather than the service's.
        if body.get("cid").is_none() && !answer.status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("refused");
            return Err(CliError::Api(format!("{label}: {message}")));
        }
        self.show(&answer, &label, |body| match body.get("response") {
            None | Some(Value::Null) => String::new(),
            Some(response) => pretty(response),
        })?;
        match body.get("status").and_then(Value::as_u64) {
            Some(status) if status >= 400 => Err(CliError::Api(format!(
                "{label}: failed with status {status} (cid {})",
                cell(body.get("cid"))
            ))),
            _ => Ok(()),
        }
    }

    async fn history(&self) -> Result<(), CliError> {
        let label = "configuration history";
        let answer = self
            .client
            .send(Call::new(
                Method::GET,
                "/api/config/history".to_owned(),
                label,
            ))
            .await?;
        self.show(&answer, label, |body| {
            let rows: Vec<Vec<String>> = body
                .get("history")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|entry| {
                    let changes = entry
                        .get("changes")
                        .and_then(Value::as_array)
                        .map(|c| {
                            c.iter()
                                .map(|v| cell(Some(v)))
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_else(|| "-".to_owned());
                    vec![
                        cell(entry.get("version")),
                        cell(entry.get("time")),
                        cell(entry.get("author")),
                        changes,
                    ]
                })
                .collect();
            table(&["VERSION", "TIME", "AUTHOR", "CHANGES"], &rows)
        })
    }

    async fn export(&self, format: Option<Format>, output: Option<&Path>) -> Result<(), CliError> {
        let format = format
            .or_else(|| output.and_then(Format::from_extension))
            .unwrap_or(Format::Json);
        let label = "configuration export";
        let mut call = Call::new(Method::GET, "/api/config".to_owned(), label);
        call.query.push(("format", format.as_str().to_owned()));
        let answer = self.client.send(call).await?;
        let Some(path) = output else {
            return print(&answer.text());
        };
        std::fs::write(path, &answer.body)
            .map_err(|e| CliError::Local(format!("{}: cannot write: {e}", path.display())))?;
        if self.json {
            return Ok(());
        }
        print(&format!(
            "exported the configuration as {} to {}",
            format.as_str(),
            path.display()
        ))
    }

    async fn import(&self, path: &Path, dry_run: bool, replace: bool) -> Result<(), CliError> {
        let Some(format) = Format::from_extension(path) else {
            return Err(CliError::Usage(format!(
                "{}: cannot tell the format from the extension: use .toml, .yaml, .yml or .json",
                path.display()
            )));
        };
        let text = read_file(path)?;
        let label = format!("import of {}", path.display());
        let mut call = Call::new(Method::POST, "/api/config/import".to_owned(), &label);
        call.query.push(("dry_run", dry_run.to_string()));
        call.query.push(("replace", replace.to_string()));
        call.query.push(("format", format.as_str().to_owned()));
        call.body = Some((format.content_type(), text));
        let answer = self.client.send(call).await?;
        self.show(&answer, &label, output::diff)
    }
}

/// One line per warning of a write or a check: `warning: channels.http."x".service: no service
/// `x` is deployed on this node; …`. A warning is no failure: the exit status stays 0.
fn warning_lines(body: &Value) -> String {
    let Some(warnings) = body.get("warnings").and_then(Value::as_array) else {
        return String::new();
    };
    let mut out = String::new();
    for w in warnings {
        let message = cell(w.get("message"));
        match w.get("path").and_then(Value::as_str) {
            Some(at) if !at.is_empty() => out.push_str(&format!("\nwarning: {at}: {message}")),
            _ => out.push_str(&format!("\nwarning: {message}")),
        }
    }
    out
}

/// In a cluster, one line per node after a write: `  node n2: applied`.
fn node_lines(body: &Value) -> String {
    let Some(nodes) = body.get("nodes").and_then(Value::as_array) else {
        return String::new();
    };
    let mut out = String::new();
    // A write's acknowledgements carry a status; a cluster's listing of nodes does not.
    for n in nodes {
        let Some(status) = n.get("status").and_then(Value::as_str) else {
            continue;
        };
        let shown = match status {
            "not_answered" => "not answered".to_owned(),
            "failed" => format!("failed: {}", cell(n.get("error"))),
            other => other.to_owned(),
        };
        out.push_str(&format!("\n  node {}: {shown}", cell(n.get("node"))));
    }
    out
}

/// The columns of a kind that ships without a fixed list (a plug-in's): `is_active` first
/// when its objects have it, then the other plain fields of the objects, in their order, up to
/// five; secrets (shown as ******) and the name left out.
fn derived_columns(items: &[Value]) -> Vec<(String, String)> {
    let mut fields: Vec<String> = Vec::new();
    for item in items {
        let Some(config) = item.get("config").and_then(Value::as_object) else {
            continue;
        };
        for (field, value) in config {
            let plain = matches!(value, Value::Bool(_) | Value::Number(_))
                || matches!(value, Value::String(s) if s != "******");
            if plain && field != "name" && !fields.contains(field) {
                fields.push(field.clone());
            }
        }
    }
    if let Some(at) = fields.iter().position(|f| f == "is_active") {
        let active = fields.remove(at);
        fields.insert(0, active);
    }
    fields.truncate(5);
    fields
        .into_iter()
        .map(|f| {
            let header = if f == "is_active" {
                "ACTIVE".to_owned()
            } else {
                f.replace('_', " ").to_uppercase()
            };
            (header, f)
        })
        .collect()
}

/// The `items` of a collection.
fn items(body: &Value) -> &[Value] {
    body.get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// ` (version 12)` from a write's answer: the object's version, else the store's.
fn object_version(body: &Value) -> String {
    let known = |v: &&Value| !v.is_null();
    body.pointer("/object/version")
        .filter(known)
        .or_else(|| body.get("version").filter(known))
        .map(|v| format!(" (version {})", cell(Some(v))))
        .unwrap_or_default()
}

/// `updated outgoing swift "X" (version 12)`, or `no change to …` when the node says the write
/// changed nothing.
fn written(verb: &str, label: &str, body: &Value) -> String {
    let version = object_version(body);
    if body.get("changed") == Some(&Value::Bool(false)) {
        format!("no change to {label}{version}")
    } else {
        format!("{verb} {label}{version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn families_make_paths_and_labels() {
        let swift = Family::Outgoing("swift");
        assert_eq!(
            swift.object("Invoice Dispatcher"),
            "/api/outgoing/swift/Invoice%20Dispatcher"
        );
        assert_eq!(
            swift.label_of("Invoice Dispatcher"),
            r#"outgoing swift "Invoice Dispatcher""#
        );
        assert_eq!(Family::Channel("http").collection(), "/api/channels/http");
        assert_eq!(
            Family::Security.object("crm.basic"),
            "/api/security/crm.basic"
        );
        assert_eq!(Family::Security.label_of(r#"a"b"#), r#"security "a\"b""#);
    }

    #[test]
    fn zmq_lists_show_the_socket() {
        let fields = |f: Family<'_>| -> Vec<&str> { f.columns().iter().map(|c| c.1).collect() };
        assert_eq!(
            fields(Family::Channel("zmq")),
            [
                "is_active",
                "socket_type",
                "socket_method",
                "address",
                "service"
            ]
        );
        assert_eq!(
            fields(Family::Outgoing("zmq")),
            ["is_active", "socket_type", "socket_method", "address"]
        );
    }

    #[test]
    fn writes_report_the_objects_version() {
        assert_eq!(
            object_version(&json!({"version": 40, "object": {"version": 12}})),
            " (version 12)"
        );
        assert_eq!(object_version(&json!({"version": 40})), " (version 40)");
        assert_eq!(object_version(&json!({})), "");
    }

    #[test]
    fn a_write_that_changed_nothing_says_so() {
        let label = r#"outgoing swift "X""#;
        let changed = json!({"version": 41, "changed": true, "object": {"version": 13}});
        let same = json!({"version": 40, "changed": false, "object": {"version": 12}});
        let null = json!({"version": 40, "object": {"version": null}});
        assert_eq!(
            written("updated", label, &changed),
            r#"updated outgoing swift "X" (version 13)"#
        );
        assert_eq!(
            written("updated", label, &same),
            r#"no change to outgoing swift "X" (version 12)"#
        );
        assert_eq!(
            written("created", label, &null),
            r#"created outgoing swift "X" (version 40)"#
        );
    }
}
