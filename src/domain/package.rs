//! The CodePush package hash (protocol notes §5) and safe inspection of uploaded zips.
//!
//! The hash is SHA-256 over the compact JSON array of sorted `"<path>:<sha256 of file>"` strings,
//! skipping `__MACOSX/…`, `.DS_Store` and `.codepushrelease`. A package that is not a zip is hashed
//! as the SHA-256 of its bytes. The bundle packer and the server call the same functions, so a folder
//! packaged by otadeck hashes exactly as devices and `code-push-cli` compute it.

use std::collections::HashSet;
use std::io::{Read, Seek};

use sha2::{Digest, Sha256};

/// Limits applied to uploaded zips, against path tricks and zip bombs.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    pub max_entries: usize,
    pub max_uncompressed_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self { max_entries: 50_000, max_uncompressed_bytes: 1024 * 1024 * 1024 }
    }
}

/// Why an uploaded package was refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("the package is not a readable zip archive: {0}")]
    BadZip(String),
    #[error("the package contains an unsafe path \"{0}\" (absolute or with \"..\")")]
    UnsafePath(String),
    #[error("the package contains the same path more than once ({0} are duplicates)")]
    DuplicatePath(String),
    #[error("the package has more than {0} entries")]
    TooManyEntries(usize),
    #[error("the package unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the package contains no files")]
    Empty,
    #[error("the package contains a symbolic link \"{0}\"")]
    Symlink(String),
    #[error("the package's entry \"{0}\" has another name in its local header than in the central directory")]
    NameMismatch(String),
}

/// One file of a package: its path (with `/` separators) and the hex SHA-256 of its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub path: String,
    pub sha256: String,
}

/// Whether a path is left out of the package entirely (`__MACOSX`, `.DS_Store`).
#[must_use]
pub fn is_ignored(path: &str) -> bool {
    path.starts_with("__MACOSX/") || last_segment(path) == ".DS_Store"
}

/// Whether a path is a code-signing signature file, which is shipped but never hashed.
#[must_use]
pub fn is_signature(path: &str) -> bool {
    last_segment(path) == SIGNATURE_FILE_NAME
}

/// The name of the code-signing file written next to the bundle.
pub const SIGNATURE_FILE_NAME: &str = ".codepushrelease";

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Lowercase hex SHA-256 of some bytes.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The package hash of a set of files (entries that are ignored or signatures are skipped).
#[must_use]
pub fn manifest_hash(entries: &[ManifestEntry]) -> String {
    let mut lines: Vec<String> = entries
        .iter()
        .filter(|e| !is_ignored(&e.path) && !is_signature(&e.path))
        .map(|e| format!("{}:{}", e.path, e.sha256))
        .collect();
    // JavaScript's default sort compares UTF-16 code units.
    lines.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    let json = serde_json::to_string(&lines).unwrap_or_default();
    sha256_hex(json.as_bytes())
}

