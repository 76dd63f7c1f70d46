//! Channel adapters for zato-rs: the transports that bring requests to services.
//!
//! This crate will hold the channel adapter trait and the HTTP channel (hyper 1), then AMQP and
//! ZeroMQ. It is built under its own issue; until then it exports nothing.
