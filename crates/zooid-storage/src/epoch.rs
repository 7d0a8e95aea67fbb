//! `currentEpoch` and `acceptedEpoch`: the two one-number files of a ZooKeeper ensemble
//! member, read and written as `QuorumPeer.readLongFromFile` / `writeLongToFile` do.
//!
//! # Format
//!
//! ```text
//! file = number [ newline any* ] ;   only the first line is read (BufferedReader.readLine)
//! number = [ "+" | "-" ] digit+ ;    Long.parseLong: no surrounding whitespace
//! ```
//!
//! ZooKeeper writes `Long.toString(value)` without a newline, and so do we, so the files
//! are byte-identical whichever server wrote them.
//!
//! # Where
//!
//! ZooKeeper keeps both files in the snapshot directory, `dataDir/version-2`
//! (`logFactory.getSnapDir()`), not in `dataDir` next to `myid`: callers pass that
//! directory ([`crate::version_dir`]).
//!
//! # Atomicity
//!
//! A write goes to `<name>.tmp`, is fsynced, renamed over `<name>`, and then the directory
//! is fsynced (ZooKeeper's `AtomicFileWritingIdiom` does all but the last step). A crash
//! leaves either the old or the new value under `<name>`, and possibly a stale
//! `<name>.tmp`. [`load_epochs`] uses a leftover `currentEpoch.tmp` exactly where
//! ZooKeeper 3.8/3.9's `QuorumPeer.loadDataBase` does: when the log already holds txns of
//! a newer epoch than `currentEpoch` says. (ZooKeeper 3.4's `updatingEpoch` marker file is
//! gone since 3.5 and is not read.)

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::files::sync_dir;
use crate::StorageError;

/// `QuorumPeer.CURRENT_EPOCH_FILENAME`: the epoch this server last acknowledged as
/// established (NEWLEADER).
pub const CURRENT_EPOCH: &str = "currentEpoch";
/// `QuorumPeer.ACCEPTED_EPOCH_FILENAME`: the newest epoch this server has promised to
/// follow (LEADERINFO / NEWEPOCH).
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
/// `AtomicFileOutputStream.TMP_EXTENSION`.
pub const TMP_EXTENSION: &str = ".tmp";

/// The longest first line we look at. An epoch has at most 20 characters; anything much
/// longer is not an epoch file, and we do not want to read a huge file to say so.
const EPOCH_FILE_BYTES_MAX: u64 = 4096;

/// Reads the epoch in `dir/name`. `Ok(None)` when the file does not exist (ZooKeeper's
/// `FileNotFoundException`); a file whose first line is not a Java `long` is
/// [`StorageError::Corrupt`].
pub fn read_epoch(dir: &Path, name: &str) -> Result<Option<i64>, StorageError> {
    assert_plain_name(name);
    let path = dir.join(name);
    let bytes = match read_head(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(&path)(e)),
    };
    parse_epoch(&bytes)
        .map(Some)
        .map_err(|reason| StorageError::corrupt(&path, 0, reason))
}

/// Writes `value` to `dir/name` atomically and durably: when this returns `Ok`, the new
/// value survives a crash; when it returns `Err` (or the process dies first), `dir/name`
/// holds the old value or the new one, never a mix.
pub fn write_epoch(dir: &Path, name: &str, value: i64) -> Result<(), StorageError> {
    assert_plain_name(name);
    let path = dir.join(name);
    let tmp = tmp_path(dir, name);
    let written = fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(value.to_string().as_bytes())?;
            f.sync_all()
        })
        .map_err(StorageError::io(&tmp));
    if let Err(e) = written {
        // As `AtomicFileOutputStream.abort`: the old file stays, the partial one goes.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &path).map_err(StorageError::io(&path))?;
    sync_dir(dir)?;
    debug_assert_eq!(read_epoch(dir, name).ok().flatten(), Some(value));
    Ok(())
}

/// The two epochs of a server, as `QuorumPeer.loadDataBase` settles them at start-up,
/// with what had to be done to get them (for the host to log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    pub current: i64,
    pub accepted: i64,
    /// `currentEpoch` did not exist and was created from the last zxid's epoch.
    pub current_created: bool,
    /// `currentEpoch` was behind the log and was restored from `currentEpoch.tmp`.
    pub current_from_tmp: bool,
    /// `acceptedEpoch` did not exist and was created from the last zxid's epoch.
    pub accepted_created: bool,
}

