//! The span processor between the SDK and the OTLP exporter: a bounded queue drained by one
//! task in batches. A request ending a span only tries to put it in the queue; when the queue is
//! full (the collector is down or slow) the span is dropped and counted, never waited for.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{Notify, mpsc};
use zato_core::metrics::Counter;

/// What the export counts: spans exported, and spans dropped (queue full, export failed or
/// timed out).
#[derive(Debug, Clone)]
pub(crate) struct ExportMeters {
    pub(crate) exported: Counter,
    pub(crate) dropped: Counter,
}

/// Limits of one export queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportLimits {
    pub(crate) queue: usize,
    pub(crate) batch: usize,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// The SDK's span processor: hands each recorded span to the export task.
#[derive(Debug)]
pub(crate) struct BoundedExport {
    tx: mpsc::Sender<SpanData>,
    meters: ExportMeters,
    stop: Arc<Notify>,
}

impl BoundedExport {
    /// Starts the export task on the current Tokio runtime.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        limits: ExportLimits,
        meters: ExportMeters,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        let stop = Arc::new(Notify::new());
        tokio::spawn(drain(
            exporter,
            rx,
            limits,
            meters.clone(),
            Arc::clone(&stop),
        ));
        BoundedExport { tx, meters, stop }
    }
}

impl SpanProcessor for BoundedExport {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.tx.try_send(span).is_err() {
            self.meters.dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // The task exports at least every `export_interval`; a flush that waited would block
        // the caller, which is what this processor exists to avoid.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // The task exports what is queued, within the export timeout, and ends.
        self.stop.notify_one();
        Ok(())
    }
}

async fn drain<E: SpanExporter>(
    exporter: E,
    mut rx: mpsc::Receiver<SpanData>,
    limits: ExportLimits,
    meters: ExportMeters,
    stop: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(limits.batch);
    loop {
        // The first span of a batch, or the end.
        let stopped = tokio::select! {
            n = rx.recv_many(&mut batch, limits.batch) => n == 0,
            () = stop.notified() => true,
        };
        if stopped {
            rx.close();
            while let Ok(span) = rx.try_recv() {
                batch.push(span);
            }
            export(&exporter, &mut batch, &limits, &meters).await;
            return;
        }
        // The rest of it, for at most the interval.
        let deadline = tokio::time::Instant::now() + limits.interval;
        while batch.len() < limits.batch {
            let room = limits.batch - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        export(&exporter, &mut batch, &limits, &meters).await;
    }
}

async fn export<E: SpanExporter>(
    exporter: &E,
    batch: &mut Vec<SpanData>,
    limits: &ExportLimits,
    meters: &ExportMeters,
) {
    if batch.is_empty() {
        return;
    }
    let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    let spans = std::mem::replace(batch, Vec::with_capacity(limits.batch));
    match tokio::time::timeout(limits.timeout, exporter.export(spans)).await {
        Ok(Ok(())) => meters.exported.inc_by(n),
        Ok(Err(e)) => {
            meters.dropped.inc_by(n);
            tracing::debug!(error = %e, spans = n, "span export failed; spans dropped");
        }
        Err(_) => {
            meters.dropped.inc_by(n);
            tracing::debug!(spans = n, "span export timed out; spans dropped");
        }
    }
}
