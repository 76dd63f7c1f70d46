//! The generated WSDL against the rules of WS-I Basic Profile 1.1 that apply to a
//! document/literal description, read from the document as XML with its namespaces resolved,
//! the way a strict toolkit (wsimport, svcutil, suds) reads it. Each rule broken is reported with
//! its number and what broke it.
//!
//! Basic Profile 1.1 speaks of the SOAP 1.1 binding only; the same rules are checked on the
//! SOAP 1.2 binding, as Basic Profile 2.0 states them for SOAP 1.2.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use zato_core::describe::{SOAP_ERROR_NAMESPACE, soap_namespace, wsdl_document};
use zato_core::{Platform, Request, ServiceError, ServiceInfo};
use zato_macros::{SimpleIo, service};

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const SOAP11_BINDING: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const SOAP_OVER_HTTP: &str = "http://schemas.xmlsoap.org/soap/http";

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Order {
    /// The customer, as <their> CRM names them.
    customer: String,
    #[sio(min_items = 1, max_items = 10)]
    line: Vec<Line>,
    note: Option<String>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Line {
    sku: String,
    qty: u32,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Placed {
    id: i64,
    lines: Vec<Line>,
    due: Option<chrono::NaiveDate>,
}

/// Places an order; its input and output have lists, nested objects and optional elements.
#[service(name = "shop.order.place", crate = "zato_core")]
async fn place(req: Request<Order>) -> Result<Placed, ServiceError> {
    let _ = req.input;
    Ok(Placed {
        id: 1,
        lines: Vec::new(),
        due: None,
    })
}

/// Takes nothing and answers with an empty body.
#[service(name = "shop.ping", crate = "zato_core")]
async fn ping(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

/// One element of the document: its expanded name, its attributes as written, the namespace
/// bindings in scope (the default one under ""), and its child elements.
#[derive(Debug, Clone)]
struct Node {
    ns: String,
    name: String,
    attrs: BTreeMap<String, String>,
    scope: BTreeMap<String, String>,
    children: Vec<Node>,
}

impl Node {
    fn open(e: &BytesStart<'_>, parent: Option<&Node>) -> Node {
        let mut scope = parent.map(|p| p.scope.clone()).unwrap_or_default();
        let mut attrs = BTreeMap::new();
        for attr in e.attributes() {
            let attr = attr.unwrap();
            let key = String::from_utf8(attr.key.as_ref().to_vec()).unwrap();
            let value = attr.unescape_value().unwrap().into_owned();
            if key == "xmlns" {
                scope.insert(String::new(), value);
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                scope.insert(prefix.to_owned(), value);
            } else {
                attrs.insert(key, value);
            }
        }
        let raw = std::str::from_utf8(e.name().as_ref()).unwrap().to_owned();
        let (prefix, name) = raw.split_once(':').unwrap_or(("", &raw));
        Node {
            ns: scope.get(prefix).cloned().unwrap_or_default(),
            name: name.to_owned(),
            attrs,
            scope,
            children: Vec::new(),
        }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// The children in namespace `ns` named `name`.
    fn all<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.ns == ns && c.name == name)
    }

    /// A QName in an attribute's value, resolved here: (namespace, local name). An unbound
    /// prefix resolves to no namespace, named as such.
    fn qname(&self, value: &str) -> (String, String) {
        let (prefix, local) = value.split_once(':').unwrap_or(("", value));
        let ns = self.scope.get(prefix).cloned().unwrap_or_else(|| {
            if prefix.is_empty() {
                String::new()
            } else {
                format!("<unbound prefix {prefix}>")
            }
        });
        (ns, local.to_owned())
    }
}

fn parse(doc: &str) -> Node {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(Node::open(&e, stack.last())),
            Event::Empty(e) => {
                let node = Node::open(&e, stack.last());
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let node = stack.pop().unwrap();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.unwrap()
}

/// Every rule of WS-I Basic Profile 1.1 for a document/literal description that `doc` breaks,
/// one line each, naming the rule.
fn ws_i_violations(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let defs = parse(doc);
    assert_eq!(
        (defs.ns.as_str(), defs.name.as_str()),
        (WSDL, "definitions"),
        "not a WSDL 1.1 document"
    );
    let tns = defs.attr("targetNamespace").unwrap_or_default().to_owned();

    // The global elements the schemas declare, by expanded name.
    let mut elements = BTreeSet::new();
    let mut schemas = 0;
    for types in defs.all(WSDL, "types") {
        for schema in types.all(XSD, "schema") {
            schemas += 1;
            match schema.attr("targetNamespace") {
                Some(ns) if !ns.is_empty() => {
                    for e in schema.all(XSD, "element") {
                        elements.insert((ns.to_owned(), e.attr("name").unwrap().to_owned()));
                    }
                }
                _ => out.push(format!(
                    "R2105: an xsd:schema in wsdl:types has no targetNamespace (it declares {:?})",
                    schema
                        .all(XSD, "element")
                        .filter_map(|e| e.attr("name"))
                        .collect::<Vec<_>>()
                )),
            }
        }
    }
    if schemas == 0 {
        out.push("the WSDL declares no xsd:schema in wsdl:types".to_owned());
    }

    // Each message's parts: (name, element QName resolved, whether it names a type instead).
    let mut messages = BTreeMap::new();
    for message in defs.all(WSDL, "message") {
        let name = message.attr("name").unwrap().to_owned();
        let mut parts = Vec::new();
        for part in message.all(WSDL, "part") {
            let part_name = part.attr("name").unwrap_or_default().to_owned();
            if part.attr("type").is_some() {
                out.push(format!(
                    "R2204/R2205: part `{part_name}` of message `{name}` names a type, not an element"
                ));
            }
            match part.attr("element") {
                Some(qname) => {
                    let resolved = part.qname(qname);
                    // R2101/R2102: a QName names something this document defines (no imports).
                    if !elements.contains(&resolved) {
                        out.push(format!(
                            "R2101/R2102: part `{part_name}` of message `{name}` names element \
                             `{qname}`, {{{}}}{}, which no schema in the WSDL declares (schemas \
                             declare {elements:?})",
                            resolved.0, resolved.1
                        ));
                    }
                }
                None => out.push(format!(
                    "R2204/R2205: part `{part_name}` of message `{name}` has no element attribute"
                )),
            }
            parts.push(part_name);
        }
        messages.insert((tns.clone(), name), parts);
    }

    // The messages of each operation of each port type: input, output, and faults by name.
    let mut port_types = BTreeMap::new();
    for pt in defs.all(WSDL, "portType") {
        let mut ops = BTreeMap::new();
        for op in pt.all(WSDL, "operation") {
            let mut io = BTreeMap::new();
            for (kind, node) in ["input", "output", "fault"]
                .into_iter()
                .flat_map(|k| op.all(WSDL, k).map(move |n| (k, n)))
            {
                let message = node.qname(node.attr("message").unwrap_or_default());
                if !messages.contains_key(&message) {
                    out.push(format!(
                        "R2101: the {kind} of operation `{}` names message {message:?}, which the \
                         WSDL does not define",
                        op.attr("name").unwrap_or_default()
                    ));
                }
                let key = match kind {
                    "fault" => format!("fault:{}", node.attr("name").unwrap_or_default()),
                    _ => kind.to_owned(),
                };
                io.insert(key, message);
            }
            ops.insert(op.attr("name").unwrap_or_default().to_owned(), io);
        }
        port_types.insert((tns.clone(), pt.attr("name").unwrap().to_owned()), ops);
    }

    let mut bindings = 0;
    for binding in defs.all(WSDL, "binding") {
        bindings += 1;
        let bname = binding.attr("name").unwrap_or_default();
        let soap_ns = [SOAP11_BINDING, SOAP12_BINDING]
            .into_iter()
            .find(|ns| binding.all(ns, "binding").next().is_some());
        let Some(soap_ns) = soap_ns else {
            out.push(format!(
                "R2701: binding `{bname}` has no soap:binding (nor soap12:binding)"
            ));
            continue;
        };
        let soap_binding = binding.all(soap_ns, "binding").next().unwrap();
        if soap_binding.attr("style") != Some("document") {
            out.push(format!(
                "R2705: binding `{bname}` has style {:?}; this description is document/literal",
                soap_binding.attr("style")
            ));
        }
        if soap_binding.attr("transport") != Some(SOAP_OVER_HTTP) {
            out.push(format!(
                "R2702: binding `{bname}` has transport {:?}, not SOAP over HTTP ({SOAP_OVER_HTTP})",
                soap_binding.attr("transport")
            ));
        }
        let pt = binding.qname(binding.attr("type").unwrap_or_default());
        let Some(ops) = port_types.get(&pt) else {
            out.push(format!(
                "R2101: binding `{bname}` is of port type {pt:?}, which the WSDL does not define"
            ));
            continue;
        };
        for op in binding.all(WSDL, "operation") {
            let op_name = op.attr("name").unwrap_or_default();
            let Some(io) = ops.get(op_name) else {
                out.push(format!(
                    "R2718: binding `{bname}` binds operation `{op_name}`, not in its port type"
                ));
                continue;
            };
            for soap_op in op.all(soap_ns, "operation") {
                if let Some(style) = soap_op.attr("style")
                    && style != "document"
                {
                    out.push(format!(
                        "R2705: operation `{op_name}` of binding `{bname}` has style `{style}`"
                    ));
                }
            }
            for kind in ["input", "output", "fault"] {
                for node in op.all(WSDL, kind) {
                    let (soap_el, key) = match kind {
                        "fault" => {
                            let name = node.attr("name").unwrap_or_default();
                            ("fault", format!("fault:{name}"))
                        }
                        _ => ("body", kind.to_owned()),
                    };
                    let at = format!("the {kind} of operation `{op_name}` of binding `{bname}`");
                    let Some(soap) = node.all(soap_ns, soap_el).next() else {
                        out.push(format!("R2701: {at} has no soap {soap_el}"));
                        continue;
                    };
                    if soap.attr("use") != Some("literal") {
                        out.push(format!(
                            "R2706: {at}: soap:{soap_el} has use {:?}, not \"literal\"",
                            soap.attr("use")
                        ));
                    }
                    if let Some(ns) = soap.attr("namespace") {
                        out.push(format!(
                            "R2716: {at}: soap:{soap_el} of a document-literal binding has a \
                             namespace attribute ({ns})"
                        ));
                    }
                    if kind == "fault" && soap.attr("name") != node.attr("name") {
                        out.push(format!(
                            "R2754: {at}: soap:fault is named {:?}, the wsdl:fault {:?}",
                            soap.attr("name"),
                            node.attr("name")
                        ));
                    }
                    let Some(parts) = io.get(&key).and_then(|m| messages.get(m)) else {
                        out.push(format!("R2101: {at} has no message in the port type"));
                        continue;
                    };
                    match soap.attr("parts") {
                        Some(listed) if listed.split_whitespace().count() > 1 => out.push(format!(
                            "R2201: {at}: soap:body lists more than one part ({listed})"
                        )),
                        None if parts.len() > 1 => out.push(format!(
                            "R2210: {at}: soap:{soap_el} lists no parts and its message has {} \
                             ({parts:?}); at most one may be in the body",
                            parts.len()
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    if bindings == 0 {
        out.push("the WSDL has no wsdl:binding".to_owned());
    }
    out
}

fn services() -> Vec<ServiceInfo> {
    let platform = Platform::new();
    platform.services().deploy(place).unwrap();
    platform.services().deploy(ping).unwrap();
    platform.services().list()
}

#[test]
fn the_generated_wsdl_keeps_the_document_literal_rules_of_ws_i_basic_profile() {
    for info in services() {
        let doc = wsdl_document(
            &format!("{}.soap", info.name),
            &info,
            "http://127.0.0.1:11223/soap",
        );
        let broken = ws_i_violations(&doc);
        assert!(
            broken.is_empty(),
            "{}: the WSDL breaks WS-I Basic Profile 1.1:\n  {}\n{doc}",
            info.name,
            broken.join("\n  ")
        );

        // The schema's target namespace is the service's, the WSDL's own.
        let defs = parse(&doc);
        let tns = soap_namespace(info.name);
        assert_eq!(defs.attr("targetNamespace"), Some(tns.as_str()));
        let schemas: Vec<_> = defs
            .all(WSDL, "types")
            .flat_map(|t| t.all(XSD, "schema"))
            .map(|s| {
                (
                    s.attr("targetNamespace").unwrap_or_default(),
                    s.attr("elementFormDefault").unwrap_or_default(),
                    s.all(XSD, "element")
                        .filter_map(|e| e.attr("name"))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            schemas,
            [
                (tns.as_str(), "qualified", vec!["request", "response"]),
                (SOAP_ERROR_NAMESPACE, "qualified", vec!["error"]),
            ],
            "{doc}"
        );
    }
}

/// The check is no formality: the WSDL as it was generated before (a schema without a target
/// namespace, parts naming their elements unprefixed) is refused, by the rules that name why.
#[test]
fn a_schema_without_a_target_namespace_breaks_the_rules() {
    let info = services().into_iter().next().unwrap();
    let doc = wsdl_document("shop.soap", &info, "http://127.0.0.1:11223/soap");
    let before = doc
        .replace(
            &format!(
                r#"targetNamespace="{}" elementFormDefault"#,
                soap_namespace(info.name)
            ),
            "elementFormDefault",
        )
        .replace(r#"element="tns:"#, r#"element=""#);
    assert_ne!(before, doc);
    let broken = ws_i_violations(&before);
    assert!(
        broken.iter().any(|b| b.starts_with("R2105:")),
        "{broken:#?}"
    );
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("R2101/R2102:") && b.contains("`request`")),
        "{broken:#?}"
    );

    // An rpc-style, encoded binding with a namespace on its body, and a part naming a type.
    let rpc = doc
        .replacen(
            r#"style="document" transport"#,
            r#"style="rpc" transport"#,
            1,
        )
        .replacen(
            r#"<soap:body use="literal"/>"#,
            r#"<soap:body use="encoded" namespace="urn:x"/>"#,
            1,
        )
        .replacen(r#"element="tns:request""#, r#"type="xsd:string""#, 1);
    let broken = ws_i_violations(&rpc);
    for rule in ["R2705:", "R2706:", "R2716:", "R2204/R2205:"] {
        assert!(
            broken.iter().any(|b| b.starts_with(rule)),
            "{rule} {broken:#?}"
        );
    }
}
