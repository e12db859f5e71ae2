//! Package blobs, content-addressed by SHA-256, in the data dir's `blobs/` folder (the default) or
//! in an S3-compatible bucket (`serve --blobs s3://bucket/prefix`).
//!
//! Uploads are always received into a per-request file under the data dir's `tmp/`, hashed while
//! streaming and checked there. Only then is the file committed as a blob (renamed into the folder,
//! or uploaded to the bucket), and only after that is the release row written: a crash at any point
//! leaves at most an unreferenced blob, which [`crate::server::ServerState::collect_blobs`] sweeps.
//! `tmp/` is emptied on start, removing leftovers of a crash.
//!
//! Packages of up to [`SMALL_BLOB_BYTES`] are kept in memory once downloaded (at most
//! [`SMALL_BLOB_CACHE_BYTES`] in all): a release is downloaded by every device, and content-addressed
//! bytes never go stale.

mod bucket;
mod folder;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use bucket::{BucketConfig, BucketUnavailable};

/// Where package blobs live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BlobLocation {
    /// `blobs/` in the data dir.
    #[default]
    Folder,
    /// An S3-compatible bucket.
    Bucket(BucketConfig),
}

impl BlobLocation {
    /// For logs and messages: `folder` or `s3://bucket[/prefix]` (never credentials).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Folder => "folder".into(),
            Self::Bucket(b) if b.prefix.is_empty() => format!("s3://{}", b.bucket),
            Self::Bucket(b) => format!("s3://{}/{}", b.bucket, b.prefix),
        }
    }

    /// Parses `--blobs`: `folder` (or empty) or `s3://bucket[/prefix]`; the bucket's endpoint,
    /// region and credentials come from `bucket` settings.
    ///
    /// # Errors
    /// A message naming what is wrong with the text.
    pub fn parse(text: &str, settings: BucketConfig) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text == "folder" {
            return Ok(Self::Folder);
        }
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("--blobs {text}: expected `folder` or s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("--blobs {text}: the bucket name is missing"));
        }
        Ok(Self::Bucket(BucketConfig {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            ..settings
        }))
    }
}

/// The largest blob kept in memory.
pub const SMALL_BLOB_BYTES: u64 = 1024 * 1024;
/// The memory all cached blobs may take together.
pub const SMALL_BLOB_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Weighs cached blobs by their size.
#[derive(Clone)]
struct BySize;

impl quick_cache::Weighter<String, Bytes> for BySize {
    fn weight(&self, _key: &String, bytes: &Bytes) -> u64 {
        bytes.len() as u64
    }
}

/// A blob's bytes as a stream, with its exact length.
pub struct BlobBody {
    pub length: u64,
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
}

enum Backend {
    Folder(folder::FolderBlobs),
    Bucket(bucket::BucketBlobs),
}

/// The blob store of a server: the local upload temp folder plus the folder or bucket.
pub struct BlobStore {
    tmp: PathBuf,
    backend: Backend,
    /// [`BlobLocation::describe`] of where the blobs are.
    label: String,
    /// `--blob-base-url`: download URLs point here (a CDN or the bucket) instead of the server.
    base_url: Option<String>,
    /// Recently downloaded small blobs.
    memory: quick_cache::sync::Cache<String, Bytes, BySize>,
}

/// Whether `sha256` is a lowercase hex SHA-256 digest (and so safe as a file or object name).
#[must_use]
pub fn well_formed(sha256: &str) -> bool {
    crate::domain::package::is_sha256_hex(sha256)
}

