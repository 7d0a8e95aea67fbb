//! Log round trips, torn tails and corruption.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use zooid_proto::opcode::op;
use zooid_proto::{
    Acl, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn, DeleteTxn,
    ErrorTxn, JuteWrite, SetAclTxn, SetDataTxn, TxnDigest, TxnHeader,
};
use zooid_tree::{Txn, TxnBody};

use super::*;

/// A varied txn for `zxid`: every kind of body the log carries comes up.
pub(crate) fn sample_txn(zxid: i64) -> Txn {
    let path = format!("/n{}", zxid % 7);
    let acl = vec![Acl::new(31, "world", "anyone")];
    let data = Bytes::from(format!("data-{zxid}").repeat((zxid % 5) as usize));
    let (op, body) = match zxid % 10 {
        0 => (
            op::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
        ),
        1 => (
            op::CREATE,
            TxnBody::Create(CreateTxn {
                path,
                data,
                acl,
                ephemeral: zxid % 3 == 0,
                parent_c_version: zxid as i32,
            }),
        ),
        2 => (
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path,
                data,
                version: 3,
            }),
        ),
        3 => (op::DELETE, TxnBody::Delete(DeleteTxn { path })),
        4 => (
            op::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path,
                acl: vec![
                    Acl::new(1, "digest", "u:abc"),
                    Acl::new(31, "ip", "10.0.0.1"),
                ],
                version: 1,
            }),
        ),
        5 => (op::ERROR, TxnBody::Error(ErrorTxn { err: -110 })),
        6 => (
            op::MULTI,
            TxnBody::Multi(vec![
                (
                    op::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: path.clone(),
                        data,
                        acl,
                        ephemeral: false,
                        parent_c_version: 2,
                    }),
                ),
                (op::DELETE, TxnBody::Delete(DeleteTxn { path })),
            ]),
        ),
        7 => (
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path,
                data,
                acl,
                parent_c_version: 1,
                ttl: 5000,
            }),
        ),
        8 => (
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path,
                data,
                acl,
                parent_c_version: 1,
            }),
        ),
        _ => (
            op::CLOSE_SESSION,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec![path],
            }),
        ),
    };
    Txn {
        hdr: TxnHeader {
            client_id: 0x100_0000_0000 + zxid % 3,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            op,
        },
        body,
    }
}

fn read_all(dir: &Path, after: i64) -> (Vec<Txn>, Option<Tail>) {
    let mut r = read_from(dir, after).unwrap();
    let txns = r.by_ref().map(|e| e.unwrap().txn).collect();
    (txns, r.tail().cloned())
}

fn read_err(dir: &Path) -> StorageError {
    read_from(dir, 0)
        .unwrap()
        .find_map(|e| e.err())
        .expect("an error")
}

