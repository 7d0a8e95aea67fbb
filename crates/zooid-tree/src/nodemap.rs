//! The path → node table, split into shards so that growing it never stops the tree
//! for long: a hash table doubles all at once, and the apply path holds the write lock
//! while it does. With 64 shards one doubling moves 1/64 of the nodes. A path is hashed
//! once: some middle bits pick the shard, the shard's table uses the rest.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::children::ProcessSeed;
use crate::tree::Node;

/// Shards of the table (a power of two).
const SHARDS: usize = 64;
const _: () = assert!(SHARDS.is_power_of_two());

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

/// Bits 32.. pick the shard. Not the top bits: hashbrown tags each slot with the top 7
/// bits of its hash, and a shard whose keys all shared 6 of them would compare keys at
/// nearly every probe. Not the low bits either: they pick the slot. A shard table of
/// 2^32 slots would be needed before its slot bits reached these.
fn shard(h: u64) -> usize {
    (h >> 32) as usize & (SHARDS - 1)
}

impl NodeMap {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        let h = hash(key);
        self.shards[shard(h)].find(h, |e| e.0 == key).map(|e| &e.1)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let h = hash(key);
        self.shards[shard(h)]
            .find_mut(h, |e| e.0 == key)
            .map(|e| &mut e.1)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn insert(&mut self, key: String, node: Node) -> Option<Node> {
        let h = hash(&key);
        let table = &mut self.shards[shard(h)];
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
        let entry = self.shards[shard(h)].find_entry(h, |e| e.0 == key).ok()?;
        self.len -= 1;
        Some(entry.remove().0 .1)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        *self = NodeMap::default();
    }

    /// Room for about `n` nodes in all.
    pub(crate) fn reserve(&mut self, n: usize) {
        for s in &mut self.shards {
            s.reserve(n / SHARDS + 1, |e| hash(&e.0));
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
