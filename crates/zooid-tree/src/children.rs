//! A node's child names, and the order ZooKeeper lists them in.
//!
//! ZooKeeper keeps children in a `java.util.HashSet<String>` created with capacity 8 and
//! returns them in that set's iteration order: by bucket (`hash ^ hash >>> 16` masked by
//! the table size, which doubles past a 0.75 load and never shrinks), then by insertion
//! within a bucket. Clients see that order, so we reproduce it.

use std::collections::BTreeMap;

use compact_str::CompactString;
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::OnceLock;

/// One hash seed for every node's child map, chosen once per process: a map then
/// carries no hasher state of its own (a million leaves would otherwise each hold 32
/// bytes of seed) and names an attacker picks still do not collide predictably. No
/// output depends on it: listings are ordered as ZooKeeper orders them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSeed;

impl BuildHasher for ProcessSeed {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        static SEED: OnceLock<ahash::RandomState> = OnceLock::new();
        SEED.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

/// Child names with their insertion sequence and the Java table size. A leaf (most
/// nodes) holds nothing but an empty pointer: the map lives behind a box made on the
/// first child.
#[derive(Debug, Clone, Default)]
pub struct Children(Option<Box<Inner>>);

#[derive(Debug, Clone, Default)]
struct Inner {
    /// Names up to 24 bytes live inside the map's nodes: a descent compares them
    /// without chasing a pointer per key.
    names: BTreeMap<CompactString, u64>,
    next_seq: u64,
    /// The Java HashMap table size (8 once a child came).
    table: u32,
}

/// Java's `String.hashCode` over UTF-16 code units.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// `HashMap.hash` then the bucket index for a table of `table` slots.
fn bucket(s: &str, table: u32) -> u32 {
    let h = java_hash(s) as u32;
    (h ^ (h >> 16)) & (table - 1)
}

impl Children {
    pub fn insert(&mut self, name: &str) -> bool {
        let inner = self.0.get_or_insert_with(|| {
            Box::new(Inner {
                table: 8,
                ..Inner::default()
            })
        });
        // One walk of the map: look up and insert through the entry.
        match inner.names.entry(CompactString::new(name)) {
            std::collections::btree_map::Entry::Occupied(_) => return false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(inner.next_seq);
            }
        }
        inner.next_seq += 1;
        // HashMap resizes when size exceeds 0.75 of the table.
        while inner.names.len() as u64 * 4 > inner.table as u64 * 3 {
            inner.table *= 2;
        }
        true
    }

    /// Adds `names` as if inserted one by one in that order (a name already present or
    /// repeated keeps its first place). Into an empty set the map is built in one pass
    /// from the sorted names: a snapshot load adds a million children without a
    /// million tree descents.
    pub fn extend(&mut self, names: Vec<CompactString>) {
        if names.is_empty() {
            return;
        }
        if !self.is_empty() {
            for n in names {
                self.insert(&n);
            }
            return;
        }
        let inner = self.0.get_or_insert_with(|| {
            Box::new(Inner {
                table: 8,
                ..Inner::default()
            })
        });
        let first = inner.next_seq;
        let mut seqd: Vec<(CompactString, u64)> = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, first + i as u64))
            .collect();
        // Stable: among equal names the first inserted comes first and is kept.
        seqd.sort_by(|a, b| a.0.cmp(&b.0));
        seqd.dedup_by(|later, kept| later.0 == kept.0);
        let last = seqd.iter().map(|e| e.1).max().unwrap_or(first);
        inner.names = seqd.into_iter().collect();
        // Sequences stay in insertion order; gaps left by duplicates do not matter.
        inner.next_seq = last + 1;
        while inner.names.len() as u64 * 4 > inner.table as u64 * 3 {
            inner.table *= 2;
        }
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.0
            .as_mut()
            .is_some_and(|i| i.names.remove(name).is_some())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|i| i.names.contains_key(name))
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |i| i.names.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Names in no particular order (for walks and counts).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flat_map(|i| i.names.keys().map(|k| &**k))
    }

    /// Up to `n` names after `after` in name order: a walk that releases its lock between
    /// steps resumes here even when the children changed meanwhile.
    pub fn names_after(&self, after: Option<&str>, n: usize) -> Vec<CompactString> {
        let Some(inner) = &self.0 else {
            return Vec::new();
        };
        let from = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        inner
            .names
            .range::<str, _>((from, Bound::Unbounded))
            .take(n)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Names in the order ZooKeeper's `getChildren` returns them.
    pub fn java_order(&self) -> Vec<String> {
        let Some(inner) = &self.0 else {
            return Vec::new();
        };
        let mut v: Vec<(u32, u64, &str)> = inner
            .names
            .iter()
            .map(|(n, seq)| (bucket(n, inner.table), *seq, &**n))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, n)| n.to_owned()).collect()
    }

    #[cfg(test)]
    fn table(&self) -> u32 {
        self.0.as_ref().map_or(0, |i| i.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("zookeeper"), 1_600_681_804);
        assert_eq!(java_hash("test_invalid_paths"), -1_873_899_591);
    }

    #[test]
    fn table_grows_past_three_quarters() {
        let mut c = Children::default();
        for i in 0..7 {
            c.insert(&format!("n{i}"));
        }
        assert_eq!(c.table(), 16);
        for i in 7..13 {
            c.insert(&format!("n{i}"));
        }
        assert_eq!(c.table(), 32);
        for i in 0..13 {
            c.remove(&format!("n{i}"));
        }
        assert_eq!(c.table(), 32, "Java tables never shrink");
    }

    #[test]
    fn matches_zookeeper_3_8_listing() {
        // Created in this order on Apache ZooKeeper 3.8, listed by getChildren.
        let mut c = Children::default();
        for n in [
            "b",
            "a",
            "c",
            "zz",
            "a1",
            "0",
            "B",
            "node-10",
            "node-2",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            c.insert(n);
        }
        let want = [
            "zz",
            "a1",
            "0",
            "a",
            "b",
            "B",
            "c",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "node-2",
            "node-10",
        ];
        assert_eq!(c.java_order(), want);
    }

    #[test]
    fn order_is_bucket_then_insertion() {
        let mut c = Children::default();
        // "Aa" and "BB" have the same Java hash: same bucket, insertion order decides.
        c.insert("BB");
        c.insert("Aa");
        let o = c.java_order();
        let (ib, ia) = (
            o.iter().position(|x| x == "BB"),
            o.iter().position(|x| x == "Aa"),
        );
        assert!(ib < ia, "{o:?}");
    }

    #[test]
    fn extend_is_inserting_one_by_one() {
        // Names with Java hash collisions ("Aa"/"BB"), repeats, and enough of them to
        // grow the table several times.
        let mut names: Vec<String> = (0..300).map(|i| format!("n{}", (i * 37) % 211)).collect();
        names.extend(["BB", "Aa", "BB", "AaAa", "BBBB", "AaBB"].map(String::from));
        for split in [0, 1, 150, names.len()] {
            let mut one = Children::default();
            for n in &names {
                one.insert(n);
            }
            let mut bulk = Children::default();
            for n in &names[..split] {
                bulk.insert(n);
            }
            bulk.extend(names[split..].iter().map(|n| n.as_str().into()).collect());
            assert_eq!(bulk.java_order(), one.java_order(), "split {split}");
            assert_eq!(bulk.table(), one.table(), "split {split}");
            // Later inserts land after the bulk ones.
            one.insert("zz");
            bulk.insert("zz");
            assert_eq!(bulk.java_order(), one.java_order(), "split {split}");
        }
    }
}
