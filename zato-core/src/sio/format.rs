//! The data formats of channels, and the one rule deciding the format of a reply.

use super::SoapVersion;

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

impl super::ReplyFormat {
    /// The format of the reply to a request in `format` with `content_type`: the channel's
    /// format, and for SOAP the version the envelope used, or when none was read (the body was
    /// not a readable envelope, or nothing was decoded yet), the version its media type suggests:
    /// 1.2 travels as `application/soap+xml`, 1.1 as `text/xml`.
    ///
    /// Every reply of the platform, an error or not, gets its format here.
    pub fn decide(
        format: DataFormat,
        content_type: Option<&str>,
        soap: Option<SoapVersion>,
    ) -> super::ReplyFormat {
        use super::ReplyFormat;
        match format {
            DataFormat::Json | DataFormat::Form => ReplyFormat::Json,
            DataFormat::Xml => ReplyFormat::Xml,
            DataFormat::Soap => ReplyFormat::Soap(soap.unwrap_or_else(|| {
                const SOAP12: &[u8] = b"application/soap+xml";
                let ct = content_type.unwrap_or("").trim_start().as_bytes();
                let v12 =
                    ct.len() >= SOAP12.len() && ct[..SOAP12.len()].eq_ignore_ascii_case(SOAP12);
                if v12 {
                    SoapVersion::V12
                } else {
                    SoapVersion::V11
                }
            })),
        }
    }
}