/// Writes txns 1..=n into `dir`, rolling after every `per_file`.
fn write_log(dir: &Path, n: i64, per_file: i64, pre_alloc: u64) -> Vec<Txn> {
    let mut w = TxnLogWriter::open(dir, pre_alloc, true).unwrap();
    let mut all = Vec::new();
    for z in 1..=n {
        let t = sample_txn(z);
        w.append(&t).unwrap();
        all.push(t);
        if z % 3 == 0 {
            w.commit().unwrap();
        }
        if z % per_file == 0 {
            w.roll();
        }
    }
    w.commit().unwrap();
    all
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Start offsets of every record in a file.
fn record_offsets(file: &Path) -> Vec<u64> {
    let mut lf = LogFile::open(file).unwrap();
    let mut v = Vec::new();
    while let Some(r) = lf.next_record().unwrap() {
        v.push(r.offset);
    }
    v.push(lf.end().unwrap().offset());
    v
}

#[test]
fn round_trip_across_files() {
    let d = tempfile::tempdir().unwrap();
    let all = write_log(d.path(), 40, 12, 1024);
    assert_eq!(names(d.path()), ["log.1", "log.19", "log.25", "log.d"]);
    let (txns, tail) = read_all(d.path(), 0);
    assert_eq!(txns, all);
    assert_eq!(tail, None);
    // From a zxid on: only later txns, starting in the file that holds them.
    for after in [0, 1, 12, 13, 20, 39, 40, 100] {
        let (txns, _) = read_all(d.path(), after);
        assert_eq!(txns, all[(after.min(40) as usize)..], "after {after}");
    }
    // Files are preallocated in 1 KiB steps, with zeros after the data.
    for n in names(d.path()) {
        let len = fs::metadata(d.path().join(&n)).unwrap().len();
        assert_eq!(len % 1024, 0, "{n} is {len} bytes");
    }
}

#[test]
fn no_preallocation_ends_at_the_data() {
    let d = tempfile::tempdir().unwrap();
    let all = write_log(d.path(), 5, 100, 0);
    let f = d.path().join("log.1");
    let offs = record_offsets(&f);
    assert_eq!(*offs.last().unwrap(), fs::metadata(&f).unwrap().len());
    assert_eq!(read_all(d.path(), 0).0, all);
}

#[test]
fn padding_grows_before_the_data_reaches_it() {
    assert_eq!(write::padded_size(16, 0, 65536), 65536);
    assert_eq!(write::padded_size(1000, 65536, 65536), 65536);
    assert_eq!(write::padded_size(65536 - 4096, 65536, 65536), 131072);
    assert_eq!(write::padded_size(200_000, 65536, 65536), 262_144);
    assert_eq!(write::padded_size(200_000, 0, 0), 0);
}

#[test]
fn digests_round_trip_and_are_optional() {
    let d = tempfile::tempdir().unwrap();
    let mut w = TxnLogWriter::open(d.path(), 0, false).unwrap();
    let dg = TxnDigest {
        version: 2,
        tree_digest: 0x1234_5678_9abc,
    };
    w.append_with_digest(&sample_txn(1), Some(&dg)).unwrap();
    w.append(&sample_txn(2)).unwrap();
    w.commit().unwrap();
    let got: Vec<LogEntry> = read_from(d.path(), 0)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got[0].digest, Some(dg));
    assert_eq!(got[1].digest, None);
    assert_eq!(got[1].txn, sample_txn(2));
}

