//! The command line: every command, argument and help text, declared with clap's derive.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reqwest::Url;

use crate::patch::Assignment;

const EXAMPLES: &str = "\
Examples:
  zato conn list
  zato conn edit swift \"Invoice Dispatcher\" --set key=NEW --set pool_size=10
  zato channel edit http invoice.dispatcher.json --set is_active=false
  zato enmasse export --format toml --output node.toml
  zato enmasse import node.toml --dry-run
  zato --json service list";

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// `zato`: manage a running zato node through its admin API.
#[derive(Parser)]
#[command(
    name = "zato",
    version,
    about = "Manage a running zato node through its admin API: connections, channels, security, services and the whole configuration",
    after_help = EXAMPLES,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Base URL of the node's admin API
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "ZATO_ADMIN_URL",
        default_value = "http://127.0.0.1:11224",
        value_parser = parse_url
    )]
    pub(crate) url: Url,

    /// Bearer token of the admin API
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "ZATO_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<Token>,

    /// Print the admin API's JSON as it came, for scripts
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) json: bool,

    /// Give up on the admin API after this many seconds (1 to 3600)
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub(crate) timeout: u64,

    /// In a cluster, fail (exit code 1) after a write unless every live node applied it; the
    /// write itself is committed either way
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) require_all: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The admin token. Its Debug never shows it.
#[derive(Clone)]
pub(crate) struct Token(pub(crate) String);

impl From<String> for Token {
    fn from(value: String) -> Self {
        Token(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(******)")
    }
}

fn parse_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("the scheme must be http or https, not {other}")),
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// The node's configuration document: check (offline or on the node) and change history
    #[command(
        subcommand,
        after_help = "Examples:\n  zato config check node.toml\n  zato config check --node node.toml\n  zato config history"
    )]
    Config(ConfigCommand),

    /// Export or import the whole configuration document (TOML, YAML or JSON)
    #[command(
        subcommand,
        after_help = "Examples:\n  zato enmasse export --format yaml --output node.yaml\n  zato enmasse import node.yaml --dry-run\n  zato enmasse import node.yaml --replace"
    )]
    Enmasse(EnmasseCommand),

    /// Outgoing connections, addressed as KIND NAME; the kinds come from the node (`zato kinds`
    /// lists them)
    #[command(
        subcommand,
        after_help = "Examples:\n  zato kinds\n  zato conn list swift\n  zato conn edit swift \"Invoice Dispatcher\" --set key=NEW --set pool_size=10\n  zato conn ping swift \"Invoice Dispatcher\""
    )]
    Conn(ConnCommand),

    /// Channels, addressed as KIND NAME; the kinds come from the node (`zato kinds` lists them)
    #[command(
        subcommand,
        after_help = "Examples:\n  zato kinds\n  zato channel list http\n  zato channel edit http invoice.dispatcher.json --set is_active=false"
    )]
    Channel(ChannelCommand),

    /// The kinds of channels, outgoing connections and security definitions the node has, its
    /// plug-ins' included: section, kind and summary
    #[command(after_help = "Examples:\n  zato kinds\n  zato --json kinds")]
    Kinds,

    /// Security definitions, addressed by NAME
    #[command(
        subcommand,
        after_help = "Examples:\n  zato security list\n  zato security edit crm.basic --set password=NEW"
    )]
    Security(SecurityCommand),

    /// The cluster this node is one of: its nodes and how far each has applied the configuration
    #[command(
        subcommand,
        after_help = "Examples:\n  zato cluster status\n  zato --json cluster status"
    )]
    Cluster(ClusterCommand),

    /// The API specification of the node's HTTP channels, generated from their services: OpenAPI
    /// 3.1, or the WSDL of one SOAP channel
    #[command(
        after_help = "Examples:\n  zato apispec\n  zato apispec --format yaml > openapi.yaml\n  zato apispec --format wsdl --channel invoice.dispatcher.soap > invoice.wsdl"
    )]
    Apispec {
        /// The format
        #[arg(long, value_enum, default_value = "json")]
        format: SpecFormat,
        /// With `--format wsdl`: the SOAP channel
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },

    /// Scheduled jobs (channels of kind scheduler): list, create, edit, pause, resume, delete,
    /// run now
    #[command(
        subcommand,
        after_help = "Examples:\n  zato scheduler list\n  zato scheduler create --set name=daily --set service=invoice.dispatcher --set type=cron --set cron='0 6 * * *' --set timezone=Europe/Warsaw\n  zato scheduler pause daily\n  zato scheduler run-now daily"
    )]
    Scheduler(SchedulerCommand),

    /// Publish/subscribe: topics, subscriptions and permissions (`pubsub.*` in the document),
    /// publishing to a topic and pulling from a subscription
    #[command(
        subcommand,
        after_help = "Examples:\n  zato pubsub topic list\n  zato pubsub subscription create --set name=crm --set topic='invoices.*' --set delivery=pull\n  zato pubsub subscription edit invoice.audit --set is_active=false\n  zato pubsub publish invoices.stored '{\"id\": \"123\"}'\n  zato pubsub pull crm --max 10"
    )]
    Pubsub(PubSubCommand),

    /// Services: list them, invoke one
    #[command(
        subcommand,
        after_help = "Examples:\n  zato service list\n  zato service invoke invoice.dispatcher --data '{\"id\": \"123\"}'"
    )]
    Service(ServiceCommand),
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a configuration document and print every problem: offline with the kinds built
    /// into this CLI (naming those it does not know as not checked), or with --node on the
    /// running node, which knows its own kinds
    #[command(
        after_help = "Examples:\n  zato config check node.toml\n  zato config check node.yaml\n  zato config check --node node.toml"
    )]
    Check {
        /// The document; its format comes from the extension (.toml, .yaml, .yml, .json)
        file: PathBuf,
        /// Ask the node at --url (ZATO_ADMIN_URL) to check the whole document, changing nothing
        #[arg(long)]
        node: bool,
    },

    /// The recent versions of the node's configuration: who changed what
    #[command(after_help = "Examples:\n  zato config history\n  zato --json config history")]
    History,
}

