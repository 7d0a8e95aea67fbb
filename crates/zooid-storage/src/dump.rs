//! Human-readable and JSON dumps of a log file and a snapshot, for `zooid log dump` and
//! `zooid snapshot dump`. The text forms follow ZooKeeper's tools: `TxnLogToolkit` for
//! logs (one line per txn; times in UTC ISO-8601 instead of the JVM's locale format)
//! and `SnapshotFormatter -d` for snapshots (the same lines, `Date.toString` in UTC;
//! nodes in file order, where ZooKeeper prints children in hash-set order).

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};
use zooid_proto::opcode::op;
use zooid_proto::{perms, Acl, StatPersisted, TxnHeader};
use zooid_tree::TxnBody;

use crate::log::{FileEnd, LogFile, LogRecord};
use crate::snap::{read_snapshot, snapshot_zxid, Snapshot};
use crate::StorageError;

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |e| StorageError::Io {
        path: path.join("<output>"),
        source: e,
    }
}

// ------------------------------------------------------------------------------ log

/// Prints a log file like `TxnLogToolkit`: a header line, one line per txn, then how
/// the file ends. Corruption is printed where it is met and returned as the error.
pub fn log_text(path: &Path, out: &mut dyn Write) -> Result<(), StorageError> {
    let mut lf = LogFile::open(path)?;
    let oe = out_err(path);
    if let Some(h) = lf.header() {
        writeln!(
            out,
            "ZooKeeper Transactional Log File with dbid {} txnlog format version {}",
            h.dbid, h.version
        )
        .map_err(oe)?;
    }
    let mut count = 0usize;
    loop {
        match lf.next_record() {
            Ok(Some(rec)) => {
                count += 1;
                writeln!(out, "{}", txn_line(&rec)).map_err(out_err(path))?;
            }
            Ok(None) => break,
            Err(e) => {
                writeln!(out, "{e}").map_err(out_err(path))?;
                return Err(e);
            }
        }
    }
    let end = match lf.end() {
        Some(FileEnd::Torn { offset, reason }) => {
            format!("Torn tail at offset {offset} ({reason}) after {count} txns.")
        }
        _ => format!("EOF reached after {count} txns."),
    };
    writeln!(out, "{end}").map_err(out_err(path))
}

fn txn_line(rec: &LogRecord) -> String {
    let h = &rec.entry.txn.hdr;
    let mut s = format!(
        "{} session {:#x} cxid {:#x} zxid {:#x} {} {}",
        iso_time(h.time),
        h.client_id,
        h.cxid,
        h.zxid,
        op_name(h.op),
        body_text(&rec.entry.txn.body)
    );
    if let Some(d) = &rec.entry.digest {
        s.push_str(&format!(" digest {}:{}", d.version, d.tree_digest));
    }
    s
}

