//! The simulated world: servers with disks, links, clients, faults, and the event loop.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use bytes::Bytes;
use zooid_zab::{epoch_of, Action, Config, Durable, Entry, Message, Packet, Role, Sid, Zab, Zxid};

use crate::check::{chain, check_history, token_bytes, token_of, Kind, Op, Token};
use crate::Rng;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub voters: usize,
    pub observers: usize,
    pub clients: usize,
    /// Simulated time with faults.
    pub run_ms: u64,
    /// Then everything is healed and restarted, and the run goes on this long.
    pub settle_ms: u64,
    pub faults: bool,
    /// A leader must be serving with a synced quorum this soon after the healing.
    pub election_bound_ms: u64,
    /// Print what happens (role changes, crashes, partitions) to stderr.
    pub trace: bool,
}

impl SimConfig {
    /// The shape a seed runs: 3 or 5 voters, sometimes an observer.
    pub fn for_seed(seed: u64) -> SimConfig {
        let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        SimConfig {
            voters: if r.chance(0.6) { 3 } else { 5 },
            observers: if r.chance(0.3) { 1 } else { 0 },
            clients: r.range(2, 5) as usize,
            run_ms: 20_000,
            settle_ms: 15_000,
            faults: true,
            election_bound_ms: 12_000,
            trace: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub history_len: usize,
    pub acked_writes: usize,
    pub reads: usize,
    pub activations: usize,
    pub crashes: usize,
    pub partitions: usize,
    /// Simulated time from the healing to a serving leader with a synced quorum.
    pub recovery_ms: u64,
}

/// A broken property, with the seed that shows it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub at_ms: u64,
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} (at {} ms); reproduce: cargo run -p zooid-sim --release -- --seed {}",
            self.seed, self.what, self.at_ms, self.seed
        )
    }
}

/// Runs one seed.
pub fn run(seed: u64, cfg: &SimConfig) -> Result<Report, Failure> {
    let mut w = World::new(seed, cfg.clone());
    w.trace = cfg.trace;
    match w.run() {
        Ok(()) => Ok(w.report),
        Err(what) => Err(Failure {
            seed,
            at_ms: w.now,
            what,
        }),
    }
}

const TICK_MS: u64 = 10;
const CLIENT_TIMEOUT_MS: u64 = 4000;
const MAX_OUTSTANDING: usize = 2;
/// Txns a restarted server keeps in its in-memory window.
const RESTART_WINDOW: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Chan {
    Election,
    Quorum,
}

#[derive(Debug, Clone)]
enum Wire {
    Zab(Message),
    /// The sending side dropped the connection.
    Down,
    /// A write a learner forwards to the leader (`REQUEST`).
    Request {
        origin: Sid,
        token: Token,
    },
    SyncReq {
        origin: Sid,
        id: u64,
    },
    SyncResp {
        id: u64,
        zxid: Zxid,
    },
}

#[derive(Default)]
struct Link {
    queue: VecDeque<(u64, u64, Wire)>,
    conn: u64,
    scheduled: bool,
}

#[derive(Debug, Clone)]
enum Ev {
    Tick,
    Deliver { from: Sid, to: Sid, chan: Chan },
    Fsync { sid: Sid, incarnation: u64 },
    Crash,
    Restart { sid: Sid },
    Partition,
    Heal,
    ClientStep { client: u32 },
    ClientTimeout { client: u32, op: usize },
    EndFaults,
}

#[derive(Default)]
struct Disk {
    accepted: u32,
    current: u32,
    /// The snapshot: every txn up to `snap_zxid`.
    snap_zxid: Zxid,
    snap: Vec<Entry>,
    log: Vec<Entry>,
    /// Written, not yet fsynced: a crash loses these.
    unsynced: Vec<Entry>,
}

impl Disk {
    fn all_durable(&self) -> Vec<Entry> {
        self.snap.iter().chain(self.log.iter()).cloned().collect()
    }
}

struct Server {
    sid: Sid,
    up: bool,
    incarnation: u64,
    zab: Option<Zab>,
    disk: Disk,
    /// The applied txns, and the running hash after each.
    state: Vec<Entry>,
    hashes: Vec<u64>,
    /// This server's clock: `offset + now * rate`.
    rate_ppm: u64,
    offset: u64,
    fsync_scheduled: bool,
    /// Writes clients sent here, acknowledged when this server applies them.
    pending_writes: HashMap<Token, (u32, usize)>,
    /// Forwarded syncs, then reads waiting to apply up to the leader's commit point.
    sync_sent: HashMap<u64, (u32, usize)>,
    sync_wait: Vec<(Zxid, u32, usize)>,
    /// On a leader: which server each sync in progress came from.
    syncs_for: HashMap<u64, Sid>,
}

