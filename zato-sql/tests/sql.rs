//! `outgoing.sql` against SQLite, and against the PostgreSQL and MariaDB of
//! `ZATO_TEST_PG_URL` and `ZATO_TEST_MYSQL_URL` (ignored unless run with `--include-ignored`):
//! queries through the handle, typed rows, pool exhaustion, a statement timeout, an unreachable
//! server, a live password change under load, and no secret in errors or reads. Each test works
//! in a database of its own and drops it.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use zato_core::config::ObjectSchema;
use zato_core::kind::{self, Kind};
use zato_core::{OutgoingConnections, Platform};
use zato_sql::{Engine, SqlConfig, SqlConnection, SqlErrorKind, SqlKind, SqlOutgoing};

use support::{server_url, unique, with_db};

#[derive(Debug, Deserialize, PartialEq)]
struct Invoice {
    id: i64,
    customer: String,
    amount: f64,
    note: Option<String>,
}

async fn queries_and_typed_rows(engine: Engine) {
    with_db(engine, "Billing DB", |config| async move {
        let outgoing = OutgoingConnections::new();
        outgoing.add_sql(SqlConnection::new(config).unwrap());
        let db = outgoing.sql("Billing DB").unwrap();
        assert_eq!(db.engine(), engine);
        let (p1, p2, p3, p4) = match engine {
            Engine::Postgresql => ("$1", "$2", "$3", "$4"),
            _ => ("?", "?", "?", "?"),
        };
        db.execute(
            "CREATE TABLE invoice (id BIGINT PRIMARY KEY, customer VARCHAR(100) NOT NULL, \
             amount DOUBLE PRECISION NOT NULL, note TEXT)",
            &[],
        )
        .await
        .unwrap();
        let insert = format!("INSERT INTO invoice VALUES ({p1}, {p2}, {p3}, {p4})");
        for (id, customer, amount, note) in [
            (1, "ACME", 12.5, json!("rush")),
            (2, "Initech", 99.0, json!(null)),
        ] {
            let n = db
                .execute(&insert, &[id.into(), customer.into(), amount.into(), note])
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        let all: Vec<Invoice> = db
            .fetch_all(
                "SELECT id, customer, amount, note FROM invoice ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(
            all,
            [
                Invoice {
                    id: 1,
                    customer: "ACME".into(),
                    amount: 12.5,
                    note: Some("rush".into())
                },
                Invoice {
                    id: 2,
                    customer: "Initech".into(),
                    amount: 99.0,
                    note: None
                },
            ]
        );
        let one: Option<Invoice> = db
            .fetch_optional(
                &format!("SELECT id, customer, amount, note FROM invoice WHERE customer = {p1}"),
                &["Initech".into()],
            )
            .await
            .unwrap();
        assert_eq!(one.unwrap().id, 2);
        let none: Option<Invoice> = db
            .fetch_optional(
                &format!("SELECT id, customer, amount, note FROM invoice WHERE id = {p1}"),
                &[42.into()],
            )
            .await
            .unwrap();
        assert!(none.is_none());
        // A row that does not fit the type: a 500 naming the connection, not a panic.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code, reason = "only decoded")]
        struct Wrong {
            customer: i64,
        }
        let e = db
            .fetch_all::<Wrong>("SELECT customer FROM invoice", &[])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 500);
        assert!(e.to_string().contains("Billing DB"), "{e}");
        // Plain sqlx on the handle's pool.
        let sql = "SELECT COUNT(*) FROM invoice";
        let n: i64 = match engine {
            Engine::Postgresql => {
                sqlx::query_scalar(sql)
                    .fetch_one(db.postgres().unwrap())
                    .await
            }
            Engine::Mysql => sqlx::query_scalar(sql).fetch_one(db.mysql().unwrap()).await,
            _ => {
                sqlx::query_scalar(sql)
                    .fetch_one(db.sqlite().unwrap())
                    .await
            }
        }
        .map_err(|e| db.error(e))
        .unwrap();
        assert_eq!(n, 2);
        // A refused statement is a 502 naming the connection.
        let e = db
            .execute("SELECT * FROM no_such_table", &[])
            .await
            .unwrap_err();
        assert_eq!(e.status(), 502, "{e}");
        let stats = outgoing.get::<SqlConnection>("Billing DB").unwrap().stats();
        assert!(stats.queries >= 7 && stats.errors == 1, "{stats:?}");
    })
    .await;
}

