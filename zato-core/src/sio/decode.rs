//! From a request to typed input: media type, body parsing, and the merge of channel parameters
//! with the body.

use std::borrow::Cow;

use super::desc::ElementDesc;
use super::element::SioObject;
use super::error::{DEFAULT_MAX_ITEMS, Errors, Path, SioError, excerpt, line_column};
use super::format::DataFormat;
use super::node::{Fields, JsonObject, JsonObjectError, Layer, parse_json_body};
use super::output::{ReplyFormat, SoapVersion};
use super::work::tick;
use super::xml::{self, SOAP11_NS, SOAP12_NS, XmlElement, XmlLimits, is_utf8_charset};

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

/// A request as SimpleIO reads it, whatever transport brought it: the channel's format and
/// rules, the channel parameters, and the body.
///
/// # Examples
///
/// ```
/// use zato_core::sio::{DataFormat, Source};
///
/// let path_params = [("id".to_owned(), "123".to_owned())];
/// let source = Source::new(DataFormat::Json, br#"{"amount": 5}"#)
///     .with_query(Some("target=CRM"))
///     .with_path_params(&path_params)
///     .with_content_type(Some("application/json"));
/// assert_eq!(source.query, Some("target=CRM"));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Source<'a> {
    /// The channel's data format.
    pub format: DataFormat,
    /// How channel parameters and the body merge.
    pub params: ParamsPriority,
    /// Bounds on an XML body.
    pub xml_limits: XmlLimits,
    /// The most items a list element takes, unless its field sets its own `max_items`.
    pub max_items: usize,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The values of the channel's path parameters, in path order.
    pub path_params: &'a [(String, String)],
    /// The body exactly as received.
    pub body: &'a [u8],
    /// The body's media type, if the transport told it.
    pub content_type: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// A body in `format`, with no channel parameters and the default rules and limits.
    pub fn new(format: DataFormat, body: &'a [u8]) -> Self {
        Source {
            format,
            params: ParamsPriority::default(),
            xml_limits: XmlLimits::default(),
            max_items: DEFAULT_MAX_ITEMS,
            query: None,
            path_params: &[],
            body,
            content_type: None,
        }
    }

    /// The same source with a query string.
    pub fn with_query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// The same source with path parameters.
    pub fn with_path_params(mut self, path_params: &'a [(String, String)]) -> Self {
        self.path_params = path_params;
        self
    }

    /// The same source with a media type.
    pub fn with_content_type(mut self, content_type: Option<&'a str>) -> Self {
        self.content_type = content_type;
        self
    }

    /// The same source with other priority rules.
    pub fn with_params(mut self, params: ParamsPriority) -> Self {
        self.params = params;
        self
    }

    /// The same source with other XML limits.
    pub fn with_xml_limits(mut self, xml_limits: XmlLimits) -> Self {
        self.xml_limits = xml_limits;
        self
    }

    /// The same source with another bound on list items.
    pub fn with_max_items(mut self, max_items: usize) -> Self {
        self.max_items = max_items;
        self
    }

    /// The format of the reply to this request, before or without decoding it: see
    /// [`ReplyFormat::decide`].
    pub fn reply_format(&self) -> ReplyFormat {
        ReplyFormat::decide(self.format, self.content_type, None)
    }
}

/// What decoding a request gave: the input or the reason it was refused, and the format to
/// answer in, which for SOAP follows the envelope's version even when the input was refused.
#[derive(Debug)]
#[must_use]
pub struct Decoded<T> {
    /// The typed input, or every way the request was the caller's fault.
    pub result: Result<T, SioError>,
    /// The format to answer in.
    pub reply: ReplyFormat,
}