fn body_text(b: &TxnBody) -> String {
    match b {
        TxnBody::Create(t) => format!(
            "{},{},{},{},{}",
            t.path,
            text(&t.data),
            acl_text(&t.acl),
            t.ephemeral,
            t.parent_c_version
        ),
        TxnBody::CreateTtl(t) => format!(
            "{},{},{},{},{}",
            t.path,
            text(&t.data),
            acl_text(&t.acl),
            t.parent_c_version,
            t.ttl
        ),
        TxnBody::CreateContainer(t) => format!(
            "{},{},{},{}",
            t.path,
            text(&t.data),
            acl_text(&t.acl),
            t.parent_c_version
        ),
        TxnBody::Delete(t) => t.path.clone(),
        TxnBody::SetData(t) => format!("{},{},{}", t.path, text(&t.data), t.version),
        TxnBody::SetAcl(t) => format!("{},{},{}", t.path, acl_text(&t.acl), t.version),
        TxnBody::Check(t) => format!("{},{}", t.path, t.version),
        TxnBody::CreateSession(t) => t.time_out.to_string(),
        TxnBody::CloseSession(t) => format!("[{}]", t.paths_to_delete.join(",")),
        TxnBody::Error(t) => t.err.to_string(),
        TxnBody::Multi(subs) => subs
            .iter()
            .map(|(o, b)| format!("{}:{}", op_name(*o), body_text(b)))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// Data as text when it is UTF-8 (escaped where needed), else `base64:`.
fn text(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => s.to_owned(),
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("base64:{}", b64(data)),
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn acl_text(acl: &[Acl]) -> String {
    let items: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perm_string(a.perms)))
        .collect();
    format!("[{}]", items.join(","))
}

/// `ZKUtil.getPermString`.
pub fn perm_string(p: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// `Request.op2String` (ZooKeeper 3.9's names).
pub fn op_name(o: i32) -> String {
    let s = match o {
        op::NOTIFICATION => "notification",
        op::CREATE => "create",
        op::DELETE => "delete",
        op::EXISTS => "exists",
        op::GET_DATA => "getData",
        op::SET_DATA => "setData",
        op::GET_ACL => "getACL",
        op::SET_ACL => "setACL",
        op::GET_CHILDREN => "getChildren",
        op::SYNC => "sync",
        op::PING => "ping",
        op::GET_CHILDREN2 => "getChildren2",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::CREATE2 => "create2",
        op::RECONFIG => "reconfig",
        op::CHECK_WATCHES => "checkWatches",
        op::REMOVE_WATCHES => "removeWatches",
        op::CREATE_CONTAINER => "createContainer",
        op::DELETE_CONTAINER => "deleteContainer",
        op::CREATE_TTL => "createTTL",
        op::MULTI_READ => "multiRead",
        op::AUTH => "auth",
        op::SET_WATCHES => "setWatches",
        op::SET_WATCHES2 => "setWatches2",
        op::ADD_WATCH => "addWatch",
        op::SASL => "sasl",
        op::GET_EPHEMERALS => "getEphemerals",
        op::GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        op::ERROR => "error",
        op::WHO_AM_I => "whoAmI",
        _ => return format!("unknown {o}"),
    };
    s.to_owned()
}

/// A log file as JSON: `{file, header, txns: [...], end}`. Corruption is returned as
/// the error (nothing is printed then: a JSON document is whole or absent).
pub fn log_json(path: &Path, out: &mut dyn Write) -> Result<(), StorageError> {
    let mut lf = LogFile::open(path)?;
    let header = lf
        .header()
        .map(|h| json!({"magic": format!("{:#x}", h.magic), "version": h.version, "dbid": h.dbid}));
    let mut txns = Vec::new();
    while let Some(rec) = lf.next_record()? {
        let mut t = header_json(&rec.entry.txn.hdr);
        t.insert("offset".into(), json!(rec.offset));
        t.insert("txn".into(), body_json(&rec.entry.txn.body));
        if let Some(d) = &rec.entry.digest {
            t.insert(
                "digest".into(),
                json!({"version": d.version, "treeDigest": d.tree_digest}),
            );
        }
        txns.push(Value::Object(t));
    }
    let end = match lf.end() {
        Some(FileEnd::Torn { offset, reason }) => {
            json!({"state": "torn", "offset": offset, "reason": reason})
        }
        Some(FileEnd::Clean { offset }) => json!({"state": "clean", "offset": offset}),
        None => Value::Null,
    };
    let doc = json!({
        "file": path.display().to_string(),
        "header": header,
        "txns": txns,
        "end": end,
    });
    write_json(path, &doc, out)
}

fn write_json(path: &Path, doc: &Value, out: &mut dyn Write) -> Result<(), StorageError> {
    serde_json::to_writer_pretty(&mut *out, doc)
        .map_err(|e| out_err(path)(std::io::Error::other(e)))?;
    writeln!(out).map_err(out_err(path))
}

fn header_json(h: &TxnHeader) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("zxid".into(), json!(hex(h.zxid)));
    m.insert("session".into(), json!(hex(h.client_id)));
    m.insert("cxid".into(), json!(h.cxid));
    m.insert("time".into(), json!(h.time));
    m.insert("type".into(), json!(op_name(h.op)));
    m
}

fn hex(v: i64) -> String {
    format!("{v:#x}")
}

fn data_json(m: &mut Map<String, Value>, data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(s) => m.insert("data".into(), json!(s)),
        Err(_) => m.insert("dataBase64".into(), json!(b64(data))),
    };
}

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|a| json!({"perms": perm_string(a.perms), "scheme": a.id.scheme, "id": a.id.id}))
        .collect()
}

