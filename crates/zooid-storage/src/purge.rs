//! `PurgeTxnLog.purge`: keep the newest N snapshots and the logs needed to replay from
//! the oldest of them; delete older snapshots and logs.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::files::{self, LOG_PREFIX, SNAPSHOT_PREFIX};
use crate::snap::find_valid_snapshots;
use crate::StorageError;

/// ZooKeeper refuses to keep fewer snapshots (`PurgeTxnLog.COUNT_ERR_MSG`).
pub const KEEP_MIN: usize = 3;

/// Deletes what `PurgeTxnLog.purge(logDir, snapDir, keep)` deletes and returns it:
/// with X the zxid of the oldest of the newest `keep` valid snapshots, every snapshot
/// and every log file named with a zxid below X, except the log file that starts at or
/// before X and the ones after it (`getSnapshotLogs(X)`: an older log can hold txns
/// newer than the snapshot). Both directories are `version-2` directories (they may be
/// the same). Unlike ZooKeeper, names whose zxid does not parse are left alone.
pub fn purge(log_dir: &Path, snap_dir: &Path, keep: usize) -> Result<Vec<PathBuf>, StorageError> {
    if keep < KEEP_MIN {
        return Err(StorageError::Invalid(format!(
            "count should be greater than or equal to {KEEP_MIN}, not {keep}"
        )));
    }
    let snaps = find_valid_snapshots(snap_dir, keep)?;
    let Some((least, _)) = snaps.last() else {
        return Ok(Vec::new());
    };
    let retained: HashSet<PathBuf> = files::log_files_from(log_dir, *least)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut doomed: Vec<PathBuf> = files::list(log_dir, LOG_PREFIX)?
        .into_iter()
        .filter(|(z, p)| *z < *least && !retained.contains(p))
        .map(|(_, p)| p)
        .collect();
    doomed.extend(
        files::list(snap_dir, SNAPSHOT_PREFIX)?
            .into_iter()
            .filter(|(z, _)| *z < *least)
            .map(|(_, p)| p),
    );
    // Periodic snapshots are written without fsync (see `write_fuzzy_snapshot`): make
    // the ones kept durable before removing what a torn one would have to fall back on.
    if !doomed.is_empty() {
        for (_, p) in &snaps {
            fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(StorageError::io(p))?;
        }
        files::sync_dir(snap_dir)?;
    }
    for f in &doomed {
        fs::remove_file(f).map_err(StorageError::io(f))?;
    }
    if !doomed.is_empty() {
        files::sync_dir(log_dir)?;
        if snap_dir != log_dir {
            files::sync_dir(snap_dir)?;
        }
    }
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// A file that passes `looks_valid` for an uncompressed snapshot.
    fn fake_snapshot(dir: &Path, zxid: i64) {
        fs::write(
            dir.join(files::snapshot_name(zxid)),
            [&[0u8; 8][..], &[0, 0, 0, 1, b'/']].concat(),
        )
        .unwrap();
    }

    #[test]
    fn keeps_n_snapshots_and_the_logs_they_need() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        for z in [0x0, 0x10, 0x20, 0x30, 0x40] {
            fake_snapshot(dir, z);
        }
        // log.18 starts before snapshot.20 and may hold txns after it: kept.
        for z in [0x1, 0x11, 0x18, 0x21, 0x35] {
            fs::write(dir.join(files::log_name(z)), b"x").unwrap();
        }
        // A torn snapshot (no seal) does not count as one of the N.
        fs::write(dir.join("snapshot.50"), b"half a snapshot").unwrap();
        fs::write(dir.join("myid"), b"1").unwrap();
        let gone = purge(dir, dir, 3).unwrap();
        assert_eq!(gone.len(), 4, "{gone:?}");
        assert_eq!(
            names(dir),
            [
                "log.18",
                "log.21",
                "log.35",
                "myid",
                "snapshot.20",
                "snapshot.30",
                "snapshot.40",
                "snapshot.50"
            ]
        );
        // Nothing more to do.
        assert!(purge(dir, dir, 3).unwrap().is_empty());
    }

    #[test]
    fn refuses_fewer_than_three_and_tolerates_nothing_to_do() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            purge(d.path(), d.path(), 2),
            Err(StorageError::Invalid(_))
        ));
        assert!(purge(d.path(), d.path(), 3).unwrap().is_empty());
        fs::write(d.path().join("log.1"), b"x").unwrap();
        assert!(purge(d.path(), d.path(), 3).unwrap().is_empty());
        assert_eq!(names(d.path()), ["log.1"]);
    }

    #[test]
    fn separate_log_and_snapshot_dirs() {
        let logs = tempfile::tempdir().unwrap();
        let snaps = tempfile::tempdir().unwrap();
        for z in [0x5, 0x9, 0xa, 0xf] {
            fake_snapshot(snaps.path(), z);
        }
        for z in [0x1, 0x6, 0xa] {
            fs::write(logs.path().join(files::log_name(z)), b"x").unwrap();
        }
        purge(logs.path(), snaps.path(), 3).unwrap();
        assert_eq!(
            names(snaps.path()),
            ["snapshot.9", "snapshot.a", "snapshot.f"]
        );
        assert_eq!(names(logs.path()), ["log.6", "log.a"]);
    }
}