/// Whether `text` is a lowercase hex SHA-256 digest (64 characters of `0-9a-f`).
#[must_use]
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether the first bytes of an upload are a zip signature.
#[must_use]
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Reads every file of a zip, checking paths and limits, and returns its manifest.
///
/// Directory entries are skipped (devices never see them), as are `__MACOSX` and `.DS_Store`.
///
/// # Errors
/// A [`PackageError`] naming the first problem found.
pub fn inspect_zip<R: Read + Seek>(mut reader: R, limits: ZipLimits) -> Result<Vec<ManifestEntry>, PackageError> {
    let declared_entries =
        central_directory_entry_count(&mut reader).map_err(|e| PackageError::BadZip(e.to_string()))?;
    // Checked before the central directory is parsed: millions of entries would cost memory first.
    if declared_entries.is_some_and(|declared| declared > limits.max_entries) {
        return Err(PackageError::TooManyEntries(limits.max_entries));
    }
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| PackageError::BadZip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooManyEntries(limits.max_entries));
    }
    // The zip reader keeps one entry per name, so duplicates show up as a shorter archive.
    if declared_entries.is_some_and(|declared| declared != archive.len()) {
        let declared = declared_entries.unwrap_or_default();
        return Err(PackageError::DuplicatePath(format!(
            "{} of {declared} entries",
            declared - archive.len().min(declared)
        )));
    }
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    let mut local_headers = Vec::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| PackageError::BadZip(e.to_string()))?;
        let name = file.name().map_err(|e| PackageError::BadZip(e.to_string()))?.into_owned();
        check_path(&name)?;
        local_headers.push((file.header_start(), file.name_raw().to_vec(), name.clone()));
        if file.is_symlink() {
            return Err(PackageError::Symlink(name));
        }
        if file.is_dir() || name.ends_with('/') {
            continue;
        }
        // `a//b`, `./a/b` and `a/./b` unpack to the same file on a phone.
        if !seen.insert(normalized(&name)) {
            return Err(PackageError::DuplicatePath(name));
        }
        let budget = limits.max_uncompressed_bytes.saturating_sub(total);
        let (digest, read) =
            hash_reader((&mut file).take(budget.saturating_add(1))).map_err(|e| PackageError::BadZip(e.to_string()))?;
        total += read;
        if total > limits.max_uncompressed_bytes {
            return Err(PackageError::TooLarge(limits.max_uncompressed_bytes));
        }
        if !is_ignored(&name) {
            entries.push(ManifestEntry { path: name, sha256: digest });
        }
    }
    if entries.iter().all(|e| is_signature(&e.path)) {
        return Err(PackageError::Empty);
    }
    let mut reader = archive.into_inner();
    for (offset, central_name, name) in local_headers {
        if local_name(&mut reader, offset).map_err(|e| PackageError::BadZip(e.to_string()))? != central_name {
            return Err(PackageError::NameMismatch(name));
        }
    }
    Ok(entries)
}

/// A path with empty and `.` segments removed, as an unzip on the device resolves it.
fn normalized(path: &str) -> String {
    path.split(['/', '\\']).filter(|s| !s.is_empty() && *s != ".").collect::<Vec<_>>().join("/")
}

/// The file name in the local file header at `offset`.
fn local_name<R: Read + Seek>(reader: &mut R, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut header = [0_u8; 30];
    reader.seek(std::io::SeekFrom::Start(offset))?;
    reader.read_exact(&mut header)?;
    if &header[..4] != b"PK\x03\x04" {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no local file header"));
    }
    let length = usize::from(u16::from_le_bytes([header[26], header[27]]));
    let mut name = vec![0_u8; length];
    reader.read_exact(&mut name)?;
    Ok(name)
}

