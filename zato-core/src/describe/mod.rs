//! API descriptions generated from SimpleIO: an OpenAPI 3.1 document for the operations that
//! invoke services with JSON, XML or form bodies, and a WSDL 1.1 document for a SOAP endpoint.
//!
//! Both are generated from the services' [`ServiceInfo`](crate::ServiceInfo) (their SimpleIO
//! [`ElementDesc`](crate::sio::ElementDesc)s), so they are always in step with the code. They
//! take transport-neutral input: a channel adapter turns its channels into [`Operation`]s and
//! [`SecurityScheme`]s, or an endpoint's address, and serves the document.
//!
//! Each describer matches [`TypeDesc`](crate::sio::TypeDesc) exhaustively: a new element type
//! does not compile until both say how to state it.
//!
//! # Examples
//!
//! ```
//! use zato_core::describe::{Operation, openapi_document, wsdl_document};
//! use zato_core::{DataFormat, Platform, Request, Response, Service, ServiceError, Context};
//! use zato_macros::SimpleIo; // `zato::prelude` re-exports it
//!
//! #[derive(SimpleIo)]
//! #[sio(crate = "zato_core")]
//! struct Dispatch {
//!     #[sio(min_items = 1)]
//!     target: Vec<String>,
//! }
//!
//! struct Dispatcher;
//!
//! impl Service for Dispatcher {
//!     const NAME: &'static str = "invoice.dispatcher";
//!     type Input = Dispatch;
//!     type Output = ();
//!
//!     async fn handle(&self, _: Request<Dispatch>, _: &Context) -> Result<Response<()>, ServiceError> {
//!         Ok(Response::new(()))
//!     }
//! }
//!
//! let platform = Platform::new();
//! platform.services().deploy(Dispatcher).unwrap();
//! let services = platform.services().list();
//!
//! let dispatch = Operation {
//!     name: "invoice.dispatcher",
//!     path: "/invoice.dispatcher",
//!     methods: vec![http::Method::POST],
//!     service: &services[0],
//!     format: DataFormat::Json,
//!     security: None,
//! };
//! let doc = openapi_document("My node", "1", &[dispatch], &[]);
//! let target = &doc["components"]["schemas"]["invoice.dispatcher.Input"]["properties"]["target"];
//! assert_eq!(target["minItems"], 1);
//!
//! let wsdl = wsdl_document("dispatch", &services[0], "http://localhost:11223/soap");
//! assert!(wsdl.contains(r#"<xsd:element name="target" type="xsd:string" minOccurs="1""#));
//! ```

mod openapi;
mod wsdl;

pub use openapi::{Operation, SecurityScheme, openapi_document, type_schema};
pub use wsdl::{SOAP_ERROR_NAMESPACE, soap_namespace, wsdl_document, xsd_type};

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::sio::{TextRule, TypeDesc};

    const CODE: TextRule = TextRule {
        name: "currency code",
        min_length: 3,
        max_length: Some(3),
        pattern: Some("^[A-Z]{3}$"),
    };

    /// What each element type is described as: its JSON Schema and its XML Schema type. The
    /// match has no catch-all, like the describers': a new type is not built until it is here.
    fn expected(ty: &TypeDesc) -> (Value, Option<&'static str>) {
        match ty {
            TypeDesc::Text => (json!({"type": "string"}), Some("xsd:string")),
            TypeDesc::CheckedText(_) => (
                json!({"type": "string", "minLength": 3, "maxLength": 3, "pattern": "^[A-Z]{3}$"}),
                Some("xsd:string"),
            ),
            TypeDesc::Integer => (
                json!({"type": "integer", "format": "int64"}),
                Some("xsd:long"),
            ),
            TypeDesc::UnsignedInteger => (
                json!({"type": "integer", "format": "int64", "minimum": 0}),
                Some("xsd:unsignedLong"),
            ),
            TypeDesc::Float => (
                json!({"type": "number", "format": "double"}),
                Some("xsd:double"),
            ),
            TypeDesc::Boolean => (json!({"type": "boolean"}), Some("xsd:boolean")),
            TypeDesc::DecimalNumber => (
                json!({"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}),
                Some("xsd:decimal"),
            ),
            TypeDesc::Date => (
                json!({"type": "string", "format": "date"}),
                Some("xsd:date"),
            ),
            TypeDesc::Timestamp => (
                json!({"type": "string", "format": "date-time"}),
                Some("xsd:dateTime"),
            ),
            TypeDesc::UuidText => (
                json!({"type": "string", "format": "uuid"}),
                Some("xsd:string"),
            ),
            TypeDesc::CsvList => (
                json!({"type": "string", "description": "Comma-separated values"}),
                Some("xsd:string"),
            ),
            TypeDesc::SecretText => (
                json!({"type": "string", "format": "password", "writeOnly": true}),
                Some("xsd:string"),
            ),
            TypeDesc::AnyValue => (json!({}), Some("xsd:anyType")),
            // Repeated elements and complex types in XML Schema, no one type.
            TypeDesc::List { .. } => (
                json!({"type": "array", "items": {"type": "boolean"}, "minItems": 2}),
                None,
            ),
            TypeDesc::Object(_) => (
                json!({"type": "object", "properties": {"n": {"type": "integer", "format": "int64"}}}),
                None,
            ),
        }
    }

    /// One of each element type.
    fn every_type() -> Vec<TypeDesc> {
        let n = crate::__private::element::<i64>("n", false);
        vec![
            TypeDesc::Text,
            TypeDesc::CheckedText(CODE),
            TypeDesc::Integer,
            TypeDesc::UnsignedInteger,
            TypeDesc::Float,
            TypeDesc::Boolean,
            TypeDesc::DecimalNumber,
            TypeDesc::Date,
            TypeDesc::Timestamp,
            TypeDesc::UuidText,
            TypeDesc::CsvList,
            TypeDesc::SecretText,
            TypeDesc::AnyValue,
            TypeDesc::List {
                item: Box::new(TypeDesc::Boolean),
                min_items: 2,
                max_items: None,
            },
            TypeDesc::Object(vec![n]),
        ]
    }

    #[test]
    fn every_element_type_is_described_with_its_json_schema_and_xml_schema_type() {
        for ty in &every_type() {
            let (schema, xsd) = expected(ty);
            assert_eq!(type_schema(ty, false), schema, "{ty:?}");
            assert_eq!(xsd_type(ty), xsd, "{ty:?}");
        }
    }

    #[test]
    fn the_types_of_one_value_are_nullable_in_replies_and_raw_is_any_value() {
        for ty in every_type() {
            let schema = type_schema(&ty, true);
            match expected(&ty).0.get("type") {
                Some(Value::String(t)) => assert_eq!(schema["type"], json!([t, "null"]), "{ty:?}"),
                // `{}` takes any value, null among them.
                _ => assert_eq!(schema, json!({}), "{ty:?}"),
            }
        }
    }
}
