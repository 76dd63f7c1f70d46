//! The `#[service]` attribute and the `SimpleIo` derive.
