//! Errors as reply bodies: a JSON object, an XML document or a SOAP Fault of the request's
//! version, each naming the cid.

use http::{HeaderValue, header};

use crate::Cid;
use crate::describe::SOAP_ERROR_NAMESPACE;
use crate::error::ServiceError;
use crate::message::RawResponse;
use crate::sio::{
    ElementProblem, ReplyFormat, SioError, SoapVersion, Writer, begin_envelope, end_envelope,
    xml_text,
};

/// Writes the fields of an error into `w`, the same fields in every format.
fn error_fields(err: &ServiceError, cid: Cid, w: &mut Writer<'_>) {
    w.string("cid", cid.as_str());
    w.number("status", err.status().as_u16());
    w.string("code", err.code());
    w.string("message", &err.to_string());
    match err {
        ServiceError::Input(SioError::MalformedJson { line, column, .. })
        | ServiceError::Input(SioError::MalformedXml { line, column, .. }) => {
            w.number("line", line);
            w.number("column", column);
        }
        ServiceError::Outgoing(o) => w.string("connection", o.connection()),
        _ => {}
    }
    let elements = match err {
        ServiceError::Input(e) => e.element_errors(),
        _ => &[],
    };
    if !elements.is_empty() {
        w.begin_list("elements");
        for e in elements {
            w.begin_object("element");
            w.string("name", &e.element);
            match &e.problem {
                ElementProblem::Missing => w.string("problem", "missing"),
                ElementProblem::WrongType { expected, got } => {
                    w.string("problem", "wrong_type");
                    w.string("expected", expected);
                    w.string("got", got);
                }
                ElementProblem::TooManyItems { limit } => {
                    w.string("problem", "too_many_items");
                    w.number("limit", limit);
                }
                ElementProblem::TooFewItems { minimum, .. } => {
                    w.string("problem", "too_few_items");
                    w.number("minimum", minimum);
                }
                ElementProblem::DuplicateKey { key } => {
                    w.string("problem", "duplicate_key");
                    w.string("key", key);
                }
            }
            w.end_object("element");
        }
        w.end_list();
    }
}

