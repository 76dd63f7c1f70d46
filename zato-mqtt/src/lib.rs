//! MQTT for zato-rs.
