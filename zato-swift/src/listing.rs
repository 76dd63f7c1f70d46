//! Account and container operations: HEAD, POST metadata, create, delete, and listings with
//! auto-paginating streams.

use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::{
    Call, ForClient, Metadata, SwiftClient, Target, header_u64, meta_headers, read_meta,
};
use crate::error::{SwiftError, SwiftErrorKind};
use crate::names::{SwiftPath, container_path, encode_component};

/// What `HEAD` on the account tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// Number of containers.
    pub container_count: u64,
    /// Number of objects.
    pub object_count: u64,
    /// Bytes stored.
    pub bytes_used: u64,
    /// `X-Account-Meta-*`, without the prefix. Holds the temp URL keys when set.
    pub metadata: Metadata,
}

/// What `HEAD` on a container tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Number of objects.
    pub object_count: u64,
    /// Bytes stored.
    pub bytes_used: u64,
    /// `X-Container-Meta-*`, without the prefix.
    pub metadata: Metadata,
}

/// One container of an account listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerEntry {
    /// The container's name.
    pub name: String,
    /// Number of objects.
    #[serde(default)]
    pub count: u64,
    /// Bytes stored.
    #[serde(default)]
    pub bytes: u64,
}

/// One object of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectSummary {
    /// The object's name.
    pub name: String,
    /// The MD5 of its content.
    #[serde(default)]
    pub hash: String,
    /// Its size.
    #[serde(default)]
    pub bytes: u64,
    /// Its content type.
    #[serde(default)]
    pub content_type: String,
    /// When it was last written, as Swift formats it.
    #[serde(default)]
    pub last_modified: String,
}

/// An entry of a container listing: an object, or with a delimiter, a "directory".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ObjectEntry {
    /// A common prefix up to the delimiter, e.g. `2024/`.
    Subdir {
        /// The prefix.
        subdir: String,
    },
    /// An object.
    Object(ObjectSummary),
}

impl ObjectEntry {
    /// The object's name or the subdir's prefix; the marker to continue a listing after it.
    pub fn name(&self) -> &str {
        match self {
            ObjectEntry::Subdir { subdir } => subdir,
            ObjectEntry::Object(o) => &o.name,
        }
    }
}

/// Filters and paging of a listing.
///
/// # Examples
///
/// ```
/// use zato_swift::ListOptions;
///
/// let opts = ListOptions::default().prefix("2024/").delimiter('/').limit(100);
/// assert_eq!(opts.limit, Some(100));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only names starting with this.
    pub prefix: Option<String>,
    /// Roll names up to the first delimiter after the prefix into [`ObjectEntry::Subdir`].
    pub delimiter: Option<char>,
    /// Only names after this one.
    pub marker: Option<String>,
    /// Only names before this one.
    pub end_marker: Option<String>,
    /// At most this many entries (in streams: per page).
    pub limit: Option<u32>,
}

impl ListOptions {
    /// Sets `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets `delimiter`.
    pub fn delimiter(mut self, delimiter: char) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Sets `marker`.
    pub fn marker(mut self, marker: impl Into<String>) -> Self {
        self.marker = Some(marker.into());
        self
    }

    /// Sets `end_marker`.
    pub fn end_marker(mut self, end_marker: impl Into<String>) -> Self {
        self.end_marker = Some(end_marker.into());
        self
    }

    /// Sets `limit`.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn query(&self) -> String {
        let mut q = String::from("format=json");
        let mut add = |k: &str, v: &str| {
            q.push('&');
            q.push_str(k);
            q.push('=');
            q.push_str(&encode_component(v));
        };
        if let Some(v) = &self.prefix {
            add("prefix", v);
        }
        if let Some(v) = self.delimiter {
            add("delimiter", v.encode_utf8(&mut [0; 4]));
        }
        if let Some(v) = &self.marker {
            add("marker", v);
        }
        if let Some(v) = &self.end_marker {
            add("end_marker", v);
        }
        if let Some(v) = self.limit {
            add("limit", &v.to_string());
        }
        q
    }
}

trait Named {
    fn marker(&self) -> &str;
}

impl Named for ContainerEntry {
    fn marker(&self) -> &str {
        &self.name
    }
}

impl Named for ObjectEntry {
    fn marker(&self) -> &str {
        self.name()
    }
}

impl SwiftClient {
    /// `HEAD` on the account.
    ///
    /// # Errors
    ///
    /// Any [`SwiftError`] of the request.
    pub async fn head_account(&self) -> Result<AccountInfo, SwiftError> {
        let resp = self
            .execute(Call::new(Method::HEAD, SwiftPath::Account, Target::Account))
            .await?;
        let h = resp.headers();
        Ok(AccountInfo {
            container_count: header_u64(h, "x-account-container-count"),
            object_count: header_u64(h, "x-account-object-count"),
            bytes_used: header_u64(h, "x-account-bytes-used"),
            metadata: read_meta(h, "account"),
        })
    }

    /// `POST` account metadata; keys already set and not named here are kept.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidMetadata`] or any error of the request.
    pub async fn post_account(&self, metadata: &Metadata) -> Result<(), SwiftError> {
        let mut call = Call::new(Method::POST, SwiftPath::Account, Target::Account);
        meta_headers(&mut call.headers, "account", metadata).for_client(self)?;
        self.execute(call).await.map(drop)
    }

    /// Sets the account's `Temp-URL-Key`, with which [`temp_url`](Self::temp_url) signs.
    ///
    /// # Errors
    ///
    /// As [`post_account`](Self::post_account).
    pub async fn set_temp_url_key(&self, key: &str) -> Result<(), SwiftError> {
        let mut m = Metadata::new();
        m.insert("temp-url-key".into(), key.into());
        self.post_account(&m).await
    }

