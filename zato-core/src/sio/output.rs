//! Output: JSON, XML and SOAP 1.1/1.2 bodies written straight into a byte buffer.

use super::desc::ElementDesc;
use super::element::SioObject;
use super::format::DataFormat;
use super::writer::Writer;
use super::xml::{SOAP11_NS, SOAP12_NS};

/// The two SOAP versions, told apart by their envelope namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    /// SOAP 1.1 (`http://schemas.xmlsoap.org/soap/envelope/`, `text/xml`).
    V11,
    /// SOAP 1.2 (`http://www.w3.org/2003/05/soap-envelope`, `application/soap+xml`).
    V12,
}

impl SoapVersion {
    /// The envelope namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_NS,
            SoapVersion::V12 => SOAP12_NS,
        }
    }
}

/// The format a reply is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyFormat {
    /// A JSON document.
    Json,
    /// An XML document.
    Xml,
    /// A SOAP envelope of the given version.
    Soap(SoapVersion),
}

impl ReplyFormat {
    /// The Content-Type of a reply in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            ReplyFormat::Json => "application/json",
            ReplyFormat::Xml => "application/xml; charset=utf-8",
            ReplyFormat::Soap(SoapVersion::V11) => "text/xml; charset=utf-8",
            ReplyFormat::Soap(SoapVersion::V12) => "application/soap+xml; charset=utf-8",
        }
    }

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
    ) -> ReplyFormat {
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

const XML_DECL: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// Opens a SOAP envelope and its Body.
pub(crate) fn begin_envelope(buf: &mut Vec<u8>, version: SoapVersion) {
    buf.extend_from_slice(XML_DECL);
    buf.extend_from_slice(b"<soapenv:Envelope xmlns:soapenv=\"");
    buf.extend_from_slice(version.namespace().as_bytes());
    buf.extend_from_slice(b"\"><soapenv:Body>");
}

/// Closes what [`begin_envelope`] opened.
pub(crate) fn end_envelope(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"</soapenv:Body></soapenv:Envelope>");
}

/// A service's output: a [`SioObject`], or `()` for an empty body.
pub trait SioOutput: Send + 'static {
    /// The declared elements.
    fn elements() -> Vec<ElementDesc>;

    /// Appends the body in `format` to `buf`.
    fn write_body(&self, format: ReplyFormat, buf: &mut Vec<u8>);

    /// Appends the body of a SOAP reply of `version` to `buf`, its root element and the
    /// elements in it in `namespace` (the service's, as its WSDL declares them), unless the type
    /// declares a namespace of its own.
    ///
    /// By default, the body [`write_body`](Self::write_body) writes, in whatever namespace it
    /// chooses.
    fn write_soap_body(&self, version: SoapVersion, namespace: &str, buf: &mut Vec<u8>) {
        let _ = namespace;
        self.write_body(ReplyFormat::Soap(version), buf);
    }
}

/// Writes a whole output object in `format` into `buf`.
///
/// JSON is the object, wrapped in `{"<response_elem>": …}` when the type declares one. XML is a
/// document whose root is the response element (`response` by default) in the declared
/// namespace. SOAP puts that root into an envelope's Body.
pub fn encode_output<T: SioObject>(value: &T, format: ReplyFormat, buf: &mut Vec<u8>) {
    encode_in(value, format, None, buf);
}

/// [`encode_output`], a SOAP reply's root in `soap_namespace` when the type declares none.
fn encode_in<T: SioObject>(
    value: &T,
    format: ReplyFormat,
    soap_namespace: Option<&str>,
    buf: &mut Vec<u8>,
) {
    let root = T::RESPONSE_ELEM.unwrap_or("response");
    match format {
        ReplyFormat::Json => {
            let mut w = Writer::new(buf, false);
            if let Some(elem) = T::RESPONSE_ELEM {
                w.begin_object("");
                w.begin_object(elem);
                value.encode_fields(&mut w);
                w.end_object(elem);
                w.end_object("");
            } else {
                w.begin_object("");
                value.encode_fields(&mut w);
                w.end_object("");
            }
        }
        ReplyFormat::Xml => {
            buf.extend_from_slice(XML_DECL);
            let mut w = Writer::new(buf, true);
            w.begin_xml_root(root, T::NAMESPACE);
            value.encode_fields(&mut w);
            w.end_object(root);
        }
        ReplyFormat::Soap(version) => {
            begin_envelope(buf, version);
            let mut w = Writer::new(buf, true);
            w.begin_xml_root(root, T::NAMESPACE.or(soap_namespace));
            value.encode_fields(&mut w);
            w.end_object(root);
            end_envelope(buf);
        }
    }
}

impl<T: SioObject + Send + 'static> SioOutput for T {
    fn elements() -> Vec<ElementDesc> {
        T::elements()
    }

    fn write_body(&self, format: ReplyFormat, buf: &mut Vec<u8>) {
        encode_output(self, format, buf);
    }

    fn write_soap_body(&self, version: SoapVersion, namespace: &str, buf: &mut Vec<u8>) {
        encode_in(self, ReplyFormat::Soap(version), Some(namespace), buf);
    }
}

impl SioOutput for () {
    fn elements() -> Vec<ElementDesc> {
        Vec::new()
    }

    fn write_body(&self, _: ReplyFormat, _: &mut Vec<u8>) {}
}
