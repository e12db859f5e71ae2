//! Package blobs in an S3-compatible bucket: `<prefix>/ab/abcdef…`, written with a single or a
//! multipart upload (object_store's buffered writer) and streamed back on download.
//!
//! With a custom endpoint (MinIO, Ceph, moto, …) requests use path-style addressing; plain HTTP is
//! allowed only when the endpoint says `http://`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How to reach the bucket (`--blobs s3://…` and the `AWS_*` settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketConfig {
    pub bucket: String,
    /// Key prefix inside the bucket, without slashes at either end (may be empty).
    pub prefix: String,
    /// A custom endpoint such as `http://127.0.0.1:9000`; AWS when unset.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// An opened bucket.
pub struct BucketBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

/// A failed bucket request (unreachable, refused, throttled): the server answers 503, since a
/// retry later may well succeed.
#[derive(Debug, thiserror::Error)]
#[error("the package bucket: {0}")]
pub struct BucketUnavailable(String);

fn io_error(error: object_store::Error) -> std::io::Error {
    match error {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, error.to_string()),
        other => std::io::Error::other(BucketUnavailable(other.to_string())),
    }
}

impl BucketBlobs {
    /// Builds the client (no request is made yet).
    ///
    /// # Errors
    /// A configuration the S3 client refuses (e.g. a malformed endpoint).
    pub fn open(config: &BucketConfig) -> std::io::Result<Self> {
        crate::tls::install_crypto_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(config.region.clone().unwrap_or_else(|| "us-east-1".into()))
            // Downloads stream at the device's pace: no total timeout, only one to connect.
            .with_client_options(
                ClientOptions::new().with_timeout_disabled().with_connect_timeout(Duration::from_secs(5)),
            )
            // A bucket that is down fails an upload within seconds (503), not after minutes.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = builder.build().map_err(io_error)?;
        Ok(Self { store: Arc::new(store), prefix: ObjectPath::from(config.prefix.as_str()) })
    }

    fn key(&self, sha256: &str) -> ObjectPath {
        self.prefix.clone().join(&sha256[..2]).join(sha256)
    }

    /// Writes and deletes a probe object.
    pub async fn check_writable(&self) -> std::io::Result<()> {
        let probe = self.prefix.clone().join(format!("ready-{:016x}", rand::random::<u64>()));
        self.store.put(&probe, PutPayload::from_static(b"ready")).await.map_err(io_error)?;
        self.store.delete(&probe).await.map_err(io_error)
    }

    /// Uploads the temp file (one request, or a multipart upload past 10 MB); S3 makes the object
    /// visible only once the upload completed.
    pub async fn commit(&self, temp: &std::path::Path, sha256: &str) -> std::io::Result<()> {
        let mut file = tokio::fs::File::open(temp).await?;
        let mut writer = BufWriter::new(Arc::clone(&self.store), self.key(sha256));
        let mut buffer = vec![0_u8; 1024 * 1024];
        loop {
            let read = match file.read(&mut buffer).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(error);
                }
            };
            if let Err(error) = writer.put(Bytes::copy_from_slice(&buffer[..read])).await {
                let _ = writer.abort().await;
                return Err(io_error(error));
            }
        }
        writer.shutdown().await.map_err(|e| std::io::Error::other(BucketUnavailable(e.to_string())))
    }

    pub async fn open_blob(
        &self,
        sha256: &str,
        range: Option<std::ops::RangeInclusive<u64>>,
    ) -> std::io::Result<Option<super::BlobBody>> {
        let options = GetOptions {
            range: range.map(|r| GetRange::Bounded(*r.start()..r.end().saturating_add(1))),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key(sha256), options).await {
            Ok(result) => {
                let length = result.range.end - result.range.start;
                let stream = result.into_stream().map_err(io_error).boxed();
                Ok(Some(super::BlobBody { length, stream }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(io_error(error)),
        }
    }

    pub async fn size_of(&self, sha256: &str) -> std::io::Result<Option<u64>> {
        match self.store.head(&self.key(sha256)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(io_error(error)),
        }
    }

    pub async fn older_than(&self, cutoff: SystemTime) -> std::io::Result<Vec<String>> {
        let objects: Vec<_> = self.store.list(Some(&self.prefix)).try_collect().await.map_err(io_error)?;
        Ok(objects
            .into_iter()
            .filter(|meta| SystemTime::from(meta.last_modified) < cutoff)
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .filter(|name| super::well_formed(name))
            .collect())
    }

    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.store.delete(&self.key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(io_error(error)),
        }
    }
}
