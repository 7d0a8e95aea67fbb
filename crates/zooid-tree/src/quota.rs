//! Quotas as ZooKeeper 3.9 keeps them: `/zookeeper/quota/<path>/zookeeper_limits` holds
//! the limits and `.../zookeeper_stats` the usage, both in `StatsTrack` text
//! (`count=N,bytes=M` plus `;key=value` extras). The tree updates the usage in place on
//! every create, delete and setData below a quota root; prep refuses writes past a hard
//! limit when `enforceQuota` is on.

use std::collections::BTreeMap;

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{LIMIT_NODE}")
}

pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{STAT_NODE}")
}

/// `StatsTrack`: a map of counters; a missing one reads as -1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Parses `count=1,bytes=2` and the `;key=value` extras. Pairs that do not parse are
    /// skipped (ZooKeeper would throw and skip the whole update).
    pub fn parse(data: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(data);
        let mut stats = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                continue;
            };
            let v = if v.is_empty() {
                Some(-1)
            } else {
                v.parse::<i64>().ok()
            };
            if let Some(v) = v {
                stats.insert(k.to_owned(), v);
            }
        }
        StatsTrack { stats }
    }

    fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    pub fn count(&self) -> i64 {
        self.get("count")
    }

    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }

    pub fn count_hard_limit(&self) -> i64 {
        self.get("countHardLimit")
    }

    pub fn byte_hard_limit(&self) -> i64 {
        self.get("byteHardLimit")
    }

    pub fn set_count(&mut self, v: i64) {
        self.stats.insert("count".into(), v);
    }

    pub fn set_bytes(&mut self, v: i64) {
        self.stats.insert("bytes".into(), v);
    }

    /// `StatsTrack.toString`, including ZooKeeper's stray `=` before the extras.
    pub fn to_text(&self) -> String {
        let mut s = format!("count={},bytes={}", self.count(), self.bytes());
        let extras: Vec<_> = self
            .stats
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "bytes")
            .collect();
        if !extras.is_empty() {
            s.push('=');
            for (k, v) in extras {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

/// Whether adding `count_diff` nodes and `bytes_diff` bytes under a quota root with
/// `limits` and usage `current` breaks a hard limit (`ZooKeeperServer.checkQuota`).
pub fn exceeds(
    limits: &StatsTrack,
    current: &StatsTrack,
    bytes_diff: i64,
    count_diff: i64,
) -> bool {
    let check_count = count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
    let check_bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
    if check_count
        && limits.count_hard_limit() > -1
        && current.count() + count_diff > limits.count_hard_limit()
    {
        return true;
    }
    check_bytes
        && limits.byte_hard_limit() > -1
        && current.bytes() + bytes_diff > limits.byte_hard_limit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_text_matches_zookeeper() {
        let t = StatsTrack::parse(b"count=5,bytes=-1");
        assert_eq!((t.count(), t.bytes()), (5, -1));
        assert_eq!(t.to_text(), "count=5,bytes=-1");
        let t = StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2");
        assert_eq!(t.count_hard_limit(), 2);
        assert_eq!(
            t.to_text(),
            "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2"
        );
    }

    #[test]
    fn only_hard_limits_refuse() {
        let soft = StatsTrack::parse(b"count=1,bytes=-1");
        let used = StatsTrack::parse(b"count=1,bytes=0");
        assert!(!exceeds(&soft, &used, 0, 1));
        let hard = StatsTrack::parse(b"count=-1,bytes=-1=;countHardLimit=1");
        assert!(exceeds(&hard, &used, 0, 1));
        assert!(!exceeds(&hard, &used, 10, 0));
    }
}