/// Reads (and, where ZooKeeper does, creates or repairs) `currentEpoch` and
/// `acceptedEpoch` in `dir` once the database is loaded up to `last_processed_zxid`,
/// following `QuorumPeer.loadDataBase` of ZooKeeper 3.8/3.9 step by step:
///
/// 1. A missing `currentEpoch` is created with the epoch of the last zxid (a data dir
///    from before epochs were kept, or a new one).
/// 2. If the log holds txns of a newer epoch than `currentEpoch`, the write of
///    `currentEpoch` must have been interrupted: a leftover `currentEpoch.tmp` is
///    trusted and written back; without one the server must not start.
/// 3. A missing `acceptedEpoch` is created like `currentEpoch`.
/// 4. `acceptedEpoch < currentEpoch` is impossible after a clean history: refuse.
pub fn load_epochs(dir: &Path, last_processed_zxid: i64) -> Result<Epochs, StorageError> {
    let epoch_of_zxid = last_processed_zxid >> 32;
    let mut epochs = Epochs {
        current: 0,
        accepted: 0,
        current_created: false,
        current_from_tmp: false,
        accepted_created: false,
    };
    epochs.current = match read_epoch(dir, CURRENT_EPOCH)? {
        Some(e) => e,
        None => {
            write_epoch(dir, CURRENT_EPOCH, epoch_of_zxid)?;
            epochs.current_created = true;
            epoch_of_zxid
        }
    };
    if epoch_of_zxid > epochs.current {
        let tmp_name = format!("{CURRENT_EPOCH}{TMP_EXTENSION}");
        let Some(from_tmp) = read_epoch(dir, &tmp_name)? else {
            return Err(StorageError::Invalid(format!(
                "The current epoch, {:x}, is older than the last zxid, {last_processed_zxid}",
                epochs.current
            )));
        };
        write_epoch(dir, CURRENT_EPOCH, from_tmp)?;
        epochs.current = from_tmp;
        epochs.current_from_tmp = true;
    }
    epochs.accepted = match read_epoch(dir, ACCEPTED_EPOCH)? {
        Some(e) => e,
        None => {
            write_epoch(dir, ACCEPTED_EPOCH, epoch_of_zxid)?;
            epochs.accepted_created = true;
            epoch_of_zxid
        }
    };
    if epochs.accepted < epochs.current {
        return Err(StorageError::Invalid(format!(
            "The accepted epoch, {:x} is less than the current epoch, {:x}",
            epochs.accepted, epochs.current
        )));
    }
    Ok(epochs)
}

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{TMP_EXTENSION}"))
}

/// Names come from this crate's constants; a path in one is a bug of the caller.
fn assert_plain_name(name: &str) {
    assert!(!name.is_empty(), "epoch file name is empty");
    assert!(
        !name.contains(['/', '\\']) && name != "." && name != "..",
        "epoch file name {name:?} is not a plain file name"
    );
}