impl BlobStore {
    /// Opens the store: empties `data_dir/tmp`, creates `data_dir/blobs` or connects the bucket.
    ///
    /// # Errors
    /// I/O errors on the data dir; a bucket configuration the client refuses.
    pub fn open(data_dir: &Path, location: &BlobLocation, base_url: Option<&str>) -> std::io::Result<Self> {
        let tmp = data_dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let backend = match location {
            BlobLocation::Folder => Backend::Folder(folder::FolderBlobs::open(data_dir)?),
            BlobLocation::Bucket(config) => Backend::Bucket(bucket::BucketBlobs::open(config)?),
        };
        let base_url = base_url.map(|u| u.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        let memory = quick_cache::sync::Cache::with_weighter(1024, SMALL_BLOB_CACHE_BYTES, BySize);
        Ok(Self { tmp, backend, label: location.describe(), base_url, memory })
    }

    /// Folder for per-request upload files.
    #[must_use]
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// For logs: `folder` or `s3://bucket/prefix` (never credentials).
    #[must_use]
    pub fn describe(&self) -> &str {
        &self.label
    }

    /// The download URL of a blob under `--blob-base-url` (`<base>/ab/abcdef…`), if one is set.
    #[must_use]
    pub fn public_url(&self, sha256: &str) -> Option<String> {
        let base = self.base_url.as_deref()?;
        well_formed(sha256).then(|| format!("{base}/{}/{sha256}", &sha256[..2]))
    }

    /// Checks that uploads can be received and stored: a probe file in `tmp/`, and for a bucket a
    /// probe object written and deleted (the `/ready` probe).
    ///
    /// # Errors
    /// The error that stops uploads.
    pub async fn check_writable(&self) -> std::io::Result<()> {
        let probe = self.tmp.join(format!("ready-{:016x}", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"ready")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(std::io::Error::other)??;
        match &self.backend {
            Backend::Folder(_) => Ok(()),
            Backend::Bucket(bucket) => bucket.check_writable().await,
        }
    }

    /// Stores a fully written temp file as blob `sha256`, durably. Storing a blob that exists
    /// already marks it fresh, so collection cannot take it before the new release row lands.
    ///
    /// # Errors
    /// I/O or bucket errors; the temp file is left for the caller's guard to delete.
    pub async fn commit(&self, temp: &Path, sha256: &str) -> std::io::Result<()> {
        if !well_formed(sha256) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob hash"));
        }
        match &self.backend {
            Backend::Folder(folder) => {
                let (folder, temp, sha256) = (folder.clone(), temp.to_path_buf(), sha256.to_owned());
                tokio::task::spawn_blocking(move || folder.commit(&temp, &sha256))
                    .await
                    .map_err(std::io::Error::other)?
            }
            Backend::Bucket(bucket) => bucket.commit(temp, sha256).await,
        }
    }

    /// A blob's bytes, all of them or the inclusive byte `range` (which must lie inside the blob);
    /// `None` when there is no such blob. `length` is what the stream yields.
    ///
    /// # Errors
    /// I/O or bucket errors other than "not found".
    pub async fn open_blob(
        &self,
        sha256: &str,
        range: Option<RangeInclusive<u64>>,
    ) -> std::io::Result<Option<BlobBody>> {
        if !well_formed(sha256) {
            return Ok(None);
        }
        if let Some(bytes) = self.memory.get(sha256) {
            return Ok(Some(from_memory(&bytes, range)));
        }
        let opened = match &self.backend {
            Backend::Folder(folder) => folder.open_blob(sha256, range.clone()).await?,
            Backend::Bucket(bucket) => bucket.open_blob(sha256, range.clone()).await?,
        };
        match opened {
            Some(blob) if range.is_none() && blob.length <= SMALL_BLOB_BYTES => {
                let mut bytes = Vec::with_capacity(usize::try_from(blob.length).unwrap_or_default());
                let mut stream = blob.stream;
                while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                    bytes.extend_from_slice(&chunk?);
                }
                let bytes = Bytes::from(bytes);
                self.memory.insert(sha256.to_owned(), bytes.clone());
                Ok(Some(from_memory(&bytes, None)))
            }
            other => Ok(other),
        }
    }