/// Key-value pairs of a query string or a form body, borrowed where nothing was decoded.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The parsed body of one request.
enum Body<'a> {
    None,
    Json(JsonObject<'a>),
    Pairs(Pairs<'a>),
    Xml(XmlElement),
}

/// Checks that a Content-Type fits a channel's format. Only a clearly different structured
/// format, or a value that is no media type at all (`;;;`), is refused: `curl -d` sends a form
/// media type with a JSON body, and callers send `text/plain` for anything, so both are let
/// through to the channel's own parser.
fn check_media_type(format: DataFormat, content_type: Option<&str>) -> Result<(), SioError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    // Compared without case rather than lowercased: no allocation on every request.
    // Cut at the first `;` with a byte search: `split_once`'s searcher costs more on a string
    // this short, and `;` is ASCII, so the cut falls on a character boundary.
    let (essence, params) = match ct.bytes().position(|b| b == b';') {
        Some(i) => (&ct[..i], &ct[i + 1..]),
        None => (ct, ""),
    };
    let essence = essence.trim();
    let is = |names: &[&str]| names.iter().any(|n| essence.eq_ignore_ascii_case(n));
    let lenient = is(&[
        "text/plain",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
    ]);
    let is_json = is(&["application/json"]) || ends_with_ignore_case(essence, "+json");
    let is_xml = is(&["application/xml", "text/xml"]) || ends_with_ignore_case(essence, "+xml");
    let ok = lenient
        || match format {
            DataFormat::Json => is_json,
            DataFormat::Xml | DataFormat::Soap => is_xml,
            DataFormat::Form => false,
        };
    if !ok {
        return Err(SioError::UnsupportedMediaType {
            content_type: excerpt(ct),
            expected: format.as_str(),
        });
    }
    if params.is_empty() {
        return Ok(());
    }
    let charset = params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    match charset {
        Some(c) if !is_utf8_charset(c) => Err(SioError::UnsupportedCharset {
            charset: excerpt(c),
        }),
        _ => Ok(()),
    }
}

/// Checks that a percent-encoded query string or form body decodes to UTF-8: the decoder we
/// use would otherwise replace what is not with U+FFFD and carry on.
fn check_urlencoded_utf8(input: &[u8], part: &'static str) -> Result<(), SioError> {
    tick(input.len());
    let valid = if input.contains(&b'%') {
        input
            .split(|&b| b == b'&' || b == b'=')
            .all(|seg| percent_encoding::percent_decode(seg).decode_utf8().is_ok())
    } else {
        std::str::from_utf8(input).is_ok()
    };
    if valid {
        Ok(())
    } else {
        Err(SioError::InvalidUtf8 { part })
    }
}

/// The key-value pairs of a query string. One without `%` or `+` has nothing to decode and is
/// UTF-8 already, so its pairs are slices of it, split as `form_urlencoded` splits them (on `&`,
/// empty parts skipped, then at the first `=`), without that crate's decoding pass per part.
fn parse_query(q: &str) -> Result<Pairs<'_>, SioError> {
    if q.bytes().any(|b| b == b'%' || b == b'+') {
        check_urlencoded_utf8(q.as_bytes(), "query string")?;
        return Ok(form_urlencoded::parse(q.as_bytes()).collect());
    }
    tick(q.len());
    // Split by bytes: `&` and `=` are ASCII, so every cut falls on a character boundary, and a
    // byte loop beats `str::split`'s searcher on strings this short.
    let bytes = q.as_bytes();
    let mut pairs = Vec::new();
    let mut start = 0;
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(bytes.len(), |i| start + i);
        let part = &q[start..end];
        if !part.is_empty() {
            let (key, value) = match part.bytes().position(|b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, ""),
            };
            pairs.push((Cow::Borrowed(key), Cow::Borrowed(value)));
        }
        start = end + 1;
    }
    Ok(pairs)
}

/// Whether `s` ends with the lowercase ASCII `suffix`, in any case.
fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len()
        .checked_sub(suffix.len())
        .and_then(|start| s.as_bytes().get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix.as_bytes()))
}