#[test]
fn writer_refuses_going_back_and_overwriting_records() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 3, 100, 0);
    let mut w = TxnLogWriter::open(d.path(), 0, true).unwrap();
    // log.1 holds records: never overwritten.
    let e = w.append(&sample_txn(1)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    // After an error the writer is unusable.
    assert!(w.append(&sample_txn(4)).is_err());
    let mut w = TxnLogWriter::open(d.path(), 0, true).unwrap();
    w.append(&sample_txn(4)).unwrap();
    let e = w.append(&sample_txn(4)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    w.commit().unwrap();
    assert_eq!(w.last_zxid(), Some(4));
    assert_eq!(read_all(d.path(), 0).0.len(), 4);
}

#[test]
fn roll_keeps_uncommitted_txns_of_the_old_file() {
    let d = tempfile::tempdir().unwrap();
    let mut w = TxnLogWriter::open(d.path(), 0, true).unwrap();
    w.append(&sample_txn(1)).unwrap();
    w.roll();
    w.append(&sample_txn(2)).unwrap();
    assert_eq!(w.current_file().unwrap(), d.path().join("log.2"));
    assert!(w.pending_bytes() > 0);
    w.commit().unwrap();
    assert_eq!(w.pending_bytes(), 0);
    assert_eq!(read_all(d.path(), 0).0, vec![sample_txn(1), sample_txn(2)]);
}

/// Writes 6 txns into one file (optionally preallocated) and returns it with the
/// records' offsets (the last entry is the end of the data).
fn one_file(dir: &Path, pre_alloc: u64) -> (PathBuf, Vec<u64>, Vec<Txn>) {
    let all = write_log(dir, 6, 100, pre_alloc);
    let f = dir.join("log.1");
    let offs = record_offsets(&f);
    assert_eq!(offs.len(), 7);
    (f, offs, all)
}

#[test]
fn torn_tail_by_truncation_at_every_offset_of_the_last_record() {
    let d = tempfile::tempdir().unwrap();
    let (f, offs, all) = one_file(d.path(), 0);
    let orig = fs::read(&f).unwrap();
    let (start, end) = (offs[5], offs[6]);
    for cut in start..end {
        fs::write(&f, &orig[..cut as usize]).unwrap();
        let (txns, tail) = read_all(d.path(), 0);
        assert_eq!(txns, all[..5], "cut at {cut}");
        if orig[start as usize..cut as usize].iter().all(|b| *b == 0) {
            // Nothing (or only the checksum's zero high bytes) of the record got out.
            assert_eq!(tail, None, "cut at {cut}: only zeros after the last record");
        } else {
            let t = tail.unwrap_or_else(|| panic!("cut at {cut}: no tail"));
            assert_eq!(
                (t.file.as_path(), t.offset),
                (f.as_path(), start),
                "cut at {cut}"
            );
        }
    }
}

#[test]
fn torn_tail_by_zeros_at_every_offset_of_the_last_record() {
    let d = tempfile::tempdir().unwrap();
    let (f, offs, all) = one_file(d.path(), 4096);
    let orig = fs::read(&f).unwrap();
    let (start, end) = (offs[5], offs[6]);
    for from in start..end {
        // The preallocated zeros show through where the write did not land.
        let mut b = orig.clone();
        b[from as usize..end as usize].fill(0);
        fs::write(&f, &b).unwrap();
        let (txns, tail) = read_all(d.path(), 0);
        assert_eq!(txns, all[..5], "zeros from {from}");
        match tail {
            None => assert!(b[start as usize..].iter().all(|x| *x == 0), "from {from}"),
            Some(t) => assert_eq!(t.offset, start, "zeros from {from}"),
        }
    }
}

#[test]
fn truncating_a_tail_lets_the_log_continue() {
    let d = tempfile::tempdir().unwrap();
    let (f, offs, all) = one_file(d.path(), 4096);
    let mut b = fs::read(&f).unwrap();
    b[offs[5] as usize + 20] ^= 0xff;
    b[offs[6] as usize - 1] = 0; // no end-of-record marker
    fs::write(&f, &b).unwrap();
    let mut r = read_from(d.path(), 0).unwrap();
    assert_eq!(r.by_ref().count(), 5);
    let tail = r.tail().unwrap().clone();
    assert_eq!(tail.offset, offs[5]);
    truncate_tail(&tail).unwrap();
    assert_eq!(fs::metadata(&f).unwrap().len(), offs[5]);
    let (txns, t) = read_all(d.path(), 0);
    assert_eq!((txns.as_slice(), t), (&all[..5], None));
    let mut w = TxnLogWriter::open(d.path(), 4096, true).unwrap();
    w.append(&sample_txn(6)).unwrap();
    w.append(&sample_txn(7)).unwrap();
    w.commit().unwrap();
    let (txns, t) = read_all(d.path(), 0);
    assert_eq!((txns.len(), t), (7, None));
    assert_eq!(txns[5], sample_txn(6));
    assert_eq!(names(d.path()), ["log.1", "log.6"]);
}

#[test]
fn flipped_bits_in_the_middle_are_corruption_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let (f, offs, _) = one_file(d.path(), 4096);
    let orig = fs::read(&f).unwrap();
    for rec in 1..4 {
        let start = offs[rec];
        for at in offs[rec]..offs[rec + 1] {
            for bit in [0, 3, 7] {
                let mut b = orig.clone();
                b[at as usize] ^= 1 << bit;
                fs::write(&f, &b).unwrap();
                match read_err(d.path()) {
                    StorageError::Corrupt { file, offset, .. } => {
                        assert_eq!((file.as_path(), offset), (f.as_path(), start), "byte {at}")
                    }
                    e => panic!("byte {at} bit {bit}: {e}"),
                }
            }
        }
    }
}