impl Server {
    fn last_zxid(&self) -> Zxid {
        self.state.last().map_or(0, |e| e.zxid)
    }

    fn hash(&self) -> u64 {
        self.hashes.last().copied().unwrap_or(0)
    }

    fn set_state(&mut self, entries: Vec<Entry>) {
        self.hashes.clear();
        let mut h = 0;
        for e in &entries {
            h = chain(h, e.zxid, token_of(&e.data).unwrap_or((0, 0)));
            self.hashes.push(h);
        }
        self.state = entries;
    }

    fn role(&self) -> Role {
        self.zab.as_ref().map_or(Role::Looking, |z| z.role())
    }

    fn serving(&self) -> bool {
        self.up
            && matches!(
                self.role(),
                Role::Leading { active: true }
                    | Role::Following { synced: true, .. }
                    | Role::Observing { synced: true, .. }
            )
    }

    fn local_time(&self, now: u64) -> u64 {
        self.offset + now * self.rate_ppm / 1_000_000
    }
}

struct Client {
    server: Sid,
    seq: u32,
    outstanding: BTreeSet<usize>,
    last_seen: Zxid,
}

struct World {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    events: BTreeMap<(u64, u64), Ev>,
    servers: Vec<Server>,
    voters: Vec<Sid>,
    links: HashMap<(Sid, Sid, Chan), Link>,
    /// Each side's current quorum connection to a peer: (me, peer) -> connection id.
    qview: HashMap<(Sid, Sid), u64>,
    next_conn: u64,
    cut: BTreeSet<(Sid, Sid)>,
    faults_on: bool,
    clients: Vec<Client>,
    ops: Vec<Op>,
    /// Every txn ever logged or applied, by zxid: one zxid, one txn.
    txns: HashMap<Zxid, Token>,
    next_sync_id: u64,
    completions: u64,
    /// Prints role changes, crashes and partitions (`ZOOID_SIM_TRACE=1`).
    pub(crate) trace: bool,
    healed_at: Option<u64>,
    report: Report,
}

impl World {
    fn new(seed: u64, cfg: SimConfig) -> World {
        let mut rng = Rng::new(seed);
        let n = cfg.voters + cfg.observers;
        let voters: Vec<Sid> = (1..=cfg.voters as Sid).collect();
        let mut servers = Vec::new();
        for i in 0..n {
            let skew = if cfg.faults {
                rng.range(0, 40_000)
            } else {
                20_000
            };
            servers.push(Server {
                sid: i as Sid + 1,
                up: false,
                incarnation: 0,
                zab: None,
                disk: Disk::default(),
                state: Vec::new(),
                hashes: Vec::new(),
                rate_ppm: 980_000 + skew,
                offset: rng.range(0, 1_000_000),
                fsync_scheduled: false,
                pending_writes: HashMap::new(),
                sync_sent: HashMap::new(),
                sync_wait: Vec::new(),
                syncs_for: HashMap::new(),
            });
        }
        let clients = (0..cfg.clients)
            .map(|_| Client {
                server: rng.range(1, n as u64) as Sid,
                seq: 0,
                outstanding: BTreeSet::new(),
                last_seen: 0,
            })
            .collect();
        World {
            report: Report {
                seed,
                ..Report::default()
            },
            cfg,
            rng,
            now: 0,
            seq: 0,
            events: BTreeMap::new(),
            servers,
            voters,
            links: HashMap::new(),
            qview: HashMap::new(),
            next_conn: 0,
            cut: BTreeSet::new(),
            faults_on: false,
            clients,
            ops: Vec::new(),
            txns: HashMap::new(),
            next_sync_id: 1,
            completions: 0,
            trace: false,
            healed_at: None,
        }
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert((t, self.seq), ev);
    }

    fn srv(&mut self, sid: Sid) -> &mut Server {
        &mut self.servers[(sid - 1) as usize]
    }