/// Renders `err` as a reply in `format`.
///
/// JSON: `{"cid": …, "status": 400, "code": "invalid_input", "message": …, "elements": [{"name":
/// "target", "problem": "missing"}]}`. XML: the same fields under an `<error>` root. SOAP: a Fault
/// of the given version (`Client`/`Server` in 1.1, `Sender`/`Receiver` in 1.2) with that `<error>`
/// as its detail, in [`SOAP_ERROR_NAMESPACE`] as the WSDL declares it. A 405 carries `Allow`.
///
/// # Examples
///
/// ```
/// use zato_core::{render_error, Cid, ServiceError};
/// use zato_core::sio::ReplyFormat;
///
/// let reply = render_error(&ServiceError::not_found("no such path"), ReplyFormat::Json, Cid::new());
/// assert_eq!(reply.status.as_u16(), 404);
/// let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
/// assert_eq!(body["code"], "not_found");
/// ```
pub fn render_error(err: &ServiceError, format: ReplyFormat, cid: Cid) -> RawResponse {
    let mut buf = Vec::with_capacity(256);
    match format {
        ReplyFormat::Json => {
            let mut w = Writer::new(&mut buf, false);
            w.begin_object("");
            error_fields(err, cid, &mut w);
            w.end_object("");
        }
        ReplyFormat::Xml => {
            buf.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            let mut w = Writer::new(&mut buf, true);
            w.begin_object("error");
            error_fields(err, cid, &mut w);
            w.end_object("error");
        }
        ReplyFormat::Soap(version) => {
            let fault = err.fault_code();
            let message = err.to_string();
            let message = xml_text(&message);
            begin_envelope(&mut buf, version);
            buf.extend_from_slice(b"<soapenv:Fault>");
            let detail_tag = match version {
                SoapVersion::V11 => {
                    buf.extend_from_slice(b"<faultcode>soapenv:");
                    buf.extend_from_slice(fault.soap11().as_bytes());
                    buf.extend_from_slice(b"</faultcode><faultstring>");
                    buf.extend_from_slice(message.as_bytes());
                    buf.extend_from_slice(b"</faultstring>");
                    "detail"
                }
                SoapVersion::V12 => {
                    buf.extend_from_slice(b"<soapenv:Code><soapenv:Value>soapenv:");
                    buf.extend_from_slice(fault.soap12().as_bytes());
                    buf.extend_from_slice(
                        b"</soapenv:Value></soapenv:Code><soapenv:Reason><soapenv:Text xml:lang=\"en\">",
                    );
                    buf.extend_from_slice(message.as_bytes());
                    buf.extend_from_slice(b"</soapenv:Text></soapenv:Reason>");
                    "soapenv:Detail"
                }
            };
            let mut w = Writer::new(&mut buf, true);
            w.begin_object(detail_tag);
            // In the namespace the WSDL's fault message declares it in, with its children.
            w.begin_xml_root("error", Some(SOAP_ERROR_NAMESPACE));
            error_fields(err, cid, &mut w);
            w.end_object("error");
            w.end_object(detail_tag);
            buf.extend_from_slice(b"</soapenv:Fault>");
            end_envelope(&mut buf);
        }
    }
    let mut reply = RawResponse::new(err.status(), format.content_type(), buf);
    if let ServiceError::MethodNotAllowed { allow } = err
        && let Ok(v) = HeaderValue::from_str(allow)
    {
        reply.headers.insert(header::ALLOW, v);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sio::{ElementError, InvalidInput};

    fn invalid() -> ServiceError {
        SioError::InvalidInput(InvalidInput {
            errors: vec![
                ElementError {
                    element: "target".into(),
                    problem: ElementProblem::Missing,
                },
                ElementError {
                    element: "count".into(),
                    problem: ElementProblem::WrongType {
                        expected: "integer",
                        got: "<abc>".into(),
                    },
                },
            ],
        })
        .into()
    }

    #[test]
    fn json_error_lists_every_element_and_the_cid() {
        let cid = Cid::new();
        let reply = render_error(&invalid(), ReplyFormat::Json, cid);
        assert_eq!(reply.status.as_u16(), 400);
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["cid"], cid.as_str());
        assert_eq!(v["elements"][0]["name"], "target");
        assert_eq!(v["elements"][0]["problem"], "missing");
        assert_eq!(v["elements"][1]["expected"], "integer");
        assert_eq!(v["elements"][1]["got"], "<abc>");
    }

    #[test]
    fn xml_error_escapes_what_came() {
        let reply = render_error(&invalid(), ReplyFormat::Xml, Cid::new());
        let text = std::str::from_utf8(&reply.body).unwrap();
        assert!(text.contains("<got>&lt;abc&gt;</got>"), "{text}");
        assert!(
            text.contains("<name>target</name><problem>missing</problem>"),
            "{text}"
        );
    }

    #[test]
    fn soap_faults_use_their_version_codes() {
        let r11 = render_error(&invalid(), ReplyFormat::Soap(SoapVersion::V11), Cid::new());
        let t11 = std::str::from_utf8(&r11.body).unwrap();
        assert!(
            t11.contains("<faultcode>soapenv:Client</faultcode>"),
            "{t11}"
        );
        assert!(t11.contains("schemas.xmlsoap.org/soap/envelope/"), "{t11}");
        // The detail in the namespace the WSDL's fault message declares, its children too.
        assert!(
            t11.contains(r#"<detail><error xmlns="urn:zato-rs:error"><cid>"#),
            "{t11}"
        );
        assert_eq!(r11.content_type, "text/xml; charset=utf-8");

        let err = ServiceError::internal("boom");
        let r12 = render_error(&err, ReplyFormat::Soap(SoapVersion::V12), Cid::new());
        let t12 = std::str::from_utf8(&r12.body).unwrap();
        assert!(
            t12.contains("<soapenv:Value>soapenv:Receiver</soapenv:Value>"),
            "{t12}"
        );
        assert!(t12.contains("www.w3.org/2003/05/soap-envelope"), "{t12}");
        assert_eq!(r12.status.as_u16(), 500);
        assert!(r12.content_type.starts_with("application/soap+xml"));
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let err = ServiceError::MethodNotAllowed {
            allow: "GET, POST".into(),
        };
        let reply = render_error(&err, ReplyFormat::Json, Cid::new());
        assert_eq!(reply.headers[header::ALLOW], "GET, POST");
    }
}