/// The format of an API specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SpecFormat {
    Json,
    Yaml,
    Wsdl,
}

#[derive(Subcommand)]
pub(crate) enum ClusterCommand {
    /// Each node with its applied version, lag, last heartbeat and last error
    #[command(after_help = "Examples:\n  zato cluster status\n  zato --json cluster status")]
    Status,
}

#[derive(Subcommand)]
pub(crate) enum EnmasseCommand {
    /// Print (or write) the whole configuration document; secrets come out as ******
    #[command(
        after_help = "Examples:\n  zato enmasse export\n  zato enmasse export --format toml --output node.toml"
    )]
    Export {
        /// The format (default: from the --output extension, else json)
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write the document to FILE instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },

    /// Import a configuration document and print what changed (+ created, ~ updated, - deleted, = unchanged)
    #[command(
        after_help = "Examples:\n  zato enmasse import node.toml --dry-run\n  zato enmasse import node.toml\n  zato enmasse import node.toml --replace"
    )]
    Import {
        /// The document; its format comes from the extension (.toml, .yaml, .yml, .json)
        file: PathBuf,
        /// Show what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also delete the objects the document does not have
        #[arg(long)]
        replace: bool,
    },
}

/// A configuration document's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// The name used in the admin API's `format` parameter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }

    /// The media type of a document in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Toml => "application/toml",
            Format::Yaml => "application/yaml",
            Format::Json => "application/json",
        }
    }

    /// The format a file's extension names, if any.
    pub(crate) fn from_extension(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The same five commands for outgoing connections and channels, plus ping for connections.
#[derive(Subcommand)]
pub(crate) enum ConnCommand {
    /// List the connections of one kind
    #[command(after_help = "Examples:\n  zato conn list\n  zato --json conn list swift")]
    List(ListArgs),
    /// Print one connection's configuration (secrets as ******)
    #[command(after_help = "Examples:\n  zato conn get swift \"Invoice Dispatcher\"")]
    Get(ObjectArgs),
    /// Create a connection from a JSON file and/or --set pairs (which must include the name)
    #[command(
        after_help = "Examples:\n  zato conn create swift --file crm.json\n  zato conn create swift --set name=CRM --set auth_url=https://auth.example.com/v3 --set user=crm --set key=SECRET"
    )]
    Create(CreateArgs),
    /// Change fields of a connection (a JSON merge patch); --set FIELD=null removes a field
    #[command(
        after_help = "Examples:\n  zato conn edit swift \"Invoice Dispatcher\" --set key=NEW --set pool_size=10\n  zato conn edit swift \"Invoice Dispatcher\" --set pool_size=4 --if-match 12"
    )]
    Edit(EditArgs),
    /// Delete a connection
    #[command(
        after_help = "Examples:\n  zato conn delete swift CRM\n  zato conn delete swift CRM --if-match 3"
    )]
    Delete(DeleteArgs),
    /// Test a connection now: authenticate against the remote system
    #[command(after_help = "Examples:\n  zato conn ping swift \"Invoice Dispatcher\"")]
    Ping(ObjectArgs),
}

