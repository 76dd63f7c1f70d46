//! OpenAPI 3.1 for the operations that invoke services, generated from their SimpleIO
//! descriptions.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Map, Value, json};

use crate::registry::ServiceInfo;
use crate::sio::{DataFormat, ElementDesc, TypeDesc};

/// The error statuses every operation may answer, with the structured error body.
const ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Bad input: a missing element, a wrong type, a malformed body",
    ),
    (401, "Authentication failed"),
    (404, "No such path, or the service is not deployed"),
    (405, "The path does not take this method"),
    (413, "The body is larger than the channel takes"),
    (415, "The media type does not fit the channel's format"),
    (502, "An outgoing connection failed"),
    (
        503,
        "The channel or service is inactive, or a connection has no capacity",
    ),
    (
        504,
        "The service or an outgoing connection did not answer in time",
    ),
];

/// The JSON Schema of one SimpleIO type, as a caller sends it: a list with its field's bounds
/// (`minItems`, `maxItems`). `nullable` for optional output elements, which are written as `null`
/// when unset.
pub fn type_schema(ty: &TypeDesc, nullable: bool) -> Value {
    schema_of(ty, nullable, Bounds::Stated)
}

/// Whether a list's schema states the bounds its field declares. Only input is held to them:
/// a service's reply is written as the service made it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bounds {
    Stated,
    Left,
}

fn schema_of(ty: &TypeDesc, nullable: bool, bounds: Bounds) -> Value {
    let mut schema = match ty {
        TypeDesc::Text => json!({"type": "string"}),
        TypeDesc::CheckedText(rule) => {
            let mut text = json!({"type": "string"});
            if rule.min_length > 0 {
                text["minLength"] = json!(rule.min_length);
            }
            if let Some(max) = rule.max_length {
                text["maxLength"] = json!(max);
            }
            if let Some(pattern) = rule.pattern {
                text["pattern"] = json!(pattern);
            }
            text
        }
        TypeDesc::Integer => json!({"type": "integer", "format": "int64"}),
        TypeDesc::UnsignedInteger => json!({"type": "integer", "format": "int64", "minimum": 0}),
        TypeDesc::Float => json!({"type": "number", "format": "double"}),
        TypeDesc::Boolean => json!({"type": "boolean"}),
        // Written as text, to keep every digit.
        TypeDesc::DecimalNumber => {
            json!({"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"})
        }
        TypeDesc::Date => json!({"type": "string", "format": "date"}),
        TypeDesc::Timestamp => json!({"type": "string", "format": "date-time"}),
        TypeDesc::UuidText => json!({"type": "string", "format": "uuid"}),
        TypeDesc::CsvList => json!({"type": "string", "description": "Comma-separated values"}),
        TypeDesc::SecretText => json!({"type": "string", "format": "password", "writeOnly": true}),
        // Any JSON value, or XML, as received.
        TypeDesc::AnyValue => json!({}),
        TypeDesc::List {
            item,
            min_items,
            max_items,
        } => {
            let mut list = json!({"type": "array", "items": schema_of(item, false, bounds)});
            if bounds == Bounds::Stated {
                if *min_items > 0 {
                    list["minItems"] = json!(min_items);
                }
                if let Some(max) = max_items {
                    list["maxItems"] = json!(max);
                }
            }
            list
        }
        TypeDesc::Object(elements) => object_schema(elements, true, bounds),
    };
    if nullable
        && let Some(t) = schema.get("type").cloned()
        && let Some(t) = t.as_str()
    {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// An element's description and default, on its schema.
fn annotate(schema: &mut Value, e: &ElementDesc) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(d) = e.description {
        map.insert("description".into(), d.into());
    }
    if let Some(default) = e
        .default
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
    {
        map.insert("default".into(), default);
    }
}

/// An object of `elements`; `required` lists those a caller must send.
fn object_schema(elements: &[ElementDesc], with_required: bool, bounds: Bounds) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for e in elements {
        let mut schema = schema_of(&e.ty, false, bounds);
        annotate(&mut schema, e);
        properties.insert(e.name.to_owned(), schema);
        if e.required && with_required {
            required.push(e.name);
        }
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// The schema of a service's reply: every element, optional ones nullable.
fn output_schema(elements: &[ElementDesc]) -> Value {
    let mut properties = Map::new();
    for e in elements {
        let mut schema = schema_of(&e.ty, !e.required, Bounds::Left);
        annotate(&mut schema, e);
        properties.insert(e.name.to_owned(), schema);
    }
    let required: Vec<&str> = elements.iter().map(|e| e.name).collect();
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// The error body every channel answers with in JSON.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["cid", "status", "code", "message"],
        "properties": {
            "cid": {"type": "string", "description": "The correlation id, also in X-Zato-CID"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "invalid_input, not_found, unauthorized, …"},
            "message": {"type": "string"},
            "connection": {"type": "string", "description": "The outgoing connection that failed"},
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "elements": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "problem"],
                    "properties": {
                        "name": {"type": "string"},
                        "problem": {"type": "string", "enum": ["missing", "wrong_type", "too_many_items", "too_few_items", "duplicate_key"]},
                        "expected": {"type": "string"},
                        "got": {"type": "string"},
                        "limit": {"type": "integer"},
                        "minimum": {"type": "integer"},
                        "key": {"type": "string"}
                    }
                }
            }
        }
    })
}

