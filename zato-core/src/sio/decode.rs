//! From a request to typed input: media type, body parsing, and the merge of channel parameters
//! with the body.

use std::borrow::Cow;

use super::node::{Fields, JsonObject, Layer, parse_json_body};
use super::output::SoapVersion;
use super::xml::{self, SOAP11_NS, SOAP12_NS, XmlElement};
use super::{Errors, Path, SioError, SioInput, SioObject, excerpt};
use crate::service::{ChannelInfo, ChannelKind, HttpInfo};
use crate::{DataFormat, RawRequest};

/// Which wins when an element is both a channel parameter and in the message body
/// (Zato's `params_pri`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ParamsPri {
    /// Query string and path parameters win (Zato's default).
    #[default]
    #[serde(rename = "channel-params-over-msg")]
    ChannelParamsOverMsg,
    /// The body wins.
    #[serde(rename = "msg-over-channel-params")]
    MsgOverChannelParams,
}

/// Which wins when an element is both in the query string and a path parameter
/// (Zato's `url_params_pri`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum UrlParamsPri {
    /// The query string wins (Zato's default).
    #[default]
    #[serde(rename = "qs-over-path")]
    QsOverPath,
    /// The path parameter wins.
    #[serde(rename = "path-over-qs")]
    PathOverQs,
}

/// How channel parameters (query string and path) merge with the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ParamsPriority {
    /// Whether channel parameters are input at all (Zato's `merge_url_params_req`, default true).
    pub merge_url_params_req: bool,
    /// Channel parameters against the body.
    pub params_pri: ParamsPri,
    /// Query string against path parameters.
    pub url_params_pri: UrlParamsPri,
}

impl Default for ParamsPriority {
    fn default() -> Self {
        ParamsPriority {
            merge_url_params_req: true,
            params_pri: ParamsPri::default(),
            url_params_pri: UrlParamsPri::default(),
        }
    }
}

/// The parsed body of one request.
enum Body<'a> {
    None,
    Json(JsonObject<'a>),
    Pairs(Vec<(Cow<'a, str>, Cow<'a, str>)>),
    Xml(XmlElement),
}

/// Checks that a Content-Type fits a channel's format. Only a clearly different structured
/// format is refused: `curl -d` sends a form media type with a JSON body, and callers send
/// `text/plain` for anything, so both are let through to the channel's own parser.
fn check_media_type(format: DataFormat, content_type: Option<&str>) -> Result<(), SioError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let lenient = matches!(
        essence.as_str(),
        "" | "text/plain" | "application/octet-stream" | "application/x-www-form-urlencoded"
    );
    let is_json = essence == "application/json" || essence.ends_with("+json");
    let is_xml =
        matches!(essence.as_str(), "application/xml" | "text/xml") || essence.ends_with("+xml");
    let ok = lenient
        || match format {
            DataFormat::Json => is_json,
            DataFormat::Xml | DataFormat::Soap => is_xml,
            DataFormat::Form => false,
        };
    if ok {
        Ok(())
    } else {
        Err(SioError::UnsupportedMediaType {
            content_type: excerpt(ct),
            expected: format.as_str(),
        })
    }
}

