//! [`Secret`]: a value that never shows itself in `Debug`, `Display`, serde output or a
//! SimpleIO reply.
//!
//! A leaf module: it imports nothing from the rest of the crate, so SimpleIO, which knows nothing
//! of the rest of the crate, can take it as an element type.

use std::fmt;

/// A secret: a password, a key, a token. `Debug`, `Display`, `Serialize` and SimpleIO output show
/// `***`, so it reaches no log, error message, reply or admin read by accident;
/// [`expose`](Secret::expose) gives the value to where it belongs. As a SimpleIO input element it
/// decodes like `T`.
///
/// # Examples
///
/// ```
/// use zato_core::Secret;
///
/// let password: Secret = "hunter2".into();
/// assert_eq!(format!("{password:?} {password}"), "Secret(***) ***");
/// assert_eq!(serde_json::to_string(&password).unwrap(), r#""***""#);
/// assert_eq!(password.expose(), "hunter2");
///
/// let read: Secret = serde_json::from_str(r#""s3cr3t""#).unwrap();
/// assert_eq!(read.expose(), "s3cr3t");
///
/// // A value of the wrong type is refused without being quoted.
/// let err = serde_json::from_str::<Secret>("123456").unwrap_err();
/// assert!(!err.to_string().contains("123456"), "{err}");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Named so that every use stands out in review.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl<T> serde::Serialize for Secret<T> {
    /// Writes `***`: what is read back (an admin listing, a log of a config) never shows it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The inner type's error would quote what it got ("invalid type: integer `123`"), and
        // what it got is the secret.
        T::deserialize(d).map(Secret).map_err(|_| {
            <D::Error as serde::de::Error>::custom(
                "invalid secret: wrong type or value (not shown)",
            )
        })
    }
}
