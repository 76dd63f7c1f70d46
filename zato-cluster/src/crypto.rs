//! Secrets at rest: AES-256-GCM under a key derived with HKDF-SHA256 from `ZATO_SECRET_KEY` and
//! a salt kept in the database.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use serde_json::Value;
use sha2::Sha256;

/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 32;
/// What an encrypted value starts with.
const PREFIX: &str = "zato:aes256gcm:";
/// What the key check encrypts: decrypting it proves a node has the cluster's key.
const CHECK: &[u8] = b"zato cluster key check v1";
/// The HKDF `info`: what the key is for.
const INFO: &[u8] = b"zato-rs config secrets v1";

/// The cluster's key.
pub(crate) struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Why a value could not be decrypted: another key, or not ours.
#[derive(Debug, thiserror::Error)]
#[error("a secret could not be decrypted: the key does not match, or the value was altered")]
pub(crate) struct Undecryptable;

impl SecretBox {
    /// The key derived from `passphrase` and `salt`.
    pub(crate) fn derive(passphrase: &str, salt: &[u8]) -> SecretBox {
        let hk = Hkdf::<Sha256>::new(Some(salt), passphrase.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
        let _ = hk.expand(INFO, &mut key);
        SecretBox {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    fn seal_bytes(&self, plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; 12] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption fails only for inputs over 64 GiB.
        if let Ok(ct) = self.cipher.encrypt(Nonce::from_slice(&nonce), plain) {
            out.extend(ct);
        }
        out
    }

    fn open_bytes(&self, sealed: &[u8]) -> Result<Vec<u8>, Undecryptable> {
        if sealed.len() < 12 + 16 {
            return Err(Undecryptable);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| Undecryptable)
    }

    /// The key check to store with a new cluster.
    pub(crate) fn key_check(&self) -> Vec<u8> {
        self.seal_bytes(CHECK)
    }

    /// Whether `check` was made with this key.
    pub(crate) fn matches(&self, check: &[u8]) -> bool {
        self.open_bytes(check).is_ok_and(|p| p == CHECK)
    }

    /// `value` encrypted, as a JSON string.
    pub(crate) fn seal(&self, value: &Value) -> Value {
        let sealed = self.seal_bytes(value.to_string().as_bytes());
        Value::String(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// The value `seal` made; any other value as it is.
    pub(crate) fn open(&self, value: &Value) -> Result<Value, Undecryptable> {
        let Some(text) = value.as_str().and_then(|s| s.strip_prefix(PREFIX)) else {
            return Ok(value.clone());
        };
        let sealed = STANDARD.decode(text).map_err(|_| Undecryptable)?;
        let plain = self.open_bytes(&sealed)?;
        serde_json::from_slice(&plain).map_err(|_| Undecryptable)
    }

    /// Whether `value` is one that `seal` made under this key.
    fn is_sealed(&self, value: &Value) -> bool {
        value.as_str().is_some_and(|s| s.starts_with(PREFIX)) && self.open(value).is_ok()
    }

    /// `object` with the fields named in `secrets` encrypted (those that are not null, and not
    /// encrypted already).
    pub(crate) fn seal_fields(&self, object: &Value, secrets: &[String]) -> Value {
        let mut out = object.clone();
        if let Some(map) = out.as_object_mut() {
            for field in secrets {
                if let Some(v) = map.get_mut(field)
                    && !v.is_null()
                    && !self.is_sealed(v)
                {
                    *v = self.seal(v);
                }
            }
        }
        out
    }

    /// `object` with every encrypted field decrypted.
    pub(crate) fn open_fields(&self, object: &Value) -> Result<Value, Undecryptable> {
        let mut out = object.clone();
        if let Some(map) = out.as_object_mut() {
            for v in map.values_mut() {
                *v = self.open(v)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_round_trip_and_another_key_cannot_read_them() {
        let salt = [7u8; 16];
        let a = SecretBox::derive("a passphrase of at least thirty-two chars", &salt);
        let b = SecretBox::derive("another passphrase of thirty-two chars!!", &salt);
        let object = json!({"name": "s", "key": "hunter2", "pool_size": 5, "password": null});
        let sealed = a.seal_fields(&object, &["key".to_owned(), "password".to_owned()]);
        assert!(!sealed.to_string().contains("hunter2"));
        assert!(sealed["key"].as_str().unwrap().starts_with(PREFIX));
        assert_eq!(sealed["password"], Value::Null);
        assert_eq!(a.open_fields(&sealed).unwrap(), object);
        assert!(b.open_fields(&sealed).is_err());
        assert!(a.matches(&a.key_check()));
        assert!(!b.matches(&a.key_check()));
        // Two seals of one value differ: a fresh nonce each time.
        assert_ne!(a.seal(&json!("x")), a.seal(&json!("x")));
    }
}
