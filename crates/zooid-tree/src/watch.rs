//! Watch registry: ZooKeeper 3.9's two `WatchManager`s (data and child) as `DataTree` drives them.
//!
//! ZooKeeper keeps two managers. `dataWatches` holds the watches of `getData` and `exists`,
//! every persistent watch and every persistent-recursive watch; `childWatches` holds the
//! watches of `getChildren` and every persistent (never recursive) watch. A watch is a
//! `(path, watcher)` pair carrying a set of modes (standard, persistent, recursive).
//!
//! A trigger on a path notifies every watcher of that path and, when any recursive watch
//! exists in the manager, every recursive watcher of an ancestor. Each watcher hears one
//! event per trigger however many of its watches matched. Standard watches of the path are
//! consumed; persistent and recursive ones stay. Within one trigger ZooKeeper delivers in
//! `HashSet` order; we deliver in ascending [`WatcherId`] order so that runs are reproducible.
//!
//! The registry never sends anything: it returns [`Fired`] records and the host turns them
//! into `WatcherEvent`s (filtering by ACL and stamping the txn's zxid in the reply header).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

/// The identity of one watching client connection, chosen by the host.
pub type WatcherId = u64;

/// ZooKeeper's `EventType.NodeCreated`.
pub const EVENT_NODE_CREATED: i32 = 1;
/// ZooKeeper's `EventType.NodeDeleted`.
pub const EVENT_NODE_DELETED: i32 = 2;
/// ZooKeeper's `EventType.NodeDataChanged`.
pub const EVENT_NODE_DATA_CHANGED: i32 = 3;
/// ZooKeeper's `EventType.NodeChildrenChanged`.
pub const EVENT_NODE_CHILDREN_CHANGED: i32 = 4;

/// ZooKeeper's `WatcherMode`: how long a watch lives and how far it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// One-shot: consumed by the first event at its path.
    Standard,
    /// Stays until removed; sees events at its path only.
    Persistent,
    /// Stays until removed; sees events at its path and every descendant.
    PersistentRecursive,
}

/// A set of [`WatchMode`]s as bits, like ZooKeeper's `WatchStats` (0 is `WatchStats.NONE`).
type Modes = u8;

const STANDARD: Modes = 1;
const PERSISTENT: Modes = 2;
const RECURSIVE: Modes = 4;

impl WatchMode {
    /// The bit of this mode, `1 << ordinal` as in `WatchStats.modeToFlag`.
    const fn bit(self) -> Modes {
        match self {
            WatchMode::Standard => STANDARD,
            WatchMode::Persistent => PERSISTENT,
            WatchMode::PersistentRecursive => RECURSIVE,
        }
    }
}

/// Which of `DataTree`'s two managers: `dataWatches` or `childWatches`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `dataWatches`: getData, exists, persistent and recursive watches.
    Data,
    /// `childWatches`: getChildren and persistent watches.
    Child,
}

/// ZooKeeper's `Watcher.WatcherType`, the `type` field of checkWatches and removeWatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    /// Standard child watches (getChildren).
    Children = 1,
    /// Standard data watches (getData and exists).
    Data = 2,
    /// Every watch of the path in both managers, whatever its mode.
    Any = 3,
    /// Persistent watches.
    Persistent = 4,
    /// Persistent-recursive watches.
    PersistentRecursive = 5,
}

impl WatcherType {
    /// Decodes the wire value. ZooKeeper throws a `RuntimeException` for any other value,
    /// which its FinalRequestProcessor answers with `MARSHALLINGERROR`.
    pub fn from_i32(value: i32) -> Option<WatcherType> {
        match value {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            4 => Some(WatcherType::Persistent),
            5 => Some(WatcherType::PersistentRecursive),
            _ => None,
        }
    }
}

/// One notification to deliver: to whom, ZooKeeper's event type int, and the event's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The watcher to notify.
    pub watcher: WatcherId,
    /// One of the `EVENT_*` constants.
    pub event_type: i32,
    /// The path that changed (for a recursive watch, the descendant, not the watched path).
    pub path: String,
}

/// ZooKeeper's `WatchesSummary` (the `wchs` command and the admin `watch_summary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    /// Watchers with an entry in the reverse index, including ones left with no paths.
    pub num_connections: usize,
    /// Paths with at least one watch.
    pub num_paths: usize,
    /// `(path, watcher)` pairs.
    pub total_watches: usize,
}

/// Both of `DataTree`'s watch managers and the events each txn fires.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    data: Manager,
    child: Manager,
    /// Reused buffer of the watchers one trigger found, so triggers do not allocate.
    scratch: Vec<WatcherId>,
    /// How many watchers each trigger of the last `node_*` call found, with its event
    /// type, for the triggers that found any (ZooKeeper's `NODE_*_WATCHER` metrics).
    found: Vec<(i32, usize)>,
}