fn body_json(b: &TxnBody) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    match b {
        TxnBody::Create(t) => {
            put("path", json!(t.path));
            put("acl", acl_json(&t.acl));
            put("ephemeral", json!(t.ephemeral));
            put("parentCVersion", json!(t.parent_c_version));
            data_json(&mut m, &t.data);
        }
        TxnBody::CreateTtl(t) => {
            put("path", json!(t.path));
            put("acl", acl_json(&t.acl));
            put("parentCVersion", json!(t.parent_c_version));
            put("ttl", json!(t.ttl));
            data_json(&mut m, &t.data);
        }
        TxnBody::CreateContainer(t) => {
            put("path", json!(t.path));
            put("acl", acl_json(&t.acl));
            put("parentCVersion", json!(t.parent_c_version));
            data_json(&mut m, &t.data);
        }
        TxnBody::Delete(t) => put("path", json!(t.path)),
        TxnBody::SetData(t) => {
            put("path", json!(t.path));
            put("version", json!(t.version));
            data_json(&mut m, &t.data);
        }
        TxnBody::SetAcl(t) => {
            put("path", json!(t.path));
            put("acl", acl_json(&t.acl));
            put("version", json!(t.version));
        }
        TxnBody::Check(t) => {
            put("path", json!(t.path));
            put("version", json!(t.version));
        }
        TxnBody::CreateSession(t) => put("timeOut", json!(t.time_out)),
        TxnBody::CloseSession(t) => put("paths2Delete", json!(t.paths_to_delete)),
        TxnBody::Error(t) => put("err", json!(t.err)),
        TxnBody::Multi(subs) => {
            let v: Vec<Value> = subs
                .iter()
                .map(|(o, b)| json!({"type": op_name(*o), "txn": body_json(b)}))
                .collect();
            put("txns", json!(v));
        }
    }
    Value::Object(m)
}

// ------------------------------------------------------------------------- snapshot

/// Prints a snapshot like `SnapshotFormatter -d`: every node with its stat and base64
/// data, the sessions with their ephemeral counts, the digest, the last zxid.
pub fn snapshot_text(path: &Path, out: &mut dyn Write) -> Result<(), StorageError> {
    let snap = read_snapshot(path)?;
    write_snapshot_text(path, &snap, out).map_err(out_err(path))
}

fn write_snapshot_text(path: &Path, s: &Snapshot, out: &mut dyn Write) -> std::io::Result<()> {
    // ZooKeeper's DataTree keeps the root under both "" and "/": its count is one more.
    writeln!(out, "ZNode Details (count={}):", s.nodes.len() + 1)?;
    let mut last = snapshot_zxid(path).unwrap_or(-1);
    for n in &s.nodes {
        writeln!(out, "----")?;
        writeln!(out, "{}", if n.path.is_empty() { "/" } else { &n.path })?;
        write_stat(out, &n.stat)?;
        writeln!(out, "  data = {}", b64(&n.data))?;
        last = last.max(n.stat.mzxid).max(n.stat.pzxid);
    }
    writeln!(out, "----")?;
    writeln!(out, "Session Details (sid, timeout, ephemeralCount):")?;
    for (sid, timeout) in &s.sessions {
        let eph = s
            .nodes
            .iter()
            .filter(|n| n.stat.ephemeral_owner == *sid)
            .count();
        writeln!(out, "{sid:#016x}, {timeout}, {eph}")?;
    }
    if let Some(d) = &s.digest {
        writeln!(out, "Target zxid digest is: {:x}, {}", d.zxid, d.digest)?;
    }
    if let Some(z) = s.last_processed_zxid {
        writeln!(out, "Last processed zxid: {z:#x}")?;
    }
    writeln!(out, "----")?;
    writeln!(out, "Last zxid: {last:#x}")
}

