//! One owner per data dir: an exclusive lock on `DATA_DIR/server.lock`, held for as long as the
//! server runs, with the owner's pid and URL written inside so a second process can say who holds it
//! and the desktop app can connect to it instead of opening the same files.
//!
//! The lock is an OS file lock (`flock` on Unix), so it is released when the process dies, even by
//! SIGKILL: a stale file never blocks a restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "server.lock";

/// What the owner of a data dir writes into its lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// A URL that reaches the owner from this machine (loopback when it listens on all addresses).
    pub url: String,
    /// The base URL devices are given.
    pub public_url: String,
    pub started_ms: i64,
}

/// Why the data dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("data dir {dir} is in use by another otadeck server ({holder}); stop it or pass another --data-dir", dir = .dir.display(), holder = describe(.owner.as_ref()))]
    Held { dir: PathBuf, owner: Option<Owner> },
    #[error("cannot lock data dir {dir}: {source}", dir = .dir.display())]
    Io { dir: PathBuf, source: std::io::Error },
}

fn describe(owner: Option<&Owner>) -> String {
    owner.map_or_else(|| "its pid is not known yet".to_owned(), |o| format!("pid {}, serving {}", o.pid, o.url))
}

/// An exclusive hold on a data dir; released when dropped or when the process ends.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist) without touching anything else in it.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process owns the dir, naming it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io { dir: dir.to_path_buf(), source };
        // No truncation before the lock is ours: the owner's details must survive a failed attempt.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { file, dir: dir.to_path_buf() }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held { dir: dir.to_path_buf(), owner: read_owner(dir) }),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }

    /// Records who owns the dir (after the listener is bound and the URL known).
    ///
    /// # Errors
    /// I/O errors writing the lock file.
    pub fn record(&mut self, owner: &Owner) -> Result<(), LockError> {
        let io = |source| LockError::Io { dir: self.dir.clone(), source };
        let text = serde_json::to_string(owner).map_err(|e| io(std::io::Error::other(e)))?;
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(io)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_all().map_err(io)
    }
}

/// The owner recorded in `dir`'s lock file, if any (read without taking the lock).
#[must_use]
pub fn read_owner(dir: &Path) -> Option<Owner> {
    let mut text = String::new();
    File::open(dir.join(LOCK_FILE)).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_names_the_owner_and_the_first_is_untouched() {
        let dir = tempfile::tempdir().expect("dir");
        let mut first = DataDirLock::acquire(dir.path()).expect("first lock");
        let owner =
            Owner { pid: 4242, url: "http://127.0.0.1:3000".into(), public_url: "https://ota".into(), started_ms: 1 };
        first.record(&owner).expect("record");
        let error = DataDirLock::acquire(dir.path()).expect_err("second lock refused");
        let text = error.to_string();
        assert!(text.contains("pid 4242") && text.contains(&dir.path().display().to_string()), "{text}");
        assert!(matches!(error, LockError::Held { owner: Some(ref o), .. } if *o == owner));
        assert_eq!(read_owner(dir.path()), Some(owner), "a refused attempt does not wipe the owner's details");
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again once the owner is gone");
    }
}
