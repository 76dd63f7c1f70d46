//! The security definitions of a platform, as the kinds of the `security` section publish them:
//! one registry read by every side that uses a definition (a channel checking callers, an
//! outgoing connection presenting credentials).
//!
//! A security kind applies a definition once and publishes it here; readers resolve it by name
//! at the moment they use it, so an edit takes effect on the next use. Lookups take no lock.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::Secret;

/// What a definition holds. HTTP Basic and API keys are common to both directions and spelled
/// out; a plug-in's own types travel as [`Credentials::Custom`], downcast by whoever knows them.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and a password (`basic_auth`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A key in a request header (`apikey`).
    ApiKey {
        /// The header carrying the key.
        header: String,
        /// The key.
        key: Secret,
    },
    /// A type of a plug-in's own, which the plug-in downcasts.
    Custom(Arc<dyn Any + Send + Sync>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Credentials::ApiKey { header, .. } => f
                .debug_struct("ApiKey")
                .field("header", header)
                .finish_non_exhaustive(),
            Credentials::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// One security definition as applied: its name, its `type` and what it holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecurityDefinition {
    /// The definition's name, unique in the `security` section.
    pub name: String,
    /// Its `type` in the document (`basic_auth`, `bearer_token`).
    pub ty: String,
    /// What it holds.
    pub credentials: Credentials,
}

impl SecurityDefinition {
    /// A definition named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: impl Into<String>, credentials: Credentials) -> Self {
        SecurityDefinition {
            name: name.into(),
            ty: ty.into(),
            credentials,
        }
    }
}

type Map = HashMap<Arc<str>, Arc<SecurityDefinition>>;

/// The security definitions applied to a platform, by name. Cheap to clone; every clone is the
/// same registry.
///
/// # Examples
///
/// ```
/// use zato_core::security::{Credentials, SecurityDefinition, SecurityDefinitions};
///
/// let defs = SecurityDefinitions::default();
/// defs.insert(SecurityDefinition::new(
///     "crm",
///     "basic_auth",
///     Credentials::Basic { username: "u".into(), password: "p".into() },
/// ));
/// assert_eq!(defs.get("crm").unwrap().ty, "basic_auth");
/// assert!(!format!("{defs:?}").contains('p'));
/// defs.remove("crm");
/// assert!(defs.get("crm").is_none());
/// ```
#[derive(Clone, Default)]
pub struct SecurityDefinitions {
    map: Arc<ArcSwap<Map>>,
}

impl fmt::Debug for SecurityDefinitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityDefinitions")
            .field("names", &self.names())
            .finish()
    }
}

impl SecurityDefinitions {
    /// Publishes `def` under its name, replacing the one of that name.
    pub fn insert(&self, def: SecurityDefinition) {
        let def = Arc::new(def);
        let name: Arc<str> = def.name.as_str().into();
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            next.insert(name.clone(), def.clone());
            next
        });
    }

    /// Withdraws the definition named `name`, and returns it.
    pub fn remove(&self, name: &str) -> Option<Arc<SecurityDefinition>> {
        let mut old = None;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            old = next.remove(name);
            next
        });
        old
    }

    /// The definition named `name`, as last applied.
    pub fn get(&self, name: &str) -> Option<Arc<SecurityDefinition>> {
        self.map.load().get(name).cloned()
    }

    /// The names of the definitions, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.map.load().keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        names
    }
}

/// Who a channel's security definition found the caller to be, handed to the service through
/// its [`Context::caller`](crate::Context::caller): the definition that let the request in, the
/// caller's identity in it (the Basic Auth user name, a JWT's `sub`, a client certificate's
/// subject) and, for a JWT, its claims. Holds no credential.
///
/// # Examples
///
/// ```
/// use zato_core::security::Caller;
///
/// let caller = Caller::new("partners.jwt", "jwt", Some("crm".into()))
///     .with_claims(serde_json::json!({"sub": "crm", "scope": "invoices"}));
/// assert_eq!(caller.subject.as_deref(), Some("crm"));
/// assert_eq!(caller.claims["scope"], "invoices");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Caller {
    /// The name of the security definition the caller satisfied.
    pub security: String,
    /// Its type: `basic_auth`, `apikey`, `jwt`, `tls_client_cert`.
    pub ty: String,
    /// The caller's identity in it, when the type has one.
    pub subject: Option<String>,
    /// A JWT's claims, as the token holds them; `null` for the other types.
    pub claims: serde_json::Value,
}

impl Caller {
    /// A caller let in by the definition `security` of type `ty`, known as `subject`.
    pub fn new(
        security: impl Into<String>,
        ty: impl Into<String>,
        subject: Option<String>,
    ) -> Self {
        Caller {
            security: security.into(),
            ty: ty.into(),
            subject,
            claims: serde_json::Value::Null,
        }
    }

    /// The same caller, with a token's claims.
    pub fn with_claims(mut self, claims: serde_json::Value) -> Self {
        self.claims = claims;
        self
    }
}