#[derive(Subcommand)]
pub(crate) enum ChannelCommand {
    /// List the channels of one kind
    #[command(after_help = "Examples:\n  zato channel list\n  zato --json channel list http")]
    List(ListArgs),
    /// Print one channel's configuration
    #[command(after_help = "Examples:\n  zato channel get http invoice.dispatcher.json")]
    Get(ObjectArgs),
    /// Create a channel from a JSON file and/or --set pairs (which must include the name)
    #[command(
        after_help = "Examples:\n  zato channel create http --file channel.json\n  zato channel create http --set name=crm.ping --set url_path=/crm/ping --set service=crm.ping"
    )]
    Create(CreateArgs),
    /// Change fields of a channel (a JSON merge patch); --set FIELD=null removes a field
    #[command(
        after_help = "Examples:\n  zato channel edit http invoice.dispatcher.json --set is_active=false\n  zato channel edit http invoice.dispatcher.json --set is_active=true --if-match 4"
    )]
    Edit(EditArgs),
    /// Delete a channel
    #[command(after_help = "Examples:\n  zato channel delete http crm.ping")]
    Delete(DeleteArgs),
}

#[derive(Subcommand)]
pub(crate) enum SchedulerCommand {
    /// List the jobs; with --json, a JSON array of jobs, each with its name
    #[command(after_help = "Examples:\n  zato scheduler list\n  zato --json scheduler list")]
    List,
    /// Print one job's configuration
    #[command(after_help = "Examples:\n  zato scheduler get daily")]
    Get {
        /// The job's name
        name: String,
    },
    /// Create a job from a JSON file and/or --set pairs (which must include name, service and
    /// type: one_time, interval or cron)
    #[command(
        after_help = "Examples:\n  zato scheduler create --set name=ping --set service=demo.ping --set type=interval --set minutes=5\n  zato scheduler create --set name=daily --set service=invoice.dispatcher --set type=cron --set cron='0 6 * * *' --set timezone=Europe/Warsaw --set extra='{\"target\":[\"CRM\"]}'"
    )]
    Create(BodyArgs),
    /// Change fields of a job (a JSON merge patch)
    #[command(after_help = "Examples:\n  zato scheduler edit daily --set cron='0 7 * * *'")]
    Edit {
        /// The job's name
        name: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Stop running a job when due (is_active=false); it can still be run by hand
    #[command(after_help = "Examples:\n  zato scheduler pause daily")]
    Pause {
        /// The job's name
        name: String,
    },
    /// Run a paused job when due again (is_active=true); runs missed meanwhile are not replayed
    #[command(after_help = "Examples:\n  zato scheduler resume daily")]
    Resume {
        /// The job's name
        name: String,
    },
    /// Delete a job
    #[command(after_help = "Examples:\n  zato scheduler delete daily")]
    Delete {
        /// The job's name
        name: String,
        #[command(flatten)]
        precondition: IfMatchArg,
    },
    /// Run a job now, active or not, on the node asked
    #[command(after_help = "Examples:\n  zato scheduler run-now daily")]
    RunNow {
        /// The job's name
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum SecurityCommand {
    /// List the security definitions
    #[command(after_help = "Examples:\n  zato security list")]
    List,
    /// Print one security definition (secrets as ******)
    #[command(after_help = "Examples:\n  zato security get crm.basic")]
    Get {
        /// The definition's name
        name: String,
    },
    /// Create a security definition from a JSON file and/or --set pairs (with type and name)
    #[command(
        after_help = "Examples:\n  zato security create --set type=basic_auth --set name=crm.basic --set username=crm --set password=SECRET\n  zato security create --set type=apikey --set name=crm.key --set header=X-API-Key --set key=SECRET"
    )]
    Create(BodyArgs),
    /// Change fields of a security definition (a JSON merge patch)
    #[command(after_help = "Examples:\n  zato security edit crm.basic --set password=NEW")]
    Edit {
        /// The definition's name
        name: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Delete a security definition
    #[command(after_help = "Examples:\n  zato security delete crm.basic")]
    Delete {
        /// The definition's name
        name: String,
        #[command(flatten)]
        precondition: IfMatchArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum PubSubCommand {
    /// Topics (`pubsub.topics`): list, get, create, edit, delete
    #[command(
        subcommand,
        after_help = "Examples:\n  zato pubsub topic list\n  zato pubsub topic create --set name=orders.new --set max_depth=1000"
    )]
    Topic(PubSubObjectCommand),
    /// Subscriptions (`pubsub.subscriptions`): list, get, create, edit, delete
    #[command(
        subcommand,
        after_help = "Examples:\n  zato pubsub subscription list\n  zato pubsub subscription edit invoice.audit --set is_active=false"
    )]
    Subscription(PubSubObjectCommand),
    /// Permissions per security definition (`pubsub.permissions`): list, get, create, edit,
    /// delete
    #[command(
        subcommand,
        after_help = "Examples:\n  zato pubsub permission list\n  zato pubsub permission create --set name=crm --set security=crm --set 'publish=[\"invoices.*\"]'"
    )]
    Permission(PubSubObjectCommand),
    /// Publish DATA (JSON, or else a string) to TOPIC and print the message's id
    #[command(after_help = "Examples:\n  zato pubsub publish invoices.stored '{\"id\": \"123\"}'")]
    Publish {
        /// The topic
        topic: String,
        /// The message's data: JSON when it parses as JSON, else a string
        data: String,
    },
    /// The topics and subscriptions: depth, age of the oldest message (ms), delivered,
    /// redelivered, failed and dead counts
    #[command(after_help = "Examples:\n  zato pubsub stats\n  zato --json pubsub stats")]
    Stats,
    /// The messages queued for a subscription, oldest first, without taking them
    #[command(after_help = "Examples:\n  zato pubsub browse invoice.audit --max 10")]
    Browse {
        /// The subscription
        subscription: String,
        /// The most messages to show
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
    /// Take messages from a pull subscription, print each one's data as one JSON line, and
    /// acknowledge what was printed
    #[command(after_help = "Examples:\n  zato pubsub pull crm\n  zato pubsub pull crm --max 10")]
    Pull {
        /// The pull subscription
        subscription: String,
        /// The most messages to take
        #[arg(long, default_value_t = 100)]
        max: u32,
    },
}

