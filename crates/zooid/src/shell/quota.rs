//! The quota commands (`SetQuotaCommand`, `ListQuotaCommand`, `DelQuotaCommand`): they
//! read and write `/zookeeper/quota/<path>/zookeeper_limits` and `zookeeper_stats`, whose
//! text is ZooKeeper's `StatsTrack`, with the same requests in the same order as zkCli.
//! The server keeps the stats node's counts.
//!
//! `StatsTrack` text (`[,;]+` separates pairs; zkCli writes `count` and `bytes` first,
//! then a `=` that 3.4 parsers skip, then the other keys in name order after `;`):
//! ```text
//! count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1
//! ```

use std::collections::BTreeMap;

use zookeeper_client as zk;

use super::commands::checked;
use super::parse::CommandLine;
use super::walk::{self, Failure};
use super::{format, java, CliError, Session};

const PROC_ZOOKEEPER: &str = "/zookeeper";
const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
const LIMIT_NODE: &str = "zookeeper_limits";
const STAT_NODE: &str = "zookeeper_stats";

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD: &str = "countHardLimit";
const BYTES_HARD: &str = "byteHardLimit";

/// `Quotas.quotaPath`, `limitPath`, `statPath`: plain concatenation, so a path without a
/// leading slash gives a name beside `quota` rather than an error.
fn quota_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}")
}

fn limit_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{LIMIT_NODE}")
}

fn stat_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{STAT_NODE}")
}

/// ZooKeeper's `StatsTrack`: named longs, -1 for a missing one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// `new StatsTrack(byte[])`. A bad number is the IllegalArgumentException zkCli
    /// catches (its message is printed); a pair without a value is the
    /// ArrayIndexOutOfBoundsException it does not.
    pub fn parse(data: &[u8]) -> Result<StatsTrack, CliError> {
        let text = String::from_utf8_lossy(data);
        let mut t = StatsTrack::default();
        if text.is_empty() {
            return Ok(t);
        }
        for pair in java::split(&text, |c| c == ',' || c == ';', true) {
            let kv = java::split(pair, |c| c == '=', false);
            let (Some(key), Some(value)) = (kv.first(), kv.get(1)) else {
                // "=" splits into nothing at all, so Java fails on the key.
                return Err(CliError::uncaught(format!(
                    "java.lang.ArrayIndexOutOfBoundsException: Index {} out of bounds for length {}",
                    kv.len().min(1),
                    kv.len()
                )));
            };
            let value = if value.is_empty() { "-1" } else { value };
            let value = java::parse_long(value).map_err(CliError::new)?;
            t.stats.insert((*key).to_owned(), value);
        }
        Ok(t)
    }

    pub fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    pub fn set(&mut self, key: &str, value: i64) {
        self.stats.insert(key.to_owned(), value);
    }

    /// `StatsTrack.toString`.
    pub fn text(&self) -> String {
        let mut s = format!("{COUNT}={},{BYTES}={}", self.get(COUNT), self.get(BYTES));
        let mut others = self
            .stats
            .iter()
            .filter(|(k, _)| *k != COUNT && *k != BYTES)
            .peekable();
        if others.peek().is_some() {
            s.push('=');
            for (k, v) in others {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

/// The requests of the quota commands, each with the Java client's path check first.
struct Quota<'a> {
    s: &'a Session,
    /// None while the shell is still connecting: every request fails with ConnectionLoss.
    client: Option<zk::Client>,
}

impl Quota<'_> {
    fn client(&self, path: &str) -> Result<&zk::Client, Failure> {
        checked(path)?;
        self.client
            .as_ref()
            .ok_or_else(|| Failure::Keeper(zk::Error::ConnectionLoss, path.to_owned()))
    }

    fn exists(&self, path: &str) -> Result<Option<zk::Stat>, Failure> {
        let stat = self.s.block_on(self.client(path)?.check_stat(path));
        stat.map_err(Failure::keeper(path))
    }

    fn get(&self, path: &str) -> Result<StatsTrack, Failure> {
        let data = self.s.block_on(self.client(path)?.get_data(path));
        let (data, _) = data.map_err(Failure::keeper(path))?;
        Ok(StatsTrack::parse(&data)?)
    }

    fn children(&self, path: &str) -> Result<Vec<String>, Failure> {
        let children = self.s.block_on(self.client(path)?.list_children(path));
        children.map_err(Failure::keeper(path))
    }

    fn create(&self, path: &str, data: &str) -> Result<(), Failure> {
        let open = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())];
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&open));
        let client = self.client(path)?;
        let created = self
            .s
            .block_on(client.create(path, data.as_bytes(), &options));
        created.map(|_| ()).map_err(Failure::keeper(path))
    }

    /// Creates `path`; finding it there already is fine.
    fn create_unless_there(&self, path: &str) -> Result<(), Failure> {
        match self.create(path, "") {
            Err(Failure::Keeper(zk::Error::NodeExists, _)) => Ok(()),
            other => other,
        }
    }

    fn set(&self, path: &str, t: &StatsTrack) -> Result<(), Failure> {
        let data = t.text();
        let set = self
            .s
            .block_on(self.client(path)?.set_data(path, data.as_bytes(), None));
        set.map(|_| ()).map_err(Failure::keeper(path))
    }

    fn delete(&self, path: &str) -> Result<(), Failure> {
        let deleted = self.s.block_on(self.client(path)?.delete(path, None));
        deleted.map_err(Failure::keeper(path))
    }
}

