//! [`RedisMemory`]: the Redis test double, a keyspace in memory that answers the commands a
//! service uses a cache or a key-value store with.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::Value;
use tokio::time::Instant;

use crate::connection::{RedisError, RedisErrorKind};

/// The most keys a [`RedisMemory`] holds; a write of a new key beyond it is refused, as a
/// server at its `maxmemory` refuses it.
pub const MAX_MEMORY_KEYS: usize = 100_000;

#[derive(Debug, Clone)]
enum Data {
    Text(Vec<u8>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

#[derive(Debug, Clone)]
struct Entry {
    data: Data,
    expires: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<Vec<u8>, Entry>,
    failure: Option<(RedisErrorKind, String)>,
    commands: u64,
}

/// The Redis test double's keyspace ([`RedisConnection::in_memory`](crate::RedisConnection::in_memory)).
///
/// It answers `PING`, `GET`, `SET` (with `EX`, `PX`, `NX`, `XX`), `DEL`, `EXISTS`, `INCR`,
/// `INCRBY`, `DECR`, `DECRBY`, `EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`, `HSET`, `HGET`, `HDEL` and
/// `HGETALL` as Redis does, keys expiring on tokio's clock (so a paused test clock moves them
/// too); any other command is refused with a server error naming it. It can be told to fail
/// every command, as a server that is down or slow would, and a test reads what it holds.
#[derive(Debug, Default)]
pub struct RedisMemory {
    state: Mutex<State>,
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

fn server(message: impl Into<String>) -> (RedisErrorKind, String) {
    (RedisErrorKind::Server, message.into())
}

fn integer(arg: &[u8]) -> Result<i64, (RedisErrorKind, String)> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| server("ERR value is not an integer or out of range"))
}

fn arity(args: &[&[u8]], at_least: usize, name: &str) -> Result<(), (RedisErrorKind, String)> {
    if args.len() < at_least {
        return Err(server(format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        )));
    }
    Ok(())
}

fn wrong_type() -> (RedisErrorKind, String) {
    server("WRONGTYPE Operation against a key holding the wrong kind of value")
}

impl RedisMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes every command from now on fail with `kind` and `reason`, as a server that cannot
    /// be reached ([`RedisErrorKind::Unreachable`]) or does not answer in time
    /// ([`RedisErrorKind::Timeout`]) would.
    pub fn fail(&self, kind: RedisErrorKind, reason: impl Into<String>) {
        self.lock().failure = Some((kind, reason.into()));
    }

    /// Makes commands succeed again.
    pub fn succeed(&self) {
        self.lock().failure = None;
    }

    /// The text value of `key`, if it holds one and has not expired.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        let mut state = self.lock();
        match &live(&mut state, key.as_bytes())?.data {
            Data::Text(v) => Some(v.clone()),
            Data::Hash(_) => None,
        }
    }

    /// The keys held now (expired ones left out), sorted.
    pub fn keys(&self) -> Vec<String> {
        let now = Instant::now();
        let state = self.lock();
        let mut keys: Vec<String> = state
            .keys
            .iter()
            .filter(|(_, e)| e.expires.is_none_or(|at| at > now))
            .map(|(k, _)| text(k))
            .collect();
        keys.sort();
        keys
    }

    /// How many commands it was sent, failed ones included.
    pub fn commands(&self) -> u64 {
        self.lock().commands
    }

    /// Runs `cmd` as the server would, on behalf of `connection`.
    pub(crate) fn run(&self, connection: &str, cmd: &redis::Cmd) -> Result<Value, RedisError> {
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(a) => Some(a),
                _ => None,
            })
            .collect();
        let mut state = self.lock();
        state.commands += 1;
        if let Some((kind, reason)) = state.failure.clone() {
            return Err(RedisError::new(connection, kind, reason));
        }
        execute(&mut state, &args)
            .map_err(|(kind, message)| RedisError::new(connection, kind, message))
    }
}

/// The entry of `key`, dropping it first when it has expired.
fn live<'a>(state: &'a mut State, key: &[u8]) -> Option<&'a mut Entry> {
    let now = Instant::now();
    if state
        .keys
        .get(key)
        .is_some_and(|e| e.expires.is_some_and(|at| at <= now))
    {
        state.keys.remove(key);
    }
    state.keys.get_mut(key)
}

fn insert(state: &mut State, key: &[u8], entry: Entry) -> Result<(), (RedisErrorKind, String)> {
    if !state.keys.contains_key(key) && state.keys.len() >= MAX_MEMORY_KEYS {
        let now = Instant::now();
        state
            .keys
            .retain(|_, e| e.expires.is_none_or(|at| at > now));
        if state.keys.len() >= MAX_MEMORY_KEYS {
            return Err(server(format!(
                "OOM the test double holds at most {MAX_MEMORY_KEYS} keys"
            )));
        }
    }
    state.keys.insert(key.to_vec(), entry);
    Ok(())
}

fn ttl_of(state: &mut State, key: &[u8]) -> i64 {
    match live(state, key) {
        None => -2,
        Some(Entry { expires: None, .. }) => -1,
        Some(Entry {
            expires: Some(at), ..
        }) => i64::try_from(at.saturating_duration_since(Instant::now()).as_millis())
            .unwrap_or(i64::MAX),
    }
}