#[derive(Subcommand)]
pub(crate) enum PubSubObjectCommand {
    /// List them
    #[command(
        after_help = "Examples:\n  zato pubsub topic list\n  zato --json pubsub subscription list"
    )]
    List,
    /// Print one's configuration
    #[command(after_help = "Examples:\n  zato pubsub subscription get invoice.audit")]
    Get {
        /// The name
        name: String,
    },
    /// Create one from a JSON file and/or --set pairs (which must include the name)
    #[command(
        after_help = "Examples:\n  zato pubsub subscription create --set name=crm --set 'topic=invoices.*' --set delivery=pull\n  zato pubsub topic create --file topic.json"
    )]
    Create(BodyArgs),
    /// Change fields of one (a JSON merge patch); --set FIELD=null removes a field
    #[command(
        after_help = "Examples:\n  zato pubsub subscription edit invoice.audit --set is_active=false\n  zato pubsub topic edit invoices.stored --set max_depth=50000"
    )]
    Edit {
        /// The name
        name: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Delete one
    #[command(after_help = "Examples:\n  zato pubsub subscription delete crm")]
    Delete {
        /// The name
        name: String,
        #[command(flatten)]
        precondition: IfMatchArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum ServiceCommand {
    /// List the services: active, deployed, their input and output
    #[command(after_help = "Examples:\n  zato service list")]
    List,
    /// Invoke a service with a JSON input and print its reply
    #[command(
        after_help = "Examples:\n  zato service invoke invoice.dispatcher --data '{\"id\": \"123\", \"target\": [\"CRM\"]}'"
    )]
    Invoke {
        /// The service's name
        name: String,
        /// The input, as JSON
        #[arg(long, default_value = "{}", value_parser = parse_json)]
        data: serde_json::Value,
    },
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// The kind to list (default: swift for conn, http for channel; `zato kinds` lists the
    /// node's)
    pub(crate) kind: Option<String>,
}