    /// A blob as a file on this machine, to read with random access (building diff packages): the
    /// folder's own file, or a bucket object downloaded into `tmp/` (deleted when dropped). `None`
    /// when there is no such blob.
    ///
    /// # Errors
    /// I/O or bucket errors other than "not found".
    pub async fn local_file(&self, sha256: &str) -> std::io::Result<Option<LocalBlob>> {
        if let Backend::Folder(folder) = &self.backend {
            return Ok(folder
                .path_of(sha256)
                .filter(|path| path.is_file())
                .map(|path| LocalBlob { path, _temp: None }));
        }
        // Straight from the bucket: old packages read for diffs are not downloads, so they stay out
        // of the download cache.
        let blob = match &self.backend {
            Backend::Folder(_) => None,
            Backend::Bucket(bucket) => bucket.open_blob(sha256, None).await?,
        };
        let Some(blob) = blob else { return Ok(None) };
        let path = self.tmp.join(format!("blob-{:016x}", rand::random::<u64>()));
        let guard = TempFileGuard(path.clone());
        let mut file = tokio::fs::File::create(&path).await?;
        let mut stream = blob.stream;
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk?).await?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        Ok(Some(LocalBlob { path, _temp: Some(guard) }))
    }

    /// A blob's size; `None` when there is no such blob.
    ///
    /// # Errors
    /// I/O or bucket errors other than "not found".
    pub async fn size_of(&self, sha256: &str) -> std::io::Result<Option<u64>> {
        if !well_formed(sha256) {
            return Ok(None);
        }
        if let Some(bytes) = self.memory.get(sha256) {
            return Ok(Some(bytes.len() as u64));
        }
        match &self.backend {
            Backend::Folder(folder) => folder.size_of(sha256).await,
            Backend::Bucket(bucket) => bucket.size_of(sha256).await,
        }
    }

    /// Blobs last written before `cutoff` (digests), for collecting those no release uses.
    ///
    /// # Errors
    /// I/O or bucket errors listing them.
    pub async fn older_than(&self, cutoff: SystemTime) -> std::io::Result<Vec<String>> {
        match &self.backend {
            Backend::Folder(folder) => {
                let folder = folder.clone();
                tokio::task::spawn_blocking(move || folder.older_than(cutoff)).await.map_err(std::io::Error::other)?
            }
            Backend::Bucket(bucket) => bucket.older_than(cutoff).await,
        }
    }

    /// Deletes a blob; one already gone is fine.
    ///
    /// # Errors
    /// I/O or bucket errors.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        if !well_formed(sha256) {
            return Ok(());
        }
        self.memory.remove(sha256);
        match &self.backend {
            Backend::Folder(folder) => folder.remove(sha256),
            Backend::Bucket(bucket) => bucket.remove(sha256).await,
        }
    }
}

/// A cached blob, or the inclusive byte `range` of it (inside it), as a one-chunk stream.
fn from_memory(bytes: &Bytes, range: Option<RangeInclusive<u64>>) -> BlobBody {
    let part = match range {
        Some(range) => {
            let start = usize::try_from(*range.start()).unwrap_or(usize::MAX).min(bytes.len());
            let end = usize::try_from(*range.end()).unwrap_or(usize::MAX).saturating_add(1).min(bytes.len());
            bytes.slice(start..end.max(start))
        }
        None => bytes.clone(),
    };
    BlobBody { length: part.len() as u64, stream: Box::pin(futures_util::stream::once(std::future::ready(Ok(part)))) }
}

/// A blob readable as a local file; see [`BlobStore::local_file`].
pub struct LocalBlob {
    pub path: PathBuf,
    _temp: Option<TempFileGuard>,
}

/// Deletes a temp file when dropped unless it was moved away.
pub struct TempFileGuard(pub PathBuf);

impl Drop for TempFileGuard {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(error) = std::fs::remove_file(&self.0)
        {
            tracing::warn!(path = %self.0.display(), %error, "could not remove upload temp file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_locations_parse_and_name_what_is_wrong() {
        let settings = BucketConfig { region: Some("eu-west-1".into()), ..BucketConfig::default() };
        assert_eq!(BlobLocation::parse("", settings.clone()), Ok(BlobLocation::Folder));
        let Ok(BlobLocation::Bucket(bucket)) = BlobLocation::parse("s3://packages/otadeck/prod/", settings.clone())
        else {
            panic!("a bucket");
        };
        assert_eq!((bucket.bucket.as_str(), bucket.prefix.as_str()), ("packages", "otadeck/prod"));
        assert_eq!(bucket.region.as_deref(), Some("eu-west-1"));
        assert_eq!(BlobLocation::Bucket(bucket).describe(), "s3://packages/otadeck/prod");
        assert_eq!(BlobLocation::Folder.describe(), "folder");
        assert!(BlobLocation::parse("s3:///x", settings.clone()).is_err_and(|e| e.contains("bucket name")));
        assert!(BlobLocation::parse("gs://x", settings).is_err_and(|e| e.contains("expected")));
    }
}
