//! The iteration order of Java's `ConcurrentHashMap<String, _>`, which fixes the order of
//! mntr's metric lines: ZooKeeper's default metrics provider keeps every kind of metric
//! in one such map, and each metric set keeps its keys in another.
//!
//! The order depends on the keys and on the order they were inserted (bins keep their
//! arrival order, resizes split them in a way that partly reverses it). Only insertion
//! is modelled (`computeIfAbsent`/`putIfAbsent`), as the maps mntr reads never lose a
//! key. This follows the JDK 8-21 implementation: bins of 16 and up, resize at 3/4 load,
//! a bin of 9 either grows a small table (`tryPresize`) or becomes a `TreeBin`, whose
//! insertion-order list takes new keys at its head.
//!
//! Not modelled: `computeIfAbsent` of a key already present also treeifies its bin (or
//! grows the table) when it finds the key 8th or further down a list. It takes eight
//! keys in one bin; the sets mntr prints hold a handful of namespaces.

/// `ConcurrentHashMap.DEFAULT_CAPACITY`.
const DEFAULT_CAPACITY: usize = 16;
/// A bin with this many nodes before an insert is treeified after it.
const TREEIFY_THRESHOLD: usize = 8;
/// A tree bin of at most this many nodes is split back into a list on resize.
const UNTREEIFY_THRESHOLD: usize = 6;
/// Below this table size a long bin grows the table instead of becoming a tree.
const MIN_TREEIFY_CAPACITY: usize = 64;

/// `String.hashCode`.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `ConcurrentHashMap.spread`.
fn spread(h: i32) -> usize {
    ((h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff) as usize
}

/// `ConcurrentHashMap.tableSizeFor`.
fn table_size_for(c: usize) -> usize {
    c.next_power_of_two()
}

#[derive(Clone, Copy)]
struct Entry<'a> {
    hash: usize,
    key: &'a str,
}

/// A bin in iteration order: a linked list, or a `TreeBin`'s `first` list.
#[derive(Clone, Default)]
struct Bin<'a> {
    tree: bool,
    entries: Vec<Entry<'a>>,
}

struct Map<'a> {
    table: Vec<Bin<'a>>,
    size: usize,
    size_ctl: usize,
}

impl<'a> Map<'a> {
    fn new() -> Self {
        Map {
            table: vec![Bin::default(); DEFAULT_CAPACITY],
            size: 0,
            size_ctl: DEFAULT_CAPACITY - DEFAULT_CAPACITY / 4,
        }
    }

    fn insert(&mut self, key: &'a str) {
        let hash = spread(string_hash(key));
        let n = self.table.len();
        let i = hash & (n - 1);
        let bin = &mut self.table[i];
        if bin.entries.iter().any(|e| e.key == key) {
            return;
        }
        let e = Entry { hash, key };
        if bin.tree {
            // TreeBin.putTreeVal links the new node in front of `first`.
            bin.entries.insert(0, e);
        } else {
            let before = bin.entries.len();
            bin.entries.push(e);
            if before >= TREEIFY_THRESHOLD {
                self.treeify_bin(i);
            }
        }
        self.size += 1;
        // addCount
        while self.size >= self.size_ctl {
            self.transfer();
        }
    }

    fn treeify_bin(&mut self, i: usize) {
        let n = self.table.len();
        if n < MIN_TREEIFY_CAPACITY {
            self.try_presize(n << 1);
        } else {
            self.table[i].tree = true;
        }
    }

    fn try_presize(&mut self, size: usize) {
        let c = table_size_for(size + (size >> 1) + 1);
        while c > self.size_ctl {
            self.transfer();
        }
    }

    /// Doubles the table, splitting each bin as `ConcurrentHashMap.transfer` does.
    fn transfer(&mut self) {
        let n = self.table.len();
        let mut next = vec![Bin::default(); n << 1];
        for (i, bin) in self.table.iter().enumerate() {
            if bin.entries.is_empty() {
                continue;
            }
            let (lo, hi) = if bin.tree {
                let (lo, hi): (Vec<Entry>, Vec<Entry>) =
                    bin.entries.iter().partition(|e| e.hash & n == 0);
                (
                    Bin {
                        tree: lo.len() > UNTREEIFY_THRESHOLD,
                        entries: lo,
                    },
                    Bin {
                        tree: hi.len() > UNTREEIFY_THRESHOLD,
                        entries: hi,
                    },
                )
            } else {
                // The tail after the last change of the split bit moves as it is; the
                // nodes before it are pushed onto the front of their new list one by one.
                let v = &bin.entries;
                let mut run_bit = v[0].hash & n;
                let mut last_run = 0;
                for (j, e) in v.iter().enumerate().skip(1) {
                    if e.hash & n != run_bit {
                        run_bit = e.hash & n;
                        last_run = j;
                    }
                }
                let tail = v[last_run..].to_vec();
                let (mut lo, mut hi) = if run_bit == 0 {
                    (tail, Vec::new())
                } else {
                    (Vec::new(), tail)
                };
                for e in &v[..last_run] {
                    if e.hash & n == 0 {
                        lo.insert(0, *e);
                    } else {
                        hi.insert(0, *e);
                    }
                }
                (
                    Bin {
                        tree: false,
                        entries: lo,
                    },
                    Bin {
                        tree: false,
                        entries: hi,
                    },
                )
            };
            next[i] = lo;
            next[i + n] = hi;
        }
        self.table = next;
        self.size_ctl = (n << 1) - (n >> 1);
    }
}

/// The order a `ConcurrentHashMap<String, _>` iterates after `keys` were inserted in
/// that order (repeats are ignored, as `computeIfAbsent` ignores them).
pub fn iteration_order<'a, I>(keys: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut m = Map::new();
    for k in keys {
        m.insert(k);
    }
    m.table
        .iter()
        .flat_map(|b| b.entries.iter().map(|e| e.key))
        .collect()
}