/// A name usable as a component key.
fn component_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One way to invoke a service that an OpenAPI document lists: a path, its methods and the
/// format of the bodies, as a channel adapter configures them.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// What the service is reached through (a channel's name): unique among the operations, it
    /// names them in `operationId` and `summary`.
    pub name: &'a str,
    /// The path, each parameter in braces: `/invoice/{id}`. A parameter stands for the input
    /// element of the same name.
    pub path: &'a str,
    /// The methods taken at `path`, each one operation of the document.
    pub methods: Vec<Method>,
    /// The service invoked.
    pub service: &'a ServiceInfo,
    /// The format of request bodies. SOAP operations are left out: their contract is their
    /// WSDL ([`wsdl_document`](super::wsdl_document)).
    pub format: DataFormat,
    /// The [`SecurityScheme`] a caller authenticates with, by name; `None` when open.
    pub security: Option<&'a str>,
}

/// How callers of an [`Operation`] authenticate, stated in `components.securitySchemes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityScheme<'a> {
    /// HTTP Basic authentication.
    Basic {
        /// The name operations give it.
        name: &'a str,
    },
    /// An API key sent in a request header.
    ApiKey {
        /// The name operations give it.
        name: &'a str,
        /// The header carrying the key.
        header: &'a str,
    },
    /// A JSON Web Token in `Authorization: Bearer`.
    BearerJwt {
        /// The name operations give it.
        name: &'a str,
    },
    /// A TLS client certificate.
    MutualTls {
        /// The name operations give it.
        name: &'a str,
    },
}

