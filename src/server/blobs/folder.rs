//! Package blobs in the data dir's `blobs/` folder: `blobs/ab/abcdef…`. A temp file is synced, then
//! renamed into place and the directory synced, so a blob is either complete or absent.

use std::path::{Path, PathBuf};

/// The blob folder.
#[derive(Debug, Clone)]
pub struct FolderBlobs {
    root: PathBuf,
}

impl FolderBlobs {
    /// Opens (creates) `data_dir/blobs`.
    ///
    /// # Errors
    /// I/O errors creating the folder.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("blobs");
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// Path of a blob, if `sha256` is a well-formed lowercase hex digest.
    #[must_use]
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        super::well_formed(sha256).then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Moves a fully written temp file into place as blob `sha256`, durably.
    ///
    /// # Errors
    /// I/O errors; the temp file is left for the caller's guard to delete.
    pub fn commit(&self, temp: &Path, sha256: &str) -> std::io::Result<()> {
        let target = self
            .path_of(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob hash"))?;
        if target.exists() {
            // Reused by a new release: fresh again, so collection cannot take it before the row lands.
            std::fs::File::options().append(true).open(&target)?.set_modified(std::time::SystemTime::now())?;
            return Ok(());
        }
        std::fs::File::open(temp)?.sync_all()?;
        let folder = target.parent().unwrap_or(&self.root);
        if !folder.exists() {
            std::fs::create_dir_all(folder)?;
            // The new sub-folder's entry is durable only once its parent is synced.
            std::fs::File::open(&self.root)?.sync_all()?;
        }
        std::fs::rename(temp, &target)?;
        std::fs::File::open(folder)?.sync_all()
    }

    /// Blobs last written before `older_than` (digests), for collecting those no release uses.
    ///
    /// # Errors
    /// I/O errors listing the folders.
    pub fn older_than(&self, older_than: std::time::SystemTime) -> std::io::Result<Vec<String>> {
        let mut found = Vec::new();
        for folder in std::fs::read_dir(&self.root)? {
            let folder = folder?.path();
            if !folder.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&folder)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if self.path_of(&name).is_some() && entry.metadata()?.modified()? < older_than {
                    found.push(name);
                }
            }
        }
        Ok(found)
    }

    /// Deletes a blob.
    ///
    /// # Errors
    /// I/O errors other than "already gone".
    pub fn remove(&self, sha256: &str) -> std::io::Result<()> {
        let Some(path) = self.path_of(sha256) else { return Ok(()) };
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// A blob file, or the inclusive byte `range` of it, as a stream; `None` when it does not exist.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub async fn open_blob(
        &self,
        sha256: &str,
        range: Option<std::ops::RangeInclusive<u64>>,
    ) -> std::io::Result<Option<super::BlobBody>> {
        use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
        let Some(path) = self.path_of(sha256) else { return Ok(None) };
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let size = file.metadata().await?.len();
        let (start, length) = match range {
            Some(range) => (*range.start(), range.end().saturating_sub(*range.start()) + 1),
            None => (0, size),
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), 64 * 1024);
        Ok(Some(super::BlobBody { length, stream: Box::pin(stream) }))
    }

    /// A blob file's size; `None` when it does not exist.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub async fn size_of(&self, sha256: &str) -> std::io::Result<Option<u64>> {
        let Some(path) = self.path_of(sha256) else { return Ok(None) };
        match tokio::fs::metadata(&path).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}
