//! `StorageError`: what can go wrong reading or writing ZooKeeper's files.

use std::io;
use std::path::{Path, PathBuf};

/// A failure of the storage layer. Every variant names the file; corruption also names
/// the byte offset so an operator can look at it (`zooid log dump FILE`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Damage that a crash cannot explain: the server must not start on it.
    #[error("{file}: corrupt at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// Damage in bytes that came from no file (a snapshot a leader sent over the
    /// network), named by what they are.
    #[error("{stream}: corrupt at offset {offset}: {reason}")]
    CorruptStream {
        stream: &'static str,
        offset: u64,
        reason: String,
    },
    #[error("{file}: bad magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        file: PathBuf,
        found: i32,
        expected: i32,
    },
    /// The caller asked for something the format or the rules do not allow.
    #[error("{0}")]
    Invalid(String),
}

impl StorageError {
    pub(crate) fn io(path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.as_ref().to_path_buf();
        move |source| StorageError::Io { path, source }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }
}