#[test]
fn zeroed_block_in_the_middle_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    let (f, offs, _) = one_file(d.path(), 4096);
    let mut b = fs::read(&f).unwrap();
    b[offs[2] as usize..offs[3] as usize].fill(0);
    fs::write(&f, &b).unwrap();
    let e = read_err(d.path());
    assert!(
        matches!(&e, StorageError::Corrupt { offset, .. } if *offset == offs[2]),
        "{e}"
    );
    assert!(e
        .to_string()
        .contains(&format!("a valid record follows at offset {}", offs[3])));
}

#[test]
fn corruption_in_an_earlier_file_names_that_file() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 20, 10, 0);
    let f = d.path().join("log.1");
    let offs = record_offsets(&f);
    let mut b = fs::read(&f).unwrap();
    b[offs[4] as usize + 15] ^= 0x10;
    fs::write(&f, &b).unwrap();
    match read_err(d.path()) {
        StorageError::Corrupt { file, offset, .. } => assert_eq!((file, offset), (f, offs[4])),
        e => panic!("{e}"),
    }
}

#[test]
fn torn_tail_of_an_earlier_file_is_skipped_like_zookeeper() {
    let d = tempfile::tempdir().unwrap();
    let all = write_log(d.path(), 20, 10, 0);
    let f = d.path().join("log.1");
    let offs = record_offsets(&f);
    let b = fs::read(&f).unwrap();
    fs::write(&f, &b[..offs[9] as usize + 7]).unwrap();
    let mut r = read_from(d.path(), 0).unwrap();
    let txns: Vec<Txn> = r.by_ref().map(|e| e.unwrap().txn).collect();
    assert_eq!(txns[..9], all[..9]);
    assert_eq!(txns[9..], all[10..]);
    assert_eq!(r.tail(), None);
    assert_eq!(r.torn_earlier().len(), 1);
    assert_eq!(r.torn_earlier()[0].offset, offs[9]);
}

#[test]
fn empty_and_headerless_last_files_are_tails_at_zero() {
    let d = tempfile::tempdir().unwrap();
    let all = write_log(d.path(), 3, 100, 0);
    for content in [&b""[..], &[0u8; 100][..], b"ZK"] {
        let f = d.path().join("log.4");
        fs::write(&f, content).unwrap();
        let (txns, tail) = read_all(d.path(), 0);
        assert_eq!(txns, all);
        let tail = tail.unwrap();
        assert_eq!((tail.file.as_path(), tail.offset), (f.as_path(), 0));
        truncate_tail(&tail).unwrap();
        assert!(!f.exists());
    }
}

#[test]
fn bad_magic_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 3, 100, 0);
    let f = d.path().join("log.1");
    let mut b = fs::read(&f).unwrap();
    b[0] = b'X';
    fs::write(&f, &b).unwrap();
    assert!(matches!(read_err(d.path()), StorageError::BadMagic { .. }));
}

#[test]
fn truncate_after_keeps_txns_up_to_the_zxid() {
    let d = tempfile::tempdir().unwrap();
    let all = write_log(d.path(), 30, 10, 512);
    let changed = truncate_after(d.path(), 14).unwrap();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(names(d.path()), ["log.1", "log.b"]);
    assert_eq!(read_all(d.path(), 0), (all[..14].to_vec(), None));
    // At a file boundary the file that would be left without records goes.
    truncate_after(d.path(), 10).unwrap();
    assert_eq!(names(d.path()), ["log.1"]);
    assert_eq!(read_all(d.path(), 0).0, all[..10]);
    truncate_after(d.path(), 0).unwrap();
    assert!(names(d.path()).is_empty());
}

/// A record whose entry is `entry`, framed by hand.
fn raw_file(dir: &Path, entries: &[Vec<u8>]) {
    let mut b = Vec::new();
    zooid_proto::Record::encode(
        &zooid_proto::FileHeader {
            magic: TXNLOG_MAGIC,
            version: 2,
            dbid: 0,
        },
        &mut b,
    );
    for e in entries {
        frame_record(e, &mut b);
    }
    fs::write(dir.join("log.1"), b).unwrap();
}

fn header_bytes(zxid: i64, op: i32) -> Vec<u8> {
    let mut b = Vec::new();
    zooid_proto::Record::encode(
        &TxnHeader {
            client_id: 7,
            cxid: 1,
            zxid,
            time: 5,
            op,
        },
        &mut b,
    );
    b
}

