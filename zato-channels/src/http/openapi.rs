//! OpenAPI 3.1 for a node's HTTP channels, generated from their configuration and their
//! services' SimpleIO descriptions: always in step with the code and the live channel table.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use zato_core::ServiceInfo;
use zato_core::sio::{ElementDesc, TypeDesc};

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

/// The methods a channel with no `methods` takes, as the document lists them.
const ANY_METHOD: &[&str] = &["get", "post", "put", "patch", "delete"];

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
        TypeDesc::Scalar(name) => scalar_schema(name),
        TypeDesc::Text(rule) => {
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

fn scalar_schema(name: &str) -> Value {
    match name {
        "integer" => json!({"type": "integer", "format": "int64"}),
        "unsigned integer" => json!({"type": "integer", "format": "int64", "minimum": 0}),
        "float" => json!({"type": "number", "format": "double"}),
        "boolean" => json!({"type": "boolean"}),
        // Written as text, to keep every digit.
        "decimal" => {
            json!({"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"})
        }
        "date" => json!({"type": "string", "format": "date"}),
        "datetime" => json!({"type": "string", "format": "date-time"}),
        "uuid" => json!({"type": "string", "format": "uuid"}),
        "csv list" => json!({"type": "string", "description": "Comma-separated values"}),
        "secret" => json!({"type": "string", "format": "password", "writeOnly": true}),
        // Any JSON value, or XML, as received.
        "raw" => json!({}),
        _ => json!({"type": "string"}),
    }
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

/// The OpenAPI 3.1 document of `channels` (HTTP channel configurations, as the config document
/// holds them), invoking `services`, under `security` (security definitions, secrets redacted).
/// SOAP channels are left out: their contract is their WSDL.
pub fn openapi_document(
    title: &str,
    version: &str,
    channels: &[Value],
    services: &[ServiceInfo],
    security: &[Value],
) -> Value {
    let by_name: BTreeMap<&str, &ServiceInfo> = services.iter().map(|s| (s.name, s)).collect();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemes = Map::new();
    for def in security {
        let (Some(name), Some(ty)) = (def["name"].as_str(), def["type"].as_str()) else {
            continue;
        };
        let scheme = match ty {
            "basic_auth" => json!({"type": "http", "scheme": "basic"}),
            "apikey" => json!({"type": "apiKey", "in": "header",
                               "name": def["header"].as_str().unwrap_or("X-API-Key")}),
            _ => continue,
        };
        schemes.insert(component_name(name), scheme);
    }
    for channel in channels {
        let format = channel["data_format"].as_str().unwrap_or("json");
        if format == "soap" {
            continue;
        }
        let (Some(name), Some(url_path), Some(service)) = (
            channel["name"].as_str(),
            channel["url_path"].as_str(),
            channel["service"].as_str(),
        ) else {
            continue;
        };
        let Some(info) = by_name.get(service) else {
            continue;
        };
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
        let media = match format {
            "xml" => "application/xml",
            "form" => "application/x-www-form-urlencoded",
            _ => "application/json",
        };
        let reply_media = if format == "xml" {
            "application/xml"
        } else {
            "application/json"
        };
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "The service's reply",
                   "content": {reply_media: {"schema": {"$ref": format!("#/components/schemas/{output_name}")}}}}),
        );
        for (status, why) in ERRORS {
            if *status == 401 && channel["security"].is_null() {
                continue;
            }
            responses.insert(
                status.to_string(),
                json!({"description": why,
                       "content": {reply_media: {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let methods: Vec<String> = match channel["methods"].as_array() {
            Some(m) if !m.is_empty() => m
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
            _ => ANY_METHOD.iter().map(|m| (*m).to_owned()).collect(),
        };
        let item = paths.entry(url_path.to_owned()).or_default();
        for method in methods {
            let mut op = json!({
                "operationId": component_name(&format!("{name}.{method}")),
                "summary": format!("{service}, through channel {name}"),
                "parameters": parameters,
                "responses": responses,
            });
            if method != "get" && method != "delete" {
                op["requestBody"] = json!({
                    "required": body_required,
                    "content": {media: {"schema": {"$ref": format!("#/components/schemas/{input_name}")}}}
                });
            }
            if let Some(sec) = channel["security"].as_str() {
                op["security"] = json!([{component_name(sec): []}]);
            }
            item.insert(method, op);
        }
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    if !schemes.is_empty() {
        doc["components"]["securitySchemes"] = Value::Object(schemes);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let attempts = element("attempts", TypeDesc::Scalar("unsigned integer"), false)
            .with_description(Some("How many times"))
            .with_default(Some("5".to_owned()));
        let when = element("when", TypeDesc::Scalar("datetime"), true);
        let tags = element("tags", TypeDesc::list(TypeDesc::Scalar("text")), true);
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
        let reply = output_schema(&[element("note", TypeDesc::Scalar("text"), false)]);
        assert_eq!(
            reply["properties"]["note"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn a_list_states_its_fields_bounds_in_requests_only() {
        let bounded = |min, max| {
            element("target", TypeDesc::list(TypeDesc::Scalar("text")), true)
                .with_list_bounds(min, max)
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
        let target = element("target", TypeDesc::list(TypeDesc::Scalar("text")), true)
            .with_list_bounds(Some(1), None);
        let info = ServiceInfo {
            name: "s",
            type_name: "S",
            input: vec![target],
            output: Vec::new(),
            version: 1,
            is_active: true,
        };
        let doc = openapi_document(
            "t",
            "1",
            &[json!({"name": "c", "url_path": "/c", "service": "s", "methods": ["POST"]})],
            &[info],
            &[],
        );
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
        let rule = zato_core::sio::TextRule {
            name: "code",
            min_length: 3,
            max_length: Some(3),
            pattern: Some("^[A-Z]{3}$"),
        };
        assert_eq!(
            type_schema(&TypeDesc::Text(rule), false),
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
            let channel =
                json!({"name": "c", "url_path": url_path, "service": "s", "methods": ["POST"]});
            let doc = openapi_document("t", "1", &[channel], &[info], &[]);
            doc["paths"][url_path]["post"]["requestBody"]["required"].clone()
        };
        let id = || element("id", TypeDesc::Scalar("text"), true);
        let note = || element("note", TypeDesc::Scalar("text"), false);
        assert_eq!(body_required(service(vec![id(), note()]), "/c"), true);
        assert_eq!(body_required(service(vec![note()]), "/c"), false);
        // A required element in the path needs no body.
        assert_eq!(body_required(service(vec![id(), note()]), "/c/{id}"), false);
    }
}