/// Hashes everything a reader yields; returns the hex digest and the number of bytes read.
///
/// # Errors
/// The reader's I/O error.
pub fn hash_reader(mut reader: impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut total = 0_u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// The entry count the end-of-central-directory record declares (`None` for zip64 archives, whose
/// 16-bit field is a placeholder).
fn central_directory_entry_count<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<usize>> {
    const EOCD: &[u8; 4] = b"PK\x05\x06";
    let length = reader.seek(std::io::SeekFrom::End(0))?;
    let tail_length = length.min(22 + 65_535);
    reader.seek(std::io::SeekFrom::Start(length - tail_length))?;
    let mut tail = Vec::new();
    reader.by_ref().take(tail_length).read_to_end(&mut tail)?;
    reader.seek(std::io::SeekFrom::Start(0))?;
    let Some(at) = tail.windows(4).rposition(|w| w == EOCD) else {
        return Ok(None);
    };
    let count = tail.get(at + 10..at + 12).map(|b| u16::from_le_bytes([b[0], b[1]]));
    if let Some(count) = count.filter(|&c| c != u16::MAX) {
        return Ok(Some(usize::from(count)));
    }
    // Zip64: the locator just before the record points at the zip64 end record and its u64 count.
    let Some(locator) = at.checked_sub(20).and_then(|l| tail.get(l..l + 20)).filter(|l| &l[..4] == b"PK\x06\x07")
    else {
        return Ok(None);
    };
    let mut offset_bytes = [0_u8; 8];
    offset_bytes.copy_from_slice(&locator[8..16]);
    reader.seek(std::io::SeekFrom::Start(u64::from_le_bytes(offset_bytes)))?;
    let mut record = [0_u8; 56];
    let read = reader.read(&mut record)?;
    reader.seek(std::io::SeekFrom::Start(0))?;
    if read < 40 || &record[..4] != b"PK\x06\x06" {
        return Ok(None);
    }
    let mut count_bytes = [0_u8; 8];
    count_bytes.copy_from_slice(&record[32..40]);
    Ok(Some(usize::try_from(u64::from_le_bytes(count_bytes)).unwrap_or(usize::MAX)))
}

fn check_path(name: &str) -> Result<(), PackageError> {
    let unsafe_path = || PackageError::UnsafePath(name.to_owned());
    let bytes = name.as_bytes();
    let has_drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
    if name.is_empty() || name.starts_with('/') || name.starts_with('\\') || has_drive || name.contains('\0') {
        return Err(unsafe_path());
    }
    if name.split(['/', '\\']).any(|segment| segment == "..") {
        return Err(unsafe_path());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;

    fn entry(path: &str, contents: &[u8]) -> ManifestEntry {
        ManifestEntry { path: path.to_owned(), sha256: sha256_hex(contents) }
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, contents) in files {
            if name.ends_with('/') {
                writer.add_directory(*name, SimpleFileOptions::default()).expect("add dir");
            } else {
                writer.start_file(*name, SimpleFileOptions::default()).expect("start file");
                writer.write_all(contents).expect("write");
            }
        }
        writer.finish().expect("finish").into_inner()
    }

    const VECTOR_HASH: &str = "c11a9483f64df60e479a50dde01e93a06ba7335952c2c6b7eb7cd97b8e104f15";

    #[test]
    fn protocol_hash_vector() {
        let entries = [
            entry("CodePush/index.android.bundle", b"console.log(\"v1\");\n"),
            entry("CodePush/assets/img.png", b"PNGDATA"),
            entry("CodePush/.DS_Store", b"junk"),
        ];
        assert_eq!(entries[1].sha256, "2d4566582844690f8634a8b2534ea5221560038c6c0650c99140759bad603ae2");
        assert_eq!(manifest_hash(&entries), VECTOR_HASH);
    }

    #[test]
    fn zip_hash_skips_directories_macosx_and_signatures() {
        let zip = zip_of(&[
            ("CodePush/", b""),
            ("CodePush/assets/", b""),
            ("CodePush/assets/img.png", b"PNGDATA"),
            ("CodePush/index.android.bundle", b"console.log(\"v1\");\n"),
            ("CodePush/.DS_Store", b"junk"),
            ("CodePush/.codepushrelease", b"jwt"),
            ("__MACOSX/CodePush/._img.png", b"meta"),
        ]);
        let entries = inspect_zip(Cursor::new(zip), ZipLimits::default()).expect("valid zip");
        assert_eq!(manifest_hash(&entries), VECTOR_HASH);
    }

    #[test]
    fn sort_is_by_whole_string_like_javascript() {
        // "a.b:" sorts before "a:" because '.' < ':'.
        let hash_ab = manifest_hash(&[entry("a", b"1"), entry("a.b", b"2")]);
        let lines = [format!("a.b:{}", sha256_hex(b"2")), format!("a:{}", sha256_hex(b"1"))];
        let expected = sha256_hex(serde_json::to_string(&lines).expect("json").as_bytes());
        assert_eq!(hash_ab, expected);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in ["/etc/passwd", "../evil.js", "CodePush/../../evil", "C:/x", "\\abs", "a\\..\\b"] {
            let zip = zip_of(&[(bad, b"x")]);
            let result = inspect_zip(Cursor::new(zip), ZipLimits::default());
            assert!(matches!(result, Err(PackageError::UnsafePath(_))), "{bad}: {result:?}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        // The zip writer refuses duplicates, so write two names of equal length and patch one.
        let zip = zip_of(&[("CodePush/a.js", b"x"), ("CodePush/b.js", b"y")]);
        let patched = replace_all(&zip, b"CodePush/b.js", b"CodePush/a.js");
        let result = inspect_zip(Cursor::new(patched), ZipLimits::default());
        assert!(matches!(result, Err(PackageError::DuplicatePath(_))), "{result:?}");
    }

    fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = haystack.to_vec();
        let mut i = 0;
        while i + from.len() <= out.len() {
            if &out[i..i + from.len()] == from {
                out[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn entry_and_size_limits_stop_zip_bombs() {
        let zip = zip_of(&[("CodePush/a", b"1"), ("CodePush/b", b"2"), ("CodePush/c", b"3")]);
        let few = ZipLimits { max_entries: 2, max_uncompressed_bytes: 1000 };
        assert!(matches!(inspect_zip(Cursor::new(zip.clone()), few), Err(PackageError::TooManyEntries(2))));

        let big = vec![0_u8; 100_000];
        let bomb = zip_of(&[("CodePush/zeros", &big)]);
        assert!(bomb.len() < 10_000, "compresses well");
        let small = ZipLimits { max_entries: 10, max_uncompressed_bytes: 50_000 };
        assert!(matches!(inspect_zip(Cursor::new(bomb), small), Err(PackageError::TooLarge(50_000))));
    }

    #[test]
    fn garbage_and_empty_zips_are_refused() {
        assert!(matches!(
            inspect_zip(Cursor::new(b"PK\x03\x04nope".to_vec()), ZipLimits::default()),
            Err(PackageError::BadZip(_))
        ));
        let only_dirs = zip_of(&[("CodePush/", b"")]);
        assert!(matches!(inspect_zip(Cursor::new(only_dirs), ZipLimits::default()), Err(PackageError::Empty)));
    }

    #[test]
    fn zip_signature_detection() {
        assert!(looks_like_zip(b"PK\x03\x04rest"));
        assert!(!looks_like_zip(b"console.log(1)"));
    }

    #[test]
    fn a_huge_declared_entry_count_is_refused_before_the_directory_is_parsed() {
        let mut bytes = zip_of(&[("CodePush/index.android.bundle", b"x")]);
        let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").expect("end record");
        for field in [eocd + 8, eocd + 10] {
            bytes[field..field + 2].copy_from_slice(&60_000_u16.to_le_bytes());
        }
        let result = inspect_zip(Cursor::new(bytes), ZipLimits::default());
        assert!(matches!(result, Err(PackageError::TooManyEntries(50_000))), "{result:?}");
    }

    #[test]
    fn symlinks_are_refused() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("CodePush/index.android.bundle", options).expect("file");
        std::io::Write::write_all(&mut writer, b"x").expect("write");
        writer.add_symlink("CodePush/link", "../../../data/secret", options).expect("symlink");
        let bytes = writer.finish().expect("finish").into_inner();
        let result = inspect_zip(Cursor::new(bytes), ZipLimits::default());
        assert!(matches!(result, Err(PackageError::Symlink(ref name)) if name == "CodePush/link"), "{result:?}");
    }

    #[test]
    fn paths_that_unpack_to_the_same_file_are_duplicates() {
        let bytes = zip_of(&[("CodePush/a.js", b"1"), ("CodePush//a.js", b"2")]);
        let result = inspect_zip(Cursor::new(bytes), ZipLimits::default());
        assert!(matches!(result, Err(PackageError::DuplicatePath(_))), "{result:?}");
    }

    #[test]
    fn a_local_header_that_names_another_file_is_refused() {
        let mut bytes = zip_of(&[("CodePush/a.js", b"console.log(1)")]);
        let local = bytes.windows(4).position(|w| w == b"PK\x03\x04").expect("local header");
        let name = local + 30;
        assert_eq!(&bytes[name..name + 13], b"CodePush/a.js");
        bytes[name + 9] = b'b';
        let result = inspect_zip(Cursor::new(bytes), ZipLimits::default());
        assert!(matches!(result, Err(PackageError::NameMismatch(ref n)) if n == "CodePush/a.js"), "{result:?}");
    }
}
