//! Values from outside are escaped in log lines: a CR or LF sent percent-encoded in a path, a
//! path parameter or a query string never starts a log line of its own.
//!
//! Its own test binary, since it installs the process's tracing subscriber.

mod support;

use std::io;
use std::sync::{Arc, Mutex};

use support::{TestServer, platform};
use tracing_subscriber::fmt::MakeWriter;
use zato_channels::HttpChannelConfig;
use zato_core::{Request, ServiceError};
use zato_macros::{SimpleIo, service};

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
}

/// Fails quoting its input, as services do: the platform logs a 5xx with its message.
#[service(name = "demo.quote", crate = "zato_core")]
async fn quote(req: Request<Invoice>) -> Result<(), ServiceError> {
    Err(ServiceError::internal(format!(
        "could not file invoice `{}`",
        req.input.id
    )))
}

/// Every event the subscriber writes, one string each.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

/// Collects one event's text and hands it over whole when dropped.
struct EventWriter {
    events: Events,
    text: Vec<u8>,
}

impl io::Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.text).into_owned();
        // A poisoned lock means a test thread panicked: that test fails anyway.
        if let Ok(mut events) = self.events.0.lock() {
            events.push(text);
        }
    }
}

impl<'a> MakeWriter<'a> for Events {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            events: self.clone(),
            text: Vec::new(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cr_lf_from_the_caller_never_makes_a_log_line_of_its_own() {
    let events = Events::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(events.clone())
        .init();

    let p = platform();
    p.services().deploy(quote).unwrap();
    let s = TestServer::start(
        p,
        vec![HttpChannelConfig::new(
            "quote",
            "/invoice/{id}",
            "demo.quote",
        )],
        vec![],
    )
    .await;
    let forged = "%0D%0A2026-01-01T00:00:00Z%20ERROR%20forged%20line";
    let r = s.get(&format!("/invoice/x{forged}")).await;
    assert_eq!(r.status, 500, "{r:?}");
    let r = s.get(&format!("/nowhere{forged}?id=y{forged}")).await;
    assert_eq!(r.status, 404, "{r:?}");
    s.stop().await;

    let events = events.0.lock().unwrap();
    let quoting: Vec<&String> = events.iter().filter(|e| e.contains("forged")).collect();
    // The service's error and the refused path were both logged, escaped.
    assert!(quoting.len() >= 2, "{events:#?}");
    for event in events.iter() {
        let line = event.strip_suffix('\n').unwrap_or(event);
        assert!(
            !line.contains(['\n', '\r']),
            "a log event spans lines: {event:?}"
        );
    }
    assert!(
        quoting.iter().any(|e| e.contains(r"\r\n2026")),
        "{quoting:#?}"
    );
}
