//! Packaging a `CodePush/` folder as the CodePush CLI does: a zip of files only, paths relative to
//! the folder's parent (`CodePush/index.android.bundle`), in a deterministic order, plus the package
//! hash computed with the same [`crate::domain::package`] function the server uses.
//!
//! Each file is read once: hashed and deflated together. The sorted file list is split into
//! size-balanced contiguous runs, one per core; each run becomes an in-memory zip, and the runs are
//! merged in order without recompressing.

use super::Platform;
use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::BundleError;
use super::sign::ReleaseSigner;
use crate::domain::package::{ManifestEntry, SIGNATURE_FILE_NAME, ZipLimits, is_ignored, manifest_hash, sha256_hex};

/// The result of packaging.
#[derive(Debug, Clone)]
pub struct PackagedRelease {
    pub zip_path: PathBuf,
    pub package_hash: String,
    pub file_count: usize,
    /// Bytes of the files before compression.
    pub content_bytes: u64,
    pub signed: bool,
}

/// One file to package: where it is and the name it gets in the zip.
#[derive(Debug, Clone)]
struct SourceFile {
    path: PathBuf,
    name: String,
    size: u64,
}

fn zip_options() -> SimpleFileOptions {
    // Fixed timestamp and mode: the same folder always gives the same bytes.
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// The manifest of a package as `path:sha256` lines (what its package hash is computed from): of a
/// zip, or of a `CodePush` folder (paths start with the folder's name).
///
/// # Errors
/// I/O errors, a zip that is not a safe package, an empty folder.
pub fn manifest_lines(path: &Path) -> Result<Vec<String>, BundleError> {
    let scratch;
    let zip_path = if path.is_dir() {
        scratch = tempfile::tempdir().map_err(BundleError::io(path))?;
        let zip_path = scratch.path().join("bundle.zip");
        package(path, &zip_path, None)?;
        zip_path
    } else {
        path.to_path_buf()
    };
    let file = std::fs::File::open(&zip_path).map_err(BundleError::io(&zip_path))?;
    let entries = crate::domain::package::inspect_zip(std::io::BufReader::new(file), ZipLimits::default())
        .map_err(|e| BundleError::Zip(format!("{}: {e}", path.display())))?;
    Ok(entries.into_iter().map(|e| format!("{}:{}", e.path, e.sha256)).collect())
}

/// Zips `code_push_dir` to `zip_path` and computes its package hash. With a signer, the signature
/// is written to `<code_push_dir>/.codepushrelease` and included in the zip (not in the hash).
///
/// # Errors
/// I/O errors, or an empty folder.
pub fn package(
    code_push_dir: &Path,
    zip_path: &Path,
    signer: Option<&ReleaseSigner>,
) -> Result<PackagedRelease, BundleError> {
    let top = code_push_dir.file_name().map_or_else(|| "CodePush".to_owned(), |n| n.to_string_lossy().into_owned());
    let signature_path = code_push_dir.join(SIGNATURE_FILE_NAME);
    if signer.is_some() && signature_path.exists() {
        std::fs::remove_file(&signature_path).map_err(BundleError::io(&signature_path))?;
    }
    let mut files = Vec::new();
    collect(code_push_dir, &top, &mut files)?;
    write_package(files, code_push_dir, zip_path, signer.map(|s| (s, signature_path.as_path(), top.as_str())))
}

/// Packs MxBuild's bundle folder of one platform (`deployment/native/bundle/android` or `…/iOS`)
/// in the Mendix runtime-OTA layout: `index.<platform>.bundle` at the zip's root, Android's
/// `assets/index.android.bundle` moved there and its `res/*` folders (`drawable-*`, `raw`) next
/// to it, as the device resolves assets relative to the bundle.
///
/// # Errors
/// I/O and zip errors; [`BundleError::NoOutput`] for an empty folder.
pub fn package_mendix_ota(
    platform_dir: &Path,
    platform: Platform,
    zip_path: &Path,
) -> Result<PackagedRelease, BundleError> {
    let mut files = Vec::new();
    collect(platform_dir, "", &mut files)?;
    for file in &mut files {
        file.name = mendix_ota_name(file.name.trim_start_matches('/'), platform);
    }
    write_package(files, platform_dir, zip_path, None)
}

/// Where a file of MxBuild's bundle folder goes in a runtime-OTA zip.
fn mendix_ota_name(relative: &str, platform: Platform) -> String {
    match platform {
        Platform::Android => {
            if relative == "assets/index.android.bundle" {
                "index.android.bundle".to_owned()
            } else if let Some(resource) = relative.strip_prefix("res/") {
                resource.to_owned()
            } else {
                relative.to_owned()
            }
        }
        Platform::Ios => relative.to_owned(),
    }
}

/// Zips `files` (sorted, ignored names dropped) on all cores; signs when a signer with its
/// signature path and top folder is given.
fn write_package(
    mut files: Vec<SourceFile>,
    source_dir: &Path,
    zip_path: &Path,
    signer: Option<(&ReleaseSigner, &Path, &str)>,
) -> Result<PackagedRelease, BundleError> {
    let code_push_dir = source_dir;
    files.retain(|f| !is_ignored(&f.name));
    files.sort_by(|a, b| a.name.cmp(&b.name));
    if files.is_empty() {
        return Err(BundleError::NoOutput(code_push_dir.to_path_buf()));
    }

    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).clamp(1, 8);
    let runs = split_by_size(&files, workers);
    let results: Vec<Result<PackedRun, BundleError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs.iter().map(|run| scope.spawn(move || pack_run(run))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(BundleError::Zip("a packaging thread panicked".into()))))
            .collect()
    });

    let file = std::fs::File::create(zip_path).map_err(BundleError::io(zip_path))?;
    let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let mut entries = Vec::with_capacity(files.len());
    for result in results {
        let (run_entries, run_zip) = result?;
        entries.extend(run_entries);
        let archive = zip::ZipArchive::new(Cursor::new(run_zip)).map_err(|e| BundleError::Zip(e.to_string()))?;
        writer.merge_archive(archive).map_err(|e| BundleError::Zip(e.to_string()))?;
    }
    let package_hash = manifest_hash(&entries);
    if let Some((signer, signature_path, top)) = signer {
        let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let token = signer.sign(&package_hash, iat);
        std::fs::write(signature_path, &token).map_err(BundleError::io(signature_path))?;
        writer
            .start_file(format!("{top}/{SIGNATURE_FILE_NAME}"), zip_options())
            .map_err(|e| BundleError::Zip(e.to_string()))?;
        writer.write_all(token.as_bytes()).map_err(BundleError::io(zip_path))?;
    }
    let mut inner = writer.finish().map_err(|e| BundleError::Zip(e.to_string()))?;
    inner.flush().map_err(BundleError::io(zip_path))?;
    Ok(PackagedRelease {
        zip_path: zip_path.to_path_buf(),
        package_hash,
        file_count: files.len(),
        content_bytes: files.iter().map(|f| f.size).sum(),
        signed: signer.is_some(),
    })
}

