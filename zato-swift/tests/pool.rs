//! The pooled, reconfigurable connection: bounded waits, 200 concurrent checkouts, live
//! reconfiguration, stats, the registry, and secrets kept out of Debug, errors and logs.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use support::{ACCOUNT, KEY, TOKEN, USER, mount_v1_auth, v1_config, v1_server};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_core::OutgoingConnections;
use zato_swift::{
    PutOptions, SwiftConfig, SwiftConnection, SwiftError, SwiftErrorKind, SwiftOutgoing,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_checkouts_on_a_pool_of_five_survive_a_reconfigure() {
    let server = MockServer::start().await;
    mount_v1_auth(&server, USER, "token-A").await;
    mount_v1_auth(&server, "other:user", "token-B").await;
    Mock::given(method("PUT"))
        .and(path_regex(format!("^{ACCOUNT}/CRM/")))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(10)))
        .mount(&server)
        .await;
    let config = SwiftConfig {
        pool_size: 5,
        pool_wait: 60.0,
        ..v1_config(&server)
    };
    let conn = Arc::new(SwiftConnection::new(config.clone()).unwrap());
    let done = Arc::new(AtomicUsize::new(0));
    let reconfigured = Arc::new(tokio::sync::Notify::new());

    let mut tasks = Vec::new();
    for i in 0..200 {
        let (conn, done) = (conn.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let client = conn.client().await?;
            client
                .put_object(
                    "CRM",
                    &format!("{i}.json"),
                    &b"{}"[..],
                    &PutOptions::default(),
                )
                .await?;
            drop(client);
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, SwiftError>(())
        }));
    }
    {
        let (conn, done, reconfigured) = (conn.clone(), done.clone(), reconfigured.clone());
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < 50 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let next = SwiftConfig {
                user: Some("other:user".into()),
                ..config
            };
            conn.reconfigure(next).unwrap();
            reconfigured.notify_one();
        });
    }
    reconfigured.notified().await;
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} calls failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(done.load(Ordering::SeqCst) == 200);

    let client = conn.client().await.unwrap();
    client
        .put_object("CRM", "after.json", &b"{}"[..], &PutOptions::default())
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let after = reqs
        .iter()
        .rfind(|r| r.url.path().ends_with("/after.json"))
        .unwrap();
    assert_eq!(after.headers.get("x-auth-token").unwrap(), "token-B");
    assert!(
        reqs.iter().any(|r| r.url.path() == "/auth/v1.0"
            && r.headers.get("x-auth-user").unwrap() == "other:user")
    );
    assert!(reqs.iter().any(|r| {
        r.headers
            .get("x-auth-token")
            .is_some_and(|t| t == "token-A")
    }));
    assert_eq!(conn.stats().generation, 2);
    assert!(conn.stats().size <= 5);
}

#[tokio::test]
async fn an_empty_pool_waits_a_bounded_time_then_fails_clearly() {
    let (_server, config) = v1_server().await;
    let conn = SwiftConnection::new(SwiftConfig {
        pool_size: 1,
        pool_wait: 0.2,
        ..config
    })
    .unwrap();
    let held = conn.client().await.unwrap();
    let stats = conn.stats();
    assert_eq!(
        (stats.size, stats.in_use, stats.idle, stats.max_size),
        (1, 1, 0, 1)
    );
    let err = conn.client().await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            SwiftErrorKind::PoolExhausted { pool_size: 1, .. }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "no free swift client within 200ms (pool size 1)"
    );
    let service = err.into_service_error("Invoice Dispatcher");
    assert_eq!(service.status().as_u16(), 503);
    drop(held);
    let again = conn.client().await.unwrap();
    assert_eq!(conn.stats().in_use, 1);
    drop(again);
    assert_eq!(conn.stats().idle, 1);
}

#[tokio::test]
async fn a_waiting_checkout_gets_the_client_returned_meanwhile() {
    let (_server, config) = v1_server().await;
    let conn = Arc::new(
        SwiftConnection::new(SwiftConfig {
            pool_size: 1,
            pool_wait: 30.0,
            ..config
        })
        .unwrap(),
    );
    let held = conn.client().await.unwrap();
    let waiter = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.client().await.map(drop) })
    };
    tokio::task::yield_now().await;
    drop(held);
    waiter.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_inactive_connection_refuses_checkouts() {
    let (_server, config) = v1_server().await;
    let conn = SwiftConnection::new(SwiftConfig {
        is_active: false,
        ..config.clone()
    })
    .unwrap();
    let err = conn.client().await.unwrap_err();
    assert!(matches!(err.kind(), SwiftErrorKind::Inactive));
    let service: zato_core::ServiceError = err.into();
    assert_eq!(service.status().as_u16(), 503);
    conn.reconfigure(config).unwrap();
    assert!(conn.client().await.is_ok());
}