/// `setquota -n|-b|-N|-B val path`.
pub fn set_quota(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    if path.starts_with(QUOTA_ZOOKEEPER) {
        eprintln!("cannot set a quota under the path: {QUOTA_ZOOKEEPER}");
        return Ok(());
    }
    let mut quota = StatsTrack::default();
    for key in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
        quota.set(key, -1);
    }
    if !option_values(cl, &mut quota) {
        return Ok(());
    }
    let q = Quota {
        s,
        client: s.client().ok(),
    };
    create_quota(&q, path, &quota).map_err(Failure::into_cli)
}

/// `SetQuotaCommand.checkOptionValue`: a bad value is reported and the command succeeds.
fn option_values(cl: &CommandLine, quota: &mut StatsTrack) -> bool {
    let options = [
        ("n", COUNT, true),
        ("b", BYTES, false),
        ("N", COUNT_HARD, true),
        ("B", BYTES_HARD, false),
    ];
    for (opt, key, is_count) in options {
        let Some(text) = cl.value(opt) else {
            continue;
        };
        // The counts are Java ints, the byte sizes longs.
        let parsed = if is_count {
            java::parse_int(text).map(i64::from)
        } else {
            java::parse_long(text)
        };
        let Ok(value) = parsed else {
            eprintln!("NumberFormatException happens when parsing the option value");
            return false;
        };
        if is_count && value <= 0 {
            eprintln!("the num quota must be greater than zero");
            return false;
        }
        if !is_count && value < 0 {
            eprintln!("the bytes quota must be greater than or equal to zero");
            return false;
        }
        quota.set(key, value);
    }
    true
}

