//! The fuzz targets' functions. They live with zato-core's tests, which replay the seed corpus
//! through them on the stable toolchain; this crate, built only by cargo-fuzz, runs them under
//! libFuzzer.

#[path = "../../zato-core/tests/support/fuzz_targets.rs"]
mod targets;

pub use targets::*;
