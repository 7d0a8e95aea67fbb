//! File names and directory listings as ZooKeeper's `Util` and `FileTxnSnapLog` make
//! them: `<dir>/version-2/log.<zxid hex>` and `<dir>/version-2/snapshot.<zxid hex>[.ext]`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::StorageError;

/// The sub-directory ZooKeeper keeps its files in (`FileTxnSnapLog.version + VERSION`).
pub const VERSION_DIR: &str = "version-2";
pub const LOG_PREFIX: &str = "log";
pub const SNAPSHOT_PREFIX: &str = "snapshot";

/// `<data_dir>/version-2`, the directory every other function of this crate takes.
pub fn version_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(VERSION_DIR)
}

/// `Util.makeLogName`: `log.` + the zxid in lower-case hex without padding.
pub fn log_name(zxid: i64) -> String {
    format!("{LOG_PREFIX}.{:x}", zxid as u64)
}

/// `Util.makeSnapshotName` for an uncompressed snapshot.
pub fn snapshot_name(zxid: i64) -> String {
    format!("{SNAPSHOT_PREFIX}.{:x}", zxid as u64)
}

/// `Util.getZxidFromName`: the name split at dots must have the prefix as its first part
/// and a hex number as its second (later parts, such as `.gz`, are ignored). Like Java's
/// `Long.parseLong(s, 16)`, a sign is accepted and values past `i64::MAX` are rejected.
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let mut parts = name.split('.');
    if parts.next()? != prefix {
        return None;
    }
    i64::from_str_radix(parts.next()?, 16).ok()
}

/// Files in `dir` whose names carry a zxid for `prefix`, sorted by that zxid ascending
/// (`Util.sortDataDir`). A missing directory lists as empty, as `File.listFiles` does.
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>, StorageError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(StorageError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(zxid) = zxid_from_name(name, prefix) {
            out.push((zxid, entry.path()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(out)
}

/// `FileTxnLog.getLogFiles`: the log file that starts at or just before `zxid`, and every
/// later one, ascending. Only these can hold txns after `zxid`.
pub fn log_files_from(dir: &Path, zxid: i64) -> Result<Vec<(i64, PathBuf)>, StorageError> {
    let files = list(dir, LOG_PREFIX)?;
    // ZooKeeper starts `logZxid` at 0, so with no file at or before `zxid` every file
    // with a non-negative zxid is returned.
    let start = files
        .iter()
        .map(|(z, _)| *z)
        .take_while(|z| *z <= zxid)
        .fold(0, i64::max);
    Ok(files.into_iter().filter(|(z, _)| *z >= start).collect())
}

/// Makes a directory entry (a created, renamed or removed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_util_get_zxid_from_name() {
        assert_eq!(log_name(0x1_0000_0001), "log.100000001");
        assert_eq!(snapshot_name(0), "snapshot.0");
        assert_eq!(zxid_from_name("log.1c", "log"), Some(0x1c));
        assert_eq!(zxid_from_name("snapshot.1f.gz", "snapshot"), Some(0x1f));
        assert_eq!(zxid_from_name("snapshot.1f", "log"), None);
        assert_eq!(zxid_from_name("log", "log"), None);
        assert_eq!(zxid_from_name("log.xyz", "log"), None);
        assert_eq!(zxid_from_name("log.ffffffffffffffff", "log"), None);
        assert_eq!(zxid_from_name("logs.5", "log"), None);
    }

    #[test]
    fn log_files_from_picks_the_file_covering_the_zxid() {
        let d = tempfile::tempdir().unwrap();
        for z in [1, 8, 0x10, 0x17] {
            fs::write(d.path().join(log_name(z)), b"").unwrap();
        }
        fs::write(d.path().join("snapshot.9"), b"").unwrap();
        let zs = |z| -> Vec<i64> {
            log_files_from(d.path(), z)
                .unwrap()
                .into_iter()
                .map(|(z, _)| z)
                .collect()
        };
        assert_eq!(zs(0), vec![1, 8, 0x10, 0x17]);
        assert_eq!(zs(9), vec![8, 0x10, 0x17]);
        assert_eq!(zs(0x10), vec![0x10, 0x17]);
        assert_eq!(zs(0x100), vec![0x17]);
        assert!(log_files_from(&d.path().join("missing"), 0)
            .unwrap()
            .is_empty());
    }
}