/// The package hash of a folder without zipping it (what devices and the CLI compute).
///
/// # Errors
/// I/O errors.
pub fn folder_hash(code_push_dir: &Path) -> Result<String, BundleError> {
    let top = code_push_dir.file_name().map_or_else(|| "CodePush".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut files = Vec::new();
    collect(code_push_dir, &top, &mut files)?;
    let entries = files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f.path).map_err(BundleError::io(&f.path))?;
            Ok(ManifestEntry { path: f.name, sha256: sha256_hex(&bytes) })
        })
        .collect::<Result<Vec<_>, BundleError>>()?;
    Ok(manifest_hash(&entries))
}

/// The manifest entries of a run and its in-memory zip.
type PackedRun = (Vec<ManifestEntry>, Vec<u8>);

fn pack_run(run: &[SourceFile]) -> Result<PackedRun, BundleError> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut entries = Vec::with_capacity(run.len());
    for file in run {
        let bytes = std::fs::read(&file.path).map_err(BundleError::io(&file.path))?;
        entries.push(ManifestEntry { path: file.name.clone(), sha256: sha256_hex(&bytes) });
        writer.start_file(file.name.as_str(), zip_options()).map_err(|e| BundleError::Zip(e.to_string()))?;
        writer.write_all(&bytes).map_err(BundleError::io(&file.path))?;
    }
    let cursor = writer.finish().map_err(|e| BundleError::Zip(e.to_string()))?;
    Ok((entries, cursor.into_inner()))
}