impl WatchRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a standard watch: `Data` for getData and exists, `Child` for getChildren.
    pub fn add(&mut self, which: Which, path: &str, w: WatcherId) {
        self.add_mode(which, path, w, WatchMode::Standard);
    }

    /// Registers a watch of any mode in one manager (setWatches re-registers this way).
    /// Returns whether the watch was new, like `WatchManager.addWatch`.
    pub fn add_mode(&mut self, which: Which, path: &str, w: WatcherId, mode: WatchMode) -> bool {
        assert!(
            !(which == Which::Child && mode == WatchMode::PersistentRecursive),
            "ZooKeeper never puts recursive watches in childWatches"
        );
        match which {
            Which::Data => self.data.add(path, w, mode),
            Which::Child => self.child.add(path, w, mode),
        }
    }

    /// addWatch (opcode 106), as `DataTree.addWatch`: a persistent watch goes to both
    /// managers, a recursive one to `dataWatches` only.
    pub fn add_persistent(&mut self, path: &str, w: WatcherId, recursive: bool) {
        if recursive {
            self.data.add(path, w, WatchMode::PersistentRecursive);
        } else {
            self.data.add(path, w, WatchMode::Persistent);
            self.child.add(path, w, WatchMode::Persistent);
        }
    }

    /// The events of `DataTree.createNode`: NodeCreated from `dataWatches` at `path`, then
    /// NodeChildrenChanged from `childWatches` at `parent` (`""` means `/`, as in ZooKeeper).
    pub fn node_created(&mut self, path: &str, parent: &str, out: &mut Vec<Fired>) {
        self.found.clear();
        self.emit(Which::Data, path, EVENT_NODE_CREATED, out, 0..0);
        let parent = parent_or_root(parent);
        self.emit(Which::Child, parent, EVENT_NODE_CHILDREN_CHANGED, out, 0..0);
    }

    /// The events of `DataTree.deleteNode`: NodeDeleted from `dataWatches` at `path`, then
    /// NodeDeleted from `childWatches` at `path` for watchers not yet notified (their standard
    /// child watches are consumed all the same), then NodeChildrenChanged at `parent`.
    pub fn node_deleted(&mut self, path: &str, parent: &str, out: &mut Vec<Fired>) {
        self.found.clear();
        let start = out.len();
        self.emit(Which::Data, path, EVENT_NODE_DELETED, out, 0..0);
        let notified = start..out.len();
        self.emit(Which::Child, path, EVENT_NODE_DELETED, out, notified);
        let parent = parent_or_root(parent);
        self.emit(Which::Child, parent, EVENT_NODE_CHILDREN_CHANGED, out, 0..0);
    }

    /// The events of `DataTree.setData`: NodeDataChanged from `dataWatches` at `path`.
    pub fn node_data_changed(&mut self, path: &str, out: &mut Vec<Fired>) {
        self.found.clear();
        self.emit(Which::Data, path, EVENT_NODE_DATA_CHANGED, out, 0..0);
    }

    /// `(event type, watchers)` for each trigger of the last `node_*` call that found
    /// watchers: a watcher counts even when suppressed or refused by ACL, as
    /// `WatchManager.triggerWatch` counts it.
    pub fn found(&self) -> &[(i32, usize)] {
        &self.found
    }

    /// Drops every watch of `w` in both managers (`DataTree.removeCnxn`).
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// removeWatches (opcode 18), as `DataTree.removeWatch`; false means NoWatcher.
    /// An unknown `watcher_type` is false too; see [`WatcherType::from_i32`].
    pub fn remove(&mut self, path: &str, w: WatcherId, watcher_type: i32) -> bool {
        let Some(watcher_type) = WatcherType::from_i32(watcher_type) else {
            return false;
        };
        let standard = Some(WatchMode::Standard);
        let persistent = Some(WatchMode::Persistent);
        match watcher_type {
            WatcherType::Children => self.child.remove(path, w, standard),
            WatcherType::Data => self.data.remove(path, w, standard),
            WatcherType::Persistent => {
                let child = self.child.remove(path, w, persistent);
                let data = self.data.remove(path, w, persistent);
                child || data
            }
            WatcherType::PersistentRecursive => {
                self.data
                    .remove(path, w, Some(WatchMode::PersistentRecursive))
            }
            WatcherType::Any => {
                let child = self.child.remove(path, w, None);
                let data = self.data.remove(path, w, None);
                child || data
            }
        }
    }

    /// checkWatches (opcode 17), as `DataTree.containsWatcher`; false means NoWatcher.
    /// Persistent watches are looked up in `dataWatches` only, as ZooKeeper does.
    pub fn contains(&self, path: &str, w: WatcherId, watcher_type: i32) -> bool {
        let Some(watcher_type) = WatcherType::from_i32(watcher_type) else {
            return false;
        };
        let mode = match watcher_type {
            WatcherType::Children => return self.child.contains(path, w, STANDARD),
            WatcherType::Any => {
                return self.child.has_pair(path, w) || self.data.has_pair(path, w);
            }
            WatcherType::Data => WatchMode::Standard,
            WatcherType::Persistent => WatchMode::Persistent,
            WatcherType::PersistentRecursive => WatchMode::PersistentRecursive,
        };
        self.data.contains(path, w, mode.bit())
    }

    /// The `wchs` summary. Like `DataTree.getWatchesSummary`, it covers `dataWatches` only.
    pub fn summary(&self) -> WatchSummary {
        WatchSummary {
            num_connections: self.data.paths_of.len(),
            num_paths: self.data.table.len(),
            total_watches: self.data.pairs,
        }
    }

    /// The `wchc` report (paths by watcher), of `dataWatches` only as in ZooKeeper. A watcher
    /// whose standard watches all fired is still listed, with no paths, as in ZooKeeper.
    pub fn by_watcher(&self) -> BTreeMap<WatcherId, BTreeSet<String>> {
        let paths = |set: &HashSet<Arc<str>>| set.iter().map(|p| p.to_string()).collect();
        self.data
            .paths_of
            .iter()
            .map(|(w, set)| (*w, paths(set)))
            .collect()
    }

    /// The `wchp` report (watchers by path), of `dataWatches` only as in ZooKeeper.
    pub fn by_path(&self) -> BTreeMap<String, BTreeSet<WatcherId>> {
        let table = &self.data.table;
        table
            .iter()
            .map(|(p, set)| (p.to_string(), set.ids()))
            .collect()
    }

    /// `DataTree.getWatchCount` (mntr's `zk_watch_count`): pairs in both managers.
    pub fn watch_count(&self) -> usize {
        self.data.pairs + self.child.pairs
    }

    /// True when no watch is registered. Empty reverse-index entries may remain (see
    /// [`WatchRegistry::by_watcher`]) until their watcher is removed.
    pub fn is_empty(&self) -> bool {
        self.data.pairs == 0 && self.child.pairs == 0
    }

    /// Checks every internal invariant; costs a walk over all watches, so for tests.
    pub fn assert_invariants(&self) {
        self.data.assert_invariants();
        self.child.assert_invariants();
        assert_eq!(
            self.child.recursive, 0,
            "childWatches holds no recursive watch"
        );
    }

    /// Triggers one manager at `path` and appends an event for every watcher found, except
    /// those already notified in `out[suppressed]` (which is sorted by watcher).
    fn emit(
        &mut self,
        which: Which,
        path: &str,
        event_type: i32,
        out: &mut Vec<Fired>,
        suppressed: Range<usize>,
    ) {
        let manager = match which {
            Which::Data => &mut self.data,
            Which::Child => &mut self.child,
        };
        manager.trigger(path, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.found.push((event_type, self.scratch.len()));
        }
        for &watcher in &self.scratch {
            let notified = &out[suppressed.clone()];
            if notified
                .binary_search_by_key(&watcher, |f| f.watcher)
                .is_ok()
            {
                continue;
            }
            let path = path.to_owned();
            out.push(Fired {
                watcher,
                event_type,
                path,
            });
        }
    }
}

