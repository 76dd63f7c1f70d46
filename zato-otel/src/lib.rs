//! OpenTelemetry tracing for zato-rs.