/// The first [`EPOCH_FILE_BYTES_MAX`] bytes of the file.
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(EPOCH_FILE_BYTES_MAX)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `Long.parseLong(new BufferedReader(...).readLine())`: the first line (ended by `\n`,
/// `\r` or `\r\n`), not trimmed.
fn parse_epoch(bytes: &[u8]) -> Result<i64, String> {
    if bytes.is_empty() {
        // readLine returns null, and ZooKeeper reports "Found null in <file>".
        return Err("the file is empty, expected a number".to_owned());
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(bytes.len());
    let line = String::from_utf8_lossy(&bytes[..end]);
    // Rust's i64 parser accepts exactly Long.parseLong's ASCII syntax: an optional sign
    // and decimal digits, nothing else.
    line.parse::<i64>()
        .map_err(|_| format!("found {line:?}, expected a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_writes_zookeepers_bytes() {
        let d = dir();
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), None);
        for v in [0, 1, 0x7fff_ffff, -1, i64::MAX, i64::MIN] {
            write_epoch(d.path(), CURRENT_EPOCH, v).unwrap();
            assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(v));
            let bytes = fs::read(d.path().join(CURRENT_EPOCH)).unwrap();
            assert_eq!(
                bytes,
                v.to_string().into_bytes(),
                "Long.toString, no newline"
            );
        }
        // The temp file is renamed away, and the two files are independent.
        write_epoch(d.path(), ACCEPTED_EPOCH, 7).unwrap();
        assert_eq!(names(d.path()), [ACCEPTED_EPOCH, CURRENT_EPOCH]);
        assert_eq!(read_epoch(d.path(), ACCEPTED_EPOCH).unwrap(), Some(7));
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(i64::MIN));
    }

    #[test]
    fn reads_what_readline_and_parselong_accept() {
        let d = dir();
        let read = |bytes: &[u8]| {
            fs::write(d.path().join(ACCEPTED_EPOCH), bytes).unwrap();
            read_epoch(d.path(), ACCEPTED_EPOCH)
        };
        assert_eq!(read(b"5").unwrap(), Some(5));
        assert_eq!(read(b"5\n").unwrap(), Some(5));
        assert_eq!(read(b"5\r\nignored").unwrap(), Some(5));
        assert_eq!(read(b"12\rx").unwrap(), Some(12));
        assert_eq!(read(b"+3").unwrap(), Some(3));
        assert_eq!(read(b"-2").unwrap(), Some(-2));
        assert_eq!(read(b"007").unwrap(), Some(7));
        for bad in [
            &b""[..],
            b"\n5",
            b" 5",
            b"5 ",
            b"0x5",
            b"five",
            b"9223372036854775808",
            b"\xff",
        ] {
            match read(bad) {
                Err(e @ StorageError::Corrupt { .. }) => {
                    let m = e.to_string();
                    assert!(m.contains(ACCEPTED_EPOCH), "{m}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let m = read(b"five").unwrap_err().to_string();
        assert!(m.ends_with("found \"five\", expected a number"), "{m}");
    }

    #[test]
    fn a_stale_tmp_file_is_ignored_by_reads_and_replaced_by_writes() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 4).unwrap();
        // A crash between creating the temp file and the rename leaves it behind.
        fs::write(tmp_path(d.path(), CURRENT_EPOCH), b"9\n-garbage").unwrap();
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(4));
        write_epoch(d.path(), CURRENT_EPOCH, 5).unwrap();
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(5));
        assert_eq!(names(d.path()), [CURRENT_EPOCH]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_value() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 4).unwrap();
        // The temp file cannot be created: a directory is in its way.
        fs::create_dir(tmp_path(d.path(), CURRENT_EPOCH)).unwrap();
        let e = write_epoch(d.path(), CURRENT_EPOCH, 5).unwrap_err();
        assert!(matches!(e, StorageError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("currentEpoch.tmp"), "{e}");
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(4));
        // A missing directory is an error, not a silent success.
        let missing = d.path().join("missing");
        assert!(write_epoch(&missing, CURRENT_EPOCH, 1).is_err());
        assert_eq!(read_epoch(&missing, CURRENT_EPOCH).unwrap(), None);
    }

    #[test]
    #[should_panic(expected = "not a plain file name")]
    fn a_path_as_name_is_a_bug() {
        let _ = read_epoch(Path::new("/tmp"), "../currentEpoch");
    }

    fn zxid(epoch: i64, counter: i64) -> i64 {
        (epoch << 32) | counter
    }

    #[test]
    fn load_creates_missing_files_from_the_last_zxid() {
        let d = dir();
        let e = load_epochs(d.path(), zxid(3, 17)).unwrap();
        assert_eq!(
            e,
            Epochs {
                current: 3,
                accepted: 3,
                current_created: true,
                current_from_tmp: false,
                accepted_created: true,
            }
        );
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(3));
        assert_eq!(read_epoch(d.path(), ACCEPTED_EPOCH).unwrap(), Some(3));
        // A new server starts at epoch 0.
        let d = dir();
        let e = load_epochs(d.path(), 0).unwrap();
        assert_eq!((e.current, e.accepted), (0, 0));
    }

    #[test]
    fn load_keeps_existing_files() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 4).unwrap();
        write_epoch(d.path(), ACCEPTED_EPOCH, 5).unwrap();
        let e = load_epochs(d.path(), zxid(4, 1)).unwrap();
        assert_eq!((e.current, e.accepted), (4, 5));
        assert!(!e.current_created && !e.accepted_created && !e.current_from_tmp);
    }

    #[test]
    fn load_restores_current_epoch_from_its_tmp_file() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 2).unwrap();
        write_epoch(d.path(), ACCEPTED_EPOCH, 3).unwrap();
        fs::write(tmp_path(d.path(), CURRENT_EPOCH), b"3").unwrap();
        let e = load_epochs(d.path(), zxid(3, 1)).unwrap();
        assert_eq!((e.current, e.accepted, e.current_from_tmp), (3, 3, true));
        assert_eq!(read_epoch(d.path(), CURRENT_EPOCH).unwrap(), Some(3));
        assert_eq!(names(d.path()), [ACCEPTED_EPOCH, CURRENT_EPOCH]);
    }

    #[test]
    fn load_refuses_a_current_epoch_behind_the_log() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 2).unwrap();
        let e = load_epochs(d.path(), zxid(0x1a, 5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "The current epoch, 2, is older than the last zxid, {}",
                zxid(0x1a, 5)
            )
        );
        // Nothing was created on the way to the error.
        assert_eq!(names(d.path()), [CURRENT_EPOCH]);
    }

    #[test]
    fn load_refuses_an_accepted_epoch_behind_the_current_one() {
        let d = dir();
        write_epoch(d.path(), CURRENT_EPOCH, 0x1b).unwrap();
        write_epoch(d.path(), ACCEPTED_EPOCH, 0x1a).unwrap();
        let e = load_epochs(d.path(), zxid(0x1b, 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The accepted epoch, 1a is less than the current epoch, 1b"
        );
    }

    #[test]
    fn load_reports_a_corrupt_file() {
        let d = dir();
        fs::write(d.path().join(CURRENT_EPOCH), b"").unwrap();
        let e = load_epochs(d.path(), 0).unwrap_err();
        assert!(matches!(e, StorageError::Corrupt { .. }), "{e:?}");
    }
}