fn utf8(body: &[u8]) -> Result<&str, SioError> {
    std::str::from_utf8(body).map_err(|e| {
        let (line, column) = super::error::line_column(body, e.valid_up_to());
        SioError::MalformedXml {
            message: "invalid utf-8".into(),
            line,
            column,
        }
    })
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// Finds the request element of a SOAP envelope: the first child of its Body.
fn soap_request(envelope: &XmlElement) -> Result<(SoapVersion, Option<&XmlElement>), SioError> {
    let version = match envelope.namespace.as_deref() {
        _ if &*envelope.name != "Envelope" => {
            return Err(SioError::UnexpectedDocument(format!(
                "expected a SOAP Envelope, got `{}`",
                excerpt(&envelope.name)
            )));
        }
        Some(SOAP11_NS) => SoapVersion::V11,
        Some(SOAP12_NS) => SoapVersion::V12,
        other => {
            return Err(SioError::UnexpectedDocument(format!(
                "unknown SOAP envelope namespace `{}`",
                excerpt(other.unwrap_or(""))
            )));
        }
    };
    let body = envelope
        .children
        .iter()
        .find(|c| &*c.name == "Body" && c.namespace.as_deref() == envelope.namespace.as_deref())
        .ok_or_else(|| SioError::UnexpectedDocument("the SOAP envelope has no Body".into()))?;
    Ok((version, body.children.first()))
}

/// The shared decoding of every input object.
fn decode_with<T: SioObject>(
    format: DataFormat,
    channel: &ChannelInfo,
    query: Option<&str>,
    path_params: &[(String, String)],
    body: &[u8],
    content_type: Option<&str>,
    soap: &mut Option<SoapVersion>,
) -> Result<T, SioError> {
    check_media_type(format, content_type)?;
    let params = channel.params;
    let query_pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = match query {
        Some(q) if params.merge_url_params_req && !q.is_empty() => {
            form_urlencoded::parse(q.as_bytes()).collect()
        }
        _ => Vec::new(),
    };
    let path_params = if params.merge_url_params_req {
        path_params
    } else {
        &[]
    };

    let parsed = match format {
        _ if is_blank(body) && format != DataFormat::Soap => Body::None,
        DataFormat::Json => Body::Json(parse_json_body(body)?),
        DataFormat::Form => Body::Pairs(form_urlencoded::parse(body).collect()),
        DataFormat::Xml | DataFormat::Soap => {
            Body::Xml(xml::parse(utf8(body)?, channel.xml_limits)?)
        }
    };
    let src = std::str::from_utf8(body).unwrap_or_default();
    let body_layer = match &parsed {
        Body::None => None,
        Body::Json(obj) => {
            // `{"request": {…}}` is unwrapped when the type declares that request element.
            match (T::REQUEST_ELEM, obj.0.as_slice()) {
                (Some(elem), [(key, _)]) if key == elem => None,
                _ => Some(Layer::Json(&obj.0)),
            }
        }
        Body::Pairs(pairs) => Some(Layer::Pairs(pairs)),
        Body::Xml(root) if format == DataFormat::Soap => {
            let (version, request) = soap_request(root)?;
            *soap = Some(version);
            request.map(|r| Layer::Xml(r, src))
        }
        Body::Xml(root) => Some(Layer::Xml(root, src)),
    };
    // The wrapped JSON form needs its inner object parsed; it lives as long as this frame.
    let wrapped: Option<JsonObject<'_>> = match (&parsed, T::REQUEST_ELEM) {
        (Body::Json(obj), Some(elem)) if body_layer.is_none() => match obj.0.as_slice() {
            [(key, inner)] if key == elem => Some(
                serde_json::from_str::<JsonObject<'_>>(inner.get()).map_err(|_| {
                    SioError::UnexpectedDocument(format!(
                        "the `{elem}` request element must be an object"
                    ))
                })?,
            ),
            _ => None,
        },
        _ => None,
    };
    let body_layer = body_layer.or(wrapped.as_ref().map(|w| Layer::Json(&w.0)));

    let query_layer = (!query_pairs.is_empty()).then_some(Layer::Pairs(&query_pairs));
    let path_layer = (!path_params.is_empty()).then_some(Layer::Params(path_params));
    let (first, second) = match params.url_params_pri {
        super::UrlParamsPri::QsOverPath => (query_layer, path_layer),
        super::UrlParamsPri::PathOverQs => (path_layer, query_layer),
    };
    let layers = match params.params_pri {
        super::ParamsPri::ChannelParamsOverMsg => [first, second, body_layer],
        super::ParamsPri::MsgOverChannelParams => [body_layer, first, second],
    };
    let fields = Fields::new(layers);
    let mut errors = Errors::default();
    let value = T::decode_fields(&fields, &Path::Root, &mut errors);
    match value {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors.into_error()),
    }
}

pub(crate) fn decode_object<T: SioObject>(
    raw: &RawRequest,
    soap: &mut Option<SoapVersion>,
) -> Result<T, SioError> {
    let http = raw.http.as_ref();
    decode_with(
        raw.channel.data_format,
        &raw.channel,
        http.and_then(HttpInfo::query),
        http.map_or(&[][..], |h| &h.path_params),
        &raw.body,
        raw.content_type(),
        soap,
    )
}

/// Decodes a request's input, telling the SOAP version when the request was a SOAP envelope.
///
/// # Errors
///
/// Every way a request can be the caller's fault; see [`SioError`].
pub fn decode_request<T: SioInput>(raw: &RawRequest) -> Result<(T, Option<SoapVersion>), SioError> {
    let mut soap = None;
    let value = T::from_request(raw, &mut soap)?;
    Ok((value, soap))
}

/// Decodes input from a query string and a body in `format`, with the default priority rules.
/// Handy in tests and for transports without HTTP.
///
/// # Errors
///
/// Every way a request can be the caller's fault; see [`SioError`].
pub fn decode_parts<T: SioObject>(
    format: DataFormat,
    query: Option<&str>,
    body: &[u8],
) -> Result<T, SioError> {
    let channel = ChannelInfo::new("decode", ChannelKind::Internal, format);
    decode_with(format, &channel, query, &[], body, None, &mut None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_fit_formats() {
        use DataFormat::*;
        let ok = [
            (Json, "application/json"),
            (Json, "application/json; charset=utf-8"),
            (Json, "application/vnd.api+json"),
            (Json, "application/x-www-form-urlencoded"),
            (Json, "text/plain"),
            (Xml, "text/xml"),
            (Xml, "application/xml"),
            (Soap, "application/soap+xml; charset=utf-8"),
            (Form, "application/x-www-form-urlencoded"),
        ];
        for (f, ct) in ok {
            assert!(check_media_type(f, Some(ct)).is_ok(), "{f:?} {ct}");
        }
        let refused = [
            (Json, "application/xml"),
            (Json, "multipart/form-data; boundary=x"),
            (Xml, "application/json"),
            (Soap, "application/json"),
            (Form, "application/json"),
        ];
        for (f, ct) in refused {
            let err = check_media_type(f, Some(ct)).unwrap_err();
            assert_eq!(err.status().as_u16(), 415, "{f:?} {ct}");
        }
    }
}