fn add(state: &mut State, key: &[u8], by: i64) -> Result<Value, (RedisErrorKind, String)> {
    let (current, expires) = match live(state, key) {
        None => (0, None),
        Some(Entry {
            data: Data::Text(v),
            expires,
        }) => (integer(v)?, *expires),
        Some(_) => return Err(wrong_type()),
    };
    let next = current
        .checked_add(by)
        .ok_or_else(|| server("ERR increment or decrement would overflow"))?;
    let data = Data::Text(next.to_string().into_bytes());
    insert(state, key, Entry { data, expires })?;
    Ok(Value::Int(next))
}

fn execute(state: &mut State, args: &[&[u8]]) -> Result<Value, (RedisErrorKind, String)> {
    let Some(name) = args.first() else {
        return Err(server("ERR empty command"));
    };
    let name = text(name).to_ascii_uppercase();
    let args = &args[1..];
    match name.as_str() {
        "PING" => Ok(Value::SimpleString("PONG".to_owned())),
        "GET" => {
            arity(args, 1, &name)?;
            match live(state, args[0]) {
                None => Ok(Value::Nil),
                Some(Entry {
                    data: Data::Text(v),
                    ..
                }) => Ok(Value::BulkString(v.clone())),
                Some(_) => Err(wrong_type()),
            }
        }
        "SET" => {
            arity(args, 2, &name)?;
            let (mut expires, mut nx, mut xx) = (None, false, false);
            let mut options = args[2..].iter();
            while let Some(option) = options.next() {
                match text(option).to_ascii_uppercase().as_str() {
                    "NX" => nx = true,
                    "XX" => xx = true,
                    unit @ ("EX" | "PX") => {
                        let n = options
                            .next()
                            .map(|n| integer(n))
                            .transpose()?
                            .filter(|n| *n > 0)
                            .ok_or_else(|| server("ERR invalid expire time in 'set' command"))?;
                        let n = n.unsigned_abs();
                        let ttl = if unit == "EX" {
                            Duration::from_secs(n)
                        } else {
                            Duration::from_millis(n)
                        };
                        expires = Some(Instant::now() + ttl);
                    }
                    _ => return Err(server("ERR syntax error")),
                }
            }
            let exists = live(state, args[0]).is_some();
            if (nx && exists) || (xx && !exists) {
                return Ok(Value::Nil);
            }
            let data = Data::Text(args[1].to_vec());
            insert(state, args[0], Entry { data, expires })?;
            Ok(Value::Okay)
        }
        "DEL" | "EXISTS" => {
            arity(args, 1, &name)?;
            let mut n = 0;
            for key in args {
                if live(state, key).is_some() {
                    n += 1;
                    if name == "DEL" {
                        state.keys.remove(*key);
                    }
                }
            }
            Ok(Value::Int(n))
        }
        "INCR" | "DECR" => {
            arity(args, 1, &name)?;
            add(state, args[0], if name == "INCR" { 1 } else { -1 })
        }
        "INCRBY" | "DECRBY" => {
            arity(args, 2, &name)?;
            let by = integer(args[1])?;
            let by = if name == "INCRBY" {
                by
            } else {
                by.checked_neg()
                    .ok_or_else(|| server("ERR decrement would overflow"))?
            };
            add(state, args[0], by)
        }
        "EXPIRE" | "PEXPIRE" => {
            arity(args, 2, &name)?;
            let n = integer(args[1])?;
            let Some(entry) = live(state, args[0]) else {
                return Ok(Value::Int(0));
            };
            if n <= 0 {
                state.keys.remove(args[0]);
                return Ok(Value::Int(1));
            }
            let n = n.unsigned_abs();
            let ttl = if name == "EXPIRE" {
                Duration::from_secs(n)
            } else {
                Duration::from_millis(n)
            };
            entry.expires = Some(Instant::now() + ttl);
            Ok(Value::Int(1))
        }
        "PTTL" => {
            arity(args, 1, &name)?;
            Ok(Value::Int(ttl_of(state, args[0])))
        }
        "TTL" => {
            arity(args, 1, &name)?;
            let ms = ttl_of(state, args[0]);
            Ok(Value::Int(if ms < 0 { ms } else { (ms + 999) / 1000 }))
        }
        "HSET" => {
            if args.len() < 3 || args.len().is_multiple_of(2) {
                return Err(server("ERR wrong number of arguments for 'hset' command"));
            }
            let mut fields = match live(state, args[0]) {
                None => Vec::new(),
                Some(Entry {
                    data: Data::Hash(f),
                    ..
                }) => f.clone(),
                Some(_) => return Err(wrong_type()),
            };
            let expires = live(state, args[0]).and_then(|e| e.expires);
            let mut added = 0;
            for pair in args[1..].chunks(2) {
                match fields.iter_mut().find(|(f, _)| f == pair[0]) {
                    Some((_, v)) => *v = pair[1].to_vec(),
                    None => {
                        fields.push((pair[0].to_vec(), pair[1].to_vec()));
                        added += 1;
                    }
                }
            }
            let data = Data::Hash(fields);
            insert(state, args[0], Entry { data, expires })?;
            Ok(Value::Int(added))
        }
        "HGET" | "HDEL" | "HGETALL" => {
            arity(args, if name == "HGETALL" { 1 } else { 2 }, &name)?;
            let fields = match live(state, args[0]) {
                None => None,
                Some(Entry {
                    data: Data::Hash(f),
                    ..
                }) => Some(f),
                Some(_) => return Err(wrong_type()),
            };
            match name.as_str() {
                "HGET" => Ok(fields
                    .and_then(|f| f.iter().find(|(f, _)| f == args[1]))
                    .map_or(Value::Nil, |(_, v)| Value::BulkString(v.clone()))),
                "HGETALL" => Ok(Value::Array(
                    fields
                        .map(|f| {
                            f.iter()
                                .flat_map(|(f, v)| {
                                    [Value::BulkString(f.clone()), Value::BulkString(v.clone())]
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                )),
                _ => {
                    let Some(fields) = fields else {
                        return Ok(Value::Int(0));
                    };
                    let before = fields.len();
                    fields.retain(|(f, _)| !args[1..].contains(&f.as_slice()));
                    let removed = before - fields.len();
                    if fields.is_empty() {
                        state.keys.remove(args[0]);
                    }
                    Ok(Value::Int(i64::try_from(removed).unwrap_or(i64::MAX)))
                }
            }
        }
        other => Err(server(format!(
            "ERR unknown command '{}': the Redis test double answers PING, GET, SET, DEL, EXISTS, INCR, INCRBY, DECR, DECRBY, EXPIRE, PEXPIRE, TTL, PTTL, HSET, HGET, HDEL and HGETALL",
            other.to_ascii_lowercase()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{RedisConnection, RedisErrorKind};

    #[tokio::test]
    async fn the_double_answers_as_redis_does() {
        let (cache, memory) = RedisConnection::in_memory("Cache");
        assert_eq!(cache.get("missing").await.unwrap(), None);
        cache.set("k", "v", None).await.unwrap();
        assert_eq!(cache.ttl("k").await.unwrap(), None);
        // NX leaves an existing key alone, XX a missing one.
        let nx: Option<String> = cache
            .command(redis::cmd("SET").arg("k").arg("other").arg("NX"))
            .await
            .unwrap();
        assert_eq!(nx, None);
        let xx: Option<String> = cache
            .command(redis::cmd("SET").arg("absent").arg("x").arg("XX"))
            .await
            .unwrap();
        assert_eq!(xx, None);
        assert_eq!(cache.get_string("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(memory.keys(), ["k"]);

        // Counters, and a value that is not one.
        assert_eq!(cache.incr("n", 5).await.unwrap(), 5);
        assert_eq!(cache.incr("n", -7).await.unwrap(), -2);
        let err = cache.incr("k", 1).await.unwrap_err();
        assert_eq!(err.kind(), RedisErrorKind::Server);
        assert!(err.to_string().contains("not an integer"), "{err}");

        // Hashes, and the wrong type.
        let added: i64 = cache
            .command(
                redis::cmd("HSET")
                    .arg("h")
                    .arg("a")
                    .arg("1")
                    .arg("b")
                    .arg("2"),
            )
            .await
            .unwrap();
        assert_eq!(added, 2);
        let all: std::collections::HashMap<String, String> =
            cache.command(redis::cmd("HGETALL").arg("h")).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["b"], "2");
        let err = cache.get("h").await.unwrap_err();
        assert!(err.to_string().contains("WRONGTYPE"), "{err}");

        // Deleted, and gone.
        assert!(cache.delete("k").await.unwrap());
        assert!(!cache.delete("k").await.unwrap());

        // A command it does not know is refused by name.
        let err = cache
            .command::<()>(redis::cmd("XADD").arg("s").arg("*").arg("f").arg("v"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), RedisErrorKind::Server);
        assert!(err.to_string().contains("'xadd'"), "{err}");
        assert!(memory.commands() >= 12);
    }

    #[tokio::test]
    async fn keys_expire_and_failures_can_be_injected() {
        let (cache, memory) = RedisConnection::in_memory("Cache");
        cache
            .set("short", "x", Some(Duration::from_millis(50)))
            .await
            .unwrap();
        let left = cache.ttl("short").await.unwrap().unwrap();
        assert!(
            left <= Duration::from_millis(50) && left > Duration::ZERO,
            "{left:?}"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert!(memory.keys().is_empty());

        memory.fail(RedisErrorKind::Timeout, "no answer within 1s");
        let err = cache.set("k", "v", None).await.unwrap_err();
        assert_eq!(err.kind(), RedisErrorKind::Timeout);
        assert_eq!(
            zato_core::ServiceError::from(err).status().as_u16(),
            504,
            "a service's caller sees a gateway timeout"
        );
        assert_eq!(memory.value("k"), None, "nothing was written");
        memory.succeed();
        cache.set("k", "v", None).await.unwrap();
        assert_eq!(memory.value("k").as_deref(), Some(&b"v"[..]));
    }
}