#[test]
fn old_formats_decode_as_zookeeper_reads_them() {
    let d = tempfile::tempdir().unwrap();
    // closeSession without a body (before CloseSessionTxn).
    let close = header_bytes(1, op::CLOSE_SESSION);
    // CreateTxnV0: no parentCVersion.
    let mut v0 = header_bytes(2, op::CREATE);
    v0.write_string("/old");
    v0.write_buffer(b"x");
    v0.write_i32(1);
    v0.write_i32(31);
    v0.write_string("world");
    v0.write_string("anyone");
    v0.write_bool(true);
    // A digest cut short: ignored like ZooKeeper's EOF.
    let mut short_digest = header_bytes(3, op::ERROR);
    short_digest.write_i32(-101);
    short_digest.extend_from_slice(&[0, 0, 0, 2, 1]);
    raw_file(d.path(), &[close, v0, short_digest]);
    let got: Vec<LogEntry> = read_from(d.path(), 0)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got[0].txn.body,
        TxnBody::CloseSession(CloseSessionTxn::default())
    );
    assert_eq!(
        got[1].txn.body,
        TxnBody::Create(CreateTxn {
            path: "/old".into(),
            data: Bytes::from_static(b"x"),
            acl: vec![Acl::new(31, "world", "anyone")],
            ephemeral: true,
            parent_c_version: -1,
        })
    );
    assert_eq!(got[2].txn.body, TxnBody::Error(ErrorTxn { err: -101 }));
    assert_eq!(got[2].digest, None);
}

#[test]
fn valid_checksum_but_undecodable_entry_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    // A getData "txn": ZooKeeper refuses it too ("Unsupported Txn with type").
    let bad = header_bytes(1, op::GET_DATA);
    let mut truncated = header_bytes(2, op::SET_DATA);
    truncated.write_string("/x");
    raw_file(d.path(), &[bad]);
    let e = read_err(d.path());
    assert!(e.to_string().contains("unsupported txn type 4"), "{e}");
    raw_file(d.path(), &[truncated]);
    let e = read_err(d.path());
    assert!(matches!(e, StorageError::Corrupt { offset: 16, .. }), "{e}");
}

#[test]
fn lying_lengths_do_not_allocate() {
    let d = tempfile::tempdir().unwrap();
    let mut b = Vec::new();
    zooid_proto::Record::encode(
        &zooid_proto::FileHeader {
            magic: TXNLOG_MAGIC,
            version: 2,
            dbid: 0,
        },
        &mut b,
    );
    b.write_i64(1);
    b.write_i32(i32::MAX);
    b.extend_from_slice(&[1, 2, 3]);
    fs::write(d.path().join("log.1"), &b).unwrap();
    let (txns, tail) = read_all(d.path(), 0);
    assert!(txns.is_empty());
    assert!(tail.unwrap().reason.contains("runs past the end"));
}

#[test]
fn txn_estimate_counts_whole_files_by_name_and_the_last_by_size() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 400, 120, 64 * 1024);
    assert_eq!(names(d.path()), ["log.1", "log.169", "log.79", "log.f1"]);
    let all = crate::estimate_txns_after(d.path(), 0).unwrap();
    // 360 txns in the first three files, exactly; the last 40 by bytes.
    let bytes = fs::read(d.path().join("log.169")).unwrap();
    let data_end = bytes.iter().rposition(|b| *b != 0).unwrap() as u64 + 1;
    assert!(data_end > 16 + 40 * 20, "40 records in {data_end} bytes");
    assert_eq!(all, 360 + (data_end - 16) / 128, "estimate {all}");
    assert_eq!(
        crate::estimate_txns_after(d.path(), 130).unwrap(),
        all - 130
    );
    // Past the end: only the newest file's bytes, however far.
    assert!(crate::estimate_txns_after(d.path(), 10_000).unwrap() <= all - 360);
    // No log directory: nothing to replay.
    assert_eq!(
        crate::estimate_txns_after(&d.path().join("none"), 0).ok(),
        Some(0)
    );
}
