//! [`SqlConfig`]: an `outgoing.sql` object of the config document, and how its `url` shorthand
//! is split into fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zato_core::Secret;
use zato_core::config::{ConfigError, ConfigProblem, bounds};

/// The most connections one pool holds.
pub const MAX_POOL_SIZE: u32 = 1000;

/// The longest wait for a pooled connection, in seconds.
pub const MAX_POOL_WAIT: f64 = 3600.0;

/// Which database server a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Engine {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    #[serde(alias = "postgres")]
    Postgresql,
    /// MySQL 8 or MariaDB 10.6 and later (`mysql://`, `mariadb://`).
    #[serde(alias = "mariadb")]
    Mysql,
    /// SQLite, a file on this machine (`sqlite://path`), compiled in.
    #[default]
    Sqlite,
}

impl Engine {
    /// The engine's name in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Engine::Postgresql => 5432,
            Engine::Mysql => 3306,
            Engine::Sqlite => 0,
        }
    }
}

/// Whether and how a connection uses TLS, as PostgreSQL's `sslmode` says it. SQLite ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it.
    #[default]
    Prefer,
    /// TLS or no connection, any certificate.
    Require,
    /// TLS with a certificate signed by a trusted authority.
    VerifyCa,
    /// As `verify_ca`, and the certificate names the host.
    VerifyFull,
}

/// An outgoing SQL connection: `outgoing.sql.<name>`.
///
/// `url` is a shorthand read when the object is checked: `postgres://user:pass@host:5432/db`,
/// `mysql://…` (or `mariadb://…`), `sqlite://path/to/file.db`. It sets `engine`, `host`, `port`,
/// `database` and `user`, moves a password it holds into `password` (a secret), and is not kept:
/// what a read shows is the fields, never the password.
///
/// # Examples
///
/// ```
/// use zato_sql::{Engine, SqlConfig};
///
/// let c = SqlConfig::sqlite("Invoice Log", "target/zato/invoice_log.sqlite");
/// assert_eq!(c.engine, Engine::Sqlite);
/// assert!(c.problems().is_empty());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The connection's name, unique among `outgoing.sql`.
    pub name: String,
    /// Whether services may use it.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The database server's kind.
    #[serde(default)]
    pub engine: Engine,
    /// The server's host (not for SQLite).
    #[serde(default)]
    pub host: String,
    /// The server's port; 0 for the engine's default.
    #[serde(default)]
    pub port: u16,
    /// The database; for SQLite the file's path (created when missing), or `:memory:`.
    #[serde(default)]
    pub database: String,
    /// The user to log in as.
    #[serde(default)]
    pub user: String,
    /// The user's password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// TLS to the server.
    #[serde(default)]
    pub tls: TlsMode,
    /// The most connections the pool holds.
    #[serde(default = "pool_size")]
    pub pool_size: u32,
    /// How long a query waits for a free connection, in seconds, before a 503.
    #[serde(default = "pool_wait")]
    pub pool_wait: f64,
    /// How long one statement may run, in seconds, before a 504. The server enforces it
    /// (`statement_timeout` on PostgreSQL, `max_statement_time` on MariaDB,
    /// `max_execution_time` on MySQL); the typed helpers also give up on their side a second
    /// later, which is what bounds SQLite.
    #[serde(default = "statement_timeout")]
    pub statement_timeout: f64,
}

fn yes() -> bool {
    true
}
fn pool_size() -> u32 {
    10
}
fn pool_wait() -> f64 {
    10.0
}
fn statement_timeout() -> f64 {
    30.0
}

impl SqlConfig {
    /// A SQLite connection to the file at `path`, with the defaults.
    pub fn sqlite(name: impl Into<String>, path: impl Into<String>) -> Self {
        SqlConfig {
            name: name.into(),
            is_active: true,
            engine: Engine::Sqlite,
            host: String::new(),
            port: 0,
            database: path.into(),
            user: String::new(),
            password: None,
            tls: TlsMode::default(),
            pool_size: pool_size(),
            pool_wait: pool_wait(),
            statement_timeout: statement_timeout(),
        }
    }

