//! OpenStack Swift outgoing connections for zato-rs.
//!
//! This crate will hold the Swift client (auth v1.0, Keystone v2.0 and v3), the bb8 pool of
//! authenticated clients behind a live-reconfigurable `SwiftConnection`, and a local
//! Swift-compatible endpoint for development. It is built under its own issue; until then it
//! exports nothing.