fn utf8(body: &[u8]) -> Result<&str, SioError> {
    std::str::from_utf8(body).map_err(|e| {
        let (line, column) = line_column(body, e.valid_up_to());
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

/// The SOAP version of an envelope, told by its namespace.
fn soap_version(envelope: &XmlElement) -> Result<SoapVersion, SioError> {
    match envelope.namespace.as_deref() {
        _ if &*envelope.name != "Envelope" => Err(SioError::UnexpectedDocument(format!(
            "expected a SOAP Envelope, got `{}`",
            excerpt(&envelope.name)
        ))),
        Some(SOAP11_NS) => Ok(SoapVersion::V11),
        Some(SOAP12_NS) => Ok(SoapVersion::V12),
        other => Err(SioError::SoapVersionMismatch {
            namespace: excerpt(other.unwrap_or("")),
        }),
    }
}

/// The request element of a SOAP envelope: the one child of its one Body, or none for an empty
/// Body. Headers addressed to us and marked `mustUnderstand` are refused first, as SOAP's
/// processing model says: we understand no header, so processing one would mean ignoring it.
fn soap_request(envelope: &XmlElement) -> Result<Option<&XmlElement>, SioError> {
    soap_version(envelope)?;
    let ns = envelope.namespace.as_deref();
    let named = |name: &'static str| {
        envelope
            .children
            .iter()
            .filter(move |c| &*c.name == name && c.namespace.as_deref() == ns)
    };
    if named("Header").nth(1).is_some() {
        return Err(SioError::UnexpectedDocument(
            "the SOAP envelope has more than one Header".into(),
        ));
    }
    if let Some(block) = named("Header")
        .flat_map(|h| &h.children)
        .find(|block| block.must_understand)
    {
        return Err(SioError::SoapMustUnderstand {
            header: excerpt(&block.name),
        });
    }
    let mut bodies = named("Body");
    let body = bodies
        .next()
        .ok_or_else(|| SioError::UnexpectedDocument("the SOAP envelope has no Body".into()))?;
    if bodies.next().is_some() {
        return Err(SioError::UnexpectedDocument(
            "the SOAP envelope has more than one Body".into(),
        ));
    }
    match body.children.as_slice() {
        [] => Ok(None),
        [request] => Ok(Some(request)),
        more => Err(SioError::UnexpectedDocument(format!(
            "the SOAP Body has {} request elements; exactly one is allowed",
            more.len()
        ))),
    }
}

/// A SOAP request without its envelope: the one request element of the Body, as a standalone
/// XML document. The namespace declarations it relies on that were made on the Envelope or the
/// Body are declared on it, so it reads the same on its own; the envelope's own namespace is
/// left out unless the element uses its prefix. `None` for an empty Body.
///
/// What a service storing or forwarding a SOAP caller's message wants: the message, not the
/// transport around it.
///
/// # Errors
///
/// Those of decoding a SOAP request: malformed XML or a document over `limits`, no envelope,
/// a header block that must be understood, more or fewer than one Body, more than one request
/// element.
///
/// # Examples
///
/// ```
/// use zato_core::sio::{XmlLimits, soap_payload};
///
/// let envelope = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
///     xmlns:inv="urn:invoices"><s:Body><inv:request><inv:target>CRM</inv:target></inv:request>
///     </s:Body></s:Envelope>"#;
/// let payload = soap_payload(envelope, XmlLimits::default()).unwrap().unwrap();
/// assert_eq!(
///     payload,
///     r#"<inv:request xmlns:inv="urn:invoices"><inv:target>CRM</inv:target></inv:request>"#
/// );
/// ```
pub fn soap_payload(body: &[u8], limits: XmlLimits) -> Result<Option<String>, SioError> {
    let src = utf8(body)?;
    let envelope = xml::parse(src, limits)?;
    let Some(request) = soap_request(&envelope)? else {
        return Ok(None);
    };
    let start_tag = |e: &XmlElement| &src[e.outer.0..e.inner.0.max(e.outer.0)];
    let mut scope = xml::declarations(start_tag(&envelope));
    let body = envelope
        .children
        .iter()
        .find(|c| &*c.name == "Body" && c.namespace == envelope.namespace);
    if let Some(body) = body {
        for (key, value) in xml::declarations(start_tag(body)) {
            match scope.iter_mut().find(|(k, _)| *k == key) {
                Some(declared) => declared.1 = value,
                None => scope.push((key, value)),
            }
        }
    }
    let element = &src[request.outer.0..request.outer.1];
    let own = xml::declarations(start_tag(request));
    let mut extra = String::new();
    for (key, value) in scope {
        if own.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let used = match key.strip_prefix("xmlns:") {
            Some(prefix) => uses_prefix(element, prefix),
            None => true,
        };
        if used {
            extra.push(' ');
            extra.push_str(&key);
            extra.push_str("=\"");
            extra.push_str(&quick_xml::escape::escape(value.as_str()));
            extra.push('"');
        }
    }
    let name_end = element
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_whitespace() || matches!(c, '>' | '/'))
        .map_or(element.len(), |(i, _)| i);
    Ok(Some(format!(
        "{}{extra}{}",
        &element[..name_end],
        &element[name_end..]
    )))
}

/// Whether `prefix:` starts a qualified name somewhere in `element`: an element or attribute
/// name, or a QName in an attribute value (`xsi:type="p:T"`).
fn uses_prefix(element: &str, prefix: &str) -> bool {
    let needle = format!("{prefix}:");
    element.match_indices(&needle).any(|(at, _)| {
        element[..at]
            .chars()
            .next_back()
            .is_some_and(|c| matches!(c, '<' | '/' | '"' | '\'' | '=') || c.is_ascii_whitespace())
    })
}

/// Checks the media type and parses the body in the channel's format.
///
/// Inlined into each caller's crate, as the generic decoding around it is: compiled on its own
/// in zato-core, the XML path measured 17% slower in `cargo bench --bench sio` (the inlining of
/// quick-xml's reader changed).
#[inline]
fn parse_body<'a>(source: &Source<'a>) -> Result<Body<'a>, SioError> {
    let Source {
        format,
        xml_limits,
        body,
        content_type,
        ..
    } = *source;
    check_media_type(format, content_type)?;
    Ok(match format {
        _ if is_blank(body) && format != DataFormat::Soap => Body::None,
        DataFormat::Json => Body::Json(parse_json_body(body)?),
        DataFormat::Form => {
            check_urlencoded_utf8(body, "form body")?;
            Body::Pairs(form_urlencoded::parse(body).collect())
        }
        DataFormat::Xml | DataFormat::Soap => Body::Xml(xml::parse(utf8(body)?, xml_limits)?),
    })
}

