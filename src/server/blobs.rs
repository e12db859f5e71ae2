//! Package files on disk, content-addressed by SHA-256: `blobs/ab/abcdef…`.
//!
//! Uploads are written to a per-request file under `tmp/`, hashed while streaming, synced, then
//! renamed into place and the directory synced, so a blob is either complete or absent. `tmp/` is
//! emptied on start, removing leftovers of a crash.

use std::path::{Path, PathBuf};

/// Where blobs and upload temp files live.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens the store under `data_dir`, creating folders and removing stale temp files.
    ///
    /// # Errors
    /// I/O errors creating the folders.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&root)?;
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root, tmp })
    }

    /// Checks that a file can be created, synced and removed under `tmp/` (the `/ready` probe).
    ///
    /// # Errors
    /// The I/O error that stops uploads.
    pub async fn check_writable(&self) -> std::io::Result<()> {
        let probe = self.tmp.join(format!("ready-{:016x}", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"ready")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Folder for per-request upload files.
    #[must_use]
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Path of a blob, if `sha256` is a well-formed lowercase hex digest.
    #[must_use]
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Moves a fully written temp file into place as blob `sha256`, durably.
    ///
    /// # Errors
    /// I/O errors; the temp file is left for the caller's guard to delete.
    pub fn commit(&self, temp: &Path, sha256: &str) -> std::io::Result<PathBuf> {
        let target = self
            .path_of(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob hash"))?;
        if target.exists() {
            // Reused by a new release: fresh again, so collection cannot take it before the row lands.
            std::fs::File::options().append(true).open(&target)?.set_modified(std::time::SystemTime::now())?;
            return Ok(target);
        }
        std::fs::File::open(temp)?.sync_all()?;
        let folder = target.parent().unwrap_or(&self.root);
        if !folder.exists() {
            std::fs::create_dir_all(folder)?;
            // The new sub-folder's entry is durable only once its parent is synced.
            std::fs::File::open(&self.root)?.sync_all()?;
        }
        std::fs::rename(temp, &target)?;
        std::fs::File::open(folder)?.sync_all()?;
        Ok(target)
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
