//! The path → node table, split into shards so that growing it never stops the tree
//! for long: a hash table doubles all at once, and the apply path holds the write lock
//! while it does. With 64 shards one doubling moves 1/64 of the nodes. A path is hashed
//! once: some middle bits pick the shard, the shard's table uses the rest.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::children::ProcessSeed;
use crate::tree::Node;

/// Shards of a table that grows from empty; a table sized up front for a snapshot
/// load may have more (see [`NodeMap::reserve`]).
const SHARDS: usize = 64;
/// Hash bits that pick the shard: bits 32..57.
const SHARD_BITS: u32 = 25;

#[derive(Debug, Clone)]
pub(crate) struct NodeMap {
    shards: Vec<HashTable<(String, Node)>>,
    len: usize,
}

impl Default for NodeMap {
    fn default() -> Self {
        NodeMap {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            len: 0,
        }
    }
}

fn hash(key: &str) -> u64 {
    ProcessSeed.hash_one(key)
}

/// Bits 32..57 pick the shard (any number of them, by multiply-shift). Not the top
/// bits: hashbrown tags each slot with the top 7 bits of its hash, and a shard whose
/// keys all shared them would compare keys at nearly every probe. Not the low bits
/// either: they pick the slot, and a shard would need 2^32 slots to reach bit 32.
fn shard(h: u64, shards: usize) -> usize {
    ((((h >> 32) & ((1 << SHARD_BITS) - 1)) * shards as u64) >> SHARD_BITS) as usize
}

impl NodeMap {
    fn shard_of(&self, h: u64) -> usize {
        shard(h, self.shards.len())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        let h = hash(key);
        self.shards[self.shard_of(h)]
            .find(h, |e| e.0 == key)
            .map(|e| &e.1)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let h = hash(key);
        let i = self.shard_of(h);
        self.shards[i].find_mut(h, |e| e.0 == key).map(|e| &mut e.1)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn insert(&mut self, key: String, node: Node) -> Option<Node> {
        let h = hash(&key);
        let i = self.shard_of(h);
        let table = &mut self.shards[i];
        match table.entry(h, |e| e.0 == key, |e| hash(&e.0)) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                Some(std::mem::replace(&mut e.get_mut().1, node))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, node));
                self.len += 1;
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Node> {
        let h = hash(key);
        let i = self.shard_of(h);
        let entry = self.shards[i].find_entry(h, |e| e.0 == key).ok()?;
        self.len -= 1;
        Some(entry.remove().0 .1)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        *self = NodeMap::default();
    }

    /// Room for about `n` nodes in all. An empty table is re-cut so that `n` nodes and a
    /// tenth more fill its shards to about 80%: a hash table's slots come in powers of
    /// two, and 64 shards sized for a million nodes would be half empty (110 MB idle).
    pub(crate) fn reserve(&mut self, n: usize) {
        const MIN_SLOTS: usize = 1024;
        if self.len == 0 && n > SHARDS * MIN_SLOTS {
            let want = n + n / 10;
            let mut slots = MIN_SLOTS;
            // hashbrown fills a table to 7/8 of its slots before it doubles it.
            while want.div_ceil(slots / 8 * 7) > 2 * SHARDS {
                slots *= 2;
            }
            let per_shard = slots / 8 * 7;
            let count = want.div_ceil(per_shard).max(SHARDS);
            self.shards = (0..count)
                .map(|_| HashTable::with_capacity(per_shard))
                .collect();
            return;
        }
        let per_shard = n / self.shards.len() + 1;
        for s in &mut self.shards {
            s.reserve(per_shard, |e| hash(&e.0));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|e| (&e.0, &e.1)))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: i64) -> Node {
        Node {
            data: bytes::Bytes::new(),
            acl: i,
            stat: Default::default(),
            children: Default::default(),
        }
    }

    #[test]
    fn a_table_cut_for_a_snapshot_holds_and_finds_everything() {
        let n = 150_000;
        let mut m = NodeMap::default();
        m.reserve(n);
        assert!(m.shards.len() > SHARDS, "{} shards", m.shards.len());
        // More than announced, so some shards double.
        for i in 0..n as i64 + n as i64 / 4 {
            assert!(m.insert(format!("/n{i}"), node(i)).is_none());
        }
        assert_eq!(m.len(), n + n / 4);
        for i in 0..n as i64 + n as i64 / 4 {
            assert_eq!(m.get(&format!("/n{i}")).map(|x| x.acl), Some(i));
        }
        assert_eq!(m.remove("/n7").map(|x| x.acl), Some(7));
        assert!(m.get("/n7").is_none());
        assert_eq!(m.iter().count(), n + n / 4 - 1);
        // Every shard got a share.
        assert!(m.shards.iter().all(|s| s.len() > (n / m.shards.len()) / 2));
    }
}
