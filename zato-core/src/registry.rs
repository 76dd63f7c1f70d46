//! The service registry: deploy, redeploy and undeploy while requests are in flight.

use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use bytes::Bytes;
use fnv::FnvHashMap;

use crate::context::Context;
use crate::error::ServiceError;
use crate::message::{RawRequest, RawResponse};
use crate::service::{Request, Service};
use crate::sio::{ElementDesc, ReplyFormat, SioInput, SioOutput};
use crate::telemetry::SpanKind;

/// The initial capacity of a reply body: most replies fit, and a larger one grows as before.
const REPLY_CAPACITY: usize = 256;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The result of one invocation, with the format its reply (or error) is to be written in.
#[derive(Debug)]
pub struct Invocation {
    /// The reply format: the channel's, and for SOAP the request's version.
    pub reply: ReplyFormat,
    /// The reply, or the error to render with [`render_error`](crate::render_error).
    pub result: Result<RawResponse, ServiceError>,
}

/// A service with its types erased, so services of every type sit in one map.
pub(crate) trait ErasedService: Send + Sync + 'static {
    fn call(self: Arc<Self>, raw: RawRequest, ctx: Context) -> BoxFuture<Invocation>;
}

struct Erased<S> {
    service: S,
    /// The namespace of the service's SOAP replies, made once at deployment.
    soap_namespace: Box<str>,
}

impl<S: Service> ErasedService for Erased<S> {
    fn call(self: Arc<Self>, raw: RawRequest, ctx: Context) -> BoxFuture<Invocation> {
        Box::pin(async move {
            let mut decode_span = crate::telemetry::child("sio.decode", SpanKind::Internal);
            let decoded = S::Input::decode(&raw.sio_source());
            let reply = decoded.reply;
            let input = match decoded.result {
                Ok(input) => {
                    drop(decode_span);
                    input
                }
                Err(e) => {
                    if let Some(span) = &mut decode_span {
                        span.error(&e.to_string());
                    }
                    return Invocation {
                        reply,
                        result: Err(e.into()),
                    };
                }
            };
            // Taken apart whole, so no part of `raw` outlives this point: a request only
            // partly moved out would be kept in the boxed future across the service's await,
            // beside the copy in `req`, and a larger box costs more to allocate and to free.
            let RawRequest {
                cid,
                channel,
                body,
                content_type: _,
                transport,
                channel_params,
                caller: _,
                trace: _,
            } = raw;
            let req = Request {
                cid,
                input,
                raw_request: body,
                channel,
                transport,
                channel_params,
            };
            let result = self.service.handle(req, &ctx).await.map(|resp| {
                // Room for a typical reply at once, rather than growing from 8 bytes by
                // reallocation as the writer appends.
                let mut body = Vec::with_capacity(REPLY_CAPACITY);
                match reply {
                    // In the namespace the service's WSDL declares its reply in.
                    ReplyFormat::Soap(version) => {
                        resp.output
                            .write_soap_body(version, &self.soap_namespace, &mut body);
                    }
                    ReplyFormat::Json | ReplyFormat::Xml => {
                        resp.output.write_body(reply, &mut body)
                    }
                }
                // Whole, not `RawResponse::new` and then the headers: that would make and drop
                // an empty map on every call.
                RawResponse {
                    status: resp.status,
                    headers: resp.headers,
                    content_type: resp
                        .content_type
                        .unwrap_or(std::borrow::Cow::Borrowed(reply.content_type())),
                    body: Bytes::from(body),
                }
            });
            Invocation { reply, result }
        })
    }
}

/// A deployed service and what is known of it.
pub(crate) struct Deployed {
    /// Whether it takes invocations; inactive ones get a 503.
    pub(crate) active: AtomicBool,
    /// Its counters in the platform's metrics, found on its first invocation.
    pub(crate) meter: std::sync::OnceLock<crate::metrics::ServiceMeter>,
    pub(crate) erased: Arc<dyn ErasedService>,
    typed: Arc<dyn Any + Send + Sync>,
    pub(crate) info: ServiceInfo,
}

impl Deployed {
    /// The service as its own type, for typed invocation.
    pub(crate) fn typed<S: Service>(&self) -> Option<&S> {
        self.typed.downcast_ref::<Erased<S>>().map(|e| &e.service)
    }
}

/// A deployed service as listings show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceInfo {
    /// The service's name.
    pub name: &'static str,
    /// The Rust type implementing it.
    pub type_name: &'static str,
    /// Its declared input.
    pub input: Vec<ElementDesc>,
    /// Its declared output.
    pub output: Vec<ElementDesc>,
    /// How many times a service of this name has been deployed in this registry, counting from 1.
    pub version: u64,
    /// Whether it takes invocations now.
    pub is_active: bool,
}

