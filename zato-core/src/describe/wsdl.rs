//! WSDL 1.1, document/literal, for a SOAP endpoint: its types as XML Schema from the service's
//! SimpleIO description, one operation with a SOAP 1.1 and a SOAP 1.2 binding, and a fault
//! message for the SOAP Faults the channel answers with.

use std::fmt::Write as _;

use crate::registry::ServiceInfo;
use crate::sio::{ElementDesc, TypeDesc};

/// Text escaped for an XML attribute or text node.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// How XML Schema states an element of a SimpleIO type.
enum Xsd<'a> {
    /// An element of a built-in simple type.
    Simple(&'static str),
    /// The element repeated, once per item.
    Repeated {
        item: &'a TypeDesc,
        min_items: usize,
        max_items: Option<usize>,
    },
    /// An element of a complex type, a sequence of these elements.
    Sequence(&'a [ElementDesc]),
}

fn xsd(ty: &TypeDesc) -> Xsd<'_> {
    match ty {
        // A text rule's pattern is written for JSON Schema, whose dialect XML Schema's is not:
        // the type is stated as text, and the rule is checked when the value is decoded.
        TypeDesc::Text | TypeDesc::CheckedText(_) => Xsd::Simple("xsd:string"),
        TypeDesc::Integer => Xsd::Simple("xsd:long"),
        TypeDesc::UnsignedInteger => Xsd::Simple("xsd:unsignedLong"),
        TypeDesc::Float => Xsd::Simple("xsd:double"),
        TypeDesc::Boolean => Xsd::Simple("xsd:boolean"),
        TypeDesc::DecimalNumber => Xsd::Simple("xsd:decimal"),
        TypeDesc::Date => Xsd::Simple("xsd:date"),
        TypeDesc::Timestamp => Xsd::Simple("xsd:dateTime"),
        TypeDesc::UuidText | TypeDesc::CsvList | TypeDesc::SecretText => Xsd::Simple("xsd:string"),
        TypeDesc::AnyValue => Xsd::Simple("xsd:anyType"),
        TypeDesc::List {
            item,
            min_items,
            max_items,
        } => Xsd::Repeated {
            item,
            min_items: *min_items,
            max_items: *max_items,
        },
        TypeDesc::Object(elements) => Xsd::Sequence(elements),
    }
}

/// The XML Schema type of an element of type `ty`: `xsd:long`, `xsd:dateTime`, … `None` for a
/// list (its item's element, repeated) and a nested object (a complex type of its own).
pub fn xsd_type(ty: &TypeDesc) -> Option<&'static str> {
    match xsd(ty) {
        Xsd::Simple(name) => Some(name),
        Xsd::Repeated { .. } | Xsd::Sequence(_) => None,
    }
}

/// One `<xsd:element>` for `e`, nested objects inline.
fn element(out: &mut String, e: &ElementDesc, indent: usize, in_reply: bool) {
    let pad = " ".repeat(indent);
    let (ty, min, max) = match xsd(&e.ty) {
        // A list is its items repeated, and an empty one no element at all. A reply is written
        // as the service made it: any number. A request holds its field's bounds, and a required
        // list at least one item, since none is the same as a missing list.
        Xsd::Repeated {
            item,
            min_items,
            max_items,
        } => {
            let min = if in_reply || !e.required {
                0
            } else {
                min_items.max(1)
            };
            let max = match max_items {
                Some(max) if !in_reply => max.to_string(),
                _ => "unbounded".to_owned(),
            };
            (xsd(item), min, max)
        }
        one => (one, usize::from(e.required), "1".to_owned()),
    };
    // Unset optional elements of a reply are written `xsi:nil="true"`.
    let nillable = if in_reply && !e.required {
        " nillable=\"true\""
    } else {
        ""
    };
    // XML Schema takes a default on a simple type only, as text.
    let default = match (xsd(&e.ty), e.default.as_deref()) {
        (Xsd::Simple(_), Some(json)) => match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::String(text)) => format!(" default=\"{}\"", esc(&text)),
            Ok(serde_json::Value::Null) | Err(_) => String::new(),
            Ok(other) => format!(" default=\"{}\"", esc(&other.to_string())),
        },
        _ => String::new(),
    };
    let doc = e.description.map(|d| {
        format!(
            "{pad}  <xsd:annotation><xsd:documentation>{}</xsd:documentation></xsd:annotation>\n",
            esc(d)
        )
    });
    match ty {
        Xsd::Sequence(children) => {
            let _ = writeln!(
                out,
                "{pad}<xsd:element name=\"{}\" minOccurs=\"{min}\" maxOccurs=\"{max}\"{nillable}>",
                esc(e.name)
            );
            if let Some(d) = &doc {
                out.push_str(d);
            }
            let _ = writeln!(out, "{pad}  <xsd:complexType><xsd:sequence>");
            for c in children {
                element(out, c, indent + 4, in_reply);
            }
            let _ = writeln!(out, "{pad}  </xsd:sequence></xsd:complexType>");
            let _ = writeln!(out, "{pad}</xsd:element>");
        }
        Xsd::Simple(xsd) => match &doc {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "{pad}<xsd:element name=\"{}\" type=\"{xsd}\" minOccurs=\"{min}\" maxOccurs=\"{max}\"{nillable}{default}>\n{d}{pad}</xsd:element>",
                    esc(e.name),
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{pad}<xsd:element name=\"{}\" type=\"{xsd}\" minOccurs=\"{min}\" maxOccurs=\"{max}\"{nillable}{default}/>",
                    esc(e.name),
                );
            }
        },
        Xsd::Repeated { .. } => {
            // A list of lists has no XML form in SimpleIO: any content.
            let _ = writeln!(
                out,
                "{pad}<xsd:element name=\"{}\" type=\"xsd:anyType\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>",
                esc(e.name)
            );
        }
    }
}

