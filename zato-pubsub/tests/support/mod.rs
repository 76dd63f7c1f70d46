//! A store of its own for each test: a SQLite file under target/, or a schema of the
//! PostgreSQL server named by `ZATO_TEST_PG_URL`, dropped when the test ends.

#![allow(dead_code, reason = "each test file uses part of the helpers")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;

use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_pubsub::{PgStore, PubSub, SqliteStore, Store};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's store lives.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    File(std::path::PathBuf),
    Schema(String),
}

fn unique(prefix: &str) -> String {
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

pub(crate) fn pg_url() -> String {
    std::env::var("ZATO_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("ZATO_TEST_PG_URL is not set: point it at a test server (see .ci/run), e.g. postgres://postgres@127.0.0.1:5432/postgres")
    })
}

/// Opens (again) the store at `place`.
pub(crate) async fn open(place: &Place) -> Arc<dyn Store> {
    match place {
        Place::File(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
        Place::Schema(schema) => Arc::new(PgStore::connect(&pg_url(), schema, 8).await.unwrap()),
    }
}

/// Runs `body` with a fresh place of `backend`, then removes it, whether `body` passed or
/// panicked.
pub(crate) async fn with_place<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Place) -> Fut,
    Fut: Future<Output = ()>,
{
    let place = match backend {
        Backend::Sqlite => {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            Place::File(dir.join(format!("{}.sqlite", unique("zato_pubsub_t"))))
        }
        Backend::Postgres => Place::Schema(unique("zato_ps_t")),
    };
    let result = AssertUnwindSafe(body(place.clone())).catch_unwind().await;
    match &place {
        Place::File(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        Place::Schema(schema) => {
            let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A node's platform with pub/sub on the store at `place`, and a [`Recorder`] deployed.
pub(crate) async fn node(place: &Place, recorder: &Recorder) -> (Platform, PubSub) {
    let platform = Platform::new();
    platform.services().deploy(recorder.clone()).unwrap();
    let pubsub = PubSub::start(&platform, open(place).await).await.unwrap();
    (platform, pubsub)
}

/// What a [`Recorder`] does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Records it.
    Take,
    /// Fails, naming the partner.
    Fail,
    /// Never answers.
    Hang,
}

/// The service `test.recorder`: records the data of every message it takes.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
    pub(crate) calls: Arc<AtomicU32>,
    pub(crate) behaviour: Arc<Mutex<Behaviour>>,
}

impl Recorder {
    pub(crate) fn new(behaviour: Behaviour) -> Self {
        Recorder {
            seen: Arc::default(),
            calls: Arc::default(),
            behaviour: Arc::new(Mutex::new(behaviour)),
        }
    }

    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until it has recorded `n` messages, at most `limit`.
    pub(crate) async fn wait_for(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let seen = self.seen();
            if seen.len() >= n || tokio::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Service for Recorder {
    const NAME: &'static str = "test.recorder";
    type Input = ();
    type Output = ();

    fn handle(
        &self,
        req: Request<()>,
        _ctx: &Context,
    ) -> impl Future<Output = Result<Response<()>, ServiceError>> + Send {
        let me = self.clone();
        async move {
            me.calls.fetch_add(1, Ordering::SeqCst);
            let behaviour = *me.behaviour.lock().unwrap();
            match behaviour {
                Behaviour::Take => {
                    me.seen
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&req.raw_request).into_owned());
                    Ok(Response::new(()))
                }
                Behaviour::Fail => Err(ServiceError::Unavailable("the audit log is down".into())),
                Behaviour::Hang => {
                    std::future::pending::<()>().await;
                    Ok(Response::new(()))
                }
            }
        }
    }
}
