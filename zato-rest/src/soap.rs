//! [`SoapConnection`]: an outgoing SOAP connection: a SimpleIO value in a SOAP 1.1 or 1.2
//! envelope, a reply read as SimpleIO, a Fault as a typed error.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method};
use quick_xml::Reader;
use quick_xml::events::Event;
use zato_core::DataFormat;
use zato_core::sio::{ReplyFormat, SioInput, SioOutput, SoapVersion};

use crate::config::SoapVersionConfig;
use crate::connection::{HttpConnection, Prepared};
use crate::error::{RestError, RestErrorKind};

/// A named outgoing SOAP connection: its address, security, pool, retries and breaker as an
/// [`HttpConnection`]'s, calls as SimpleIO values in envelopes.
#[derive(Debug)]
pub struct SoapConnection {
    http: Arc<HttpConnection>,
}

impl SoapConnection {
    pub(crate) fn new(http: HttpConnection) -> Self {
        SoapConnection {
            http: Arc::new(http),
        }
    }

    /// The connection underneath: its configuration, stats and reconfiguration.
    pub fn http(&self) -> &Arc<HttpConnection> {
        &self.http
    }

    /// The SOAP version it speaks.
    pub fn version(&self) -> SoapVersion {
        match self.http.config().soap_version.unwrap_or_default() {
            SoapVersionConfig::V11 => SoapVersion::V11,
            SoapVersionConfig::V12 => SoapVersion::V12,
        }
    }

    /// Calls `action` with `input` in an envelope POSTed to the address, and reads the reply's
    /// Body as `O`.
    ///
    /// # Errors
    ///
    /// [`RestErrorKind::SoapFault`] with the fault's code and string, or any other
    /// [`RestError`] of the call.
    pub async fn call<I: SioOutput, O: SioInput>(
        &self,
        action: &str,
        input: &I,
    ) -> Result<O, RestError> {
        let version = self.version();
        let mut buf = Vec::new();
        input.write_body(ReplyFormat::Soap(version), &mut buf);
        let err = |m: String| RestError::new(self.http.name(), RestErrorKind::Request(m));
        let quoted = action.replace('"', "");
        let (content_type, headers) = match version {
            SoapVersion::V11 => (
                HeaderValue::from_static("text/xml; charset=utf-8"),
                vec![(
                    http::HeaderName::from_static("soapaction"),
                    HeaderValue::from_str(&format!("\"{quoted}\""))
                        .map_err(|_| err(format!("`{action}` is not a valid SOAP action")))?,
                )],
            ),
            SoapVersion::V12 => (
                HeaderValue::from_str(&format!(
                    "application/soap+xml; charset=utf-8; action=\"{quoted}\""
                ))
                .map_err(|_| err(format!("`{action}` is not a valid SOAP action")))?,
                Vec::new(),
            ),
        };
        let reply = self
            .http
            .execute(Prepared {
                method: Method::POST,
                path: String::new(),
                query: Vec::new(),
                headers,
                body: Some((Bytes::from(buf), content_type)),
            })
            .await?;
        if let Some((code, reason)) = fault(reply.body()) {
            return Err(RestError::new(
                self.http.name(),
                RestErrorKind::SoapFault { code, reason },
            ));
        }
        reply.sio::<O>(DataFormat::Soap)
    }
}

/// The code and reason of a SOAP Fault in `body`, of either version.
pub(crate) fn fault(body: &[u8]) -> Option<(String, String)> {
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut in_fault = false;
    let (mut code, mut reason) = (None::<String>, None::<String>);
    let mut buf = Vec::new();
    // Bounded: a reply is at most `max_response_size`, and each event moves forward.
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let local = e.local_name().as_ref().to_vec();
                if local == b"Fault" {
                    in_fault = true;
                }
                path.push(local);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) if in_fault => {
                let text = t.unescape().ok()?.trim().to_owned();
                if text.is_empty() {
                    continue;
                }
                let last = path.last().map(Vec::as_slice);
                let parent = path
                    .len()
                    .checked_sub(2)
                    .and_then(|i| path.get(i))
                    .map(Vec::as_slice);
                match (parent, last) {
                    (_, Some(b"faultcode")) | (Some(b"Code"), Some(b"Value")) if code.is_none() => {
                        code = Some(text)
                    }
                    (_, Some(b"faultstring")) | (Some(b"Reason"), Some(b"Text"))
                        if reason.is_none() =>
                    {
                        reason = Some(text)
                    }
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    in_fault.then(|| (code.unwrap_or_default(), reason.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_of_both_versions_are_read() {
        let v11 = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
            <faultcode>s:Client</faultcode><faultstring>bad invoice</faultstring></s:Fault></s:Body></s:Envelope>"#;
        assert_eq!(fault(v11), Some(("s:Client".into(), "bad invoice".into())));
        let v12 = br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault>
            <e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text xml:lang="en">down</e:Text></e:Reason>
            </e:Fault></e:Body></e:Envelope>"#;
        assert_eq!(fault(v12), Some(("e:Receiver".into(), "down".into())));
        assert_eq!(fault(b"<a><b>no fault</b></a>"), None);
    }
}