    fn zab_config(&self, sid: Sid) -> Config {
        let mut c = Config::new(sid, self.voters.iter().copied());
        c.observers = (self.cfg.voters as Sid + 1..=self.servers.len() as Sid).collect();
        c.tick_ms = 200;
        c.init_limit = 10;
        c.sync_limit = 5;
        c.committed_log_len = 50;
        c
    }

    fn run(&mut self) -> Result<(), String> {
        for sid in 1..=self.servers.len() as Sid {
            self.restart(sid)?;
        }
        self.at(0, Ev::Tick);
        for c in 0..self.clients.len() as u32 {
            let t = self.rng.range(100, 500);
            self.at(t, Ev::ClientStep { client: c });
        }
        if self.cfg.faults {
            self.faults_on = true;
            let t = self.rng.range(1000, 4000);
            self.at(t, Ev::Crash);
            let t = self.rng.range(1000, 6000);
            self.at(t, Ev::Partition);
        }
        let end_faults = self.cfg.run_ms;
        self.at(end_faults, Ev::EndFaults);
        let end = self.cfg.run_ms + self.cfg.settle_ms;
        while let Some(((t, _), ev)) = self.events.pop_first() {
            if t > end {
                break;
            }
            self.now = t;
            self.handle(ev)?;
            if let Some(h) = self.healed_at {
                if self.report.recovery_ms == 0 && self.quorum_serving() {
                    self.report.recovery_ms = (self.now - h).max(1);
                }
                if self.report.recovery_ms == 0 && self.now > h + self.cfg.election_bound_ms {
                    return Err(format!(
                        "no serving leader with a synced quorum {} ms after healing (roles {:?})",
                        self.cfg.election_bound_ms,
                        self.servers.iter().map(|s| s.role()).collect::<Vec<_>>()
                    ));
                }
            }
        }
        self.final_checks()
    }

    /// An active leader and a quorum of voters synced with it.
    fn quorum_serving(&self) -> bool {
        let Some(leader) = self
            .servers
            .iter()
            .find(|s| s.up && s.role() == Role::Leading { active: true })
        else {
            return false;
        };
        let synced = self
            .voters
            .iter()
            .filter(|v| {
                let s = &self.servers[(**v - 1) as usize];
                s.sid == leader.sid
                    || (s.up
                        && s.role()
                            == Role::Following {
                                leader: leader.sid,
                                synced: true,
                            })
            })
            .count();
        synced * 2 > self.voters.len()
    }

