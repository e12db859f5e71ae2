//! The diff builder: gives each new release its diff packages (CodePush protocol §3.8), off the
//! request path.
//!
//! A release is downloadable as a full package the moment it is committed. The builder runs as a
//! task of its own: woken after every new release (and every schedule tick, for releases another
//! replica or a crash left), it asks [`store::diffs::pending`] what to build. For each earlier
//! package a device may run ([`crate::domain::diff::bases`]) it writes a zip with
//! `hotcodepush.json` and the new or changed files, copied compressed from the release's own zip,
//! commits it as a content-addressed blob, and records it; the update cache is then dropped so
//! checks link the diff. A diff that would not be smaller than the full package is not kept.
//!
//! The zips are deterministic (entries copied as they are, fixed timestamps), so two replicas
//! that build the same diff store the same blob.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;

use zip::write::SimpleFileOptions;

use super::ServerState;
use super::blobs::{LocalBlob, TempFileGuard};
use super::store::diffs::{DiffBase, DiffRow, PendingRelease};
use super::store::{self, StoreError};
use crate::domain::diff::{self, DIFF_MANIFEST_NAME};
use crate::domain::package::{ManifestEntry, ZipLimits, hash_reader, inspect_zip, looks_like_zip};

/// How many pending releases one store call returns.
const BATCH: usize = 8;

/// Why building diffs stopped; the release stays pending and is tried again on the next wake.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading or writing a package: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds diffs whenever woken or every `state.schedule_tick`, until the server stops.
pub(crate) async fn run(state: ServerState) {
    loop {
        if let Err(error) = build_pending(&state).await {
            tracing::warn!(%error, "building diff packages failed; will retry");
        }
        tokio::select! {
            () = state.diff_wake.notified() => {}
            () = tokio::time::sleep(state.schedule_tick) => {}
        }
    }
}

/// Builds the diffs of every release still waiting for them; returns how many releases got done.
///
/// # Errors
/// Storage errors; the release being built stays pending.
pub async fn build_pending(state: &ServerState) -> Result<usize, DiffError> {
    let mut done = 0;
    loop {
        let pending = state.store.run(|c| store::diffs::pending(c, BATCH)).await?;
        if pending.is_empty() {
            return Ok(done);
        }
        for release in pending {
            let id = release.release_id;
            let rows = build_release(state, release).await?;
            let count = rows.len();
            state.store.run(move |c| store::diffs::record(c, id, &rows)).await?;
            state.cache.invalidate();
            tracing::info!(release_id = id, diffs = count, "diff packages built");
            done += 1;
        }
    }
}

/// The diffs of one release, committed as blobs (not yet recorded).
async fn build_release(state: &ServerState, release: PendingRelease) -> Result<Vec<DiffRow>, DiffError> {
    if release.bases.is_empty() {
        return Ok(Vec::new());
    }
    let Some(new) = state.blobs.local_file(&release.blob_sha256).await? else {
        tracing::warn!(blob = %release.blob_sha256, "a release's package is missing; no diffs for it");
        return Ok(Vec::new());
    };
    let mut bases = Vec::with_capacity(release.bases.len());
    for (package_hash, base) in release.bases {
        match base {
            DiffBase::Blob(blob) => {
                if let Some(file) = state.blobs.local_file(&blob).await? {
                    bases.push((package_hash, Base::File(file)));
                }
            }
            DiffBase::Manifest(entries) => bases.push((package_hash, Base::Manifest(entries))),
        }
    }
    let (tmp, limits) = (state.blobs.tmp_dir().to_path_buf(), state.zip_limits);
    let written = tokio::task::spawn_blocking(move || write_diffs(&new, &bases, &tmp, limits))
        .await
        .map_err(std::io::Error::other)??;
    let mut rows = Vec::with_capacity(written.len());
    for diff in written {
        state.blobs.commit(&diff.file.0, &diff.sha256).await?;
        rows.push(DiffRow { from_package_hash: diff.from_package_hash, blob_sha256: diff.sha256, size: diff.size });
    }
    Ok(rows)
}