/// The namespace of the service `service` in SOAP: the target namespace of its WSDL and of the
/// XML Schema in it, and so the namespace of its `request` and `response` elements and of their
/// children, as `urn:zato:<service>`.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     zato_core::describe::soap_namespace("invoice.dispatcher"),
///     "urn:zato:invoice.dispatcher"
/// );
/// ```
pub fn soap_namespace(service: &str) -> String {
    format!("urn:zato:{service}")
}

/// The namespace of the `error` element in the detail of every SOAP Fault the platform answers
/// with, whichever service (or none) the call was for. It is outside `urn:zato:`, where the
/// services' namespaces are, so no service's name can make its namespace this one.
pub const SOAP_ERROR_NAMESPACE: &str = "urn:zato-rs:error";

/// The WSDL of the SOAP endpoint `channel` (a channel's name) invoking `service`, reached at
/// `location`.
///
/// Every schema in it has a target namespace and every message part names its element by a
/// qualified name, as WS-I Basic Profile 1.1 asks (R2105, R2204, R2210). The request element is
/// `request` and the reply's `response`, in the service's [`soap_namespace`], their children
/// qualified, as the SOAP channel writes its replies (a request is read by local names, so a
/// caller may qualify its elements or not). The fault detail is the platform's `error` element,
/// in [`SOAP_ERROR_NAMESPACE`].
pub fn wsdl_document(channel: &str, service: &ServiceInfo, location: &str) -> String {
    let tns = esc(&soap_namespace(service.name));
    let mut types = String::new();
    let _ = writeln!(
        types,
        "    <xsd:schema targetNamespace=\"{tns}\" elementFormDefault=\"qualified\">"
    );
    for (root, elements, in_reply) in [
        ("request", &service.input, false),
        ("response", &service.output, true),
    ] {
        let _ = writeln!(types, "      <xsd:element name=\"{root}\">");
        let _ = writeln!(types, "        <xsd:complexType><xsd:sequence>");
        for e in elements {
            element(&mut types, e, 10, in_reply);
        }
        let _ = writeln!(types, "        </xsd:sequence></xsd:complexType>");
        let _ = writeln!(types, "      </xsd:element>");
    }
    let _ = writeln!(types, "    </xsd:schema>");
    let _ = writeln!(
        types,
        "    <xsd:schema targetNamespace=\"{SOAP_ERROR_NAMESPACE}\" elementFormDefault=\"qualified\">"
    );
    types.push_str(
        r#"      <xsd:element name="error">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="cid" type="xsd:string"/>
          <xsd:element name="status" type="xsd:int"/>
          <xsd:element name="code" type="xsd:string"/>
          <xsd:element name="message" type="xsd:string"/>
          <xsd:any minOccurs="0" maxOccurs="unbounded" processContents="skip"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
"#,
    );
    let op = esc(service.name);
    let name = esc(channel);
    let location = esc(location);
    let binding = |prefix: &str, suffix: &str| {
        format!(
            r#"  <wsdl:binding name="{name}{suffix}" type="tns:{name}.PortType">
    <{prefix}:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="{op}">
      <{prefix}:operation soapAction="" style="document"/>
      <wsdl:input><{prefix}:body use="literal"/></wsdl:input>
      <wsdl:output><{prefix}:body use="literal"/></wsdl:output>
      <wsdl:fault name="error"><{prefix}:fault name="error" use="literal"/></wsdl:fault>
    </wsdl:operation>
  </wsdl:binding>
"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="{name}" targetNamespace="{tns}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{tns}"
    xmlns:err="{SOAP_ERROR_NAMESPACE}">
  <wsdl:types>
{types}  </wsdl:types>
  <wsdl:message name="{op}.Request"><wsdl:part name="parameters" element="tns:request"/></wsdl:message>
  <wsdl:message name="{op}.Response"><wsdl:part name="parameters" element="tns:response"/></wsdl:message>
  <wsdl:message name="{op}.Fault"><wsdl:part name="error" element="err:error"/></wsdl:message>
  <wsdl:portType name="{name}.PortType">
    <wsdl:operation name="{op}">
      <wsdl:input message="tns:{op}.Request"/>
      <wsdl:output message="tns:{op}.Response"/>
      <wsdl:fault name="error" message="tns:{op}.Fault"/>
    </wsdl:operation>
  </wsdl:portType>
{b11}{b12}  <wsdl:service name="{name}">
    <wsdl:port name="{name}.Soap11" binding="tns:{name}.Soap11"><soap:address location="{location}"/></wsdl:port>
    <wsdl:port name="{name}.Soap12" binding="tns:{name}.Soap12"><soap12:address location="{location}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"#,
        b11 = binding("soap", ".Soap11"),
        b12 = binding("soap12", ".Soap12"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_lists_defaults_and_descriptions_become_xml_schema() {
        let mut out = String::new();
        let e = ElementDesc {
            name: "attempts",
            ty: TypeDesc::Integer,
            required: false,
            description: Some("How many <times>"),
            default: Some("5".to_owned()),
        };
        element(&mut out, &e, 0, false);
        assert!(
            out.contains(
                r#"name="attempts" type="xsd:long" minOccurs="0" maxOccurs="1" default="5""#
            ),
            "{out}"
        );
        assert!(out.contains("How many &lt;times&gt;"), "{out}");
        let mut out = String::new();
        let list = ElementDesc {
            name: "target",
            ty: TypeDesc::list(TypeDesc::Text),
            required: true,
            description: None,
            default: None,
        };
        // A required list is one item at least in a request: none is a missing list.
        element(&mut out, &list, 0, false);
        assert!(
            out.contains(r#"type="xsd:string" minOccurs="1" maxOccurs="unbounded""#),
            "{out}"
        );
        // In a reply, an empty list is written as no element at all.
        let mut out = String::new();
        element(&mut out, &list, 0, true);
        assert!(
            out.contains(r#"type="xsd:string" minOccurs="0" maxOccurs="unbounded""#),
            "{out}"
        );
    }

    fn occurs(e: &ElementDesc, in_reply: bool) -> String {
        let mut out = String::new();
        element(&mut out, e, 0, in_reply);
        let at = out.find("minOccurs").expect("minOccurs");
        let end = out[at..]
            .find(" nillable")
            .or(out[at..].find("/>"))
            .expect("end");
        out[at..at + end].trim().to_owned()
    }

    #[test]
    fn a_list_holds_its_fields_bounds_in_requests() {
        let list = |required: bool, min, max| {
            ElementDesc {
                name: "target",
                ty: TypeDesc::list(TypeDesc::Text),
                required,
                description: None,
                default: None,
            }
            .with_list_bounds(min, max)
        };
        let cases = [
            (true, Some(2), Some(5), r#"minOccurs="2" maxOccurs="5""#),
            (
                true,
                Some(3),
                None,
                r#"minOccurs="3" maxOccurs="unbounded""#,
            ),
            (true, None, Some(4), r#"minOccurs="1" maxOccurs="4""#),
            // Optional: left out is fine, whatever it holds when sent.
            (false, Some(2), Some(5), r#"minOccurs="0" maxOccurs="5""#),
        ];
        for (required, min, max, expected) in cases {
            assert_eq!(
                occurs(&list(required, min, max), false),
                expected,
                "{required} {min:?} {max:?}"
            );
            assert_eq!(
                occurs(&list(required, min, max), true),
                r#"minOccurs="0" maxOccurs="unbounded""#,
                "a reply: {required} {min:?} {max:?}"
            );
        }
        // A list of objects too.
        let objects = ElementDesc {
            name: "line",
            ty: TypeDesc::list(TypeDesc::Object(Vec::new())),
            required: true,
            description: None,
            default: None,
        }
        .with_list_bounds(Some(2), None);
        let mut out = String::new();
        element(&mut out, &objects, 0, false);
        assert!(
            out.contains(r#"name="line" minOccurs="2" maxOccurs="unbounded">"#),
            "{out}"
        );
    }
}