/// Why a deployment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A service of that name is already deployed; use redeploy to replace it.
    #[error("service `{0}` is already deployed")]
    Duplicate(String),
    /// No service of that name is deployed.
    #[error("service `{0}` is not deployed")]
    NotDeployed(String),
}

/// FNV rather than SipHash: the names are the deployed services', so a caller cannot choose
/// colliding ones, and every invocation looks one up.
type Map = FnvHashMap<&'static str, Arc<Deployed>>;

/// The deployed services by name.
///
/// Lookups take no lock (the map sits behind an `ArcSwap`); a deployment copies the map and swaps
/// it in. A call holds its service by `Arc`, so after a redeploy, calls already running finish
/// on the old version while new calls get the new one.
#[derive(Default)]
pub struct ServiceRegistry {
    map: ArcSwap<Map>,
    deployments: AtomicU64,
    /// The names set inactive, deployed or not: a service deployed later starts inactive.
    inactive: std::sync::Mutex<HashSet<String>>,
}

impl fmt::Debug for ServiceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.map.load().keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("ServiceRegistry")
            .field("services", &names)
            .finish()
    }
}

impl ServiceRegistry {
    fn make<S: Service>(&self, service: S) -> Arc<Deployed> {
        let erased = Arc::new(Erased {
            service,
            soap_namespace: crate::describe::soap_namespace(S::NAME).into(),
        });
        let active = !self.inactive().contains(S::NAME);
        Arc::new(Deployed {
            active: AtomicBool::new(active),
            meter: std::sync::OnceLock::new(),
            erased: erased.clone(),
            typed: erased,
            info: ServiceInfo {
                name: S::NAME,
                type_name: std::any::type_name::<S>(),
                input: <S::Input as SioInput>::elements(),
                output: <S::Output as SioOutput>::elements(),
                version: self.deployments.fetch_add(1, Ordering::Relaxed) + 1,
                is_active: active,
            },
        })
    }

    /// Deploys a service.
    ///
    /// # Errors
    ///
    /// [`DeployError::Duplicate`] when a service of that name is already deployed.
    pub fn deploy<S: Service>(&self, service: S) -> Result<(), DeployError> {
        let deployed = self.make(service);
        let mut duplicate = false;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            duplicate = next.contains_key(S::NAME);
            if !duplicate {
                next.insert(S::NAME, deployed.clone());
            }
            next
        });
        if duplicate {
            Err(DeployError::Duplicate(S::NAME.to_owned()))
        } else {
            tracing::info!(service = S::NAME, "service deployed");
            Ok(())
        }
    }

    /// Deploys a service, replacing any of the same name. Calls already running finish on the
    /// old version. Returns whether one was replaced.
    pub fn redeploy<S: Service>(&self, service: S) -> bool {
        let deployed = self.make(service);
        let mut replaced = false;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            replaced = next.insert(S::NAME, deployed.clone()).is_some();
            next
        });
        tracing::info!(service = S::NAME, replaced, "service redeployed");
        replaced
    }

    /// Removes a service. Calls already running finish; new calls get a 404.
    ///
    /// # Errors
    ///
    /// [`DeployError::NotDeployed`] when no service has that name.
    pub fn undeploy(&self, name: &str) -> Result<(), DeployError> {
        let mut found = false;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            found = next.remove(name).is_some();
            next
        });
        if found {
            tracing::info!(service = name, "service undeployed");
            Ok(())
        } else {
            Err(DeployError::NotDeployed(name.to_owned()))
        }
    }

    /// Whether a service of that name is deployed.
    pub fn contains(&self, name: &str) -> bool {
        self.map.load().contains_key(name)
    }

    /// Makes the service `name` active or inactive, whether it is deployed yet or not; an
    /// inactive service answers every invocation with a 503. Invocations already running finish.
    /// Returns whether a service of that name is deployed.
    pub fn set_active(&self, name: &str, active: bool) -> bool {
        {
            let mut inactive = self.inactive();
            if active {
                inactive.remove(name);
            } else {
                inactive.insert(name.to_owned());
            }
        }
        match self.get(name) {
            Some(deployed) => {
                let was = deployed.active.swap(active, Ordering::Relaxed);
                if was != active {
                    tracing::info!(service = name, active, "service activity changed");
                }
                true
            }
            None => false,
        }
    }

    /// Whether the service `name` takes invocations: deployed and active.
    pub fn is_active(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|d| d.active.load(Ordering::Relaxed))
    }

    fn inactive(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // One insert or remove at a time: a panic cannot leave the set half-changed.
        self.inactive
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The deployed services, sorted by name.
    pub fn list(&self) -> Vec<ServiceInfo> {
        let mut all: Vec<ServiceInfo> = self
            .map
            .load()
            .values()
            .map(|d| ServiceInfo {
                is_active: d.active.load(Ordering::Relaxed),
                ..d.info.clone()
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(b.name));
        all
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Deployed>> {
        self.map.load().get(name).cloned()
    }
}