#[derive(Args)]
pub(crate) struct ObjectArgs {
    /// The object's kind
    pub(crate) kind: String,
    /// The object's name
    pub(crate) name: String,
}

#[derive(Args)]
pub(crate) struct CreateArgs {
    /// The new object's kind
    pub(crate) kind: String,
    #[command(flatten)]
    pub(crate) body: BodyArgs,
}

#[derive(Args)]
pub(crate) struct BodyArgs {
    /// The new object's configuration, a JSON file; --set pairs apply on top of it
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// FIELD=VALUE: VALUE is JSON when it parses as JSON, else a string; a.b sets a nested field
    #[arg(long = "set", value_name = "FIELD=VALUE", value_parser = Assignment::parse)]
    pub(crate) set: Vec<Assignment>,
}

#[derive(Args)]
pub(crate) struct EditArgs {
    /// The object's kind
    pub(crate) kind: String,
    /// The object's name
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) change: ChangeArgs,
}

#[derive(Args)]
pub(crate) struct ChangeArgs {
    /// FIELD=VALUE: VALUE is JSON when it parses as JSON, else a string; a.b sets a nested field
    #[arg(long = "set", value_name = "FIELD=VALUE", required = true, value_parser = Assignment::parse)]
    pub(crate) set: Vec<Assignment>,
    #[command(flatten)]
    pub(crate) precondition: IfMatchArg,
}

#[derive(Args)]
pub(crate) struct DeleteArgs {
    /// The object's kind
    pub(crate) kind: String,
    /// The object's name
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) precondition: IfMatchArg,
}

#[derive(Args)]
pub(crate) struct IfMatchArg {
    /// Change only if the object is still at this version (the VERSION `list` shows), or * for any
    #[arg(long, value_name = "VERSION", value_parser = parse_if_match)]
    pub(crate) if_match: Option<String>,
}

/// `7`, `"7"` or `*`, as the `If-Match` header value: `"7"` or `*`.
fn parse_if_match(value: &str) -> Result<String, String> {
    let bare = value.trim().trim_matches('"');
    if bare == "*" {
        return Ok("*".to_owned());
    }
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("\"{bare}\""));
    }
    Err("must be a version number (as the ETag shows it) or *".to_owned())
}

fn parse_json(value: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(value).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !help.contains("Examples:") {
                missing.push(path.clone());
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no Examples: in {missing:?}");
    }

    #[test]
    fn if_match_takes_a_version_or_a_star() {
        assert_eq!(parse_if_match("7").unwrap(), "\"7\"");
        assert_eq!(parse_if_match("\"12\"").unwrap(), "\"12\"");
        assert_eq!(parse_if_match("*").unwrap(), "*");
        assert!(parse_if_match("seven").is_err());
        assert!(parse_if_match("").is_err());
        assert!(parse_if_match("1\r\nX: y").is_err());
    }

    #[test]
    fn json_is_accepted_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["zato", "--json", "conn", "list"]).unwrap();
        let after = Cli::try_parse_from(["zato", "conn", "list", "--json"]).unwrap();
        assert!(before.json && after.json);
    }

    #[test]
    fn timeout_is_bounded() {
        assert!(Cli::try_parse_from(["zato", "--timeout", "0", "service", "list"]).is_err());
        assert!(Cli::try_parse_from(["zato", "--timeout", "100000", "service", "list"]).is_err());
        assert!(Cli::try_parse_from(["zato", "--timeout", "5", "service", "list"]).is_ok());
    }

    #[test]
    fn formats_come_from_extensions() {
        use std::path::Path;
        assert_eq!(
            Format::from_extension(Path::new("a.TOML")),
            Some(Format::Toml)
        );
        assert_eq!(
            Format::from_extension(Path::new("a.yml")),
            Some(Format::Yaml)
        );
        assert_eq!(
            Format::from_extension(Path::new("dir/a.json")),
            Some(Format::Json)
        );
        assert_eq!(Format::from_extension(Path::new("a.txt")), None);
        assert_eq!(Format::from_extension(Path::new("a")), None);
    }
}