/// Decodes an input object from the parsed body merged with the channel parameters.
fn decode_parsed<T: SioObject>(source: &Source<'_>, parsed: &Body<'_>) -> Result<T, SioError> {
    let Source {
        format,
        params,
        query,
        path_params,
        body,
        ..
    } = *source;
    let query_pairs = match query {
        Some(q) if params.merge_url_params_req && !q.is_empty() => parse_query(q)?,
        _ => Vec::new(),
    };
    let path_params = if params.merge_url_params_req {
        path_params
    } else {
        &[]
    };

    // XML nodes keep the document for `Raw` values; other formats never look at it.
    let src = match parsed {
        Body::Xml(_) => std::str::from_utf8(body).unwrap_or_default(),
        _ => "",
    };
    let body_layer = match parsed {
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
            soap_request(root)?.map(|r| Layer::Xml(r, src))
        }
        Body::Xml(root) => Some(Layer::Xml(root, src)),
    };
    // The wrapped JSON form needs its inner object parsed; it lives as long as this frame.
    let wrapped: Option<JsonObject<'_>> = match (parsed, T::REQUEST_ELEM) {
        (Body::Json(obj), Some(elem)) if body_layer.is_none() => match obj.0.as_slice() {
            [(key, inner)] if key == elem => {
                Some(JsonObject::parse(inner.get()).map_err(|e| match e {
                    JsonObjectError::DuplicateKey { .. } => e.into_body_error(inner.get()),
                    JsonObjectError::Json(_) => SioError::UnexpectedDocument(format!(
                        "the `{elem}` request element must be an object"
                    )),
                })?)
            }
            _ => None,
        },
        _ => None,
    };
    let body_layer = body_layer.or(wrapped.as_ref().map(|w| Layer::Json(&w.0)));

    let query_layer = (!query_pairs.is_empty()).then_some(Layer::Pairs(&query_pairs));
    let path_layer = (!path_params.is_empty()).then_some(Layer::Params(path_params));
    let (first, second) = match params.url_params_pri {
        UrlParamsPri::QsOverPath => (query_layer, path_layer),
        UrlParamsPri::PathOverQs => (path_layer, query_layer),
    };
    let layers = match params.params_pri {
        ParamsPri::ChannelParamsOverMsg => [first, second, body_layer],
        ParamsPri::MsgOverChannelParams => [body_layer, first, second],
    };
    let fields = Fields::new(layers);
    let mut errors = Errors::with_max_items(source.max_items);
    let value = T::decode_fields(&fields, &Path::Root, &mut errors);
    match value {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors.into_error()),
    }
}

/// Decodes an input object and tells the format to answer in.
pub(crate) fn decode_object<T: SioObject>(source: &Source<'_>) -> Decoded<T> {
    let parsed = parse_body(source);
    // Once the envelope is read, a refusal is answered in the caller's SOAP version.
    let soap = match (&parsed, source.format) {
        (Ok(Body::Xml(root)), DataFormat::Soap) => soap_version(root).ok(),
        _ => None,
    };
    Decoded {
        result: parsed.and_then(|body| decode_parsed(source, &body)),
        reply: ReplyFormat::decide(source.format, source.content_type, soap),
    }
}

