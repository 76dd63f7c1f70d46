//! Static large objects, bulk delete and temp URLs.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Body, Call, ForClient, Metadata, SwiftClient, Target};
use crate::error::{SwiftError, SwiftErrorKind};
use crate::names::{SwiftPath, check_container, check_object, object_path};
use crate::object::{PutOptions, encoded_path, hex};

/// Swift's default `max_deletes_per_request` of bulk delete.
const BULK_DELETE_MAX: usize = 10_000;

/// The hash a temp URL is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempUrlDigest {
    /// HMAC-SHA1, understood by every Swift.
    Sha1,
    /// HMAC-SHA256, Swift 2.14 and later.
    Sha256,
}

/// What a bulk delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkDeleteResult {
    /// How many were deleted.
    pub deleted: u64,
    /// How many did not exist.
    pub not_found: u64,
    /// Those that failed, with Swift's status for each.
    pub errors: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct BulkDeleteAnswer {
    #[serde(rename = "Number Deleted", default)]
    deleted: u64,
    #[serde(rename = "Number Not Found", default)]
    not_found: u64,
    #[serde(rename = "Errors", default)]
    errors: Vec<(String, String)>,
    #[serde(rename = "Response Status", default)]
    status: String,
}

impl SwiftClient {
    /// Writes `data` as one object when it is at most the configured `segment_size`, else as a
    /// static large object (see [`put_static_large_object`](Self::put_static_large_object)).
    ///
    /// # Errors
    ///
    /// As [`put_object`](Self::put_object).
    pub async fn upload_object(
        &self,
        container: &str,
        object: &str,
        data: impl Into<Bytes>,
        opts: &PutOptions,
    ) -> Result<(), SwiftError> {
        let data = data.into();
        let segment_size = self.config().segment_size;
        if data.len() as u64 <= segment_size {
            self.put_object(container, object, data, opts)
                .await
                .map(drop)
        } else {
            self.put_static_large_object(container, object, data, segment_size, opts)
                .await
        }
    }

    /// Writes `data` as a static large object: segments of `segment_size` bytes in the
    /// container `{container}_segments` (created if needed), each checked by its MD5, then a
    /// manifest listing them under `object`. A GET of `object` returns the whole content.
    ///
    /// # Errors
    ///
    /// As [`put_object`](Self::put_object), for any segment or the manifest.
    pub async fn put_static_large_object(
        &self,
        container: &str,
        object: &str,
        data: Bytes,
        segment_size: u64,
        opts: &PutOptions,
    ) -> Result<(), SwiftError> {
        check_container(container).for_client(self)?;
        check_object(object).for_client(self)?;
        let seg_container = format!("{container}_segments");
        self.create_container(&seg_container, &Metadata::new())
            .await?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let step = usize::try_from(segment_size.max(1)).unwrap_or(usize::MAX);
        let mut manifest = Vec::new();
        for (i, start) in (0..data.len()).step_by(step).enumerate() {
            let chunk = data.slice(start..(start + step).min(data.len()));
            let name = format!(
                "{object}/slo/{stamp:.6}/{}/{segment_size}/{i:08}",
                data.len()
            );
            let etag = self
                .put_object(&seg_container, &name, chunk.clone(), &PutOptions::default())
                .await?;
            manifest.push(json!({
                "path": format!("/{seg_container}/{name}"),
                "etag": etag,
                "size_bytes": chunk.len(),
            }));
        }
        let body = serde_json::to_vec(&manifest)
            .map_err(|e| SwiftErrorKind::Protocol {
                message: format!("manifest: {e}"),
            })
            .for_client(self)?;
        let mut call = Call::new(
            Method::PUT,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        )
        .query("multipart-manifest=put".into());
        opts.apply(&mut call).for_client(self)?;
        self.execute(call.body(Body::Bytes(Bytes::from(body))))
            .await
            .map(drop)
    }

    /// Deletes a static large object and its segments.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] naming the object, or any error of the request.
    pub async fn delete_static_large_object(
        &self,
        container: &str,
        object: &str,
    ) -> Result<(), SwiftError> {
        let call = Call::new(
            Method::DELETE,
            object_path(container, object).for_client(self)?,
            Target::Object(container, object),
        )
        .query("multipart-manifest=delete".into());
        self.execute(call).await.map(drop)
    }

