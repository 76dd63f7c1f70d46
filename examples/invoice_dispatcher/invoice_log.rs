//! The `Invoice Log`: each dispatch recorded (cid, targets, outcome, time) through the outgoing
//! SQL connection of that name, a SQLite file under `target/` unless the document or
//! `zato conn edit sql "Invoice Log" --set url=postgres://…` points it elsewhere.

use zato::prelude::*;
use zato::sql::{Engine, SqlErrorKind, SqlHandle};

/// The outgoing SQL connection each dispatch is recorded through.
pub const INVOICE_LOG: &str = "Invoice Log";

/// The table it writes, created when missing.
pub const INVOICE_LOG_TABLE: &str = "invoice_log";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS invoice_log (cid VARCHAR(64) NOT NULL, \
    targets VARCHAR(4000) NOT NULL, outcome VARCHAR(200) NOT NULL, dispatched_at VARCHAR(40) NOT NULL)";

/// Records one dispatch. A failure to record is logged, not returned: the invoice is stored
/// already, and failing the request would have the caller send it again.
pub(crate) async fn record(ctx: &Context, targets: &[String], outcome: &str) {
    let db = match ctx.outgoing().sql(INVOICE_LOG) {
        Ok(db) => db,
        Err(e) => {
            tracing::debug!(cid = %ctx.cid(), error = %e, "dispatch not recorded");
            return;
        }
    };
    if let Err(e) = insert(&db, ctx, targets, outcome).await {
        tracing::warn!(cid = %ctx.cid(), error = %e, "dispatch not recorded in the invoice log");
    }
}

async fn insert(
    db: &SqlHandle,
    ctx: &Context,
    targets: &[String],
    outcome: &str,
) -> Result<(), zato::sql::SqlError> {
    let sql = match db.engine() {
        Engine::Postgresql => "INSERT INTO invoice_log VALUES ($1, $2, $3, $4)",
        _ => "INSERT INTO invoice_log VALUES (?, ?, ?, ?)",
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let params = [
        ctx.cid().to_string().into(),
        targets.join(",").into(),
        outcome.into(),
        now.to_string().into(),
    ];
    match db.execute(sql, &params).await {
        Ok(_) => return Ok(()),
        // The server refused the statement: the table may be missing on a database the
        // connection was just pointed at. Any other failure is not tried again, so that a log
        // out of reach delays a dispatch by one bounded wait at most.
        Err(e) if !matches!(e.kind(), SqlErrorKind::Database { .. }) => return Err(e),
        Err(_) => {}
    }
    db.execute(CREATE, &[]).await?;
    db.execute(sql, &params).await.map(|_| ())
}