    fn handle(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::Tick => {
                let now = self.now;
                for sid in 1..=self.servers.len() as Sid {
                    let s = self.srv(sid);
                    if s.up {
                        let t = s.local_time(now);
                        if let Some(z) = self.srv(sid).zab.as_mut() {
                            z.tick(t);
                        }
                        self.drive(sid)?;
                    }
                }
                self.at(self.now + TICK_MS, Ev::Tick);
            }
            Ev::Deliver { from, to, chan } => self.deliver(from, to, chan)?,
            Ev::Fsync { sid, incarnation } => {
                let s = self.srv(sid);
                if !s.up || s.incarnation != incarnation {
                    return Ok(());
                }
                s.fsync_scheduled = false;
                let flushed: Vec<Entry> = s.disk.unsynced.drain(..).collect();
                let last = flushed.last().map(|e| e.zxid);
                s.disk.log.extend(flushed);
                if let (Some(z), Some(zab)) = (last, s.zab.as_mut()) {
                    zab.persisted(z);
                }
                self.drive(sid)?;
            }
            Ev::Crash => {
                if !self.faults_on {
                    return Ok(());
                }
                let up: Vec<Sid> = self
                    .servers
                    .iter()
                    .filter(|s| s.up)
                    .map(|s| s.sid)
                    .collect();
                if up.len() > 1 {
                    let sid = self.rng.pick(&up);
                    self.crash(sid);
                    let t = self.now + self.rng.range(300, 4000);
                    self.at(t, Ev::Restart { sid });
                }
                let t = self.now + self.rng.range(1000, 5000);
                self.at(t, Ev::Crash);
            }
            Ev::Restart { sid } => {
                if !self.srv(sid).up {
                    self.restart(sid)?;
                }
            }
            Ev::Partition => {
                if !self.faults_on {
                    return Ok(());
                }
                self.report.partitions += 1;
                let n = self.servers.len() as Sid;
                let k = self.rng.range(1, (n - 1) as u64) as usize;
                let mut all: Vec<Sid> = (1..=n).collect();
                let mut side = BTreeSet::new();
                for _ in 0..k {
                    let i = self.rng.below(all.len() as u64) as usize;
                    side.insert(all.swap_remove(i));
                }
                for a in 1..=n {
                    for b in 1..=n {
                        if side.contains(&a) != side.contains(&b) {
                            self.cut.insert((a, b));
                        }
                    }
                }
                let t = self.now + self.rng.range(500, 6000);
                if self.trace {
                    eprintln!("{:>6} ms  partition {side:?} until {t} ms", self.now);
                }
                self.at(t, Ev::Heal);
            }
            Ev::Heal => {
                self.cut.clear();
                if self.faults_on {
                    let t = self.now + self.rng.range(1000, 5000);
                    self.at(t, Ev::Partition);
                }
            }
            Ev::EndFaults => {
                self.faults_on = false;
                self.cut.clear();
                for sid in 1..=self.servers.len() as Sid {
                    if !self.srv(sid).up {
                        self.restart(sid)?;
                    }
                }
                self.healed_at = Some(self.now);
            }
            Ev::ClientStep { client } => self.client_step(client)?,
            Ev::ClientTimeout { client, op } => {
                let c = &mut self.clients[client as usize];
                if c.outstanding.remove(&op) {
                    // Connection loss: the outcome is unknown; try another server.
                    c.server = self.rng.range(1, self.servers.len() as u64) as Sid;
                    c.outstanding.clear();
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ servers

    fn restart(&mut self, sid: Sid) -> Result<(), String> {
        if self.trace {
            eprintln!("{:>6} ms  server {sid} starts", self.now);
        }
        let cfg = self.zab_config(sid);
        // A new process: connections from before the crash mean nothing to it.
        for peer in 1..=self.servers.len() as Sid {
            let fresh = self.fresh_conn();
            self.qview.insert((sid, peer), fresh);
        }
        let now = self.now;
        let s = self.srv(sid);
        s.up = true;
        s.incarnation += 1;
        s.fsync_scheduled = false;
        let history = s.disk.all_durable();
        s.set_state(history.clone());
        let cut = history.len().saturating_sub(RESTART_WINDOW);
        let base = if cut == 0 { 0 } else { history[cut - 1].zxid };
        let disk = Durable {
            accepted_epoch: s.disk.accepted,
            current_epoch: s.disk.current,
            log_base: base,
            log_tail: history[cut..].to_vec(),
        };
        let t = s.local_time(now);
        s.zab = Some(Zab::new(cfg, disk, t));
        self.drive(sid)
    }

    fn crash(&mut self, sid: Sid) {
        self.report.crashes += 1;
        if self.trace {
            eprintln!("{:>6} ms  server {sid} crashes", self.now);
        }
        let s = self.srv(sid);
        s.up = false;
        s.zab = None;
        s.incarnation += 1;
        s.disk.unsynced.clear();
        s.fsync_scheduled = false;
        s.pending_writes.clear();
        s.sync_sent.clear();
        s.sync_wait.clear();
        s.syncs_for.clear();
        let n = self.servers.len() as Sid;
        for peer in (1..=n).filter(|p| *p != sid) {
            for chan in [Chan::Election, Chan::Quorum] {
                self.reset_link(sid, peer, chan);
                self.reset_link(peer, sid, chan);
            }
            // The peer's kernel may or may not hear of it (a RST, or silence).
            if self.rng.chance(0.5) {
                self.link_push(sid, peer, Chan::Quorum, Wire::Down, true);
            }
        }
    }

    /// Carries out a server's actions, in order, until it has none left.
    fn drive(&mut self, sid: Sid) -> Result<(), String> {
        loop {
            let s = self.srv(sid);
            if !s.up {
                return Ok(());
            }
            let Some(zab) = s.zab.as_mut() else {
                return Ok(());
            };
            let actions = zab.take_actions();
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                self.act(sid, a)?;
            }
        }
    }

    fn note_txn(&mut self, e: &Entry) -> Result<Token, String> {
        let t = token_of(&e.data).ok_or_else(|| format!("txn {:#x} has no token", e.zxid))?;
        match self.txns.get(&e.zxid) {
            Some(prev) if *prev != t => Err(format!(
                "zxid {:#x} is {prev:?} on one server and {t:?} on another",
                e.zxid
            )),
            _ => {
                self.txns.insert(e.zxid, t);
                Ok(t)
            }
        }
    }

    fn act(&mut self, sid: Sid, a: Action) -> Result<(), String> {
        match a {
            Action::Send { to, msg } => {
                let chan = match msg {
                    Message::Vote(_) => Chan::Election,
                    Message::Quorum(_) => Chan::Quorum,
                };
                // Election notifications may be duplicated (ZooKeeper sends them again)
                // or lost (its send queues hold one message per peer and drop on
                // reconnect); election traffic carries no state a loss could break.
                if chan == Chan::Election && self.faults_on {
                    if self.rng.chance(0.05) {
                        return Ok(());
                    }
                    if self.rng.chance(0.03) {
                        self.link_push(sid, to, chan, Wire::Zab(msg.clone()), false);
                    }
                }
                self.link_push(sid, to, chan, Wire::Zab(msg), false);
            }
            Action::Disconnect { peer } => {
                // Close our end: the peer hears it on the connection it knows, and
                // whatever either side sends on that connection from now on is lost.
                self.link_push(sid, peer, Chan::Quorum, Wire::Down, false);
                let fresh = self.fresh_conn();
                self.qview.insert((sid, peer), fresh);
            }
            Action::SaveAcceptedEpoch(e) => self.srv(sid).disk.accepted = e,
            Action::SaveCurrentEpoch(e) => {
                let d = &mut self.srv(sid).disk;
                if e > d.accepted {
                    return Err(format!(
                        "server {sid} saves currentEpoch {e} > acceptedEpoch"
                    ));
                }
                d.current = e;
            }
            Action::Append(e) => {
                self.note_txn(&e)?;
                let s = self.srv(sid);
                s.disk.unsynced.push(e);
                if !s.fsync_scheduled {
                    s.fsync_scheduled = true;
                    let inc = s.incarnation;
                    // Mostly a fast disk; now and then a slow fsync, which widens the
                    // window in which a crash loses written txns.
                    let slow = self.faults_on && self.rng.chance(0.1);
                    let t = self.now
                        + if slow {
                            self.rng.range(50, 400)
                        } else {
                            self.rng.range(1, 8)
                        };
                    self.at(
                        t,
                        Ev::Fsync {
                            sid,
                            incarnation: inc,
                        },
                    );
                }
            }
            Action::Truncate { zxid } => {
                let s = self.srv(sid);
                s.disk.log.retain(|e| e.zxid <= zxid);
                s.disk.unsynced.retain(|e| e.zxid <= zxid);
                if zxid < s.disk.snap_zxid {
                    s.disk.snap.retain(|e| e.zxid <= zxid);
                    s.disk.snap_zxid = zxid;
                }
                let mut all = s.disk.all_durable();
                all.extend(s.disk.unsynced.iter().cloned());
                s.set_state(all);
            }
            Action::InstallSnapshot { zxid, data } => {
                let entries = decode_state(&data)?;
                for e in &entries {
                    self.note_txn(e)?;
                }
                if entries.last().map_or(0, |e| e.zxid) != zxid {
                    return Err(format!("snapshot at {zxid:#x} does not end there"));
                }
                let s = self.srv(sid);
                s.disk.snap = entries.clone();
                s.disk.snap_zxid = zxid;
                s.disk.log.clear();
                s.disk.unsynced.clear();
                s.set_state(entries);
            }
            Action::SendSnapshot { to, zxid } => {
                let s = self.srv(sid);
                if s.last_zxid() != zxid {
                    return Err(format!(
                        "server {sid} snapshots at {zxid:#x} but has applied {:#x}",
                        s.last_zxid()
                    ));
                }
                let data = encode_state(&s.state);
                self.link_push(
                    sid,
                    to,
                    Chan::Quorum,
                    Wire::Zab(Message::Quorum(Packet::Snap { zxid, data })),
                    false,
                );
            }
            Action::Apply(e) => {
                let t = self.note_txn(&e)?;
                let s = self.srv(sid);
                if e.zxid <= s.last_zxid() {
                    return Err(format!(
                        "server {sid} applies {:#x} after {:#x}",
                        e.zxid,
                        s.last_zxid()
                    ));
                }
                let h = chain(s.hash(), e.zxid, t);
                s.state.push(e.clone());
                s.hashes.push(h);
                if let Some((client, op)) = s.pending_writes.remove(&t) {
                    self.complete(client, op, e.zxid, h);
                }
                self.release_syncs(sid);
            }
            Action::RoleChanged(r) => {
                if self.trace {
                    let s = &self.servers[(sid - 1) as usize];
                    let z = s.zab.as_ref();
                    eprintln!(
                        "{:>6} ms  server {sid}: {r:?} (epoch {}/{}, last {:#x}, election {}){}",
                        self.now,
                        z.map_or(0, |z| z.accepted_epoch()),
                        z.map_or(0, |z| z.current_epoch()),
                        z.map_or(0, |z| z.last_logged_zxid()),
                        z.map_or(0, |z| z.election_epoch()),
                        z.and_then(|z| z.last_error())
                            .map(|e| format!(" after: {e}"))
                            .unwrap_or_default()
                    );
                }
                if r == (Role::Leading { active: true }) {
                    self.report.activations += 1;
                }
                if r == Role::Looking {
                    // Like a ZooKeeper server leaving its role: the client connections
                    // close and their pending requests fail (connection loss).
                    let s = self.srv(sid);
                    s.pending_writes.clear();
                    s.sync_sent.clear();
                    s.sync_wait.clear();
                }
            }
            Action::LearnerPing { .. } => {}
            Action::SyncReady { id, zxid } => {
                let Some(origin) = self.srv(sid).syncs_for.remove(&id) else {
                    return Ok(());
                };
                if origin == sid {
                    let s = self.srv(sid);
                    if let Some((client, op)) = s.sync_sent.remove(&id) {
                        s.sync_wait.push((zxid, client, op));
                        self.release_syncs(sid);
                    }
                } else {
                    self.link_push(
                        sid,
                        origin,
                        Chan::Quorum,
                        Wire::SyncResp { id, zxid },
                        false,
                    );
                }
            }
        }
        Ok(())
    }

    fn release_syncs(&mut self, sid: Sid) {
        let s = self.srv(sid);
        let applied = s.last_zxid();
        let hash = s.hash();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut s.sync_wait)
            .into_iter()
            .partition(|(z, _, _)| *z <= applied);
        s.sync_wait = wait;
        for (_, client, op) in ready {
            self.complete(client, op, applied, hash);
        }
    }

    // ------------------------------------------------------------------ network

    fn reset_link(&mut self, from: Sid, to: Sid, chan: Chan) {
        let l = self.links.entry((from, to, chan)).or_default();
        l.queue.clear();
        l.conn += 1;
    }

    fn fresh_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// Queues `wire` on the link, after everything already on it (TCP is FIFO).
    fn link_push(&mut self, from: Sid, to: Sid, chan: Chan, wire: Wire, from_dead: bool) {
        if !from_dead && !self.servers[(from - 1) as usize].up {
            return;
        }
        let slow = self.faults_on && self.rng.chance(0.05);
        let delay = if slow {
            self.rng.range(20, 400)
        } else {
            self.rng.range(1, 4)
        };
        // Quorum traffic is stamped with the sender's connection to the receiver; a
        // link's incarnation covers election traffic (reset by crashes only).
        let stamp = match chan {
            Chan::Quorum => self.qview.get(&(from, to)).copied().unwrap_or(0),
            Chan::Election => self.links.get(&(from, to, chan)).map_or(0, |l| l.conn),
        };
        let l = self.links.entry((from, to, chan)).or_default();
        let ready = (self.now + delay).max(l.queue.back().map_or(0, |x| x.0));
        l.queue.push_back((ready, stamp, wire));
        if !l.scheduled {
            l.scheduled = true;
            self.at(ready, Ev::Deliver { from, to, chan });
        }
    }

    fn deliver(&mut self, from: Sid, to: Sid, chan: Chan) -> Result<(), String> {
        let now = self.now;
        if self.cut.contains(&(from, to)) {
            self.at(now + 50, Ev::Deliver { from, to, chan });
            return Ok(());
        }
        let l = self.links.entry((from, to, chan)).or_default();
        let Some((ready, conn, wire)) = l.queue.pop_front() else {
            l.scheduled = false;
            return Ok(());
        };
        if ready > now {
            l.queue.push_front((ready, conn, wire));
            self.at(ready, Ev::Deliver { from, to, chan });
            return Ok(());
        }
        let stale = chan == Chan::Election && conn != l.conn;
        match l.queue.front() {
            Some(next) => {
                let t = next.0.max(now);
                self.at(t, Ev::Deliver { from, to, chan });
            }
            None => l.scheduled = false,
        }
        if stale || !self.srv(to).up {
            return Ok(());
        }
        if chan == Chan::Quorum {
            let view = self.qview.get(&(to, from)).copied().unwrap_or(0);
            if conn < view {
                return Ok(()); // sent on a connection this side has closed
            }
            if conn > view {
                // The peer opened a new connection: the one we knew is gone.
                self.qview.insert((to, from), conn);
                if view != 0 {
                    if let Some(z) = self.srv(to).zab.as_mut() {
                        z.peer_down(from);
                    }
                }
            }
        }
        if self.trace && std::env::var_os("ZOOID_SIM_VOTES").is_some() {
            if let Wire::Zab(Message::Vote(n)) = &wire {
                eprintln!("{:>6} ms  {from} -> {to}: {n:?}", self.now);
            }
        }
        match wire {
            Wire::Zab(m) => {
                if let Some(z) = self.srv(to).zab.as_mut() {
                    z.step(from, m);
                }
            }
            Wire::Down => {
                if let Some(z) = self.srv(to).zab.as_mut() {
                    z.peer_down(from);
                }
            }
            Wire::Request { origin, token } => self.leader_write(to, origin, token)?,
            Wire::SyncReq { origin, id } => {
                let s = self.srv(to);
                if let Some(z) = s.zab.as_mut() {
                    if z.sync(id).is_ok() {
                        s.syncs_for.insert(id, origin);
                    }
                }
            }
            Wire::SyncResp { id, zxid } => {
                let s = self.srv(to);
                if let Some((client, op)) = s.sync_sent.remove(&id) {
                    s.sync_wait.push((zxid, client, op));
                    self.release_syncs(to);
                }
            }
        }
        self.drive(to)
    }

    /// A write reaches the leader (from a client there, or forwarded by `origin`).
    fn leader_write(&mut self, leader: Sid, _origin: Sid, token: Token) -> Result<(), String> {
        let s = self.srv(leader);
        let Some(zab) = s.zab.as_mut() else {
            return Ok(());
        };
        let Some(zxid) = zab.next_zxid() else {
            return Ok(()); // not serving: the write is lost, the client times out
        };
        let entry = Entry {
            zxid,
            data: token_bytes(token),
        };
        zab.propose(entry)
            .map_err(|e| format!("leader {leader} refused its own next zxid: {e:?}"))?;
        self.drive(leader)
    }

    // ------------------------------------------------------------------ clients

    fn client_step(&mut self, client: u32) -> Result<(), String> {
        let stop_at = self.cfg.run_ms + self.cfg.settle_ms / 2;
        if self.now >= stop_at {
            return Ok(());
        }
        let next = self.now + self.rng.range(5, 60);
        self.at(next, Ev::ClientStep { client });
        let c = &self.clients[client as usize];
        if c.outstanding.len() >= MAX_OUTSTANDING {
            return Ok(());
        }
        // A session stays on its server while it serves and is not behind what the
        // session saw (ZooKeeper refuses a client whose lastZxidSeen is ahead).
        let (mut sid, seen) = (c.server, c.last_seen);
        let usable = |w: &World, sid: Sid| {
            let s = &w.servers[(sid - 1) as usize];
            s.serving() && s.last_zxid() >= seen
        };
        if !usable(self, sid) {
            let n = self.servers.len() as u64;
            sid = self.rng.range(1, n) as Sid;
            // A new connection: what was outstanding on the old one failed with a
            // connection loss (its outcome is unknown and no answer will come).
            let c = &mut self.clients[client as usize];
            c.server = sid;
            c.outstanding.clear();
            if !usable(self, sid) {
                return Ok(());
            }
        }
        let roll = self.rng.below(100);
        let op = self.ops.len();
        let kind = if roll < 60 {
            let c = &mut self.clients[client as usize];
            let t = (client, c.seq);
            c.seq += 1;
            Kind::Write(t)
        } else if roll < 85 {
            Kind::Read
        } else {
            Kind::SyncRead
        };
        self.ops.push(Op {
            client,
            kind,
            invoked: self.now,
            done: None,
            done_seq: 0,
        });
        self.clients[client as usize].outstanding.insert(op);
        self.at(
            self.now + CLIENT_TIMEOUT_MS,
            Ev::ClientTimeout { client, op },
        );
        let s = self.srv(sid);
        let role = s.role();
        match kind {
            Kind::Read => {
                let (z, h) = (s.last_zxid(), s.hash());
                self.complete(client, op, z, h);
            }
            Kind::SyncRead => match role {
                Role::Leading { .. } => {
                    let id = self.next_sync_id;
                    self.next_sync_id += 1;
                    let s = self.srv(sid);
                    s.sync_sent.insert(id, (client, op));
                    if let Some(z) = s.zab.as_mut() {
                        if z.sync(id).is_ok() {
                            s.syncs_for.insert(id, sid);
                        }
                    }
                    self.drive(sid)?;
                }
                Role::Following { leader, .. } | Role::Observing { leader, .. } => {
                    let id = self.next_sync_id;
                    self.next_sync_id += 1;
                    self.srv(sid).sync_sent.insert(id, (client, op));
                    self.link_push(
                        sid,
                        leader,
                        Chan::Quorum,
                        Wire::SyncReq { origin: sid, id },
                        false,
                    );
                }
                Role::Looking => {}
            },
            Kind::Write(t) => {
                s.pending_writes.insert(t, (client, op));
                match role {
                    Role::Leading { .. } => self.leader_write(sid, sid, t)?,
                    Role::Following { leader, .. } | Role::Observing { leader, .. } => {
                        self.link_push(
                            sid,
                            leader,
                            Chan::Quorum,
                            Wire::Request {
                                origin: sid,
                                token: t,
                            },
                            false,
                        );
                    }
                    Role::Looking => {}
                }
            }
        }
        Ok(())
    }

    fn complete(&mut self, client: u32, op: usize, zxid: Zxid, hash: u64) {
        let c = &mut self.clients[client as usize];
        if !c.outstanding.remove(&op) {
            return; // timed out already: its outcome stays unknown
        }
        c.last_seen = c.last_seen.max(zxid);
        self.completions += 1;
        let o = &mut self.ops[op];
        o.done = Some((self.now, zxid, hash));
        o.done_seq = self.completions;
        match o.kind {
            Kind::Write(_) => self.report.acked_writes += 1,
            _ => self.report.reads += 1,
        }
    }

    // ------------------------------------------------------------------ the end

    fn final_checks(&mut self) -> Result<(), String> {
        let leader = self
            .servers
            .iter()
            .find(|s| s.up && s.role() == Role::Leading { active: true })
            .map(|s| s.sid)
            .ok_or("no serving leader at the end")?;
        let want: Vec<(Zxid, Token)> = self.servers[(leader - 1) as usize]
            .state
            .iter()
            .map(|e| (e.zxid, token_of(&e.data).unwrap_or((0, 0))))
            .collect();
        for s in &self.servers {
            let got: Vec<(Zxid, Token)> = s
                .state
                .iter()
                .map(|e| (e.zxid, token_of(&e.data).unwrap_or((0, 0))))
                .collect();
            if got != want {
                let first = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                let show = |v: &[(Zxid, Token)]| {
                    v.iter()
                        .skip(first)
                        .take(4)
                        .map(|(z, _)| format!("{z:#x}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                return Err(format!(
                    "server {} ({:?}) ends with {} txns, leader {leader} with {}; from #{first}: [{}] vs [{}]",
                    s.sid,
                    s.role(),
                    got.len(),
                    want.len(),
                    show(&got),
                    show(&want)
                ));
            }
        }
        if want.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("the history's zxids are not increasing".into());
        }
        if let Some(bad) = want.iter().find(|(z, _)| epoch_of(*z) == 0) {
            return Err(format!("txn {:#x} has epoch 0", bad.0));
        }
        self.report.history_len = want.len();
        check_history(&self.ops, &want)
    }
}

fn encode_state(entries: &[Entry]) -> Bytes {
    let mut b = Vec::with_capacity(entries.len() * 20);
    for e in entries {
        b.extend_from_slice(&e.zxid.to_be_bytes());
        b.extend_from_slice(&(e.data.len() as u32).to_be_bytes());
        b.extend_from_slice(&e.data);
    }
    b.into()
}

fn decode_state(mut b: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 12 {
            return Err("snapshot cut short".into());
        }
        let zxid = Zxid::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        let n = u32::from_be_bytes(b[8..12].try_into().expect("4 bytes")) as usize;
        if b.len() < 12 + n {
            return Err("snapshot cut short".into());
        }
        out.push(Entry {
            zxid,
            data: Bytes::copy_from_slice(&b[12..12 + n]),
        });
        b = &b[12 + n..];
    }
    Ok(out)
}