    /// A connection to the server `url` names (`postgres://`, `mysql://`, `sqlite://`), with
    /// the defaults; a password in it becomes [`password`](Self::password).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `url` when it cannot be read.
    pub fn from_url(name: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        let mut object = serde_json::json!({"name": name.into(), "url": url});
        prepare(&mut object)?;
        serde_json::from_value(object).map_err(|e| ConfigError::one("", e.to_string()))
    }

    /// The same with its pool bounds.
    pub fn with_pool(mut self, size: u32, wait_seconds: f64) -> Self {
        self.pool_size = size;
        self.pool_wait = wait_seconds;
        self
    }

    /// The same with its statement timeout, in seconds.
    pub fn with_statement_timeout(mut self, seconds: f64) -> Self {
        self.statement_timeout = seconds;
        self
    }

    /// The same with another password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// The port, the engine's default for 0.
    pub fn port_or_default(&self) -> u16 {
        if self.port == 0 {
            self.engine.default_port()
        } else {
            self.port
        }
    }

    pub(crate) fn pool_wait_duration(&self) -> Duration {
        bounds::duration(self.pool_wait)
    }

    pub(crate) fn statement_timeout_duration(&self) -> Duration {
        bounds::duration(self.statement_timeout)
    }

    /// Every problem of the object, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(ConfigProblem::new("name", "must not be empty"));
        }
        problems.extend(bounds::count(
            "pool_size",
            self.pool_size,
            1,
            MAX_POOL_SIZE.into(),
        ));
        problems.extend(bounds::positive_seconds(
            "pool_wait",
            self.pool_wait,
            MAX_POOL_WAIT,
        ));
        problems.extend(bounds::positive_seconds(
            "statement_timeout",
            self.statement_timeout,
            bounds::MAX_SECONDS,
        ));
        match self.engine {
            Engine::Sqlite => {
                if self.database.trim().is_empty() {
                    problems.push(ConfigProblem::new(
                        "database",
                        "a SQLite connection needs the path of its file (or :memory:)",
                    ));
                }
            }
            Engine::Postgresql | Engine::Mysql => {
                if self.host.trim().is_empty() {
                    problems.push(ConfigProblem::new("host", "must not be empty"));
                }
                if self.user.trim().is_empty() {
                    problems.push(ConfigProblem::new("user", "must not be empty"));
                }
            }
        }
        problems
    }
}

/// Splits `url` into the object's fields: what `Kind::prepare` does for `outgoing.sql`.
pub(crate) fn prepare(object: &mut Value) -> Result<(), ConfigError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    let Some(url) = map.remove("url") else {
        return Ok(());
    };
    let Value::String(url) = url else {
        return Err(ConfigError::one("url", "must be a string"));
    };
    let parts = split_url(&url).map_err(|m| ConfigError::one("url", m))?;
    for field in ["engine", "host", "port", "database", "user"] {
        map.remove(field);
    }
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_owned(), v);
    };
    put("engine", Value::String(parts.engine.as_str().to_owned()));
    if !parts.host.is_empty() {
        put("host", Value::String(parts.host));
    }
    if let Some(port) = parts.port {
        put("port", Value::from(port));
    }
    if !parts.database.is_empty() {
        put("database", Value::String(parts.database));
    }
    if !parts.user.is_empty() {
        put("user", Value::String(parts.user));
    }
    if let Some(password) = parts.password {
        put("password", Value::String(password));
    }
    if let Some(tls) = parts.tls {
        put("tls", Value::String(tls));
    }
    Ok(())
}

