//! The platform: services, outgoing connections, and the invocation path channels use.

use std::sync::Arc;

use tracing::Instrument;

use crate::Cid;
use crate::context::Context;
use crate::error::ServiceError;
use crate::message::{RawRequest, RawResponse};
use crate::outgoing::OutgoingConnections;
use crate::registry::{Invocation, ServiceRegistry};
use crate::render::render_error;
use crate::sio::ReplyFormat;

#[derive(Debug, Default)]
struct Inner {
    services: ServiceRegistry,
    outgoing: OutgoingConnections,
}

/// One embedded platform: its deployed services and outgoing connections. Cheap to clone; every
/// clone is the same platform.
///
/// # Examples
///
/// ```
/// use zato_core::Platform;
///
/// let platform = Platform::new();
/// assert!(platform.services().list().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Platform {
    inner: Arc<Inner>,
}

impl Platform {
    /// An empty platform.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deployed services.
    pub fn services(&self) -> &ServiceRegistry {
        &self.inner.services
    }

    /// The outgoing connections.
    pub fn outgoing(&self) -> &OutgoingConnections {
        &self.inner.outgoing
    }

    /// A context outside any request, with a fresh cid: for invoking services from `main` or a
    /// test.
    pub fn context(&self) -> Context {
        Context::new(self.clone(), Cid::new())
    }

    /// Invokes the service named `service` with a request as a channel received it.
    pub async fn invoke_raw(&self, service: &str, raw: RawRequest) -> Invocation {
        let Some(deployed) = self.inner.services.get(service) else {
            return Invocation {
                reply: ReplyFormat::for_request(&raw, None),
                result: Err(ServiceError::not_found(format!("service `{service}`"))),
            };
        };
        let cid = raw.cid;
        let ctx = Context::new(self.clone(), cid);
        let span = tracing::debug_span!("invoke", %cid, service);
        deployed
            .erased
            .clone()
            .call(raw, ctx)
            .instrument(span)
            .await
    }

    /// Like [`invoke_raw`](Self::invoke_raw), with an error rendered as the reply. Errors of the
    /// platform's or a remote system's making (5xx) are logged with the cid; a caller's are not.
    pub async fn dispatch(&self, service: &str, raw: RawRequest) -> RawResponse {
        let cid = raw.cid;
        let inv = self.invoke_raw(service, raw).await;
        match inv.result {
            Ok(reply) => reply,
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(%cid, service, error = %err, "service failed");
                }
                render_error(&err, inv.reply, cid)
            }
        }
    }
}