/// `SetQuotaCommand.createQuota`.
fn create_quota(q: &Quota<'_>, path: &str, quota: &StatsTrack) -> Result<(), Failure> {
    if q.exists(path)?.is_none() {
        return Err(Failure::Cli(CliError::new(format!(
            "{path} does not exist."
        ))));
    }
    check_no_child_quota(q, path)?;
    check_no_parent_quota(q, path)?;
    if q.exists(QUOTA_ZOOKEEPER)?.is_none() {
        // zkCli creates /zookeeper first and skips the second create when the first finds
        // the node there, as it always is.
        match q.create(PROC_ZOOKEEPER, "") {
            Ok(()) => q.create_unless_there(QUOTA_ZOOKEEPER)?,
            Err(Failure::Keeper(zk::Error::NodeExists, _)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut dir = QUOTA_ZOOKEEPER.to_owned();
    for part in java::split(path, |c| c == '/', false).iter().skip(1) {
        dir = format!("{dir}/{part}");
        if q.exists(&dir)?.is_none() {
            q.create_unless_there(&dir)?;
        }
    }
    let (limits_path, stats_path) = (format!("{dir}/{LIMIT_NODE}"), format!("{dir}/{STAT_NODE}"));
    if q.exists(&limits_path)?.is_none() {
        q.create(&limits_path, &quota.text())?;
        let mut stats = StatsTrack::default();
        stats.set(COUNT, 0);
        stats.set(BYTES, 0);
        q.create(&stats_path, &stats.text())?;
        let limits = q.get(&limits_path)?;
        warn_below_usage(&limits, &q.get(&stats_path)?);
        return Ok(());
    }
    let mut limits = q.get(&limits_path)?;
    for key in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
        if quota.get(key) > -1 {
            limits.set(key, quota.get(key));
        }
    }
    warn_below_usage(&limits, &q.get(&stats_path)?);
    q.set(&limits_path, &limits)
}

/// `SetQuotaCommand.checkQuota`: warns on stdout when a limit is below what is used.
fn warn_below_usage(limits: &StatsTrack, stats: &StatsTrack) {
    let below = |soft: &str, hard: &str, used: i64| {
        let under = |key: &str| limits.get(key) > -1 && limits.get(key) < used;
        under(soft) || under(hard)
    };
    if below(COUNT, COUNT_HARD, stats.get(COUNT)) {
        println!(
            "[Warning]: the count quota you create is less than the existing count:{}",
            stats.get(COUNT)
        );
    }
    if below(BYTES, BYTES_HARD, stats.get(BYTES)) {
        println!(
            "[Warning]: the bytes quota you create is less than the existing bytes:{}",
            stats.get(BYTES)
        );
    }
}

/// `SetQuotaCommand.checkIfChildQuota`: no node below `path` may have a quota. A quota
/// tree that is not there is fine.
fn check_no_child_quota(q: &Quota<'_>, path: &str) -> Result<(), Failure> {
    let own = quota_path(path);
    let client = q.client(&own)?;
    let mut on_node = |node: &str| -> Result<(), CliError> {
        // zkCli prints a failure to list the node and goes on.
        let children = match q.s.block_on(client.list_children(node)) {
            Ok(c) => c,
            Err(zk::Error::NoNode) => return Ok(()),
            Err(e) => {
                eprintln!(
                    "{}: {}",
                    format::keeper_exception_class(&e),
                    format::keeper_error_plain(&e, node)
                );
                return Ok(());
            }
        };
        if node != own && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(CliError::new(format!(
                "{path} has a child {} which has a quota",
                &node[QUOTA_ZOOKEEPER.len()..]
            )));
        }
        Ok(())
    };
    match walk::visit_subtree(q.s, client, &own, false, &mut on_node) {
        Err(Failure::Keeper(zk::Error::NoNode, _)) => Ok(()),
        other => other,
    }
}

/// `SetQuotaCommand.checkIfParentQuota`: no node above `path` may have a quota. The walk
/// up stops at the first quota directory that is missing or empty.
fn check_no_parent_quota(q: &Quota<'_>, path: &str) -> Result<(), Failure> {
    let parts = java::split(path, |c| c == '/', false);
    let mut dir = QUOTA_ZOOKEEPER.to_owned();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        dir = format!("{dir}/{part}");
        let children = match q.children(&dir) {
            Err(Failure::Keeper(zk::Error::NoNode, _)) => return Ok(()),
            other => other?,
        };
        if children.is_empty() {
            return Ok(());
        }
        if dir != quota_path(path) && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(Failure::Cli(CliError::new(format!(
                "{path} has a parent {} which has a quota",
                &dir[QUOTA_ZOOKEEPER.len()..]
            ))));
        }
    }
    Ok(())
}

