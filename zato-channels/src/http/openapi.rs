//! The OpenAPI document of a node's HTTP channels: their configurations, as the config document
//! holds them, turned into the operations [`zato_core::describe`] states, so the document is
//! always in step with the code and the live channel table.

use std::collections::BTreeMap;

use http::Method;
use serde_json::Value;
use zato_core::describe::{self, Operation, SecurityScheme};
use zato_core::{DataFormat, ServiceInfo};

use super::config::DEFAULT_API_KEY_HEADER;

/// The methods a channel with no `methods` takes, as the document lists them.
const ANY_METHOD: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The OpenAPI 3.1 document of `channels` (HTTP channel configurations, as the config document
/// holds them), invoking `services`, under `security` (security definitions, secrets redacted).
/// SOAP channels are left out: their contract is their WSDL. A channel whose service is not
/// deployed is left out too.
pub fn openapi_document(
    title: &str,
    version: &str,
    channels: &[Value],
    services: &[ServiceInfo],
    security: &[Value],
) -> Value {
    let by_name: BTreeMap<&str, &ServiceInfo> = services.iter().map(|s| (s.name, s)).collect();
    let schemes: Vec<SecurityScheme<'_>> = security.iter().filter_map(scheme).collect();
    let operations: Vec<Operation<'_>> = channels
        .iter()
        .filter_map(|channel| operation(channel, &by_name))
        .collect();
    describe::openapi_document(title, version, &operations, &schemes)
}

/// The scheme of a security definition, unless it is of a type OpenAPI has none for.
fn scheme(def: &Value) -> Option<SecurityScheme<'_>> {
    let (name, ty) = (def["name"].as_str()?, def["type"].as_str()?);
    match ty {
        "basic_auth" => Some(SecurityScheme::Basic { name }),
        "apikey" => Some(SecurityScheme::ApiKey {
            name,
            header: def["header"].as_str().unwrap_or(DEFAULT_API_KEY_HEADER),
        }),
        _ => None,
    }
}

/// The operation of a channel invoking one of `services`.
fn operation<'a>(
    channel: &'a Value,
    services: &BTreeMap<&str, &'a ServiceInfo>,
) -> Option<Operation<'a>> {
    let format = match channel["data_format"].as_str() {
        Some("xml") => DataFormat::Xml,
        Some("form") => DataFormat::Form,
        Some("soap") => DataFormat::Soap,
        _ => DataFormat::Json,
    };
    let methods = match channel["methods"].as_array() {
        Some(m) if !m.is_empty() => m
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect(),
        _ => ANY_METHOD.to_vec(),
    };
    Some(Operation {
        name: channel["name"].as_str()?,
        path: channel["url_path"].as_str()?,
        methods,
        service: services.get(channel["service"].as_str()?)?,
        format,
        security: channel["security"].as_str(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zato_core::sio::{ElementDesc, TypeDesc};

    use super::*;

    fn service() -> ServiceInfo {
        ServiceInfo {
            name: "s",
            type_name: "S",
            input: vec![ElementDesc {
                name: "id",
                ty: TypeDesc::Text,
                required: true,
                description: None,
                default: None,
            }],
            output: Vec::new(),
            version: 1,
            is_active: true,
        }
    }

    #[test]
    fn channels_become_operations_of_their_methods_format_and_security() {
        let channels = [
            json!({"name": "any", "url_path": "/any", "service": "s"}),
            json!({"name": "two", "url_path": "/two/{id}", "service": "s",
                   "methods": ["POST", "get"], "data_format": "xml", "security": "crm"}),
            json!({"name": "soap", "url_path": "/soap", "service": "s", "data_format": "soap"}),
            json!({"name": "gone", "url_path": "/gone", "service": "not.deployed"}),
        ];
        let security = [
            json!({"name": "crm", "type": "basic_auth", "username": "u"}),
            json!({"name": "key", "type": "apikey"}),
            json!({"name": "other", "type": "jwt"}),
        ];
        let doc = openapi_document("t", "1", &channels, &[service()], &security);
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.keys().collect::<Vec<_>>(), ["/any", "/two/{id}"]);
        let any: Vec<&String> = doc["paths"]["/any"]
            .as_object()
            .expect("any")
            .keys()
            .collect();
        assert_eq!(any.len(), 5, "a channel with no methods takes any: {any:?}");
        let two = &doc["paths"]["/two/{id}"];
        assert_eq!(
            two.as_object().expect("two").keys().collect::<Vec<_>>(),
            ["get", "post"]
        );
        assert!(
            two["post"]["requestBody"]["content"]
                .get("application/xml")
                .is_some()
        );
        assert_eq!(two["post"]["security"], json!([{"crm": []}]));
        assert_eq!(two["post"]["parameters"][0]["in"], "path");
        assert_eq!(
            doc["components"]["securitySchemes"],
            json!({"crm": {"type": "http", "scheme": "basic"},
                   "key": {"type": "apiKey", "in": "header", "name": DEFAULT_API_KEY_HEADER}})
        );
    }
}
