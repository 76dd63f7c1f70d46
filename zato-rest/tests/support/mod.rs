//! A node of one platform with the HTTP channel's security kinds and the REST plug-in, driven
//! through the config runtime as the admin API drives it.

#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use serde_json::Value;
use zato_channels::HttpServer;
use zato_core::Platform;
use zato_core::config::{ChangeError, ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::kind::Plugin;
use zato_rest::{HttpConnection, RestOutgoing, SoapConnection};

pub(crate) struct Node {
    pub(crate) platform: Platform,
    pub(crate) runtime: ConfigRuntime,
    pub(crate) server: HttpServer,
}

pub(crate) fn key(section: Section, kind: &str, name: &str) -> ObjectKey {
    let kind = if section == Section::Security {
        "security"
    } else {
        kind
    };
    ObjectKey::new(section, kind, name)
}

impl Node {
    pub(crate) async fn new() -> Node {
        let platform = Platform::new();
        let server = HttpServer::bind("127.0.0.1:0", platform.clone())
            .await
            .unwrap();
        platform.start().await.unwrap();
        let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
        for k in server.config_kinds() {
            runtime.register(k);
        }
        for k in zato_rest::plugin().attach(&platform).await.unwrap() {
            runtime.register(k);
        }
        Node {
            platform,
            runtime,
            server,
        }
    }

    /// Creates or replaces an object.
    pub(crate) async fn put(
        &self,
        section: Section,
        kind: &str,
        object: Value,
    ) -> Result<(), ChangeError> {
        let name = object["name"].as_str().unwrap().to_owned();
        self.runtime
            .put(
                &key(section, kind, &name),
                object,
                PutMode::Upsert,
                None,
                "test",
            )
            .await
            .map(drop)
    }

    /// Patches an object.
    pub(crate) async fn patch(
        &self,
        section: Section,
        kind: &str,
        name: &str,
        patch: Value,
    ) -> Result<(), ChangeError> {
        self.runtime
            .put(
                &key(section, kind, name),
                patch,
                PutMode::Patch,
                None,
                "test",
            )
            .await
            .map(drop)
    }

    pub(crate) async fn security(&self, object: Value) {
        self.put(Section::Security, "", object).await.unwrap();
    }

    pub(crate) async fn http(&self, object: Value) -> Arc<HttpConnection> {
        let name = object["name"].as_str().unwrap().to_owned();
        self.put(Section::Outgoing, "http", object).await.unwrap();
        self.platform.outgoing().http(&name).unwrap()
    }

    pub(crate) async fn soap(&self, object: Value) -> Arc<SoapConnection> {
        let name = object["name"].as_str().unwrap().to_owned();
        self.put(Section::Outgoing, "soap", object).await.unwrap();
        self.platform.outgoing().soap(&name).unwrap()
    }

    pub(crate) async fn shutdown(self) {
        self.platform.shutdown().await;
    }
}