/// The OpenAPI 3.1 document `title`, at `version`, of `operations`, whose callers authenticate
/// with `schemes`.
///
/// Each service's input and output are component schemas (`{service}.Input`, `{service}.Output`);
/// each operation lists its path parameters, every input element also as an optional query
/// parameter, the request body in its format (not for GET and DELETE), the reply and the
/// structured error body of every error status it may answer. Operations in
/// [`DataFormat::Soap`] are left out.
pub fn openapi_document(
    title: &str,
    version: &str,
    operations: &[Operation<'_>],
    schemes: &[SecurityScheme<'_>],
) -> Value {
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut security_schemes = Map::new();
    for scheme in schemes {
        let (name, scheme) = match scheme {
            SecurityScheme::Basic { name } => (name, json!({"type": "http", "scheme": "basic"})),
            SecurityScheme::ApiKey { name, header } => (
                name,
                json!({"type": "apiKey", "in": "header", "name": header}),
            ),
            SecurityScheme::BearerJwt { name } => (
                name,
                json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
            ),
            SecurityScheme::MutualTls { name } => (name, json!({"type": "mutualTLS"})),
        };
        security_schemes.insert(component_name(name), scheme);
    }
    for op in operations {
        let (media, reply_media) = match op.format {
            DataFormat::Json => ("application/json", "application/json"),
            DataFormat::Xml => ("application/xml", "application/xml"),
            DataFormat::Form => ("application/x-www-form-urlencoded", "application/json"),
            DataFormat::Soap => continue,
        };
        let (name, url_path, info) = (op.name, op.path, op.service);
        let service = info.name;
        let input_name = component_name(&format!("{service}.Input"));
        let output_name = component_name(&format!("{service}.Output"));
        schemas.insert(
            input_name.clone(),
            object_schema(&info.input, true, Bounds::Stated),
        );
        schemas.insert(output_name.clone(), output_schema(&info.output));

        let path_params: Vec<&str> = url_path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let mut parameters: Vec<Value> = path_params
            .iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        // An element may come from the query string instead of the body: each is listed there,
        // optional, with the schema it has in the body (a list sent there holds its bounds too).
        for e in info.input.iter().filter(|e| !path_params.contains(&e.name)) {
            let mut schema = type_schema(&e.ty, false);
            if let Some(default) = e
                .default
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
            {
                schema["default"] = default;
            }
            let mut p = json!({"name": e.name, "in": "query", "required": false, "schema": schema});
            if matches!(e.ty, TypeDesc::List { .. }) {
                p["style"] = "form".into();
                p["explode"] = true.into();
            }
            if let Some(d) = e.description {
                p["description"] = d.into();
            }
            parameters.push(p);
        }
        // The body schema lists every element with its required flag, so a body is required
        // when one of them is (and no path parameter is it): that is the request the document
        // describes. The query string may stand in for the body's elements, which OpenAPI cannot
        // tie to the body's `required`.
        let body_required = info
            .input
            .iter()
            .any(|e| e.required && !path_params.contains(&e.name));
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "The service's reply",
                   "content": {reply_media: {"schema": {"$ref": format!("#/components/schemas/{output_name}")}}}}),
        );
        for (status, why) in ERRORS {
            if *status == 401 && op.security.is_none() {
                continue;
            }
            responses.insert(
                status.to_string(),
                json!({"description": why,
                       "content": {reply_media: {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let item = paths.entry(url_path.to_owned()).or_default();
        for method in &op.methods {
            let method = method.as_str().to_ascii_lowercase();
            let mut entry = json!({
                "operationId": component_name(&format!("{name}.{method}")),
                "summary": format!("{service}, through channel {name}"),
                "parameters": parameters,
                "responses": responses,
            });
            if method != "get" && method != "delete" {
                entry["requestBody"] = json!({
                    "required": body_required,
                    "content": {media: {"schema": {"$ref": format!("#/components/schemas/{input_name}")}}}
                });
            }
            if let Some(sec) = op.security {
                entry["security"] = json!([{component_name(sec): []}]);
            }
            item.insert(method, entry);
        }
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    if !security_schemes.is_empty() {
        doc["components"]["securitySchemes"] = Value::Object(security_schemes);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation at `path` taking POST, in JSON, open to anyone.
    fn post<'a>(path: &'a str, service: &'a ServiceInfo) -> Operation<'a> {
        Operation {
            name: "c",
            path,
            methods: vec![Method::POST],
            service,
            format: DataFormat::Json,
            security: None,
        }
    }

    fn element(name: &'static str, ty: TypeDesc, required: bool) -> ElementDesc {
        ElementDesc {
            name,
            ty,
            required,
            description: None,
            default: None,
        }
    }

    #[test]
    fn elements_carry_their_type_format_description_and_default() {
        let attempts = element("attempts", TypeDesc::UnsignedInteger, false)
            .with_description(Some("How many times"))
            .with_default(Some("5".to_owned()));
        let when = element("when", TypeDesc::Timestamp, true);
        let tags = element("tags", TypeDesc::list(TypeDesc::Text), true);
        let schema = object_schema(&[attempts, when, tags], true, Bounds::Stated);
        assert_eq!(
            schema["properties"]["attempts"],
            json!({"type": "integer", "format": "int64", "minimum": 0,
                   "description": "How many times", "default": 5})
        );
        assert_eq!(schema["properties"]["when"]["format"], "date-time");
        assert_eq!(schema["properties"]["tags"]["items"]["type"], "string");
        // A list without bounds of its own states none.
        assert!(schema["properties"]["tags"].get("minItems").is_none());
        assert!(schema["properties"]["tags"].get("maxItems").is_none());
        assert_eq!(schema["required"], json!(["when", "tags"]));
        // In a reply, an optional element may be null.
        let reply = output_schema(&[element("note", TypeDesc::Text, false)]);
        assert_eq!(
            reply["properties"]["note"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn a_list_states_its_fields_bounds_in_requests_only() {
        let bounded = |min, max| {
            element("target", TypeDesc::list(TypeDesc::Text), true).with_list_bounds(min, max)
        };
        let input = object_schema(&[bounded(Some(1), Some(100))], true, Bounds::Stated);
        assert_eq!(
            input["properties"]["target"],
            json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100})
        );
        let only_min = object_schema(&[bounded(Some(2), None)], true, Bounds::Stated);
        assert_eq!(only_min["properties"]["target"]["minItems"], 2);
        assert!(only_min["properties"]["target"].get("maxItems").is_none());
        // The public form is the request's.
        assert_eq!(
            type_schema(&bounded(None, Some(3)).ty, false)["maxItems"],
            3
        );
        // A reply is not held to them.
        let reply = output_schema(&[bounded(Some(1), Some(100))]);
        assert_eq!(
            reply["properties"]["target"],
            json!({"type": "array", "items": {"type": "string"}})
        );
    }

    #[test]
    fn the_query_parameter_of_a_bounded_list_holds_its_bounds() {
        let target =
            element("target", TypeDesc::list(TypeDesc::Text), true).with_list_bounds(Some(1), None);
        let info = ServiceInfo {
            name: "s",
            type_name: "S",
            input: vec![target],
            output: Vec::new(),
            version: 1,
            is_active: true,
        };
        let doc = openapi_document("t", "1", &[post("/c", &info)], &[]);
        let post = &doc["paths"]["/c"]["post"];
        assert_eq!(post["requestBody"]["required"], true);
        assert_eq!(post["parameters"][0]["schema"]["minItems"], 1);
        assert_eq!(post["parameters"][0]["required"], false);
        assert_eq!(post["parameters"][0]["explode"], true);
        let input = &doc["components"]["schemas"]["s.Input"];
        assert_eq!(input["properties"]["target"]["minItems"], 1);
        assert_eq!(input["required"], json!(["target"]));
        assert_eq!(
            doc["components"]["schemas"]["Error"]["properties"]["elements"]["items"]["properties"]
                ["minimum"]["type"],
            "integer"
        );
    }

    #[test]
    fn a_text_rule_becomes_string_facets_and_a_body_is_required_only_with_a_required_element() {
        let rule = crate::sio::TextRule {
            name: "code",
            min_length: 3,
            max_length: Some(3),
            pattern: Some("^[A-Z]{3}$"),
        };
        assert_eq!(
            type_schema(&TypeDesc::CheckedText(rule), false),
            json!({"type": "string", "minLength": 3, "maxLength": 3, "pattern": "^[A-Z]{3}$"})
        );
        let service = |input: Vec<ElementDesc>| ServiceInfo {
            name: "s",
            type_name: "S",
            input,
            output: Vec::new(),
            version: 1,
            is_active: true,
        };
        let body_required = |info: ServiceInfo, url_path: &str| {
            let doc = openapi_document("t", "1", &[post(url_path, &info)], &[]);
            doc["paths"][url_path]["post"]["requestBody"]["required"].clone()
        };
        let id = || element("id", TypeDesc::Text, true);
        let note = || element("note", TypeDesc::Text, false);
        assert_eq!(body_required(service(vec![id(), note()]), "/c"), true);
        assert_eq!(body_required(service(vec![note()]), "/c"), false);
        // A required element in the path needs no body.
        assert_eq!(body_required(service(vec![id(), note()]), "/c/{id}"), false);
    }

    #[test]
    fn operations_list_their_methods_formats_and_security_and_soap_is_left_out() {
        let info = ServiceInfo {
            name: "s",
            type_name: "S",
            input: vec![element("id", TypeDesc::Text, true)],
            output: Vec::new(),
            version: 1,
            is_active: true,
        };
        let op = |name, path, methods: &[Method], format, security| Operation {
            name,
            path,
            methods: methods.to_vec(),
            service: &info,
            format,
            security,
        };
        let ops = [
            op(
                "j",
                "/j",
                &[Method::GET, Method::PUT],
                DataFormat::Json,
                Some("crm key"),
            ),
            op("x", "/x", &[Method::POST], DataFormat::Xml, None),
            op("f", "/f", &[Method::PATCH], DataFormat::Form, None),
            op("s", "/s", &[Method::POST], DataFormat::Soap, None),
        ];
        let schemes = [
            SecurityScheme::Basic { name: "crm key" },
            SecurityScheme::ApiKey {
                name: "k",
                header: "X-Key",
            },
        ];
        let doc = openapi_document("t", "1", &ops, &schemes);
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.keys().collect::<Vec<_>>(), ["/f", "/j", "/x"]);
        let get = &doc["paths"]["/j"]["get"];
        assert_eq!(get["operationId"], "j.get");
        assert_eq!(get["summary"], "s, through channel j");
        assert!(get.get("requestBody").is_none());
        assert_eq!(get["security"], json!([{"crm_key": []}]));
        assert!(get["responses"].get("401").is_some());
        let put = &doc["paths"]["/j"]["put"];
        assert!(
            put["requestBody"]["content"]
                .get("application/json")
                .is_some()
        );
        let xml = &doc["paths"]["/x"]["post"];
        assert!(
            xml["requestBody"]["content"]
                .get("application/xml")
                .is_some()
        );
        assert!(
            xml["responses"]["200"]["content"]
                .get("application/xml")
                .is_some()
        );
        assert!(xml["responses"].get("401").is_none());
        assert!(xml.get("security").is_none());
        let form = &doc["paths"]["/f"]["patch"];
        assert!(
            form["requestBody"]["content"]
                .get("application/x-www-form-urlencoded")
                .is_some()
        );
        assert!(
            form["responses"]["200"]["content"]
                .get("application/json")
                .is_some()
        );
        assert_eq!(
            doc["components"]["securitySchemes"],
            json!({"crm_key": {"type": "http", "scheme": "basic"},
                   "k": {"type": "apiKey", "in": "header", "name": "X-Key"}})
        );
        // No scheme, no `securitySchemes`.
        let open = openapi_document("t", "1", &ops[1..], &[]);
        assert!(open["components"].get("securitySchemes").is_none());
    }
}
