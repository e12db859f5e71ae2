//! Receiving a release upload: multipart `package` (file) + `packageInfo` (JSON text), and for
//! Mendix releases optionally `mendixModel` (the model snapshot the bundle was built from).
//!
//! The file streams to a per-request temp file, hashed as it arrives and cut off at the size limit
//! (413). Nothing is buffered whole in memory. The package hash is then computed from the file.

use std::io::BufReader;

use axum::extract::Multipart;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::ServerState;
use super::blobs::TempFileGuard;
use super::error::ApiError;
use crate::domain::package::{self, looks_like_zip};

/// A package file received into a temp file.
pub struct ReceivedPackage {
    pub temp: TempFileGuard,
    pub sha256: String,
    pub size: u64,
}

/// The parts of a release upload.
pub struct ReleaseUpload {
    pub package: ReceivedPackage,
    pub package_info: String,
    pub mendix_model: Option<String>,
}

fn bad_multipart(error: &axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The uploaded package is too large.".into())
    } else {
        ApiError::BadRequest(format!("Malformed multipart upload: {}", error.body_text()))
    }
}

/// Largest accepted `packageInfo` part (a description is at most 10,000 characters).
const PACKAGE_INFO_LIMIT: usize = 64 * 1024;

/// Largest accepted `mendixModel` part (the shared 80-entity project's model is 39 KB).
const MENDIX_MODEL_LIMIT: usize = 8 * 1024 * 1024;

/// Reads a small text part in chunks with a cap: a huge part must not be buffered whole.
async fn text_part(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    limit: usize,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| bad_multipart(&e))? {
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!("{name} is larger than {limit} bytes.")));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::BadRequest(format!("{name} is not UTF-8 text.")))
}

/// Reads the multipart body.
///
/// # Errors
/// 400 for missing parts or malformed bodies, 413 past the size limit.
pub async fn receive(state: &ServerState, mut multipart: Multipart) -> Result<ReleaseUpload, ApiError> {
    let mut package = None;
    let mut package_info = None;
    let mut mendix_model = None;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad_multipart(&e))? {
        match field.name() {
            Some("package") if package.is_some() => {
                return Err(ApiError::BadRequest("The upload has more than one \"package\" part.".into()));
            }
            Some("packageInfo") if package_info.is_some() => {
                return Err(ApiError::BadRequest("The upload has more than one \"packageInfo\" part.".into()));
            }
            Some("package") => {
                let chunks = futures_util::StreamExt::map(&mut field, |chunk| chunk.map_err(|e| bad_multipart(&e)));
                package = Some(write_package(state, chunks).await?);
            }
            Some("mendixModel") if mendix_model.is_some() => {
                return Err(ApiError::BadRequest("The upload has more than one \"mendixModel\" part.".into()));
            }
            Some("packageInfo") => {
                package_info = Some(text_part(&mut field, "packageInfo", PACKAGE_INFO_LIMIT).await?);
            }
            Some("mendixModel") => {
                mendix_model = Some(text_part(&mut field, "mendixModel", MENDIX_MODEL_LIMIT).await?);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected part {:?}: an upload has exactly one \"package\" and one \"packageInfo\" (and at most one \"mendixModel\").",
                    other.unwrap_or("")
                )));
            }
        }
    }
    let package = package.ok_or_else(|| ApiError::BadRequest("A deployment package must include a file.".into()))?;
    if package.size == 0 {
        return Err(ApiError::BadRequest("The uploaded package is empty.".into()));
    }
    let package_info = package_info
        .ok_or_else(|| ApiError::BadRequest("A deployment package must include packageInfo (JSON).".into()))?;
    Ok(ReleaseUpload { package, package_info, mendix_model })
}

/// Streams a package into a temp file, hashing it on the way and stopping at the upload limit
/// (413). The file is removed again unless the package is committed.
///
/// # Errors
/// The stream's own errors, 413 past the limit, I/O errors.
pub async fn write_package<S>(state: &ServerState, chunks: S) -> Result<ReceivedPackage, ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, ApiError>>,
{
    let path = state.blobs.tmp_dir().join(format!("upload-{}", super::store::accounts::generate_key()));
    let temp = TempFileGuard(path.clone());
    let mut file = tokio::fs::File::create(&path).await?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > state.upload_limit_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "The uploaded package is larger than the limit of {} bytes.",
                state.upload_limit_bytes
            )));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(ReceivedPackage { temp, sha256: hex::encode(hasher.finalize()), size })
}

/// The CodePush package hash of a received file: the manifest hash of a zip, else its SHA-256.
///
/// # Errors
/// 400 for unsafe or malformed zips.
pub async fn package_hash(state: &ServerState, package: &ReceivedPackage) -> Result<String, ApiError> {
    let path = package.temp.0.clone();
    let file_sha = package.sha256.clone();
    let limits = state.zip_limits;
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut head = [0_u8; 4];
        let read = std::io::Read::read(&mut file, &mut head)?;
        if !looks_like_zip(&head[..read]) {
            return Ok(file_sha);
        }
        let entries = package::inspect_zip(BufReader::new(std::fs::File::open(&path)?), limits)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if crate::domain::diff::looks_like_a_diff(&entries) {
            return Err(ApiError::BadRequest(
                "The package has hotcodepush.json at its root: devices would take it for a diff package. Remove that file."
                    .into(),
            ));
        }
        Ok(package::manifest_hash(&entries))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Moves a received package into the blob store (folder or bucket), durably; after this a release
/// row may name it.
///
/// # Errors
/// I/O or bucket errors (503 for a full disk, no file descriptors or an unreachable bucket).
pub async fn commit(state: &ServerState, package: &ReceivedPackage) -> Result<(), ApiError> {
    state.blobs.commit(&package.temp.0, &package.sha256).await?;
    Ok(())
}

/// Checks a release for a Mendix channel: a runtime-OTA zip (already inspected for unsafe paths by
/// [`package_hash`]) with `index.<platform>.bundle` at its root, whose compiled deployment ID can be
/// determined (given `claimed` must match it). Returns the bundle record with a fresh token.
///
/// # Errors
/// 400 naming what is wrong with the zip or its ID.
pub async fn mendix_bundle(
    package: &ReceivedPackage,
    platform: &'static str,
    claimed: Option<String>,
    needs: crate::domain::mendix::NativeNeeds,
) -> Result<super::store::releases::MendixBundle, ApiError> {
    use crate::domain::mendix;
    let path = package.temp.0.clone();
    let bundle_name = mendix::bundle_file(platform).ok_or_else(|| ApiError::Internal(platform.into()))?;
    let deployment_id = tokio::task::spawn_blocking(move || {
        let refuse = |why: String| ApiError::BadRequest(format!("This is not a Mendix runtime-OTA package: {why}"));
        let file = std::fs::File::open(&path)?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            refuse(format!("not a zip ({e}); zip the bundle folder of MxBuild's deployment/native/bundle/<platform>"))
        })?;
        let mut entry = archive.by_name(bundle_name).map_err(|_| {
            refuse(format!(
                "{bundle_name} must be at the zip's root (zip the contents of deployment/native/bundle/{platform})"
            ))
        })?;
        let mut bundle = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bundle)?;
        mendix::compiled_deployment_id(&bundle, claimed.as_deref())
            .map_err(|e| ApiError::BadRequest(format!("The deployment ID of {bundle_name} cannot be determined: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(super::store::releases::MendixBundle { deployment_id, needs, token: super::store::accounts::generate_key() })
}