    /// One page of the account's containers.
    ///
    /// # Errors
    ///
    /// Any error of the request, or [`SwiftErrorKind::Protocol`] for a listing that is not JSON.
    pub async fn list_containers(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<ContainerEntry>, SwiftError> {
        let call = Call::new(Method::GET, SwiftPath::Account, Target::Account).query(opts.query());
        self.list(call).await
    }

    /// Every container matching `opts`, fetching page after page.
    pub fn containers(
        &self,
        opts: ListOptions,
    ) -> impl Stream<Item = Result<ContainerEntry, SwiftError>> + Send + '_ {
        self.paginate(opts, |this, opts| {
            this.list(
                Call::new(Method::GET, SwiftPath::Account, Target::Account).query(opts.query()),
            )
        })
    }

    /// Creates a container (or updates its metadata when it exists).
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::InvalidName`], [`SwiftErrorKind::InvalidMetadata`] or any error of the
    /// request.
    pub async fn create_container(
        &self,
        container: &str,
        metadata: &Metadata,
    ) -> Result<(), SwiftError> {
        let mut call = Call::new(
            Method::PUT,
            container_path(container).for_client(self)?,
            Target::Container(container),
        );
        meta_headers(&mut call.headers, "container", metadata).for_client(self)?;
        self.execute(call).await.map(drop)
    }

    /// `HEAD` on a container.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] when it does not exist, or any error of the request.
    pub async fn head_container(&self, container: &str) -> Result<ContainerInfo, SwiftError> {
        let call = Call::new(
            Method::HEAD,
            container_path(container).for_client(self)?,
            Target::Container(container),
        );
        let resp = self.execute(call).await?;
        let h: &HeaderMap = resp.headers();
        Ok(ContainerInfo {
            object_count: header_u64(h, "x-container-object-count"),
            bytes_used: header_u64(h, "x-container-bytes-used"),
            metadata: read_meta(h, "container"),
        })
    }

    /// `POST` container metadata; keys not named here are kept.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] when it does not exist, or any error of the request.
    pub async fn post_container(
        &self,
        container: &str,
        metadata: &Metadata,
    ) -> Result<(), SwiftError> {
        let mut call = Call::new(
            Method::POST,
            container_path(container).for_client(self)?,
            Target::Container(container),
        );
        meta_headers(&mut call.headers, "container", metadata).for_client(self)?;
        self.execute(call).await.map(drop)
    }

    /// Deletes an empty container.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Conflict`] when it is not empty, [`SwiftErrorKind::NotFound`] when it does
    /// not exist.
    pub async fn delete_container(&self, container: &str) -> Result<(), SwiftError> {
        let call = Call::new(
            Method::DELETE,
            container_path(container).for_client(self)?,
            Target::Container(container),
        );
        self.execute(call).await.map(drop)
    }

    /// One page of a container's objects.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::NotFound`] when the container does not exist, or any error of the request.
    pub async fn list_objects(
        &self,
        container: &str,
        opts: &ListOptions,
    ) -> Result<Vec<ObjectEntry>, SwiftError> {
        let call = Call::new(
            Method::GET,
            container_path(container).for_client(self)?,
            Target::Container(container),
        )
        .query(opts.query());
        self.list(call).await
    }

    /// Every object of a container matching `opts`, fetching page after page.
    pub fn objects<'a>(
        &'a self,
        container: &'a str,
        opts: ListOptions,
    ) -> impl Stream<Item = Result<ObjectEntry, SwiftError>> + Send + 'a {
        self.paginate(opts, move |this, opts| async move {
            this.list_objects(container, &opts).await
        })
    }

    async fn list<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Vec<T>, SwiftError> {
        let resp = self.execute(call).await?;
        if resp.status().as_u16() == 204 {
            return Ok(Vec::new());
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| SwiftErrorKind::Transport {
                message: "listing body".into(),
                source: Some(Box::new(e)),
            })
            .for_client(self)?;
        if body.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&body)
            .map_err(|e| SwiftErrorKind::Protocol {
                message: format!("the listing is not the expected JSON: {e}"),
            })
            .for_client(self)
    }

    fn paginate<'a, T, F, Fut>(
        &'a self,
        opts: ListOptions,
        page: F,
    ) -> impl Stream<Item = Result<T, SwiftError>> + Send + 'a
    where
        T: Named + Send + 'a,
        F: Fn(&'a SwiftClient, ListOptions) -> Fut + Send + 'a,
        Fut: Future<Output = Result<Vec<T>, SwiftError>> + Send + 'a,
    {
        stream::try_unfold((Some(opts), page), move |(opts, page)| async move {
            let Some(opts) = opts else {
                return Ok::<_, SwiftError>(None);
            };
            let items = page(self, opts.clone()).await?;
            let next = items.last().map(|last| ListOptions {
                marker: Some(last.marker().to_string()),
                ..opts
            });
            Ok(Some((items, (next, page))))
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_values() {
        let q = ListOptions::default()
            .prefix("a b&c")
            .delimiter('/')
            .marker("ż")
            .limit(2)
            .query();
        assert_eq!(
            q,
            "format=json&prefix=a%20b%26c&delimiter=%2F&marker=%C5%BC&limit=2"
        );
    }

    #[test]
    fn entries_parse() {
        let v: Vec<ObjectEntry> = serde_json::from_str(
            r#"[{"subdir":"2024/"},{"name":"a","hash":"h","bytes":1,"content_type":"t","last_modified":"x"}]"#,
        )
        .unwrap();
        assert_eq!(v[0].name(), "2024/");
        assert_eq!(v[1].name(), "a");
    }
}
