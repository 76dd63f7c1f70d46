//! What the fuzz targets run, one function per decoder. zato-core's `fuzz_corpus` test replays
//! the seed corpus through these functions; the fuzz crate (`fuzz/`, outside the workspace)
//! builds its targets on the same file.
//!
//! Each function decodes `data` as one request and panics (the fuzzer's crash) when the outcome
//! is neither the input nor a refusal with a 4xx status.
#![allow(
    unreachable_pub,
    reason = "public to the fuzz targets, private to the tests"
)]

use zato_core::sio::{self, DataFormat, Raw, Source};
use zato_macros::SimpleIo;

/// An input with an element of most kinds: text, a list, numbers, a nested list of objects,
/// an opaque value.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core", request_elem = "request")]
pub struct FuzzInput {
    id: String,
    target: Vec<String>,
    count: Option<i64>,
    amount: Option<f64>,
    flag: Option<bool>,
    #[sio(max_items = 8)]
    lines: Option<Vec<FuzzLine>>,
    extra: Option<Raw>,
}

/// An item of [`FuzzInput::lines`].
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct FuzzLine {
    sku: String,
    qty: Option<u32>,
}

/// Decodes one request and checks its outcome; the status of a refusal, `None` on success.
fn check(source: Source<'_>) -> Option<u16> {
    match sio::decode::<FuzzInput>(&source).result {
        Ok(_) => None,
        Err(e) => {
            let status = e.status().as_u16();
            assert!((400..500).contains(&status), "{status} for {e}");
            Some(status)
        }
    }
}

/// The bytes as a query string (lossily made text, as a URI is), with an empty JSON body.
pub fn query(data: &[u8]) -> Option<u16> {
    let q = String::from_utf8_lossy(data);
    check(Source::new(DataFormat::Json, b"").with_query(Some(&q)))
}

/// The bytes as a JSON body.
pub fn json(data: &[u8]) -> Option<u16> {
    check(Source::new(DataFormat::Json, data))
}

/// The bytes as an XML body.
pub fn xml(data: &[u8]) -> Option<u16> {
    check(Source::new(DataFormat::Xml, data))
}

/// The bytes as a SOAP body.
pub fn soap(data: &[u8]) -> Option<u16> {
    check(Source::new(DataFormat::Soap, data))
}
