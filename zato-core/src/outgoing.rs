//! The registry of outgoing connections that adapter crates plug into.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::error::{OutgoingError, OutgoingErrorKind, ServiceError};

type Conn = Arc<dyn Any + Send + Sync>;
type Map = HashMap<TypeId, HashMap<Arc<str>, Conn>>;

/// Outgoing connections by type and name, shared by every service of a platform.
///
/// zato-core knows no connection type: adapter crates (zato-swift, …) register their connection
/// objects here and add an extension trait with a typed getter, so a service writes
/// `ctx.outgoing().swift("Invoice Dispatcher")`. Lookups take no lock: the map sits behind an
/// `ArcSwap` and is copied on the rare write.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zato_core::OutgoingConnections;
///
/// struct Ftp { host: String }
///
/// let conns = OutgoingConnections::new();
/// conns.insert("backup", Arc::new(Ftp { host: "ftp.example.com".into() }));
/// let ftp = conns.get::<Ftp>("backup").unwrap();
/// assert_eq!(ftp.host, "ftp.example.com");
/// assert!(conns.get::<Ftp>("other").is_none());
/// ```
#[derive(Clone, Default)]
pub struct OutgoingConnections {
    map: Arc<ArcSwap<Map>>,
}

impl fmt::Debug for OutgoingConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.map.load();
        let mut names: Vec<&str> = map.values().flat_map(|m| m.keys()).map(|n| &**n).collect();
        names.sort_unstable();
        f.debug_struct("OutgoingConnections")
            .field("names", &names)
            .finish()
    }
}

impl OutgoingConnections {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `conn` under `name`, replacing any connection of the same type and name.
    /// Returns the one replaced.
    pub fn insert<T: Any + Send + Sync>(
        &self,
        name: impl Into<Arc<str>>,
        conn: Arc<T>,
    ) -> Option<Arc<T>> {
        let name = name.into();
        let mut old = None;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            old = next
                .entry(TypeId::of::<T>())
                .or_default()
                .insert(name.clone(), conn.clone() as Conn);
            next
        });
        old.and_then(|o| o.downcast::<T>().ok())
    }

    /// Removes the connection of type `T` named `name` and returns it.
    pub fn remove<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        let mut old = None;
        self.map.rcu(|map| {
            let mut next = Map::clone(map);
            old = next
                .get_mut(&TypeId::of::<T>())
                .and_then(|m| m.remove(name));
            next
        });
        old.and_then(|o| o.downcast::<T>().ok())
    }

    /// The connection of type `T` named `name`.
    pub fn get<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.map
            .load()
            .get(&TypeId::of::<T>())?
            .get(name)
            .and_then(|c| c.clone().downcast::<T>().ok())
    }

    /// Like [`get`](Self::get), but an error naming the connection when it is missing, ready to
    /// be returned from a service.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Outgoing`] with [`OutgoingErrorKind::Unavailable`] (503) when no such
    /// connection is defined.
    pub fn require<T: Any + Send + Sync>(&self, name: &str) -> Result<Arc<T>, ServiceError> {
        self.get(name).ok_or_else(|| {
            OutgoingError::new(
                name,
                OutgoingErrorKind::Unavailable,
                "no such outgoing connection is defined",
            )
            .into()
        })
    }

    /// Names of the connections of type `T`, sorted.
    pub fn names<T: Any + Send + Sync>(&self) -> Vec<String> {
        let map = self.map.load();
        let mut names: Vec<String> = map
            .get(&TypeId::of::<T>())
            .map(|m| m.keys().map(|n| n.to_string()).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct A(u32);
    #[derive(Debug, PartialEq)]
    struct B(u32);

    #[test]
    fn same_name_different_types_do_not_clash() {
        let c = OutgoingConnections::new();
        c.insert("x", Arc::new(A(1)));
        c.insert("x", Arc::new(B(2)));
        assert_eq!(*c.get::<A>("x").unwrap(), A(1));
        assert_eq!(*c.get::<B>("x").unwrap(), B(2));
        assert_eq!(c.names::<A>(), vec!["x".to_string()]);
    }

    #[test]
    fn replace_and_remove() {
        let c = OutgoingConnections::new();
        assert!(c.insert("x", Arc::new(A(1))).is_none());
        assert_eq!(*c.insert("x", Arc::new(A(2))).unwrap(), A(1));
        assert_eq!(*c.remove::<A>("x").unwrap(), A(2));
        let err = c.require::<A>("x").unwrap_err();
        assert_eq!(err.status().as_u16(), 503);
        assert!(err.to_string().contains("`x`"), "{err}");
    }
}