    /// Deletes many objects (or empty containers, given with an empty object name) in as few
    /// requests as Swift allows (10 000 paths each).
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidName`] for any bad name, before any request; any error of a
    /// request; [`SwiftErrorKind::Http`] when Swift reports the whole batch failed.
    pub async fn bulk_delete(
        &self,
        items: &[(&str, &str)],
    ) -> Result<BulkDeleteResult, SwiftError> {
        let mut lines = Vec::with_capacity(items.len());
        for (c, o) in items {
            check_container(c).for_client(self)?;
            if o.is_empty() {
                lines.push(format!("/{}", crate::names::encode_component(c)));
            } else {
                check_object(o).for_client(self)?;
                lines.push(encoded_path(c, o));
            }
        }
        let mut total = BulkDeleteResult::default();
        for chunk in lines.chunks(BULK_DELETE_MAX) {
            let body = Bytes::from(chunk.join("\n"));
            let call = Call::new(Method::POST, SwiftPath::Account, Target::Account)
                .query("bulk-delete".into())
                .header(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain"),
                )
                .header(
                    http::header::ACCEPT,
                    HeaderValue::from_static("application/json"),
                )
                .body(Body::Bytes(body));
            let resp = self.execute(call).await?;
            let raw = resp
                .bytes()
                .await
                .map_err(|e| SwiftErrorKind::Transport {
                    message: "bulk delete answer".into(),
                    source: Some(Box::new(e)),
                })
                .for_client(self)?;
            let answer: BulkDeleteAnswer = serde_json::from_slice(&raw)
                .map_err(|e| SwiftErrorKind::Protocol {
                    message: format!("bulk delete answer is not the expected JSON: {e}"),
                })
                .for_client(self)?;
            let ok = answer.status.is_empty() || answer.status.starts_with('2');
            if !ok && answer.errors.is_empty() {
                return Err(self.named(SwiftErrorKind::Http {
                    status: answer
                        .status
                        .get(..3)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(500),
                    operation: "bulk delete".into(),
                    excerpt: answer.status,
                }));
            }
            total.deleted += answer.deleted;
            total.not_found += answer.not_found;
            total.errors.extend(answer.errors);
        }
        Ok(total)
    }

    /// A URL that lets anyone `method` the object until `expires`, without a token, signed with
    /// the account's `Temp-URL-Key` (see [`set_temp_url_key`](Self::set_temp_url_key)).
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidName`], or an authentication error when no storage URL is known
    /// yet.
    pub async fn temp_url(
        &self,
        method: Method,
        container: &str,
        object: &str,
        expires: SystemTime,
        key: &str,
        digest: TempUrlDigest,
    ) -> Result<String, SwiftError> {
        let storage_url = self.session().await?.storage_url.clone();
        temp_url(
            &storage_url,
            method,
            container,
            object,
            expires,
            key,
            digest,
        )
        .for_client(self)
    }
}

/// Signs a temp URL for an object below `storage_url`: HMAC of `METHOD\nEXPIRES\nPATH` with
/// `key`, where `PATH` is the unencoded `/v1/account/container/object`.
///
/// # Errors
///
/// [`SwiftErrorKind::InvalidName`] or [`SwiftErrorKind::Protocol`] when `storage_url` is not a URL.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use zato_swift::{temp_url, TempUrlDigest};
///
/// let url = temp_url(
///     "https://swift.example.com/v1/AUTH_acc",
///     http::Method::GET,
///     "invoices",
///     "2024/1.json",
///     UNIX_EPOCH + Duration::from_secs(1_900_000_000),
///     "mykey",
///     TempUrlDigest::Sha256,
/// ).unwrap();
/// assert!(url.starts_with("https://swift.example.com/v1/AUTH_acc/invoices/2024/1.json?temp_url_sig="));
/// assert!(url.ends_with("&temp_url_expires=1900000000"));
/// ```
pub fn temp_url(
    storage_url: &str,
    method: Method,
    container: &str,
    object: &str,
    expires: SystemTime,
    key: &str,
    digest: TempUrlDigest,
) -> Result<String, SwiftError> {
    let place = object_path(container, object)?;
    let base = reqwest::Url::parse(storage_url.trim_end_matches('/')).map_err(|_| {
        SwiftErrorKind::Protocol {
            message: "the storage URL is not a URL".into(),
        }
    })?;
    let account_path = percent_encoding::percent_decode_str(base.path().trim_end_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let path = format!("{account_path}/{container}/{object}");
    let expires = expires
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let sig = sign(key, &format!("{method}\n{expires}\n{path}"), digest);
    let url = place.url(
        &base,
        &format!("temp_url_sig={sig}&temp_url_expires={expires}"),
    )?;
    Ok(url.into())
}

/// The hex HMAC of `message`.
pub(crate) fn sign(key: &str, message: &str, digest: TempUrlDigest) -> String {
    match digest {
        TempUrlDigest::Sha1 => {
            let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(key.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
            mac.update(message.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
        TempUrlDigest::Sha256 => {
            let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(key.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
            mac.update(message.as_bytes());
            hex(&mac.finalize().into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_vectors() {
        let msg = "The quick brown fox jumps over the lazy dog";
        assert_eq!(
            sign("key", msg, TempUrlDigest::Sha1),
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        );
        assert_eq!(
            sign("key", msg, TempUrlDigest::Sha256),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