#[tokio::test]
async fn an_invalid_reconfiguration_keeps_the_old_pool() {
    let (_server, config) = v1_server().await;
    let conn = SwiftConnection::new(config.clone()).unwrap();
    let bad = SwiftConfig {
        auth_url: None,
        pool_size: 0,
        ..config
    };
    let err = conn.reconfigure(bad).unwrap_err();
    match err.kind() {
        SwiftErrorKind::Config(c) => {
            let paths: Vec<_> = c.problems().iter().map(|p| p.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    r#"outgoing.swift."Invoice Dispatcher".auth_url"#,
                    r#"outgoing.swift."Invoice Dispatcher".pool_size"#
                ]
            );
        }
        other => panic!("{other}"),
    }
    assert!(conn.config().auth_url.is_some());
    assert!(conn.client().await.is_ok());
}

#[tokio::test]
async fn services_reach_the_connection_by_name() {
    let (server, config) = v1_server().await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .and(header("x-auth-token", TOKEN))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let outgoing = OutgoingConnections::new();
    outgoing.add_swift(SwiftConnection::new(config).unwrap());
    assert_eq!(outgoing.names::<SwiftConnection>(), ["Invoice Dispatcher"]);
    let conn = outgoing.swift("Invoice Dispatcher").unwrap();
    conn.client().await.unwrap().head_account().await.unwrap();
    let missing = outgoing.swift("Nope").unwrap_err();
    assert_eq!(missing.status().as_u16(), 503);
    assert!(missing.to_string().contains("Nope"));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A test that panicked while logging must not hide the logs from the next assertion.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_never_appear_in_debug_errors_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-storage-url", format!("{}{ACCOUNT}", server.uri()))
                .insert_header("x-auth-token", TOKEN),
        )
        .mount(&server)
        .await;
    // A 401, a 503 and an error body: every path that logs or builds an error.
    Mock::given(method("GET"))
        .and(path(format!("{ACCOUNT}/c/o")))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ACCOUNT}/c/o")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ACCOUNT}/c/o")))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let config = SwiftConfig {
        retries: 1,
        preauth_token: Some("pre-SECRET".into()),
        preauth_url: Some(format!("{}{ACCOUNT}", server.uri())),
        ..v1_config(&server)
    };
    let conn = SwiftConnection::new(config.clone()).unwrap();
    let client = conn.client().await.unwrap();
    let err = client.get_object("c", "o").await.unwrap_err();
    conn.reconfigure(config.clone()).unwrap();
    let service = err.into_service_error("x");

    let wrong = SwiftConfig {
        key: None,
        ..config.clone()
    };
    let config_err = SwiftConnection::new(SwiftConfig {
        name: String::new(),
        ..wrong
    })
    .map(drop)
    .unwrap_err();

    let shown = [
        format!("{config:?}"),
        format!("{conn:?}"),
        format!("{client:?}"),
        format!("{service} {service:?}"),
        format!("{config_err} {config_err:?}"),
        serde_json::to_string(&config.custom_options).unwrap(),
        String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned(),
    ];
    assert!(
        shown[6].contains("retrying"),
        "the logs were captured: {}",
        shown[6]
    );
    for (i, text) in shown.iter().enumerate() {
        for secret in [KEY, TOKEN, "pre-SECRET", "SECRET"] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} in item {i}: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_pool_drains_then_is_dropped() {
    let server = MockServer::start().await;
    mount_v1_auth(&server, USER, "token-A").await;
    mount_v1_auth(&server, "other:user", "token-B").await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let config = v1_config(&server);
    let conn = SwiftConnection::new(config.clone()).unwrap();
    let old = conn.client().await.unwrap();
    assert_eq!(conn.stats().pools_alive, 1);

    conn.reconfigure(SwiftConfig {
        user: Some("other:user".into()),
        ..config
    })
    .unwrap();
    let new = conn.client().await.unwrap();
    assert_eq!(
        conn.stats().pools_alive,
        2,
        "the old pool lives while a client is out"
    );
    // The client checked out before the swap finishes its work with the old credentials.
    old.head_account().await.unwrap();
    new.head_account().await.unwrap();
    drop(old);
    // bb8 may still hold the old pool for a moment in a task of its own.
    for _ in 0..1000 {
        if conn.stats().pools_alive == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        conn.stats().pools_alive,
        1,
        "the old pool was dropped once drained"
    );
    let heads: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "HEAD")
        .map(|r| {
            r.headers
                .get("x-auth-token")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(heads, ["token-A", "token-B"]);
}

#[test]
fn concurrent_reconfigures_never_leave_an_older_generation_in_force() {
    let config = SwiftConfig::v1("race", "http://127.0.0.1:1/auth/v1.0", "u", "k");
    let conn = Arc::new(SwiftConnection::new(config.clone()).unwrap());
    let threads = 8;
    let rounds = 20;
    for round in 0..rounds {
        let barrier = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (conn, barrier, config) = (conn.clone(), barrier.clone(), config.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    conn.reconfigure(SwiftConfig {
                        pool_size: u32::try_from(i + 1).unwrap(),
                        ..config
                    })
                    .unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let expected = u64::try_from(1 + (round + 1) * threads).unwrap();
        assert_eq!(
            conn.stats().generation,
            expected,
            "round {round}: the newest of the concurrent reconfigurations is in force"
        );
    }
}

#[tokio::test]
async fn reconfigure_refuses_a_new_name_and_keeps_the_old_config() {
    let (_server, config) = v1_server().await;
    let conns = OutgoingConnections::new();
    let conn = conns.add_swift(SwiftConnection::new(config.clone()).unwrap());
    let err = conn
        .reconfigure(SwiftConfig {
            name: "Renamed".into(),
            pool_size: 2,
            ..config.clone()
        })
        .unwrap_err();
    match err.kind() {
        SwiftErrorKind::Config(c) => {
            assert_eq!(c.problems().len(), 1, "{err}");
            assert_eq!(
                c.problems()[0].path,
                r#"outgoing.swift."Invoice Dispatcher".name"#
            );
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("Invoice Dispatcher") && msg.contains("Renamed"),
        "{msg}"
    );
    assert_eq!(conn.name(), "Invoice Dispatcher");
    assert_eq!(conn.config().pool_size, config.pool_size);
    assert_eq!(conn.stats().generation, 1);
    assert!(conns.swift("Invoice Dispatcher").is_ok());
    assert!(conns.swift("Renamed").is_err());
    // The same name is still accepted.
    conn.reconfigure(SwiftConfig {
        pool_size: 2,
        ..config
    })
    .unwrap();
    assert_eq!(conn.stats().generation, 2);
}

/// What a service does: `?` turns the Swift error into its `ServiceError`.
async fn put_in_a_service(
    client: &zato_swift::PooledSwiftClient,
) -> Result<(), zato_core::ServiceError> {
    client
        .put_object("CRM", "1.json", &b"{}"[..], &PutOptions::default())
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_failing_put_of_a_pooled_client_names_the_configured_connection() {
    let (server, config) = v1_server().await;
    Mock::given(method("PUT"))
        .and(path(format!("{ACCOUNT}/CRM/1.json")))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let conn = SwiftConnection::new(SwiftConfig {
        retries: 0,
        ..config
    })
    .unwrap();
    let client = conn.client().await.unwrap();
    let err = put_in_a_service(&client).await.unwrap_err();
    assert_eq!(err.status().as_u16(), 502);
    let msg = err.to_string();
    assert!(msg.contains("Invoice Dispatcher"), "{msg}");
    assert!(!msg.contains("`swift`"), "{msg}");

    // The SwiftError itself says which connection it came from, and stays matchable.
    let swift_err = client
        .put_object("CRM", "1.json", &b"{}"[..], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(
        swift_err.kind(),
        SwiftErrorKind::Http { status: 500, .. }
    ));
    assert_eq!(swift_err.connection(), Some("Invoice Dispatcher"));
    // Naming the connection yourself still works.
    assert!(
        swift_err
            .into_service_error("Other")
            .to_string()
            .contains("Other")
    );
}

#[tokio::test]
async fn checkout_and_validation_errors_name_the_connection() {
    let (_server, config) = v1_server().await;
    let conn = SwiftConnection::new(SwiftConfig {
        is_active: false,
        ..config.clone()
    })
    .unwrap();
    let err = conn.client().await.unwrap_err();
    assert_eq!(err.connection(), Some("Invoice Dispatcher"));
    let service: zato_core::ServiceError = err.into();
    assert!(
        service.to_string().contains("Invoice Dispatcher"),
        "{service}"
    );

    let conn = SwiftConnection::new(config.clone()).unwrap();
    let client = conn.client().await.unwrap();
    let err = client
        .put_object("", "o", &b"x"[..], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::InvalidName { .. }),
        "{err}"
    );
    assert_eq!(err.connection(), Some("Invoice Dispatcher"));

    // A bare configuration error belongs to no connection: it falls back to `swift`.
    let bad = SwiftConnection::new(SwiftConfig {
        auth_url: None,
        ..config
    })
    .unwrap_err();
    assert_eq!(bad.connection(), None);
    let service: zato_core::ServiceError = bad.into();
    assert!(service.to_string().contains("`swift`"), "{service}");
}