#[tokio::test]
async fn sqlite_queries_and_typed_rows() {
    queries_and_typed_rows(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_queries_and_typed_rows() {
    queries_and_typed_rows(Engine::Postgresql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB or MySQL (ZATO_TEST_MYSQL_URL)"]
async fn mysql_queries_and_typed_rows() {
    queries_and_typed_rows(Engine::Mysql).await;
}

async fn pool_exhaustion_is_a_503_after_the_bounded_wait(engine: Engine) {
    with_db(engine, "Small Pool", |config| async move {
        let conn = SqlConnection::new(config.with_pool(1, 0.3)).unwrap();
        let db = conn.handle().unwrap();
        db.execute("SELECT 1", &[]).await.unwrap();
        let held = match db.pool() {
            zato_sql::SqlPool::Postgres(p) => {
                p.acquire().await.map(|c| Box::new(c) as Box<dyn Send>)
            }
            zato_sql::SqlPool::MySql(p) => p.acquire().await.map(|c| Box::new(c) as Box<dyn Send>),
            zato_sql::SqlPool::Sqlite(p) => p.acquire().await.map(|c| Box::new(c) as Box<dyn Send>),
            _ => unreachable!(),
        }
        .unwrap();
        let started = std::time::Instant::now();
        let e = db.execute("SELECT 1", &[]).await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(e.status(), 503, "{e}");
        assert!(
            matches!(e.kind(), SqlErrorKind::PoolTimeout { pool_size: 1, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("`Small Pool`"), "{e}");
        let s: zato_core::ServiceError = e.into();
        assert_eq!(s.status().as_u16(), 503);
        let stats = conn.stats();
        assert_eq!((stats.timeouts, stats.in_use, stats.max_size), (1, 1, 1));
        drop(held);
        db.execute("SELECT 1", &[]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sqlite_pool_exhaustion_is_a_503() {
    pool_exhaustion_is_a_503_after_the_bounded_wait(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_pool_exhaustion_is_a_503() {
    pool_exhaustion_is_a_503_after_the_bounded_wait(Engine::Postgresql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB or MySQL (ZATO_TEST_MYSQL_URL)"]
async fn mysql_pool_exhaustion_is_a_503() {
    pool_exhaustion_is_a_503_after_the_bounded_wait(Engine::Mysql).await;
}

async fn statement_timeout_is_a_504(engine: Engine, sleep: &'static str) {
    with_db(engine, "Slow DB", |config| async move {
        let conn = SqlConnection::new(config.with_statement_timeout(0.5)).unwrap();
        let db = conn.handle().unwrap();
        let started = std::time::Instant::now();
        let e = db.fetch_json(sleep, &[]).await.unwrap_err();
        assert_eq!(e.status(), 504, "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the server cut it short"
        );
        assert!(e.to_string().contains("`Slow DB`"), "{e}");
        // The connection is fine for the next statement.
        db.execute("SELECT 1", &[]).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_statement_timeout_is_a_504() {
    statement_timeout_is_a_504(Engine::Postgresql, "SELECT pg_sleep(5)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB or MySQL (ZATO_TEST_MYSQL_URL)"]
async fn mysql_statement_timeout_is_a_504() {
    statement_timeout_is_a_504(Engine::Mysql, "SELECT SLEEP(5)").await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_502_without_the_password() {
    for url in [
        "postgres://billing:pa55w0rd-secret@127.0.0.1:1/billing",
        "mysql://billing:pa55w0rd-secret@127.0.0.1:1/billing",
    ] {
        let config = SqlConfig::from_url("Gone DB", url)
            .unwrap()
            .with_pool(2, 1.0);
        let conn = SqlConnection::new(config).unwrap();
        let e = conn.ping().await.unwrap_err();
        assert_eq!(e.status(), 502, "{e}");
        assert!(matches!(e.kind(), SqlErrorKind::Unreachable));
        let text = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        assert!(text.contains("Gone DB"), "{text}");
        assert!(!text.contains("pa55w0rd"), "{text}");
        assert!(!format!("{conn:?}").contains("pa55w0rd"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn postgres_password_changed_live_while_1000_queries_run() {
    with_db(Engine::Postgresql, "Billing DB", |config| async move {
        let url = server_url(Engine::Postgresql);
        let admin = support::admin(Engine::Postgresql, &url).await;
        let role = unique("zato_sql_role");
        admin(format!("CREATE ROLE {role} LOGIN PASSWORD 'first-pa55'")).await;
        admin(format!(
            "GRANT ALL ON DATABASE {} TO {role}",
            config.database
        ))
        .await;
        let mut config = config.with_pool(4, 30.0);
        config.user = role.clone();
        config.password = Some("first-pa55".into());
        let platform = Platform::new();
        let kind = SqlKind::new(&platform);
        kind.apply(Arc::new(config.clone())).await.unwrap();
        // Every connection of the first pool open before the change.
        let warm: Vec<_> = (0..4)
            .map(|_| {
                let db = platform.outgoing().sql("Billing DB").unwrap();
                tokio::spawn(async move { db.execute("SELECT pg_sleep(0.2)", &[]).await })
            })
            .collect();
        for w in warm {
            w.await.unwrap().unwrap();
        }
        let outgoing = platform.outgoing().clone();
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let outgoing = outgoing.clone();
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    for i in 0..125 {
                        let db = outgoing.sql("Billing DB").unwrap();
                        let n: Vec<serde_json::Value> = match db
                            .fetch_all("SELECT ($1::int8 * 2) AS n", &[json!(w * 1000 + i)])
                            .await
                        {
                            Ok(rows) => rows,
                            Err(e) => {
                                failures.push(e.to_string());
                                continue;
                            }
                        };
                        assert_eq!(n[0]["n"], json!((w * 1000 + i) * 2));
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    failures
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150)).await;
        admin(format!("ALTER ROLE {role} PASSWORD 'second-pa55'")).await;
        config.password = Some("second-pa55".into());
        kind.apply(Arc::new(config.clone())).await.unwrap();
        let mut failures = Vec::new();
        for w in workers {
            failures.extend(w.await.unwrap());
        }
        let conn = platform
            .outgoing()
            .get::<SqlConnection>("Billing DB")
            .unwrap();
        let stats = conn.stats();
        // The new pool logs in with the new password.
        conn.ping().await.unwrap();
        drop(conn);
        kind.remove("Billing DB").await.unwrap();
        admin(format!("DROP OWNED BY {role}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The old pool still holds a session of the role until it is closed: end them.
        admin(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        ))
        .await;
        admin(format!("DROP ROLE IF EXISTS {role}")).await;
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
        assert_eq!(stats.generation, 2);
        assert!(stats.queries >= 1000, "{stats:?}");
    })
    .await;
}

#[test]
fn admin_reads_and_the_description_hold_no_password() {
    let schema: Arc<dyn ObjectSchema> = kind::schema::<SqlKind>();
    assert_eq!(schema.secret_fields(), ["password"]);
    let info = schema.describe();
    assert!(info.pings);
    assert!(info.example.get("password").is_none());
    assert!(info.fields.iter().any(|f| f.name == "password" && f.secret));
    let normal = schema
        .normalize(
            &json!({"name": "Billing DB", "url": "postgres://bill:pa55w0rd@db:5432/billing"}),
        )
        .unwrap();
    assert!(normal.get("url").is_none());
    assert_eq!(normal["host"], "db");
    assert_eq!(
        normal["password"], "pa55w0rd",
        "kept, for the store to hide"
    );
    let typed: SqlConfig = serde_json::from_value(normal).unwrap();
    let shown = serde_json::to_string(&typed).unwrap();
    assert!(!shown.contains("pa55w0rd") && !format!("{typed:?}").contains("pa55w0rd"));
    let bad = schema
        .normalize(
            &json!({"name": "x", "url": "postgres://bill:pa55w0rd@db:99999/b", "pool_size": 0}),
        )
        .unwrap_err();
    assert!(!bad.to_string().contains("pa55w0rd"), "{bad}");
}