#[derive(Debug, Default)]
struct UrlParts {
    engine: Engine,
    host: String,
    port: Option<u16>,
    database: String,
    user: String,
    password: Option<String>,
    tls: Option<String>,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads a database URL. Its messages never quote the URL, which may hold a password.
fn split_url(url: &str) -> Result<UrlParts, String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err("expected postgres://, mysql:// or sqlite:// followed by the server".into());
    };
    let engine = match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Engine::Postgresql,
        "mysql" | "mariadb" => Engine::Mysql,
        "sqlite" => Engine::Sqlite,
        other => {
            return Err(format!(
                "unknown scheme `{}`: expected postgres, postgresql, mysql, mariadb or sqlite",
                other.chars().take(20).collect::<String>()
            ));
        }
    };
    if engine == Engine::Sqlite {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or_default();
        return Ok(UrlParts {
            engine,
            database: decode(path),
            ..UrlParts::default()
        });
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(format!("expected {scheme}://host/database"));
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, password)) => (decode(user), Some(decode(password))),
            None => (decode(u), None),
        },
        None => (String::new(), None),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        // An IPv6 address: [::1]:5432.
        let (h, after) = inner.split_once(']').ok_or("an IPv6 host lacks its `]`")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() => Some(
            p.parse::<u16>()
                .map_err(|_| "the port must be a number from 1 to 65535".to_owned())?,
        ),
        _ => None,
    };
    let mut tls = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" | "ssl-mode" | "tls" => {
                tls = Some(match v.to_ascii_lowercase().replace('-', "_").as_str() {
                    "disable" | "disabled" => "disable",
                    "prefer" | "preferred" | "allow" => "prefer",
                    "require" | "required" => "require",
                    "verify_ca" => "verify_ca",
                    "verify_full" | "verify_identity" => "verify_full",
                    _ => return Err(format!("unknown {k}: expected disable, prefer, require, verify_ca or verify_full")),
                }
                .to_owned());
            }
            _ => {
                return Err(format!(
                    "unknown URL parameter `{}`: only sslmode is read; set the other fields apart",
                    k.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    Ok(UrlParts {
        engine,
        host: decode(&host),
        port,
        database: decode(database),
        user,
        password,
        tls,
    })
}

/// Fields of `object` that a URL edit replaces: for tests of the shorthand.
#[cfg(test)]
fn fields(object: &Value) -> serde_json::Map<String, Value> {
    object.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_url_becomes_fields_and_its_password_a_secret() {
        let mut o = json!({"name": "Billing DB", "url": "postgres://bill%40x:s3cr%2Ft@db.example.com:6432/billing?sslmode=require"});
        prepare(&mut o).unwrap();
        let f = fields(&o);
        assert_eq!(f["engine"], "postgresql");
        assert_eq!(f["host"], "db.example.com");
        assert_eq!(f["port"], 6432);
        assert_eq!(f["database"], "billing");
        assert_eq!(f["user"], "bill@x");
        assert_eq!(f["password"], "s3cr/t");
        assert_eq!(f["tls"], "require");
        assert!(f.get("url").is_none());
        let c: SqlConfig = serde_json::from_value(o).unwrap();
        assert!(c.problems().is_empty());
        assert!(!format!("{c:?}").contains("s3cr"));
    }

    #[test]
    fn a_url_replaces_the_fields_of_another_engine_and_keeps_a_password_set_apart() {
        let mut o = json!({"name": "Invoice Log", "engine": "sqlite", "database": "target/x.db",
            "password": "apart", "url": "mariadb://root@127.0.0.1/test"});
        prepare(&mut o).unwrap();
        assert_eq!(o["engine"], "mysql");
        assert_eq!(o["database"], "test");
        assert_eq!(o["password"], "apart");
        assert!(o.get("port").is_none());
        let mut s = json!({"name": "x", "url": "sqlite://target/zato/log.sqlite"});
        prepare(&mut s).unwrap();
        assert_eq!(s["database"], "target/zato/log.sqlite");
    }

    #[test]
    fn a_bad_url_is_refused_without_quoting_it() {
        for url in [
            "ftp://u:pa55word@h/db",
            "postgres://u:pa55word@h:99999/db",
            "postgres:u:pa55word",
            "postgres://u:pa55word@h/db?password=pa55word",
        ] {
            let mut o = json!({"name": "x", "url": url});
            let e = prepare(&mut o).unwrap_err();
            assert_eq!(e.problems()[0].path, "url", "{url}");
            assert!(!e.to_string().contains("pa55word"), "{e}");
        }
    }

    #[test]
    fn numbers_are_held_to_their_bounds() {
        let c = SqlConfig::sqlite("x", "")
            .with_pool(0, 0.0)
            .with_statement_timeout(f64::NAN);
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            ["pool_size", "pool_wait", "statement_timeout", "database"]
        );
        let pg = SqlConfig::from_url("x", "postgres://h/db").unwrap();
        assert_eq!(pg.problems()[0].path, "user");
        assert_eq!(pg.port_or_default(), 5432);
    }
}