/// Decodes a service's input from a request, telling the format to answer in.
///
/// # Examples
///
/// ```
/// use zato_core::sio::{self, DataFormat, ReplyFormat, SoapVersion, Source};
/// use zato_macros::SimpleIo; // `zato::prelude` re-exports it
///
/// #[derive(SimpleIo, Debug)]
/// #[sio(crate = "zato_core")]
/// struct Dispatch { target: Vec<String> }
///
/// let body = br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>
///     <request><target>CRM</target></request></e:Body></e:Envelope>"#;
/// let decoded = sio::decode::<Dispatch>(&Source::new(DataFormat::Soap, body));
/// assert_eq!(decoded.result.unwrap().target, ["CRM"]);
/// assert_eq!(decoded.reply, ReplyFormat::Soap(SoapVersion::V12));
/// ```
pub fn decode<T: SioInput>(source: &Source<'_>) -> Decoded<T> {
    T::decode(source)
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
    let source = Source::new(format, body).with_query(query);
    decode_parsed(&source, &parse_body(&source)?)
}

/// A service's input: a [`SioObject`], or `()` for a service that reads nothing.
pub trait SioInput: Sized + Send + 'static {
    /// The declared elements.
    fn elements() -> Vec<ElementDesc>;

    /// Decodes the input from a request, telling the format to answer in; a refusal lists every
    /// way the request was the caller's fault (see [`SioError`]).
    fn decode(source: &Source<'_>) -> Decoded<Self>;
}

impl<T: SioObject + Send + 'static> SioInput for T {
    fn elements() -> Vec<ElementDesc> {
        T::elements()
    }

    fn decode(source: &Source<'_>) -> Decoded<Self> {
        decode_object(source)
    }
}

impl SioInput for () {
    fn elements() -> Vec<ElementDesc> {
        Vec::new()
    }

    fn decode(source: &Source<'_>) -> Decoded<()> {
        Decoded {
            result: Ok(()),
            reply: source.reply_format(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(envelope: &str) -> Option<String> {
        soap_payload(envelope.as_bytes(), XmlLimits::default()).unwrap()
    }

    #[test]
    fn a_soap_payload_is_the_request_element_with_the_namespaces_it_relies_on() {
        // The envelope's own prefix is left out when the element does not use it.
        assert_eq!(
            payload(
                r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body> <r><t>1</t></r> </s:Body></s:Envelope>"#
            )
            .as_deref(),
            Some("<r><t>1</t></r>")
        );
        // A default namespace declared on the envelope is the element's namespace too.
        assert_eq!(
            payload(
                r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body><r/></Body></Envelope>"#
            )
            .as_deref(),
            Some(r#"<r xmlns="http://www.w3.org/2003/05/soap-envelope"/>"#)
        );
        // Declarations on the Body win over the Envelope's; the element's own win over both;
        // a prefix used only in an attribute is declared too; values are escaped again.
        assert_eq!(
            payload(
                r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="urn:one" xmlns:b="urn:b&amp;c" xmlns:c="urn:unused"><s:Body xmlns:a="urn:two"><a:r b:x="1" xmlns:d="urn:d"><d:t/></a:r></s:Body></s:Envelope>"#
            )
            .as_deref(),
            Some(r#"<a:r xmlns:a="urn:two" xmlns:b="urn:b&amp;c" b:x="1" xmlns:d="urn:d"><d:t/></a:r>"#)
        );
        // An empty Body has no payload.
        assert_eq!(
            payload(
                r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#
            ),
            None
        );
    }

    #[test]
    fn a_soap_payload_is_refused_as_the_request_would_be() {
        for bad in [
            "<r/>",
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/><b/></s:Body></s:Envelope>"#,
            "<s:Envelope",
        ] {
            assert!(
                soap_payload(bad.as_bytes(), XmlLimits::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_strings_split_as_form_urlencoded_does() {
        for q in [
            "target=CRM&target=Billing",
            "a=1&&b=&c&=d&e==f&",
            "&&",
            "x=a+b&y=%41%42&z=caf%C3%A9",
            "name=żółw&k",
        ] {
            let ours = parse_query(q).unwrap();
            let theirs: Vec<_> = form_urlencoded::parse(q.as_bytes()).collect();
            assert_eq!(ours, theirs, "{q}");
        }
        assert!(parse_query("a=%FF").is_err());
    }

    #[test]
    fn media_types_fit_formats() {
        use DataFormat::*;
        let ok = [
            (Json, "application/json"),
            (Json, "application/json; charset=utf-8"),
            (Json, "application/vnd.api+json"),
            (Json, "Application/JSON; Charset=UTF-8"),
            (Json, "application/json;"),
            (Xml, "application/ATOM+XML"),
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
            (Json, ";;;"),
            (Json, "json"),
        ];
        for (f, ct) in refused {
            let err = check_media_type(f, Some(ct)).unwrap_err();
            assert_eq!(err.status().as_u16(), 415, "{f:?} {ct}");
        }
    }
}