fn write_stat(out: &mut dyn Write, s: &StatPersisted) -> std::io::Result<()> {
    writeln!(out, "  cZxid = {:#016x}", s.czxid)?;
    writeln!(out, "  ctime = {}", java_date(s.ctime))?;
    writeln!(out, "  mZxid = {:#016x}", s.mzxid)?;
    writeln!(out, "  mtime = {}", java_date(s.mtime))?;
    writeln!(out, "  pZxid = {:#016x}", s.pzxid)?;
    writeln!(out, "  cversion = {}", s.cversion)?;
    writeln!(out, "  dataVersion = {}", s.version)?;
    writeln!(out, "  aclVersion = {}", s.aversion)?;
    writeln!(out, "  ephemeralOwner = {:#016x}", s.ephemeral_owner)
}

/// A snapshot as JSON: `{file, zxid, sessions, acls, nodes, digest, lastProcessedZxid}`.
pub fn snapshot_json(path: &Path, out: &mut dyn Write) -> Result<(), StorageError> {
    let s = read_snapshot(path)?;
    let nodes: Vec<Value> = s
        .nodes
        .iter()
        .map(|n| {
            let st = &n.stat;
            let mut m = Map::new();
            m.insert(
                "path".into(),
                json!(if n.path.is_empty() { "/" } else { &n.path }),
            );
            data_json(&mut m, &n.data);
            m.insert("acl".into(), json!(n.acl));
            m.insert(
                "stat".into(),
                json!({
                    "czxid": hex(st.czxid), "mzxid": hex(st.mzxid), "pzxid": hex(st.pzxid),
                    "ctime": st.ctime, "mtime": st.mtime, "version": st.version,
                    "cversion": st.cversion, "aversion": st.aversion,
                    "ephemeralOwner": hex(st.ephemeral_owner),
                }),
            );
            Value::Object(m)
        })
        .collect();
    let doc = json!({
        "file": path.display().to_string(),
        "zxid": snapshot_zxid(path).map(hex),
        "sessions": s.sessions.iter()
            .map(|(id, t)| json!({"id": hex(*id), "timeout": t}))
            .collect::<Vec<_>>(),
        "acls": s.acls.iter()
            .map(|(i, l)| json!({"index": i, "acl": acl_json(l)}))
            .collect::<Vec<_>>(),
        "nodes": nodes,
        "digest": s.digest.map(|d| json!({
            "zxid": hex(d.zxid), "version": d.version, "digest": d.digest,
        })),
        "lastProcessedZxid": s.last_processed_zxid.map(hex),
    });
    write_json(path, &doc, out)
}

// ---------------------------------------------------------------------------- times

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    weekday: usize,
    h: i64,
    m: i64,
    s: i64,
    ms: i64,
}

fn civil(ms_since_epoch: i64) -> Civil {
    let days = ms_since_epoch.div_euclid(86_400_000);
    let ms_of_day = ms_since_epoch.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
        h: ms_of_day / 3_600_000,
        m: ms_of_day / 60_000 % 60,
        s: ms_of_day / 1000 % 60,
        ms: ms_of_day % 1000,
    }
}

/// `java.util.Date.toString()` in UTC: `Thu Jan 01 00:00:00 UTC 1970`.
pub fn java_date(ms_since_epoch: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(ms_since_epoch);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[c.weekday],
        MONTHS[c.month as usize - 1],
        c.day,
        c.h,
        c.m,
        c.s,
        c.year
    )
}

/// `2026-11-26T04:29:07.123Z`.
pub fn iso_time(ms_since_epoch: i64) -> String {
    let c = civil(ms_since_epoch);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.h, c.m, c.s, c.ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_java_in_utc() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_667_347_000), "Thu Nov 26 04:29:07 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(-1), "Wed Dec 31 23:59:59 UTC 1969");
        assert_eq!(iso_time(1_795_667_347_123), "2026-11-26T04:29:07.123Z");
    }

    #[test]
    fn perm_strings_follow_zkutil() {
        assert_eq!(perm_string(31), "cdrwa");
        assert_eq!(perm_string(perms::READ | perms::WRITE), "rw");
        assert_eq!(perm_string(0), "");
    }
}
