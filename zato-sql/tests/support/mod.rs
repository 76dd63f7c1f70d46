//! A database of its own for each test, on the servers named by `ZATO_TEST_PG_URL` and
//! `ZATO_TEST_MYSQL_URL`, dropped when the test ends; or a SQLite file under target/.

#![allow(dead_code, reason = "each test file uses part of the helpers")]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::FutureExt;
use sqlx::Executor;
use zato_sql::{Engine, SqlConfig};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name unique to this run and call.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 100_000,
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The server URL of `engine`'s variable; panics with what to set when it is unset.
pub(crate) fn server_url(engine: Engine) -> String {
    let var = match engine {
        Engine::Postgresql => "ZATO_TEST_PG_URL",
        Engine::Mysql => "ZATO_TEST_MYSQL_URL",
        _ => return String::new(),
    };
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: point it at a test server (see .ci/run), e.g. postgres://postgres@127.0.0.1:5432/postgres or mysql://root@127.0.0.1:3306/test")
    })
}

/// Runs `body` with the config of a fresh database of `engine` named `name`, then drops the
/// database, whether `body` passed or panicked.
pub(crate) async fn with_db<F, Fut>(engine: Engine, name: &str, body: F)
where
    F: FnOnce(SqlConfig) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = unique("zato_sql_t");
    let config = match engine {
        Engine::Sqlite => {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            SqlConfig::sqlite(name, dir.join(format!("{db}.sqlite")).to_string_lossy())
        }
        _ => {
            let url = server_url(engine);
            let admin = admin(engine, &url).await;
            admin(format!("CREATE DATABASE {db}")).await;
            let mut c = SqlConfig::from_url(name, &url).unwrap();
            c.database = db.clone();
            c
        }
    };
    let path = config.database.clone();
    let result = AssertUnwindSafe(body(config)).catch_unwind().await;
    match engine {
        Engine::Sqlite => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        _ => {
            let url = server_url(engine);
            let admin = admin(engine, &url).await;
            let force = if engine == Engine::Postgresql {
                " WITH (FORCE)"
            } else {
                ""
            };
            admin(format!("DROP DATABASE IF EXISTS {db}{force}")).await;
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

type Admin = Box<dyn Fn(String) -> std::pin::Pin<Box<dyn Future<Output = ()>>>>;

/// Runs statements as the server's admin user.
pub(crate) async fn admin(engine: Engine, url: &str) -> Admin {
    match engine {
        Engine::Postgresql => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            Box::new(move |sql: String| {
                let pool = pool.clone();
                Box::pin(async move {
                    pool.execute(sql.as_str()).await.unwrap();
                })
            })
        }
        _ => {
            let pool = sqlx::MySqlPool::connect(url).await.unwrap();
            Box::new(move |sql: String| {
                let pool = pool.clone();
                Box::pin(async move {
                    pool.execute(sql.as_str()).await.unwrap();
                })
            })
        }
    }
}
