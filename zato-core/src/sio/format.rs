//! The data formats of channels.

/// The format of a channel's messages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DataFormat {
    /// JSON in and out.
    #[default]
    Json,
    /// XML in and out.
    Xml,
    /// SOAP 1.1 or 1.2 envelopes in; the reply uses the request's version.
    Soap,
    /// An `application/x-www-form-urlencoded` body in, JSON out.
    Form,
}

impl DataFormat {
    /// The format's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Json => "json",
            DataFormat::Xml => "xml",
            DataFormat::Soap => "soap",
            DataFormat::Form => "form",
        }
    }
}
