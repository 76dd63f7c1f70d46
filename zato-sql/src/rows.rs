//! Rows as JSON objects and JSON values as bound parameters, for each engine: what the typed
//! helpers of [`SqlHandle`](crate::SqlHandle) and the outbox channel use.

use serde_json::{Map, Number, Value};
use sqlx::{Column, Row, TypeInfo};

/// Binds each of `params` to `query` by its JSON type: null, a bool, an integer, a float, a
/// string; an array or object as its JSON text.
macro_rules! bind_json {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                serde_json::Value::Null => q.bind(None::<String>),
                serde_json::Value::Bool(b) => q.bind(*b),
                serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => q.bind(i),
                    (None, Some(f)) => q.bind(f),
                    (None, None) => q.bind(n.to_string()),
                },
                serde_json::Value::String(s) => q.bind(s.clone()),
                other => q.bind(other.to_string()),
            };
        }
        q
    }};
}
pub(crate) use bind_json;

/// Tries each Rust type in turn for the value of column `$i`; the first the column's type
/// admits gives the JSON value.
macro_rules! decode_first {
    ($row:expr, $i:expr, [$($t:ty => $to:expr),* $(,)?]) => {{
        let mut found = None;
        $(
            if found.is_none() {
                if let Ok(v) = $row.try_get::<Option<$t>, _>($i) {
                    found = Some(v.map($to).unwrap_or(Value::Null));
                }
            }
        )*
        found
    }};
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn bytes(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::String(s),
        Err(e) => Value::Array(e.into_bytes().into_iter().map(Value::from).collect()),
    }
}

/// The error for a column of a type no JSON value is read from.
fn unsupported(name: &str, ty: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: format!(
            "a column of type {ty} cannot be read as JSON: cast it in the query (to text, for one)"
        )
        .into(),
    }
}

/// A PostgreSQL row as a JSON object, by column name.
pub(crate) fn pg_row(row: &sqlx::postgres::PgRow) -> Result<Map<String, Value>, sqlx::Error> {
    let mut map = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let value = decode_first!(row, i, [
            i64 => Value::from,
            i32 => Value::from,
            i16 => Value::from,
            f64 => float,
            f32 => |f: f32| float(f64::from(f)),
            bool => Value::Bool,
            String => Value::String,
            serde_json::Value => |v| v,
            chrono::DateTime<chrono::Utc> => |t: chrono::DateTime<chrono::Utc>| Value::String(t.to_rfc3339()),
            chrono::NaiveDateTime => |t: chrono::NaiveDateTime| Value::String(t.to_string()),
            chrono::NaiveDate => |t: chrono::NaiveDate| Value::String(t.to_string()),
            Vec<u8> => bytes,
            Vec<String> => |v: Vec<String>| Value::from(v),
            Vec<i64> => |v: Vec<i64>| Value::from(v),
            Vec<i32> => |v: Vec<i32>| Value::from(v),
        ]);
        let value = value.ok_or_else(|| unsupported(col.name(), col.type_info().name()))?;
        map.insert(col.name().to_owned(), value);
    }
    Ok(map)
}

/// A MySQL or MariaDB row as a JSON object, by column name.
pub(crate) fn mysql_row(row: &sqlx::mysql::MySqlRow) -> Result<Map<String, Value>, sqlx::Error> {
    let mut map = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let value = decode_first!(row, i, [
            i64 => Value::from,
            u64 => Value::from,
            f64 => float,
            f32 => |f: f32| float(f64::from(f)),
            String => Value::String,
            chrono::DateTime<chrono::Utc> => |t: chrono::DateTime<chrono::Utc>| Value::String(t.to_rfc3339()),
            chrono::NaiveDateTime => |t: chrono::NaiveDateTime| Value::String(t.to_string()),
            chrono::NaiveDate => |t: chrono::NaiveDate| Value::String(t.to_string()),
            serde_json::Value => |v| v,
            Vec<u8> => bytes,
        ]);
        // DECIMAL travels as text.
        let value = match value {
            Some(v) => v,
            None => row
                .try_get_unchecked::<Option<String>, _>(i)
                .map(|v| v.map_or(Value::Null, Value::String))
                .map_err(|_| unsupported(col.name(), col.type_info().name()))?,
        };
        map.insert(col.name().to_owned(), value);
    }
    Ok(map)
}

/// A SQLite row as a JSON object, by column name.
pub(crate) fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<Map<String, Value>, sqlx::Error> {
    let mut map = Map::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let value = decode_first!(row, i, [
            i64 => Value::from,
            f64 => float,
            String => Value::String,
            Vec<u8> => bytes,
        ]);
        let value = value.ok_or_else(|| unsupported(col.name(), col.type_info().name()))?;
        map.insert(col.name().to_owned(), value);
    }
    Ok(map)
}