/// `DataTree` names the root's parent `""` and triggers `/` for it.
fn parent_or_root(parent: &str) -> &str {
    if parent.is_empty() {
        "/"
    } else {
        parent
    }
}

/// One `WatchManager`: `watchTable` (path to watchers) and `watch2Paths` (watcher to paths).
///
/// The modes of a pair live in `table`, next to the watchers a trigger walks, where ZooKeeper
/// keeps them in `watch2Paths`; the two maps always hold the same pairs. Path keys are shared
/// between the maps. A watcher's entry in `paths_of` is not dropped when a trigger consumes
/// its last watch, exactly as in ZooKeeper, where this shows in `wchs` and `wchc`.
#[derive(Debug, Default)]
struct Manager {
    table: HashMap<Arc<str>, WatcherSet>,
    paths_of: HashMap<WatcherId, HashSet<Arc<str>>>,
    /// Pairs with the recursive mode (`recursiveWatchQty`); zero skips the ancestor walk.
    recursive: usize,
    /// All pairs, ZooKeeper's `size()`, kept as a count instead of summed on demand.
    pairs: usize,
}

impl Manager {
    /// `WatchManager.addWatch`: returns whether the pair gained a mode.
    fn add(&mut self, path: &str, w: WatcherId, mode: WatchMode) -> bool {
        let key = match self.table.get_key_value(path) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(path),
        };
        let set = self.table.entry(Arc::clone(&key)).or_default();
        let old = set.get(w);
        let new = old | mode.bit();
        if new == old {
            return false;
        }
        set.put(w, new);
        if old == 0 {
            self.pairs += 1;
            self.paths_of.entry(w).or_default().insert(key);
        }
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        true
    }

    /// The modes of a pair, 0 when there is no such pair.
    fn modes(&self, path: &str, w: WatcherId) -> Modes {
        self.table.get(path).map_or(0, |set| set.get(w))
    }

    /// `containsWatcher(path, watcher, mode)` with a mode.
    fn contains(&self, path: &str, w: WatcherId, mode: Modes) -> bool {
        self.modes(path, w) & mode != 0
    }

    /// `containsWatcher(path, watcher, null)`: any mode.
    fn has_pair(&self, path: &str, w: WatcherId) -> bool {
        self.modes(path, w) != 0
    }

    /// `removeWatcher(path, watcher, mode)`: `None` drops the whole pair. Returns whether the
    /// pair's modes changed.
    fn remove(&mut self, path: &str, w: WatcherId, mode: Option<WatchMode>) -> bool {
        let old = self.modes(path, w);
        let new = mode.map_or(0, |mode| old & !mode.bit());
        if new == old {
            return false;
        }
        if new == 0 {
            self.unwatch(path, w);
        } else if let Some(set) = self.table.get_mut(path) {
            set.put(w, new);
        }
        if old & RECURSIVE != 0 && new & RECURSIVE == 0 {
            self.recursive -= 1;
        }
        true
    }

    /// Drops an existing pair from both maps, and entries left empty (ZooKeeper's `unwatch`).
    fn unwatch(&mut self, path: &str, w: WatcherId) {
        let set = self.table.get_mut(path).expect("pair has a table entry");
        assert_ne!(set.take(w), 0, "pair exists");
        if set.is_empty() {
            self.table.remove(path);
        }
        self.pairs -= 1;
        let paths = self.paths_of.get_mut(&w).expect("pair has a reverse entry");
        assert!(paths.remove(path), "pair is in the reverse index");
        if paths.is_empty() {
            self.paths_of.remove(&w);
        }
    }

    /// `removeWatcher(watcher)`: drops every pair of `w`.
    fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.paths_of.remove(&w) else {
            return;
        };
        for path in paths {
            let set = self.table.get_mut(&path).expect("pair has a table entry");
            let old = set.take(w);
            assert_ne!(old, 0, "pair exists");
            if set.is_empty() {
                self.table.remove(&path);
            }
            self.pairs -= 1;
            if old & RECURSIVE != 0 {
                self.recursive -= 1;
            }
        }
    }

    /// `triggerWatch`: fills `found` with the watchers to notify, sorted and unique, and
    /// consumes the standard watches at `path`.
    fn trigger(&mut self, path: &str, found: &mut Vec<WatcherId>) {
        found.clear();
        self.trigger_at_path(path, found);
        if self.recursive > 0 {
            for ancestor in Ancestors::of(path) {
                if let Some(set) = self.table.get(ancestor) {
                    set.recursive_ids(found);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
    }

    /// Every watcher of `path` itself fires; standard modes are consumed there.
    fn trigger_at_path(&mut self, path: &str, found: &mut Vec<WatcherId>) {
        let Some(set) = self.table.get_mut(path) else {
            return;
        };
        let paths_of = &mut self.paths_of;
        let mut dropped = 0;
        set.fire(found, |w| {
            // The watcher's entry stays even when emptied, as in ZooKeeper.
            let paths = paths_of.get_mut(&w).expect("pair has a reverse entry");
            assert!(paths.remove(path), "pair is in the reverse index");
            dropped += 1;
        });
        if set.is_empty() {
            self.table.remove(path);
        }
        self.pairs -= dropped;
    }

    fn assert_invariants(&self) {
        let mut pairs = 0;
        let mut recursive = 0;
        for (path, set) in &self.table {
            assert!(!set.is_empty(), "no empty table entry: {path}");
            set.for_each(|w, modes| {
                assert!(modes != 0 && modes <= 7, "valid modes");
                let paths = self.paths_of.get(&w).expect("reverse entry");
                assert!(paths.contains(path), "pair in reverse index");
                pairs += 1;
                recursive += usize::from(modes & RECURSIVE != 0);
            });
        }
        let reverse: usize = self.paths_of.values().map(HashSet::len).sum();
        assert_eq!(pairs, self.pairs);
        assert_eq!(reverse, self.pairs);
        assert_eq!(recursive, self.recursive);
    }
}

/// Watchers of one path at or below this many live in a vector: most paths have one or two
/// watchers, and a vector of them is far smaller and faster than a hash map.
const SMALL_MAX: usize = 8;

/// The watchers of one path with their modes (never 0 while stored).
#[derive(Debug)]
enum WatcherSet {
    Small(Vec<(WatcherId, Modes)>),
    Large(HashMap<WatcherId, Modes>),
}

impl Default for WatcherSet {
    fn default() -> Self {
        WatcherSet::Small(Vec::new())
    }
}

impl WatcherSet {
    fn get(&self, w: WatcherId) -> Modes {
        match self {
            WatcherSet::Small(v) => v.iter().find(|e| e.0 == w).map_or(0, |e| e.1),
            WatcherSet::Large(m) => m.get(&w).copied().unwrap_or(0),
        }
    }

    /// Inserts or updates; grows into a map past `SMALL_MAX`.
    fn put(&mut self, w: WatcherId, modes: Modes) {
        assert_ne!(modes, 0);
        match self {
            WatcherSet::Small(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == w) {
                    e.1 = modes;
                } else if v.len() < SMALL_MAX {
                    // A lone watcher, the common case, gets a vector of capacity one.
                    v.reserve_exact(usize::from(v.is_empty()));
                    v.push((w, modes));
                } else {
                    let mut m: HashMap<_, _> = v.drain(..).collect();
                    m.insert(w, modes);
                    *self = WatcherSet::Large(m);
                }
            }
            WatcherSet::Large(m) => {
                m.insert(w, modes);
            }
        }
    }

    /// Removes `w`, returning its modes (0 when absent).
    fn take(&mut self, w: WatcherId) -> Modes {
        match self {
            WatcherSet::Small(v) => match v.iter().position(|e| e.0 == w) {
                Some(i) => v.swap_remove(i).1,
                None => 0,
            },
            WatcherSet::Large(m) => m.remove(&w).unwrap_or(0),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            WatcherSet::Small(v) => v.is_empty(),
            WatcherSet::Large(m) => m.is_empty(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(WatcherId, Modes)) {
        match self {
            WatcherSet::Small(v) => v.iter().for_each(|&(w, m)| f(w, m)),
            WatcherSet::Large(m) => m.iter().for_each(|(&w, &m)| f(w, m)),
        }
    }

    fn ids(&self) -> BTreeSet<WatcherId> {
        let mut ids = BTreeSet::new();
        self.for_each(|w, _| {
            ids.insert(w);
        });
        ids
    }

    /// Appends the watchers holding a recursive watch (how an ancestor fires).
    fn recursive_ids(&self, found: &mut Vec<WatcherId>) {
        self.for_each(|w, modes| {
            if modes & RECURSIVE != 0 {
                found.push(w);
            }
        });
    }

    /// Appends every watcher and consumes standard modes; `dropped` hears each watcher
    /// whose pair is left with no mode and so was removed.
    fn fire(&mut self, found: &mut Vec<WatcherId>, mut dropped: impl FnMut(WatcherId)) {
        let mut step = |w: WatcherId, modes: &mut Modes| {
            found.push(w);
            *modes &= !STANDARD;
            if *modes == 0 {
                dropped(w);
            }
            *modes != 0
        };
        match self {
            WatcherSet::Small(v) => v.retain_mut(|(w, modes)| step(*w, modes)),
            WatcherSet::Large(m) => m.retain(|w, modes| step(*w, modes)),
        }
    }
}

/// The strict ancestors of a path, nearest first: `/a/b` yields `/a` then `/`. This is
/// ZooKeeper's `PathParentIterator` without its first element.
struct Ancestors<'a> {
    path: &'a str,
}

impl<'a> Ancestors<'a> {
    fn of(path: &'a str) -> Self {
        Ancestors { path }
    }
}

impl<'a> Iterator for Ancestors<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.path == "/" {
            return None;
        }
        self.path = match self.path.rfind('/') {
            // A relative path has no ancestors; ZooKeeper only sees validated paths.
            None => return None,
            Some(0) => "/",
            Some(i) => &self.path[..i],
        };
        Some(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILDREN: i32 = WatcherType::Children as i32;
    const DATA: i32 = WatcherType::Data as i32;
    const ANY: i32 = WatcherType::Any as i32;
    const PERSISTENT_T: i32 = WatcherType::Persistent as i32;
    const RECURSIVE_T: i32 = WatcherType::PersistentRecursive as i32;

    /// The parent `DataTree` computes for a path (`""` for the root).
    fn parent_of(path: &str) -> &str {
        match path.rfind('/') {
            Some(0) if path.len() > 1 => "/",
            Some(0) | None => "",
            Some(i) => &path[..i],
        }
    }

    /// What `WatchManager.triggerWatch` counts for the NODE_*_WATCHER metrics: every
    /// watcher each trigger found, those the delete's child trigger suppresses included.
    #[test]
    fn found_counts_each_trigger() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a/b", 1);
        r.add(Which::Child, "/a/b", 1);
        r.add(Which::Child, "/a/b", 2);
        r.add(Which::Child, "/a", 3);
        let mut out = Vec::new();
        r.node_deleted("/a/b", "/a", &mut out);
        assert_eq!(
            show(&out),
            ["1 deleted /a/b", "2 deleted /a/b", "3 children /a"]
        );
        let counts = [
            (EVENT_NODE_DELETED, 1),
            (EVENT_NODE_DELETED, 2),
            (EVENT_NODE_CHILDREN_CHANGED, 1),
        ];
        assert_eq!(r.found(), counts);
        // Nothing to notify: no sample.
        r.node_data_changed("/a/b", &mut out);
        assert_eq!(r.found(), []);
    }

    fn show(events: &[Fired]) -> Vec<String> {
        let kind = |t| match t {
            EVENT_NODE_CREATED => "created",
            EVENT_NODE_DELETED => "deleted",
            EVENT_NODE_DATA_CHANGED => "changed",
            EVENT_NODE_CHILDREN_CHANGED => "children",
            _ => unreachable!(),
        };
        let line = |f: &Fired| format!("{} {} {}", f.watcher, kind(f.event_type), f.path);
        events.iter().map(line).collect()
    }

    fn created(r: &mut WatchRegistry, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        r.node_created(path, parent_of(path), &mut out);
        r.assert_invariants();
        show(&out)
    }

    fn deleted(r: &mut WatchRegistry, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        r.node_deleted(path, parent_of(path), &mut out);
        r.assert_invariants();
        show(&out)
    }

    fn changed(r: &mut WatchRegistry, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        r.node_data_changed(path, &mut out);
        r.assert_invariants();
        show(&out)
    }

    const NONE: [&str; 0] = [];

    #[test]
    fn standard_data_watch_fires_once() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a", 1);
        assert_eq!(changed(&mut r, "/a"), ["1 changed /a"]);
        assert_eq!(changed(&mut r, "/a"), NONE);
        assert!(r.is_empty());
    }

    #[test]
    fn exists_watch_fires_created_then_parent_children() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a/b", 2);
        r.add(Which::Child, "/a", 1);
        r.add(Which::Data, "/a", 3);
        assert_eq!(created(&mut r, "/a/b"), ["2 created /a/b", "1 children /a"]);
        // A data watch on the parent does not see its children come and go.
        assert_eq!(r.watch_count(), 1);
        assert!(r.contains("/a", 3, DATA));
    }

    #[test]
    fn root_parent_is_slash() {
        let mut r = WatchRegistry::new();
        r.add(Which::Child, "/", 1);
        assert_eq!(created(&mut r, "/a"), ["1 children /"]);
        r.add(Which::Child, "/", 1);
        let mut out = Vec::new();
        r.node_deleted("/a", "/", &mut out);
        assert_eq!(show(&out), ["1 children /"]);
    }

    #[test]
    fn child_watch_sees_children_and_own_deletion_only() {
        let mut r = WatchRegistry::new();
        r.add(Which::Child, "/a", 1);
        assert_eq!(changed(&mut r, "/a"), NONE);
        assert_eq!(created(&mut r, "/a/b/c"), NONE);
        assert_eq!(deleted(&mut r, "/a"), ["1 deleted /a"]);
        assert!(r.is_empty());
    }

    #[test]
    fn delete_notifies_each_watcher_once_and_consumes_both() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a/b", 5);
        r.add(Which::Child, "/a/b", 5);
        r.add(Which::Child, "/a/b", 2);
        r.add(Which::Data, "/a/b", 9);
        r.add(Which::Child, "/a", 7);
        r.add(Which::Child, "/a", 5);
        let want = [
            "5 deleted /a/b",
            "9 deleted /a/b",
            "2 deleted /a/b",
            "5 children /a",
            "7 children /a",
        ];
        assert_eq!(deleted(&mut r, "/a/b"), want);
        assert!(r.is_empty());
    }

    #[test]
    fn standard_watch_on_ancestor_ignores_descendants() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/", 1);
        r.add(Which::Data, "/a", 1);
        assert_eq!(changed(&mut r, "/a/b"), NONE);
        assert_eq!(created(&mut r, "/a/b"), NONE);
        assert_eq!(r.watch_count(), 2);
    }

    #[test]
    fn persistent_watch_sees_its_path_and_stays() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/a", 1, false);
        assert_eq!(changed(&mut r, "/a"), ["1 changed /a"]);
        assert_eq!(changed(&mut r, "/a"), ["1 changed /a"]);
        assert_eq!(created(&mut r, "/a/b"), ["1 children /a"]);
        assert_eq!(changed(&mut r, "/a/b"), NONE);
        assert_eq!(created(&mut r, "/a/b/c"), NONE);
        assert_eq!(deleted(&mut r, "/a/b"), ["1 children /a"]);
        // The node's deletion reaches it once, and the watch outlives the node.
        assert_eq!(deleted(&mut r, "/a"), ["1 deleted /a"]);
        assert_eq!(created(&mut r, "/a"), ["1 created /a"]);
        assert_eq!(r.watch_count(), 2);
        assert!(r.contains("/a", 1, PERSISTENT_T));
    }

    #[test]
    fn recursive_watch_sees_subtree_but_never_children_changed() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/a", 1, true);
        assert_eq!(created(&mut r, "/a"), ["1 created /a"]);
        assert_eq!(created(&mut r, "/a/b"), ["1 created /a/b"]);
        assert_eq!(created(&mut r, "/a/b/c"), ["1 created /a/b/c"]);
        assert_eq!(changed(&mut r, "/a/b/c"), ["1 changed /a/b/c"]);
        assert_eq!(deleted(&mut r, "/a/b/c"), ["1 deleted /a/b/c"]);
        assert_eq!(changed(&mut r, "/a"), ["1 changed /a"]);
        // Siblings sharing a name prefix are not descendants.
        assert_eq!(changed(&mut r, "/ab"), NONE);
        assert_eq!(changed(&mut r, "/"), NONE);
        assert_eq!(r.watch_count(), 1);
        assert_eq!(r.child.pairs, 0);
    }

    #[test]
    fn recursive_watch_on_root_sees_everything() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/", 4, true);
        assert_eq!(changed(&mut r, "/"), ["4 changed /"]);
        assert_eq!(created(&mut r, "/x/y"), ["4 created /x/y"]);
        assert_eq!(deleted(&mut r, "/x"), ["4 deleted /x"]);
    }

    #[test]
    fn one_event_per_watcher_across_modes_and_ancestors() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/", 1, true);
        r.add_persistent("/a", 1, true);
        r.add_persistent("/a/b", 1, false);
        r.add(Which::Data, "/a/b", 1);
        r.add_persistent("/a", 2, true);
        assert_eq!(
            changed(&mut r, "/a/b"),
            ["1 changed /a/b", "2 changed /a/b"]
        );
        // The standard watch was consumed and the persistent one kept.
        assert!(!r.contains("/a/b", 1, DATA));
        assert!(r.contains("/a/b", 1, PERSISTENT_T));
        assert_eq!(r.data.recursive, 3);
    }

    #[test]
    fn standard_and_persistent_child_watch_fire_once() {
        let mut r = WatchRegistry::new();
        r.add(Which::Child, "/a", 1);
        r.add_persistent("/a", 1, false);
        assert_eq!(created(&mut r, "/a/b"), ["1 children /a"]);
        assert!(!r.contains("/a", 1, CHILDREN));
        assert!(r.contains("/a", 1, ANY));
    }

    #[test]
    fn delete_with_recursive_ancestor_and_persistent_node() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/a", 1, true);
        r.add_persistent("/a/b", 2, false);
        r.add(Which::Child, "/a/b", 3);
        // Watcher 2's persistent child watch is suppressed by its data watch.
        let want = ["1 deleted /a/b", "2 deleted /a/b", "3 deleted /a/b"];
        assert_eq!(deleted(&mut r, "/a/b"), want);
        assert!(r.contains("/a/b", 2, PERSISTENT_T));
        assert!(!r.contains("/a/b", 3, ANY));
    }

    #[test]
    fn adding_twice_is_one_watch() {
        let mut r = WatchRegistry::new();
        assert!(r.add_mode(Which::Data, "/a", 1, WatchMode::Standard));
        assert!(!r.add_mode(Which::Data, "/a", 1, WatchMode::Standard));
        r.add_persistent("/a", 1, true);
        r.add_persistent("/a", 1, true);
        assert_eq!(r.data.recursive, 1);
        assert_eq!(r.watch_count(), 1);
        assert_eq!(changed(&mut r, "/a"), ["1 changed /a"]);
    }

    #[test]
    #[should_panic(expected = "never puts recursive")]
    fn recursive_child_watch_is_a_bug() {
        WatchRegistry::new().add_mode(Which::Child, "/a", 1, WatchMode::PersistentRecursive);
    }

    #[test]
    fn remove_children_and_data_take_standard_only() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a", 1);
        r.add(Which::Child, "/a", 1);
        r.add_persistent("/b", 1, false);
        assert!(r.remove("/a", 1, CHILDREN));
        assert!(!r.remove("/a", 1, CHILDREN));
        assert!(r.contains("/a", 1, DATA));
        assert!(r.remove("/a", 1, DATA));
        assert!(!r.remove("/a", 1, DATA));
        // Persistent watches do not answer to Data or Children.
        assert!(!r.remove("/b", 1, DATA));
        assert!(!r.remove("/b", 1, CHILDREN));
        assert!(!r.contains("/b", 1, DATA));
        assert!(!r.contains("/b", 1, CHILDREN));
        assert_eq!(r.watch_count(), 2);
        r.assert_invariants();
    }

    #[test]
    fn remove_persistent_leaves_standard() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a", 1);
        r.add_persistent("/a", 1, false);
        r.add_persistent("/a", 1, true);
        assert!(r.remove("/a", 1, PERSISTENT_T));
        assert!(!r.remove("/a", 1, PERSISTENT_T));
        assert!(!r.contains("/a", 1, PERSISTENT_T));
        assert!(r.contains("/a", 1, RECURSIVE_T));
        assert!(r.contains("/a", 1, DATA));
        assert!(r.remove("/a", 1, RECURSIVE_T));
        assert!(!r.remove("/a", 1, RECURSIVE_T));
        assert_eq!(r.data.recursive, 0);
        assert!(r.contains("/a", 1, DATA));
        assert_eq!(r.watch_count(), 1);
        r.assert_invariants();
    }

    #[test]
    fn remove_any_takes_every_mode_in_both_managers() {
        let mut r = WatchRegistry::new();
        r.add(Which::Child, "/a", 1);
        assert!(r.remove("/a", 1, ANY));
        r.add_persistent("/a", 1, true);
        r.add_persistent("/a", 1, false);
        r.add(Which::Data, "/a", 1);
        r.add(Which::Data, "/a", 2);
        assert!(r.contains("/a", 1, ANY));
        assert!(r.remove("/a", 1, ANY));
        assert!(!r.remove("/a", 1, ANY));
        assert!(!r.contains("/a", 1, ANY));
        assert_eq!(r.data.recursive, 0);
        assert!(r.contains("/a", 2, DATA));
        r.assert_invariants();
    }

    #[test]
    fn no_watcher_cases() {
        let mut r = WatchRegistry::new();
        for t in [CHILDREN, DATA, ANY, PERSISTENT_T, RECURSIVE_T, 0, 6, -1] {
            assert!(!r.contains("/a", 1, t));
            assert!(!r.remove("/a", 1, t));
        }
        r.add(Which::Data, "/a", 1);
        // Another path, another watcher, another manager, an unknown type.
        assert!(!r.remove("/b", 1, DATA));
        assert!(!r.remove("/a", 2, DATA));
        assert!(!r.remove("/a", 1, CHILDREN));
        assert!(!r.remove("/a", 1, 0));
        assert!(!r.contains("/a", 1, 6));
        assert!(!r.contains("/a", 1, RECURSIVE_T));
        assert!(r.contains("/a", 1, DATA));
        assert_eq!(WatcherType::from_i32(3), Some(WatcherType::Any));
        assert_eq!(WatcherType::from_i32(7), None);
    }

    #[test]
    fn contains_does_not_remove() {
        let mut r = WatchRegistry::new();
        r.add(Which::Child, "/a", 1);
        r.add_persistent("/b", 1, true);
        for _ in 0..2 {
            assert!(r.contains("/a", 1, CHILDREN));
            assert!(r.contains("/a", 1, ANY));
            assert!(r.contains("/b", 1, RECURSIVE_T));
            assert!(r.contains("/b", 1, ANY));
            assert!(!r.contains("/b", 1, PERSISTENT_T));
        }
        assert_eq!(r.watch_count(), 2);
    }

    #[test]
    fn remove_watcher_leaves_nothing_behind() {
        let mut r = WatchRegistry::new();
        for path in ["/", "/a", "/a/b"] {
            r.add(Which::Data, path, 1);
            r.add(Which::Child, path, 1);
            r.add_persistent(path, 1, true);
            r.add_persistent(path, 1, false);
        }
        r.add(Which::Data, "/a", 2);
        r.remove_watcher(1);
        r.assert_invariants();
        assert_eq!(r.data.recursive, 0);
        assert_eq!(r.child.table.len(), 0);
        assert_eq!(r.child.paths_of.len(), 0);
        assert_eq!(r.data.table.len(), 1);
        assert_eq!(r.data.paths_of.len(), 1);
        r.remove_watcher(2);
        r.remove_watcher(3);
        assert!(r.is_empty());
        assert_eq!(r.summary(), WatchSummary::default());
        assert!(r.data.table.is_empty() && r.data.paths_of.is_empty());
    }

    #[test]
    fn summary_and_reports_cover_data_watches() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a", 1);
        r.add(Which::Data, "/b", 1);
        r.add(Which::Data, "/a", 2);
        r.add_persistent("/c", 3, false);
        r.add_persistent("/c", 3, true);
        r.add(Which::Child, "/d", 4);
        let want = WatchSummary {
            num_connections: 3,
            num_paths: 3,
            total_watches: 4,
        };
        assert_eq!(r.summary(), want);
        assert_eq!(r.watch_count(), 6);
        let by_watcher = format!("{:?}", r.by_watcher());
        assert_eq!(by_watcher, r#"{1: {"/a", "/b"}, 2: {"/a"}, 3: {"/c"}}"#);
        let by_path = format!("{:?}", r.by_path());
        assert_eq!(by_path, r#"{"/a": {1, 2}, "/b": {1}, "/c": {3}}"#);
    }

    #[test]
    fn fired_watcher_keeps_an_empty_entry_like_zookeeper() {
        let mut r = WatchRegistry::new();
        r.add(Which::Data, "/a", 1);
        changed(&mut r, "/a");
        let want = WatchSummary {
            num_connections: 1,
            num_paths: 0,
            total_watches: 0,
        };
        assert_eq!(r.summary(), want);
        assert_eq!(format!("{:?}", r.by_watcher()), "{1: {}}");
        assert!(r.is_empty());
        // A removal that finds nothing leaves it; an unwatch that empties it drops it.
        assert!(!r.remove("/a", 1, ANY));
        assert_eq!(r.summary().num_connections, 1);
        r.add(Which::Data, "/a", 1);
        assert!(r.remove("/a", 1, DATA));
        assert_eq!(r.summary().num_connections, 0);
        r.add(Which::Data, "/a", 1);
        changed(&mut r, "/a");
        r.remove_watcher(1);
        assert_eq!(r.summary().num_connections, 0);
    }

    #[test]
    fn many_watchers_on_one_path() {
        let mut r = WatchRegistry::new();
        for w in (0..40).rev() {
            r.add(Which::Data, "/hot", w);
        }
        r.add_persistent("/hot", 7, false);
        r.add_persistent("/hot", 33, true);
        assert!(matches!(r.data.table["/hot"], WatcherSet::Large(_)));
        let all: Vec<String> = (0..40).map(|w| format!("{w} changed /hot")).collect();
        assert_eq!(changed(&mut r, "/hot"), all);
        assert_eq!(
            changed(&mut r, "/hot"),
            ["7 changed /hot", "33 changed /hot"]
        );
        assert_eq!(changed(&mut r, "/hot/x"), ["33 changed /hot/x"]);
        assert_eq!(r.summary().num_connections, 40);
        assert!(r.remove("/hot", 33, ANY));
        assert!(r.remove("/hot", 7, PERSISTENT_T));
        assert!(r.data.table.is_empty());
        r.assert_invariants();
    }

    #[test]
    fn ancestors_walk_up_to_root() {
        let all = |p| Ancestors::of(p).collect::<Vec<_>>();
        assert_eq!(all("/a/b/c"), ["/a/b", "/a", "/"]);
        assert_eq!(all("/a"), ["/"]);
        assert!(all("/").is_empty());
        assert!(all("").is_empty());
        assert!(all("a").is_empty());
    }

    #[test]
    fn recursive_count_gates_the_ancestor_walk() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/a", 1, true);
        r.add_persistent("/a", 2, true);
        assert_eq!(r.data.recursive, 2);
        r.remove_watcher(1);
        assert!(r.remove("/a", 2, RECURSIVE_T));
        assert_eq!(r.data.recursive, 0);
        assert_eq!(changed(&mut r, "/a/b"), NONE);
    }

    /// A dumb model of both managers: every pair in one ordered map, triggers by scanning.
    #[derive(Default)]
    struct Model {
        pairs: BTreeMap<(usize, String, WatcherId), Modes>,
        /// The watchers with an entry in each manager's reverse index.
        conns: [BTreeSet<WatcherId>; 2],
    }

    fn is_below(ancestor: &str, path: &str) -> bool {
        let rest = path.strip_prefix(ancestor).unwrap_or("");
        path != ancestor && (ancestor == "/" || rest.starts_with('/'))
    }

    impl Model {
        fn add(&mut self, m: usize, path: &str, w: WatcherId, bit: Modes) {
            *self.pairs.entry((m, path.to_owned(), w)).or_insert(0) |= bit;
            self.conns[m].insert(w);
        }

        fn trigger(&mut self, m: usize, path: &str) -> BTreeSet<WatcherId> {
            let mut found = BTreeSet::new();
            self.pairs.retain(|(mm, p, w), modes| {
                if *mm == m && p == path {
                    found.insert(*w);
                    *modes &= !STANDARD;
                } else if *mm == m && *modes & RECURSIVE != 0 && is_below(p, path) {
                    found.insert(*w);
                }
                *modes != 0
            });
            found
        }

        fn emit(
            &mut self,
            m: usize,
            path: &str,
            t: i32,
            skip: &BTreeSet<u64>,
            out: &mut Vec<Fired>,
        ) {
            let found = self.trigger(m, path);
            for &watcher in found.difference(skip) {
                out.push(Fired {
                    watcher,
                    event_type: t,
                    path: path.to_owned(),
                });
            }
        }

        fn remove(&mut self, m: usize, path: &str, w: WatcherId, bit: Option<Modes>) -> bool {
            let key = (m, path.to_owned(), w);
            let old = self.pairs.get(&key).copied().unwrap_or(0);
            let new = bit.map_or(0, |bit| old & !bit);
            if new != 0 {
                self.pairs.insert(key, new);
            } else if old != 0 {
                self.pairs.remove(&key);
                if !self.pairs.keys().any(|k| k.0 == m && k.2 == w) {
                    self.conns[m].remove(&w);
                }
            }
            old != new
        }

        fn has(&self, m: usize, path: &str, w: WatcherId, bits: Modes) -> bool {
            let modes = self
                .pairs
                .get(&(m, path.to_owned(), w))
                .copied()
                .unwrap_or(0);
            modes & bits != 0
        }

        fn remove_typed(&mut self, path: &str, w: WatcherId, t: i32) -> bool {
            match t {
                1 => self.remove(1, path, w, Some(STANDARD)),
                2 => self.remove(0, path, w, Some(STANDARD)),
                3 => self.remove(1, path, w, None) | self.remove(0, path, w, None),
                4 => {
                    self.remove(1, path, w, Some(PERSISTENT))
                        | self.remove(0, path, w, Some(PERSISTENT))
                }
                5 => self.remove(0, path, w, Some(RECURSIVE)),
                _ => false,
            }
        }

        fn contains_typed(&self, path: &str, w: WatcherId, t: i32) -> bool {
            match t {
                1 => self.has(1, path, w, STANDARD),
                2 => self.has(0, path, w, STANDARD),
                3 => self.has(1, path, w, 7) || self.has(0, path, w, 7),
                4 => self.has(0, path, w, PERSISTENT),
                5 => self.has(0, path, w, RECURSIVE),
                _ => false,
            }
        }

        fn by_watcher(&self) -> BTreeMap<WatcherId, BTreeSet<String>> {
            let mut map: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
            for &w in &self.conns[0] {
                map.insert(w, BTreeSet::new());
            }
            for (m, p, w) in self.pairs.keys() {
                if *m == 0 {
                    map.get_mut(w).unwrap().insert(p.clone());
                }
            }
            map
        }
    }

    /// A small deterministic generator (xorshift64*), so the test needs no crates.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
        }
    }

    const PATHS: [&str; 7] = ["/", "/a", "/a/b", "/a/b/c", "/a/bc", "/d", "/d/e"];

    /// Applies one random operation to both and compares what they answer.
    fn step(rng: &mut Rng, r: &mut WatchRegistry, model: &mut Model, log: &mut Vec<String>) {
        let path = PATHS[rng.below(PATHS.len() as u64) as usize];
        let w = rng.below(12);
        let op = rng.below(11);
        log.push(format!("op {op} {path} w{w}"));
        let (mut got, mut want) = (Vec::new(), Vec::new());
        let none = BTreeSet::new();
        match op {
            0 => {
                r.add(Which::Data, path, w);
                model.add(0, path, w, STANDARD);
            }
            1 => {
                r.add(Which::Child, path, w);
                model.add(1, path, w, STANDARD);
            }
            2 => {
                r.add_persistent(path, w, false);
                model.add(0, path, w, PERSISTENT);
                model.add(1, path, w, PERSISTENT);
            }
            3 => {
                r.add_persistent(path, w, true);
                model.add(0, path, w, RECURSIVE);
            }
            4 => {
                let parent = parent_of(path);
                r.node_created(path, parent, &mut got);
                model.emit(0, path, EVENT_NODE_CREATED, &none, &mut want);
                let parent = parent_or_root(parent);
                model.emit(1, parent, EVENT_NODE_CHILDREN_CHANGED, &none, &mut want);
            }
            5 => {
                let parent = parent_of(path);
                r.node_deleted(path, parent, &mut got);
                let data = model.trigger(0, path);
                for &watcher in &data {
                    want.push(Fired {
                        watcher,
                        event_type: 2,
                        path: path.to_owned(),
                    });
                }
                model.emit(1, path, EVENT_NODE_DELETED, &data, &mut want);
                let parent = parent_or_root(parent);
                model.emit(1, parent, EVENT_NODE_CHILDREN_CHANGED, &none, &mut want);
            }
            6 => {
                r.node_data_changed(path, &mut got);
                model.emit(0, path, EVENT_NODE_DATA_CHANGED, &none, &mut want);
            }
            7 | 8 => {
                let t = rng.below(7) as i32;
                assert_eq!(
                    r.contains(path, w, t),
                    model.contains_typed(path, w, t),
                    "{log:?}"
                );
                if op == 8 {
                    assert_eq!(
                        r.remove(path, w, t),
                        model.remove_typed(path, w, t),
                        "{log:?}"
                    );
                }
            }
            _ => {
                r.remove_watcher(w);
                model.pairs.retain(|k, _| k.2 != w);
                model.conns.iter_mut().for_each(|c| {
                    c.remove(&w);
                });
            }
        }
        assert_eq!(got, want, "{log:?}");
    }

    fn compare(r: &WatchRegistry, model: &Model, log: &[String]) {
        r.assert_invariants();
        let data_pairs = model.pairs.keys().filter(|k| k.0 == 0);
        let paths: BTreeSet<&String> = data_pairs.clone().map(|k| &k.1).collect();
        let summary = WatchSummary {
            num_connections: model.conns[0].len(),
            num_paths: paths.len(),
            total_watches: data_pairs.count(),
        };
        assert_eq!(r.summary(), summary, "{log:?}");
        assert_eq!(r.by_watcher(), model.by_watcher(), "{log:?}");
        assert_eq!(r.watch_count(), model.pairs.len(), "{log:?}");
        assert_eq!(r.child.paths_of.len(), model.conns[1].len(), "{log:?}");
        let mut by_path: BTreeMap<String, BTreeSet<WatcherId>> = BTreeMap::new();
        for (_, p, w) in model.pairs.keys().filter(|k| k.0 == 0) {
            by_path.entry(p.clone()).or_default().insert(*w);
        }
        assert_eq!(r.by_path(), by_path, "{log:?}");
    }

    #[test]
    fn matches_a_dumb_model() {
        for seed in 1..=24u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut r = WatchRegistry::new();
            let mut model = Model::default();
            let mut log = vec![format!("seed {seed}")];
            for _ in 0..1000 {
                step(&mut rng, &mut r, &mut model, &mut log);
                compare(&r, &model, &log);
            }
        }
    }
}

#[cfg(test)]
mod mode_tests {
    use super::*;

    #[test]
    fn persistent_plus_one_shot_fire_once() {
        let mut r = WatchRegistry::new();
        r.add_persistent("/p", 1, false);
        r.add(Which::Data, "/p", 1);
        let mut out = Vec::new();
        r.node_data_changed("/p", &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
    }
}