/// Contiguous runs of roughly equal total size, so that merging them keeps the sorted order.
fn split_by_size(files: &[SourceFile], parts: usize) -> Vec<&[SourceFile]> {
    let total: u64 = files.iter().map(|f| f.size.max(1)).sum();
    let target = total.div_ceil(parts as u64).max(1);
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut accumulated) = (0, 0_u64);
    for (index, file) in files.iter().enumerate() {
        accumulated += file.size.max(1);
        if accumulated >= target && runs.len() + 1 < parts {
            runs.push(&files[start..=index]);
            start = index + 1;
            accumulated = 0;
        }
    }
    if start < files.len() {
        runs.push(&files[start..]);
    }
    runs
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<SourceFile>) -> Result<(), BundleError> {
    for entry in std::fs::read_dir(dir).map_err(BundleError::io(dir))? {
        let entry = entry.map_err(BundleError::io(dir))?;
        let path = entry.path();
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let metadata = std::fs::metadata(&path).map_err(BundleError::io(&path))?;
        if metadata.is_dir() {
            collect(&path, &name, out)?;
        } else {
            out.push(SourceFile { path, name, size: metadata.len() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::package::{ZipLimits, inspect_zip};

    fn write_tree(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let folder = root.join("CodePush");
        for (name, contents) in files {
            let path = folder.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, contents).expect("write");
        }
        folder
    }

    #[test]
    fn package_hash_is_the_protocol_vector_and_matches_the_server_reading_of_the_zip() {
        let dir = tempfile::tempdir().expect("dir");
        let folder = write_tree(
            dir.path(),
            &[
                ("index.android.bundle", b"console.log(\"v1\");\n"),
                ("assets/img.png", b"PNGDATA"),
                (".DS_Store", b"junk"),
            ],
        );
        let zip = dir.path().join("p.zip");
        let packaged = package(&folder, &zip, None).expect("package");
        assert_eq!(packaged.package_hash, "c11a9483f64df60e479a50dde01e93a06ba7335952c2c6b7eb7cd97b8e104f15");
        assert_eq!(packaged.file_count, 2, ".DS_Store is left out");
        let entries = inspect_zip(std::fs::File::open(&zip).expect("open"), ZipLimits::default()).expect("readable");
        assert_eq!(manifest_hash(&entries), packaged.package_hash);
        assert_eq!(folder_hash(&folder).expect("hash"), packaged.package_hash);
    }

    #[test]
    fn output_is_deterministic_and_files_only() {
        let dir = tempfile::tempdir().expect("dir");
        let many: Vec<(String, Vec<u8>)> =
            (0..40).map(|i| (format!("assets/a{i:02}.bin"), vec![i as u8; 1000 + i * 97])).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        let folder = write_tree(dir.path(), &refs);
        let first = dir.path().join("1.zip");
        let second = dir.path().join("2.zip");
        package(&folder, &first, None).expect("first");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        package(&folder, &second, None).expect("second");
        assert_eq!(std::fs::read(&first).expect("1"), std::fs::read(&second).expect("2"), "byte-identical");
        let archive = zip::ZipArchive::new(std::fs::File::open(&first).expect("open")).expect("zip");
        let in_order: Vec<String> =
            (0..archive.len()).map(|i| archive.name_for_index(i).expect("name").expect("utf-8").into_owned()).collect();
        assert_eq!(in_order.len(), 40);
        assert!(in_order.iter().all(|n| n.starts_with("CodePush/assets/a")), "{in_order:?}");
        let mut sorted = in_order.clone();
        sorted.sort_unstable();
        assert_eq!(in_order, sorted, "zip order is sorted by path");
    }

    #[test]
    fn signed_packages_carry_a_verifiable_signature_of_the_hash() {
        let dir = tempfile::tempdir().expect("dir");
        let folder = write_tree(dir.path(), &[("index.android.bundle", b"signed"), (".codepushrelease", b"stale")]);
        let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
        let signer = ReleaseSigner::from_pem_file(&keys.join("test-only-private.pem")).expect("key");
        let zip = dir.path().join("s.zip");
        let packaged = package(&folder, &zip, Some(&signer)).expect("package");
        assert!(packaged.signed);
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).expect("open")).expect("zip");
        let mut token = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("CodePush/.codepushrelease").expect("signature"),
            &mut token,
        )
        .expect("read");
        let public = std::fs::read_to_string(keys.join("test-only-public.pem")).expect("public");
        let claims = super::super::sign::verify(&token, &public).expect("verifies");
        assert_eq!(claims.content_hash, packaged.package_hash);
        assert_eq!(folder_hash(&folder).expect("hash"), packaged.package_hash, "the signature file is not hashed");
    }

    #[test]
    fn runs_are_contiguous_and_cover_everything() {
        let files: Vec<SourceFile> = (0..10)
            .map(|i| SourceFile { path: PathBuf::new(), name: format!("f{i}"), size: if i == 0 { 1000 } else { 10 } })
            .collect();
        let runs = split_by_size(&files, 2);
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 10);
        assert_eq!(runs[0].len(), 1, "the big file is a run of its own");
        assert_eq!(split_by_size(&files[..1], 4).len(), 1);
    }
}