/// `listquota path`: the limits and the usage, or a note that there is no quota.
pub fn list_quota(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    eprintln!("absolute path is {}", limit_path(path));
    let q = Quota {
        s,
        client: s.client().ok(),
    };
    let listed = q
        .get(&limit_path(path))
        .and_then(|limits| Ok((limits, q.get(&stat_path(path))?)));
    match listed {
        Ok((limits, stats)) => {
            println!("Output quota for {path} {}", limits.text());
            println!("Output stat for {path} {}", stats.text());
            Ok(())
        }
        Err(Failure::Keeper(zk::Error::NoNode, _)) => {
            eprintln!("quota for {path} does not exist.");
            Ok(())
        }
        Err(e) => Err(e.into_cli()),
    }
}

/// `delquota [-n|-b|-N|-B] path`: without an option, removes the quota and the quota
/// directories it leaves empty; with one, unsets that limit.
pub fn del_quota(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    let q = Quota {
        s,
        client: s.client().ok(),
    };
    let chosen: Vec<&str> = [
        ("n", COUNT),
        ("b", BYTES),
        ("N", COUNT_HARD),
        ("B", BYTES_HARD),
    ]
    .iter()
    .filter(|(opt, _)| cl.has(opt))
    .map(|(_, key)| *key)
    .collect();
    match delete_quota(&q, path, &chosen) {
        Ok(()) => Ok(()),
        Err(Failure::Keeper(zk::Error::NoNode, _)) => {
            eprintln!("quota for {path} does not exist.");
            Ok(())
        }
        Err(e) => Err(e.into_cli()),
    }
}

/// `DelQuotaCommand.delQuota`.
fn delete_quota(q: &Quota<'_>, path: &str, chosen: &[&str]) -> Result<(), Failure> {
    let (dir, limits_path) = (quota_path(path), limit_path(path));
    if q.exists(&limits_path)?.is_none() {
        println!("Quota does not exist for {path}");
        return Ok(());
    }
    let mut limits = q.get(&limits_path)?;
    if !chosen.is_empty() {
        for key in chosen {
            limits.set(key, -1);
        }
        return q.set(&limits_path, &limits);
    }
    for child in q.children(&dir)? {
        q.delete(&walk::child_path(&dir, &child))?;
    }
    // trimProcQuotas: remove the directories left empty, up to /zookeeper/quota.
    let mut node = dir;
    while node != QUOTA_ZOOKEEPER {
        if !q.children(&node)?.is_empty() {
            break;
        }
        q.delete(&node)?;
        match node.rfind('/') {
            Some(i) => node.truncate(i),
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by ZooKeeper's StatsTrack under Java 17.
    #[test]
    fn stats_track_like_java() {
        let text = |s: &str| StatsTrack::parse(s.as_bytes()).map(|t| t.text());
        assert_eq!(text("count=1,,bytes=2").unwrap(), "count=1,bytes=2");
        assert_eq!(text("a==5").unwrap(), "count=-1,bytes=-1=;a=-1");
        assert_eq!(text("=5").unwrap(), "count=-1,bytes=-1=;=5");
        assert_eq!(text("").unwrap(), "count=-1,bytes=-1");
        assert_eq!(
            text("count=1;;bytes=2;z=1;A=2;countHardLimit=3").unwrap(),
            "count=1,bytes=2=;A=2;countHardLimit=3;z=1"
        );
        assert_eq!(
            text("count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1").unwrap(),
            "count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1"
        );
        assert_eq!(
            text("count=x").unwrap_err().message,
            "For input string: \"x\""
        );
        let e = text("count=1,=").unwrap_err();
        assert_eq!(
            e.message,
            "java.lang.ArrayIndexOutOfBoundsException: Index 0 out of bounds for length 0"
        );
        for bad in ["count", "count=", ",count=1"] {
            let e = text(bad).unwrap_err();
            assert!(e.uncaught, "{bad}");
            assert_eq!(
                e.message,
                "java.lang.ArrayIndexOutOfBoundsException: Index 1 out of bounds for length 1"
            );
        }
    }
}
