//! The OpenAPI document of a node's HTTP channels: their configurations, as the config document
//! holds them, turned into the operations [`zato_core::describe`] states, so the document is
//! always in step with the code and the live channel table.

use std::collections::BTreeMap;

use http::Method;
use serde_json::Value;
use zato_core::ServiceInfo;
use zato_core::describe::{self, Operation, SecurityScheme};

use super::config::{HttpChannelConfig, SecurityDef};

/// The methods a channel with no `methods` takes, as the document lists them.
const ANY_METHOD: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The OpenAPI 3.1 document of `channels` (HTTP channel configurations), invoking `services`,
/// under `security` (security definitions, secrets redacted). SOAP channels are left out: their
/// contract is their WSDL. A channel whose service is not deployed is left out too.
pub fn openapi_document(
    title: &str,
    version: &str,
    channels: &[HttpChannelConfig],
    services: &[ServiceInfo],
    security: &[SecurityDef],
) -> Value {
    let by_name: BTreeMap<&str, &ServiceInfo> = services.iter().map(|s| (s.name, s)).collect();
    let schemes: Vec<SecurityScheme<'_>> = security.iter().filter_map(scheme).collect();
    // A channel guarded only by its callers' addresses asks them for no credentials.
    let by_address: Vec<&str> = security
        .iter()
        .filter(|def| scheme(def).is_none())
        .map(SecurityDef::name)
        .collect();
    let operations: Vec<Operation<'_>> = channels
        .iter()
        .filter_map(|channel| operation(channel, &by_name))
        .map(|mut op| {
            if op.security.is_some_and(|name| by_address.contains(&name)) {
                op.security = None;
            }
            op
        })
        .collect();
    describe::openapi_document(title, version, &operations, &schemes)
}

/// The scheme of a security definition; `None` for one that asks the caller for nothing
/// (an address list), which OpenAPI has no scheme for.
fn scheme(def: &SecurityDef) -> Option<SecurityScheme<'_>> {
    Some(match def {
        SecurityDef::BasicAuth { name, .. } => SecurityScheme::Basic { name },
        SecurityDef::ApiKey { name, header, .. } => SecurityScheme::ApiKey { name, header },
        SecurityDef::Jwt { name, .. } => SecurityScheme::BearerJwt { name },
        SecurityDef::TlsClientCert { name, .. } => SecurityScheme::MutualTls { name },
        SecurityDef::IpList { .. } => return None,
    })
}

/// The operation of a channel invoking one of `services`.
fn operation<'a>(
    channel: &'a HttpChannelConfig,
    services: &BTreeMap<&str, &'a ServiceInfo>,
) -> Option<Operation<'a>> {
    let methods = if channel.methods.is_empty() {
        ANY_METHOD.to_vec()
    } else {
        channel
            .methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect()
    };
    Some(Operation {
        name: &channel.name,
        path: &channel.url_path,
        methods,
        service: services.get(channel.service.as_str())?,
        format: channel.data_format,
        security: channel.security.as_deref(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zato_core::sio::{ElementDesc, TypeDesc};

    use super::*;
    use crate::http::config::DEFAULT_API_KEY_HEADER;

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
            HttpChannelConfig::new("any", "/any", "s"),
            HttpChannelConfig::new("two", "/two/{id}", "s")
                .with_methods(["POST", "get"])
                .with_data_format(zato_core::DataFormat::Xml)
                .with_security("crm"),
            HttpChannelConfig::new("soap", "/soap", "s")
                .with_data_format(zato_core::DataFormat::Soap),
            HttpChannelConfig::new("gone", "/gone", "not.deployed"),
        ];
        let security = [
            SecurityDef::basic_auth("crm", "u", "******"),
            SecurityDef::api_key("key", DEFAULT_API_KEY_HEADER, "******"),
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
