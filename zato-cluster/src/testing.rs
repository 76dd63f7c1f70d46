//! For tests (feature `test-support`): a PostgreSQL database of a test's own, at
//! `ZATO_TEST_PG_URL`, created fresh and dropped at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failed step fails the test that asked for it"
)]

use tokio_postgres::NoTls;

/// A database of a test's own, on the server at `ZATO_TEST_PG_URL`. Drop it with
/// [`drop`](Self::drop) at the end of the test.
#[derive(Debug)]
pub struct TestDb {
    admin_url: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl TestDb {
    /// Creates a database named after `what`, the process and the time. A test that needs one
    /// is marked `#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]`, so that a plain
    /// `cargo test` reports it as ignored; run with `--include-ignored`, it fails here, naming
    /// the variable, when the variable is not set.
    pub async fn new(what: &str) -> TestDb {
        let admin_url = std::env::var("ZATO_TEST_PG_URL").expect(
            "ZATO_TEST_PG_URL names the PostgreSQL this test needs \
             (postgres://postgres@127.0.0.1:5432/postgres)",
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("zato_test_{what}_{}_{nanos}", std::process::id());
        let (client, conn) = tokio_postgres::connect(&admin_url, NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let base = admin_url.split('?').next().unwrap();
        let root = &base[..base.rfind('/').unwrap()];
        let url = format!("{root}/{name}");
        TestDb {
            admin_url,
            name,
            url,
        }
    }

    /// Runs `sql` in the database.
    pub async fn sql(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(conn);
        client.query(sql, &[]).await.unwrap()
    }

    /// Terminates every other connection to the database; returns how many there were.
    pub async fn terminate_others(&self) -> usize {
        let (client, conn) = tokio_postgres::connect(&self.admin_url, NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let rows = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .unwrap();
        rows.len()
    }

    /// Drops the database, whoever is still connected to it.
    pub async fn drop(self) {
        let (client, conn) = tokio_postgres::connect(&self.admin_url, NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await;
    }
}