/// A package to diff from, ready to read.
enum Base {
    File(LocalBlob),
    Manifest(Vec<ManifestEntry>),
}

/// A diff zip written to a temp file.
struct WrittenDiff {
    from_package_hash: String,
    file: TempFileGuard,
    sha256: String,
    size: u64,
}

/// Writes a diff zip from each base to the new package. A package that is not a readable zip
/// gets none (a single-file release has nothing to diff); a base that is not gets skipped.
fn write_diffs(
    new: &LocalBlob,
    bases: &[(String, Base)],
    tmp: &Path,
    limits: ZipLimits,
) -> std::io::Result<Vec<WrittenDiff>> {
    let Some(new_manifest) = manifest_of(&new.path, limits)? else { return Ok(Vec::new()) };
    let full_size = std::fs::metadata(&new.path)?.len();
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(&new.path)?)).map_err(std::io::Error::other)?;
    let mut written = Vec::new();
    for (from_package_hash, base) in bases {
        // One base that cannot be diffed (unreadable, a full disk) costs its devices the full
        // package, never the other bases' diffs.
        match write_diff(&mut archive, &new_manifest, base, tmp, limits) {
            Ok(Some((file, sha256, size))) if size < full_size => {
                written.push(WrittenDiff { from_package_hash: from_package_hash.clone(), file, sha256, size });
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, base = %from_package_hash, "cannot build a diff package; skipped"),
        }
    }
    Ok(written)
}

/// The diff from `base` to the package `archive` holds, written to a temp file with its SHA-256
/// and size; `None` when `base` is not a zip package or nothing changed.
fn write_diff<R: std::io::Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    new_manifest: &[ManifestEntry],
    base: &Base,
    tmp: &Path,
    limits: ZipLimits,
) -> std::io::Result<Option<(TempFileGuard, String, u64)>> {
    let read;
    let old_manifest: &[ManifestEntry] = match base {
        Base::File(file) => match manifest_of(&file.path, limits)? {
            Some(entries) => {
                read = entries;
                &read
            }
            None => return Ok(None),
        },
        Base::Manifest(entries) => entries,
    };
    let plan = diff::plan(old_manifest, new_manifest);
    if plan.changed.is_empty() && plan.deleted.is_empty() {
        return Ok(None);
    }
    let file = TempFileGuard(tmp.join(format!("diff-{:016x}", rand::random::<u64>())));
    write_zip(archive, &plan, &file.0)?;
    let (sha256, size) = hash_reader(BufReader::new(File::open(&file.0)?))?;
    Ok(Some((file, sha256, size)))
}

/// The manifest of a zip package; `None` when it is not one (or not a valid one).
fn manifest_of(path: &Path, limits: ZipLimits) -> std::io::Result<Option<Vec<ManifestEntry>>> {
    let mut head = [0_u8; 4];
    let mut file = File::open(path)?;
    let read = std::io::Read::read(&mut file, &mut head)?;
    if !looks_like_zip(&head[..read]) {
        return Ok(None);
    }
    Ok(inspect_zip(BufReader::new(File::open(path)?), limits).ok())
}

/// `hotcodepush.json`, then the changed files copied compressed from `archive`; fsynced.
fn write_zip<R: std::io::Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    plan: &diff::DiffPlan,
    path: &Path,
) -> std::io::Result<()> {
    let mut writer = zip::ZipWriter::new(BufWriter::new(File::create(path)?));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    writer.start_file(DIFF_MANIFEST_NAME, options).map_err(std::io::Error::other)?;
    writer.write_all(plan.manifest_json().as_bytes())?;
    for name in &plan.changed {
        let entry = archive.by_name(name).map_err(std::io::Error::other)?;
        writer.raw_copy_file(entry).map_err(std::io::Error::other)?;
    }
    let mut out = writer.finish().map_err(std::io::Error::other)?;
    out.flush()?;
    out.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()
}
