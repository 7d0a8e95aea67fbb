//! Ensembles of real `zooid` processes on loopback, driven by real clients: election,
//! replication through followers, and a leader SIGKILLed under write load.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::{self, Ca};
use common::{four_letter, free_port, ZooidProcess};
use zookeeper_client as zk;

const OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

struct Member {
    dir: Arc<tempfile::TempDir>,
    port: u16,
    /// The AdminServer's port, when it is on.
    admin: Option<u16>,
    proc: Option<ZooidProcess>,
}

/// N servers, each in its own directory with its `myid`, all on loopback.
struct Ensemble {
    members: Vec<Member>,
    extra: String,
    /// More zoo.cfg lines for one member each.
    own: Vec<String>,
}

impl Ensemble {
    fn start(n: usize) -> Ensemble {
        Ensemble::start_with_observers(n, 0)
    }

    /// `voters` participants, then `observers` observers.
    fn start_with_observers(voters: usize, observers: usize) -> Ensemble {
        Ensemble::start_opts(voters, observers, false)
    }

    /// `voters` participants, then `observers` observers, with their AdminServers on
    /// when `admin`.
    fn start_opts(voters: usize, observers: usize, admin: bool) -> Ensemble {
        Ensemble::start_cfg(voters, observers, admin, "")
    }

    /// Like `start_opts`, with more zoo.cfg lines for every member.
    fn start_cfg(voters: usize, observers: usize, admin: bool, cfg: &str) -> Ensemble {
        Ensemble::start_own(voters, observers, admin, cfg, Vec::new())
    }

    /// Like `start_cfg`, with `own[i]` added to member i's zoo.cfg.
    fn start_own(
        voters: usize,
        observers: usize,
        admin: bool,
        cfg: &str,
        own: Vec<String>,
    ) -> Ensemble {
        let n = voters + observers;
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut extra = format!("tickTime=200\ninitLimit=10\nsyncLimit=5\n{cfg}");
        for (i, (client, quorum, election)) in ports.iter().enumerate() {
            let role = if i >= voters { ":observer" } else { "" };
            extra.push_str(&format!(
                "server.{}=127.0.0.1:{quorum}:{election}{role};127.0.0.1:{client}\n",
                i + 1
            ));
        }
        let mut members = Vec::new();
        for (i, (client, _, _)) in ports.iter().enumerate() {
            let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data).unwrap();
            std::fs::write(data.join("myid"), format!("{}", i + 1)).unwrap();
            members.push(Member {
                dir,
                port: *client,
                admin: admin.then(free_port),
                proc: None,
            });
        }
        let mut e = Ensemble {
            members,
            extra,
            own,
        };
        for i in 0..n {
            e.launch(i);
        }
        e
    }

    fn launch(&mut self, i: usize) {
        let m = &mut self.members[i];
        let own = self.own.get(i).map_or("", String::as_str);
        let extra = match m.admin {
            Some(p) => format!(
                "{}{own}admin.serverPort={p}\nadmin.serverAddress=127.0.0.1\n",
                self.extra
            ),
            None => format!("{}{own}", self.extra),
        };
        m.proc = Some(ZooidProcess::spawn(m.dir.clone(), m.port, &extra));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].proc.take() {
            p.kill();
        }
    }

    /// What `srvr` says the member is; "" when it answers but does not serve, `None`
    /// when it does not answer (killed, stopped, not listening yet).
    fn mode(&self, i: usize) -> Option<String> {
        self.members[i].proc.as_ref()?;
        let out = four_letter(self.members[i].port, "srvr")?;
        if out.is_empty() {
            return None;
        }
        Some(
            out.lines()
                .find_map(|l| l.strip_prefix("Mode: ").map(str::to_owned))
                .unwrap_or_default(),
        )
    }

    /// The index of the server that says it leads, once a quorum says it serves.
    fn wait_leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let modes: Vec<Option<String>> =
                (0..self.members.len()).map(|i| self.mode(i)).collect();
            let serving = modes
                .iter()
                .filter(|m| matches!(m.as_deref(), Some("leader" | "follower")))
                .count();
            // Everyone that answers serves: a member still syncing would leave the
            // leader without a quorum if a test then kills the one that is synced.
            let syncing = modes.iter().any(|m| m.as_deref() == Some(""));
            if let Some(l) = modes.iter().position(|m| m.as_deref() == Some("leader")) {
                if serving * 2 > self.voters() && !syncing {
                    return l;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let logs: Vec<String> = self
            .members
            .iter()
            .filter_map(|m| m.proc.as_ref().map(|p| p.server_log()))
            .collect();
        panic!(
            "no leader within {within:?}; logs:\n{}",
            logs.join("\n-----\n")
        );
    }

    fn voters(&self) -> usize {
        self.extra
            .lines()
            .filter(|l| l.starts_with("server.") && !l.contains(":observer"))
            .count()
    }

    fn proc(&self, i: usize) -> &ZooidProcess {
        self.members[i].proc.as_ref().expect("running")
    }

    fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].port)
    }
}

/// A session on `addr`, trying again for up to 30 s: a member between roles refuses
/// clients, as ZooKeeper's does, and a client then tries again.
async fn connect(addr: &str) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), zk::Client::connect(addr)).await {
            Ok(Ok(c)) => return c,
            Ok(Err(e)) if Instant::now() > deadline => panic!("connect to {addr}: {e}"),
            Err(_) if Instant::now() > deadline => panic!("connect to {addr}: timed out"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[test]
fn three_servers_elect_a_leader_and_replicate_through_followers() {
    let e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let rt = common::runtime(2);
    rt.block_on(async {
        // A write through each server, follower or leader.
        for i in 0..3 {
            let c = connect(&e.addr(i)).await;
            let path = format!("/via{i}");
            c.create(&path, format!("from {i}").as_bytes(), OPEN)
                .await
                .unwrap_or_else(|err| panic!("create through server {i}: {err}"));
        }
        // Every server has every write (sync first: a follower may lag).
        for i in 0..3 {
            let c = connect(&e.addr(i)).await;
            c.sync("/").await.unwrap();
            for j in 0..3 {
                let (data, _) = c.get_data(&format!("/via{j}")).await.unwrap();
                assert_eq!(data, format!("from {j}").into_bytes(), "server {i}");
            }
        }
        // Ephemerals of a session on a follower live and die with it.
        let follower = (leader + 1) % 3;
        let c = connect(&e.addr(follower)).await;
        c.create(
            "/eph",
            b"",
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
        drop(c);
        let other = connect(&e.addr(leader)).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if other.check_stat("/eph").await.unwrap().is_none() {
                break;
            }
            assert!(Instant::now() < deadline, "ephemeral outlived its session");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

#[test]
fn killing_the_leader_under_writes_loses_no_acknowledged_write() {
    let mut e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let rt = common::runtime(2);
    let acked: Arc<std::sync::Mutex<BTreeSet<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Writers on both followers; each keeps writing through leader changes.
    let mut writers = Vec::new();
    for (w, f) in followers.iter().enumerate() {
        let addr = e.addr(*f);
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(rt.spawn(async move {
            let mut n = 0u32;
            let mut c = connect(&addr).await;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let path = format!("/w{w}-{n:06}");
                match c.create(&path, b"x", OPEN).await {
                    Ok(_) => {
                        acked.lock().unwrap().insert(path);
                        n += 1;
                    }
                    Err(zk::Error::NodeExists) => n += 1,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if let Ok(Ok(nc)) =
                            tokio::time::timeout(Duration::from_secs(5), zk::Client::connect(&addr))
                                .await
                        {
                            c = nc;
                        }
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let before = acked.lock().unwrap().len();
    assert!(before > 0, "no write went through before the kill");
    let killed_at = Instant::now();
    e.kill(leader);
    let new_leader = e.wait_leader(Duration::from_secs(30));
    let without_leader = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(async {
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(20), w).await;
        }
    });
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > before, "no write went through after the kill");
    // Every acknowledged write is on both survivors.
    rt.block_on(async {
        for f in &followers {
            let c = connect(&e.addr(*f)).await;
            c.sync("/").await.unwrap();
            let children: BTreeSet<String> = c
                .get_children("/")
                .await
                .unwrap()
                .0
                .into_iter()
                .map(|p| format!("/{p}"))
                .collect();
            let lost: Vec<&String> = acked.difference(&children).collect();
            assert!(
                lost.is_empty(),
                "server {f} lost acknowledged writes: {lost:?}"
            );
        }
    });
    eprintln!(
        "leader killed: {} writes acknowledged, {:?} until a new leader served",
        acked.len(),
        without_leader
    );
}

/// Creates `/name` through server `i`.
async fn create_via(e: &Ensemble, i: usize, path: &str) {
    let c = connect(&e.addr(i)).await;
    c.create(path, b"v", OPEN)
        .await
        .unwrap_or_else(|err| panic!("create {path} through {i}: {err}"));
}

/// The children of `/` as server `i` sees them after a sync.
async fn children_via(e: &Ensemble, i: usize) -> BTreeSet<String> {
    let c = connect(&e.addr(i)).await;
    c.sync("/").await.unwrap();
    c.get_children("/").await.unwrap().0.into_iter().collect()
}

#[test]
fn a_follower_restarted_after_missing_writes_catches_up() {
    let mut e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let f = (leader + 1) % 3;
    let rt = common::runtime(2);
    rt.block_on(create_via(&e, leader, "/before"));
    e.kill(f);
    rt.block_on(async {
        for n in 0..50 {
            create_via(&e, leader, &format!("/missed{n:02}")).await;
        }
    });
    e.launch(f);
    e.wait_leader(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.mode(f).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "restarted server never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (on_f, on_leader) =
        rt.block_on(async { (children_via(&e, f).await, children_via(&e, leader).await) });
    assert_eq!(on_f, on_leader);
    assert!(on_f.contains("missed49") && on_f.contains("before"));
    assert!(e.proc(f).server_log().contains("Following"));
}

/// How many createSession txns member `i`'s log files hold (`zooid log dump`).
fn created_sessions(e: &Ensemble, i: usize) -> usize {
    let dir = e.members[i].dir.path().join("data/version-2");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if !f.file_name().to_string_lossy().starts_with("log.") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zooid"))
            .args(["log", "dump"])
            .arg(f.path())
            .output()
            .expect("zooid log dump");
        n += String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" createSession "))
            .count();
    }
    n
}

#[test]
fn a_leader_with_an_uncommitted_tail_is_truncated_when_it_returns() {
    // The leader must still lead when the lone createSession arrives after its
    // followers died: it steps down after syncLimit ticks without them, and a loaded
    // machine (the other tests' ensembles run meanwhile) can take longer than the
    // default 5 ticks of 200 ms to get the request to it.
    let mut e = Ensemble::start_cfg(3, 0, false, "syncLimit=100\n");
    let leader = e.wait_leader(Duration::from_secs(30));
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let rt = common::runtime(2);
    rt.block_on(create_via(&e, leader, "/committed"));
    // Both followers die; the leader then logs a txn no one else will ever have: the
    // createSession of a connection opened before and handshaking now. (Stopped rather
    // than killed followers would find the proposal in their sockets' buffers.)
    let sessions_before = created_sessions(&e, leader);
    let mut lone = common::raw(e.proc(leader));
    for f in &followers {
        e.kill(*f);
    }
    let req = zooid_proto::ConnectRequest {
        time_out: 30000,
        passwd: vec![0u8; 16].into(),
        ..Default::default()
    };
    common::send_frame(&mut lone, &zooid_proto::Record::to_vec(&req));
    // Killed once that txn is in its log (a loaded machine may take a while).
    let deadline = Instant::now() + Duration::from_secs(20);
    while created_sessions(&e, leader) == sessions_before {
        assert!(
            Instant::now() < deadline,
            "the leader never logged the new session"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    e.kill(leader);
    drop(lone);
    for f in &followers {
        e.launch(*f);
    }
    let new_leader = e.wait_leader(Duration::from_secs(30));
    assert!(followers.contains(&new_leader));
    // The old leader returns with that createSession in its log: it must be cut away.
    // It returns before the new epoch has a txn: TRUNC never crosses an epoch
    // (ZooKeeper's rule; the leader sends SNAP then).
    e.launch(leader);
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.mode(leader).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "old leader never rejoined");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        created_sessions(&e, leader),
        sessions_before,
        "the uncommitted createSession is still in the old leader's log"
    );
    rt.block_on(create_via(&e, new_leader, "/after"));
    let seen = rt.block_on(children_via(&e, leader));
    assert!(
        seen.contains("committed") && seen.contains("after"),
        "{seen:?}"
    );
    let log = e.proc(leader).server_log();
    assert!(
        log.contains("truncated"),
        "no truncation in the log:\n{log}"
    );
}

#[test]
fn a_stopped_leader_is_replaced_and_rejoins_as_follower() {
    let mut e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let rt = common::runtime(2);
    let f = (leader + 1) % 3;
    rt.block_on(create_via(&e, f, "/one"));
    e.proc(leader).signal(libc::SIGSTOP);
    // Longer than syncLimit (5 ticks of 200 ms) and than a 4 s session timeout.
    std::thread::sleep(Duration::from_millis(4500));
    let new_leader = e.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    rt.block_on(create_via(&e, f, "/two"));
    e.proc(leader).signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.mode(leader).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "old leader never rejoined");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = rt.block_on(children_via(&e, leader));
    assert!(seen.contains("one") && seen.contains("two"), "{seen:?}");
    let _ = &mut e;
}

#[test]
fn five_servers_survive_two_failures() {
    let mut e = Ensemble::start(5);
    let leader = e.wait_leader(Duration::from_secs(30));
    let rt = common::runtime(2);
    rt.block_on(create_via(&e, (leader + 1) % 5, "/five"));
    // Two down, the leader among them: three still make a quorum.
    e.kill(leader);
    e.kill((leader + 2) % 5);
    let new_leader = e.wait_leader(Duration::from_secs(30));
    let up: Vec<usize> = (0..5)
        .filter(|i| *i != leader && *i != (leader + 2) % 5)
        .collect();
    rt.block_on(create_via(&e, up[0], "/after"));
    for i in &up {
        let seen = rt.block_on(children_via(&e, *i));
        assert!(
            seen.contains("five") && seen.contains("after"),
            "server {i}: {seen:?}"
        );
    }
    assert!(up.contains(&new_leader));
}

#[test]
fn an_observer_serves_reads_and_forwards_writes_without_voting() {
    let mut e = Ensemble::start_with_observers(3, 1);
    let leader = e.wait_leader(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.mode(3).as_deref() != Some("observer") {
        assert!(
            Instant::now() < deadline,
            "observer never synced: {:?}",
            e.mode(3)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = common::runtime(2);
    rt.block_on(create_via(&e, 3, "/from-observer"));
    rt.block_on(create_via(&e, leader, "/from-leader"));
    let seen = rt.block_on(children_via(&e, 3));
    assert!(
        seen.contains("from-observer") && seen.contains("from-leader"),
        "{seen:?}"
    );
    // The observer does not count: with two voters down there is no quorum, even
    // though the leader and the observer still talk.
    let voters_down: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for v in &voters_down {
        e.kill(*v);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.mode(leader).as_deref() == Some("leader") {
        assert!(
            Instant::now() < deadline,
            "leader kept leading without a quorum"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_follower_further_behind_than_the_leaders_log_window_gets_a_snapshot() {
    let mut e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let f = (leader + 2) % 3;
    let rt = common::runtime(2);
    rt.block_on(create_via(&e, leader, "/base"));
    e.kill(f);
    // More txns than commitLogCount (500, ZooKeeper's default): DIFF cannot cover them.
    rt.block_on(async {
        let c = connect(&e.addr(leader)).await;
        let paths: Vec<String> = (0..700).map(|n| format!("/bulk{n:04}")).collect();
        for chunk in paths.chunks(50) {
            let pending: Vec<_> = chunk.iter().map(|p| c.create(p, b"x", OPEN)).collect();
            for p in pending {
                p.await.unwrap();
            }
        }
    });
    e.launch(f);
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.mode(f).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "lagging server never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (on_f, on_leader) =
        rt.block_on(async { (children_via(&e, f).await, children_via(&e, leader).await) });
    assert_eq!(on_f.len(), 702, "{} children", on_f.len());
    assert_eq!(on_f, on_leader);
    assert!(e
        .proc(f)
        .server_log()
        .contains("installed the leader's snapshot"));
    // It keeps up afterwards, and a restart loads the snapshot it was given.
    rt.block_on(create_via(&e, leader, "/later"));
    e.kill(f);
    e.launch(f);
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.mode(f).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "restarted server never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = rt.block_on(children_via(&e, f));
    assert!(seen.contains("later") && seen.contains("bulk0699"));
}

#[test]
fn four_letter_words_report_each_members_part() {
    let e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let follower = (leader + 1) % 3;
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.mode(follower).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    // The leader's stats are published on its ticks.
    std::thread::sleep(Duration::from_millis(300));
    let mntr = four_letter(e.members[leader].port, "mntr").unwrap();
    for line in [
        "zk_server_state\tleader",
        "zk_peer_state\tleading - broadcast",
        "zk_quorum_size\t3",
        "zk_learners\t2",
        "zk_synced_followers\t2",
    ] {
        assert!(mntr.contains(line), "leader mntr lacks {line:?}:\n{mntr}");
    }
    let mntr = four_letter(e.members[follower].port, "mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tfollower"), "{mntr}");
    assert!(
        mntr.contains("zk_peer_state\tfollowing - broadcast"),
        "{mntr}"
    );
    assert!(!mntr.contains("zk_learners"), "{mntr}");
    let stat = four_letter(e.members[follower].port, "stat").unwrap();
    assert!(stat.contains("Mode: follower"), "{stat}");
}

#[test]
fn admin_leader_names_the_leader_on_every_member() {
    let e = Ensemble::start_opts(3, 0, true);
    // Every member serves and names the one that says it leads (a loaded machine may
    // see a re-election first: the answers are read again until they agree, or fail).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answers: Vec<serde_json::Value> = e
            .members
            .iter()
            .filter_map(|m| common::http(m.admin.unwrap(), "GET", "/commands/leader", "", b""))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect();
        let leaders: Vec<usize> = (0..answers.len())
            .filter(|&i| answers[i]["is_leader"] == true)
            .collect();
        let agree = answers.len() == 3
            && leaders.len() == 1
            && answers.iter().all(|v| {
                v["error"].is_null()
                    && v["leader_id"] == leaders[0] as i64 + 1
                    && v["leader_ip"] == "127.0.0.1"
            });
        if agree {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = (0..3).map(|i| e.proc(i).server_log()).collect();
            panic!(
                "the members do not agree on the leader: {answers:?}\nlogs:\n{}",
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_session_moves_to_another_member_with_its_ephemerals() {
    use common::{handshake, read_frame, send_frame};
    use zooid_proto::{ConnectRequest, ConnectResponse, Record};
    let e = Ensemble::start(3);
    let leader = e.wait_leader(Duration::from_secs(30));
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.mode(a).as_deref() != Some("follower") || e.mode(b).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    // A session made on follower a, with an ephemeral.
    let mut s = std::net::TcpStream::connect(e.addr(a)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let resp = handshake(&mut s);
    assert_ne!(resp.session_id, 0, "no session from follower {a}");
    let rt = common::runtime(2);
    let sid = resp.session_id;
    // Create the ephemeral through the raw session: header(xid 1, create 1) + request.
    let req = zooid_proto::CreateRequest {
        path: "/moving".into(),
        data: bytes::Bytes::new(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 1,
    };
    let mut body = Vec::new();
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&req.to_vec());
    send_frame(&mut s, &body);
    let r = read_frame(&mut s).expect("create answer");
    assert_eq!(
        i32::from_be_bytes(r[12..16].try_into().unwrap()),
        0,
        "create failed"
    );
    // The same session on follower b: resumed (same id, a real timeout), ephemeral kept.
    let mut t = std::net::TcpStream::connect(e.addr(b)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = ConnectRequest {
        time_out: 30000,
        session_id: sid,
        passwd: resp.passwd.clone(),
        last_zxid_seen: 0,
        ..Default::default()
    };
    send_frame(&mut t, &req.to_vec());
    let moved = ConnectResponse::from_bytes(&read_frame(&mut t).expect("answer")).unwrap();
    assert_eq!(moved.session_id, sid);
    assert!(moved.time_out > 0, "session refused on {b}");
    // The old connection on a still speaks for the session: its writes now fail with
    // SessionMoved (-118), as ZooKeeper's checkSession answers.
    let stale = zooid_proto::CreateRequest {
        path: "/stale".into(),
        data: bytes::Bytes::new(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 0,
    };
    let mut body = Vec::new();
    body.extend_from_slice(&2i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&stale.to_vec());
    send_frame(&mut s, &body);
    let r = read_frame(&mut s).expect("answer on the old connection");
    assert_eq!(i32::from_be_bytes(r[12..16].try_into().unwrap()), -118);
    let seen = rt.block_on(children_via(&e, leader));
    assert!(seen.contains("moving"), "{seen:?}");
}

/// Every txn type through each member: the leader's proposals carry its tree digest
/// (every member logs it with the txn, the same everywhere), and the followers, which
/// compare it with their own tree's after applying each txn, find no mismatch.
#[test]
fn followers_check_the_leaders_digest_on_every_txn_of_a_mixed_workload() {
    let cfg = "extendedTypesEnabled=true\nznode.container.checkIntervalMs=100\n";
    let mut e = Ensemble::start_cfg(3, 0, false, cfg);
    let leader = e.wait_leader(Duration::from_secs(30));
    let rt = common::runtime(2);
    let last = rt.block_on(async {
        for i in 0..3 {
            mixed_writes(&e, i).await;
        }
        // The leader reaps the emptied containers and the expired TTL nodes; the
        // closed sessions' ephemerals go.
        let c = connect(&e.addr(leader)).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (children, _) = c.get_children("/").await.unwrap();
            let left: Vec<&String> = children
                .iter()
                .filter(|p| p.starts_with("box") || p.starts_with("ttl") || p.starts_with("eph"))
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "not reaped: {left:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        create_via(&e, leader, "/last").await;
        let mut last = 0;
        for i in 0..3 {
            let c = connect(&e.addr(i)).await;
            c.sync("/").await.unwrap();
            let stat = c.check_stat("/last").await.unwrap();
            last = stat.unwrap_or_else(|| panic!("server {i}")).czxid;
        }
        last
    });
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &f in &followers {
        let log = e.proc(f).server_log();
        assert!(!log.contains("digest mismatch"), "server {f}:\n{log}");
        let mntr = four_letter(e.members[f].port, "mntr").unwrap_or_default();
        assert!(
            mntr.contains("zk_digest_mismatches_count\t0\n"),
            "server {f}:\n{mntr}"
        );
    }
    // The logs are read once nothing writes them any more (sessions still closing
    // would be txns after /last).
    for i in 0..3 {
        e.kill(i);
    }
    let logs: Vec<Vec<(i64, Option<zooid_proto::TxnDigest>)>> =
        (0..3).map(|i| logged_digests(&e, i, last)).collect();
    let theirs = &logs[leader];
    assert!(theirs.len() > 60, "{} txns logged", theirs.len());
    assert_eq!(theirs.last().map(|t| t.0), Some(last));
    for (zxid, d) in theirs {
        let d = d
            .as_ref()
            .unwrap_or_else(|| panic!("txn {zxid:#x} has no digest"));
        assert_eq!(d.version, 2, "txn {zxid:#x}");
    }
    for &f in &followers {
        // Each learner logged the digest the leader sent with each txn.
        assert_eq!(&logs[f], theirs, "server {f}'s log");
    }
}

/// A little of every txn type through member `i`, its session closed at the end.
async fn mixed_writes(e: &Ensemble, i: usize) {
    let open = |mode: zk::CreateMode| mode.with_acls(zk::Acls::anyone_all());
    let c = connect(&e.addr(i)).await;
    let base = format!("/mix{i}");
    c.create(&base, b"base", OPEN).await.unwrap();
    let seq = open(zk::CreateMode::PersistentSequential);
    let (_, first) = c.create(&format!("{base}/seq-"), b"s", &seq).await.unwrap();
    c.create(&format!("{base}/seq-"), b"s", &seq).await.unwrap();
    c.delete(&format!("{base}/seq-{first}"), Some(0))
        .await
        .unwrap();
    let eph = open(zk::CreateMode::Ephemeral);
    c.create(&format!("/eph{i}"), b"e", &eph).await.unwrap();
    c.create(&format!("{base}/e"), b"e", &eph).await.unwrap();
    let eph_seq = open(zk::CreateMode::EphemeralSequential);
    c.create(&format!("{base}/es-"), b"", &eph_seq)
        .await
        .unwrap();
    let boxed = format!("/box{i}");
    c.create(&boxed, b"", &open(zk::CreateMode::Container))
        .await
        .unwrap();
    c.create(&format!("{boxed}/item"), b"", OPEN).await.unwrap();
    c.delete(&format!("{boxed}/item"), None).await.unwrap();
    let ttl = open(zk::CreateMode::Persistent).with_ttl(Duration::from_millis(50));
    c.create(&format!("/ttl{i}"), b"t", &ttl).await.unwrap();
    c.set_data(&base, b"changed", Some(0)).await.unwrap();
    assert_eq!(
        c.set_data(&base, b"stale", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    c.set_acl(&base, &zk::Acls::anyone_all(), None)
        .await
        .unwrap();
    assert_eq!(
        c.create(&base, b"", OPEN).await.unwrap_err(),
        zk::Error::NodeExists
    );
    let mut w = c.new_multi_writer();
    w.add_create(&format!("{base}/m"), b"1", OPEN).unwrap();
    w.add_set_data(&format!("{base}/m"), b"2", None).unwrap();
    w.add_check_version(&format!("{base}/m"), 1).unwrap();
    w.add_create(&format!("{base}/m/n"), b"3", OPEN).unwrap();
    w.add_delete(&format!("{base}/m/n"), None).unwrap();
    w.commit().await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create(&format!("{base}/never"), b"", OPEN).unwrap();
    w.add_set_data(&base, b"never", None).unwrap();
    w.add_check_version(&base, 99).unwrap();
    w.commit().await.unwrap_err();
    // Dropping the client closes its session: its ephemerals go with the closeSession.
}

/// The zxid and digest of every txn up to `last` in member `i`'s log files.
fn logged_digests(e: &Ensemble, i: usize, last: i64) -> Vec<(i64, Option<zooid_proto::TxnDigest>)> {
    let dir = e.members[i].dir.path().join("data/version-2");
    let reader = zooid_storage::read_from(&dir, 0).expect("the txn log");
    reader
        .map(|entry| {
            let entry = entry.expect("a logged txn");
            (entry.txn.zxid(), entry.digest)
        })
        .take_while(|(zxid, _)| *zxid <= last)
        .collect()
}

/// A follower that needs a SNAP gets it while clients keep writing to the leader: the
/// leader walks its tree in steps without stopping the writes (the snapshot is fuzzy,
/// holding changes of txns after its zxid), holds the follower's packets meanwhile, and
/// the follower applies the txns after the snapshot's zxid on top. Afterwards every
/// member has the same tree, node for node and stat for stat, and nobody logged a
/// digest mismatch.
#[test]
fn a_follower_synced_by_snapshot_under_concurrent_writes_ends_with_the_same_tree() {
    // A short log window, so a follower that missed a few hundred txns needs a SNAP.
    let cfg = "commitLogCount=100\n";
    let mut e = Ensemble::start_cfg(3, 0, false, cfg);
    let leader = e.wait_leader(Duration::from_secs(30));
    let f = (leader + 1) % 3;
    let rt = common::runtime(2);
    e.kill(f);
    // A tree big enough that walking it takes a while: 40,000 nodes with some data.
    rt.block_on(async {
        let c = connect(&e.addr(leader)).await;
        c.create("/bulk", b"", OPEN).await.unwrap();
        let data = vec![b'd'; 100];
        for g in 0..40 {
            c.create(&format!("/bulk/g{g}"), b"", OPEN).await.unwrap();
            let paths: Vec<String> = (0..1000).map(|n| format!("/bulk/g{g}/n{n}")).collect();
            for chunk in paths.chunks(250) {
                let pending: Vec<_> = chunk.iter().map(|p| c.create(p, &data, OPEN)).collect();
                for p in pending {
                    p.await.unwrap();
                }
            }
        }
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| rt.spawn(churn(e.addr(leader), w, stop.clone())))
        .collect();
    // Until a SNAP happened with writes landing during its walk (a few tries at most:
    // whether they land is up to the scheduler).
    let mut walked = 0;
    for round in 0..3 {
        if round > 0 {
            e.kill(f);
            // More txns than the log window go by.
            let c = rt.block_on(connect(&e.addr(leader)));
            let start = rt.block_on(c.check_stat("/")).unwrap().unwrap().pzxid;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let now = rt.block_on(c.check_stat("/")).unwrap().unwrap().pzxid;
                if now - start > 300 {
                    break;
                }
                assert!(Instant::now() < deadline, "the writers stalled");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let before = snapshots_sent(&e, leader).len();
        e.launch(f);
        let deadline = Instant::now() + Duration::from_secs(60);
        while e.mode(f).as_deref() != Some("follower") {
            assert!(
                Instant::now() < deadline,
                "the restarted follower never synced"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let sent = snapshots_sent(&e, leader);
        assert!(
            sent.len() > before,
            "no SNAP was sent:\n{}",
            e.proc(leader).server_log()
        );
        walked = sent[sent.len() - 1];
        eprintln!("round {round}: SNAPs sent so far, txns applied during each walk: {sent:?}");
        if walked > 0 {
            break;
        }
    }
    // The writers go on a little after the sync, then stop.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ops = 0;
    for w in writers {
        ops += rt.block_on(w).unwrap();
    }
    assert!(ops > 0);
    assert!(walked > 0, "no txn was applied during any snapshot walk");
    let trees: Vec<Vec<(String, Vec<u8>, zk::Stat)>> = rt.block_on(async {
        create_via(&e, leader, "/end").await;
        let mut trees = Vec::new();
        for i in 0..3 {
            let c = connect(&e.addr(i)).await;
            c.sync("/").await.unwrap();
            trees.push(whole_tree(&c).await);
        }
        trees
    });
    assert!(
        trees[leader].len() > 40_000,
        "{} nodes",
        trees[leader].len()
    );
    for i in 0..3 {
        let (a, b) = (&trees[leader], &trees[i]);
        assert_eq!(
            a.len(),
            b.len(),
            "server {i} has {} nodes, the leader {}",
            b.len(),
            a.len()
        );
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "server {i} differs from the leader");
        }
    }
    for i in 0..3 {
        let log = e.proc(i).server_log();
        assert!(!log.contains("digest mismatch"), "server {i}:\n{log}");
        let mntr = four_letter(e.members[i].port, "mntr").unwrap_or_default();
        assert!(
            mntr.contains("zk_digest_mismatches_count\t0\n"),
            "server {i}:\n{mntr}"
        );
    }
    // A restart of the follower recovers from the snapshot it was given (it claims no
    // digest) plus its log, and serves the same tree.
    e.kill(f);
    e.launch(f);
    let deadline = Instant::now() + Duration::from_secs(60);
    while e.mode(f).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "the follower never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = rt.block_on(async {
        let c = connect(&e.addr(f)).await;
        c.sync("/").await.unwrap();
        whole_tree(&c).await
    });
    assert!(
        again == trees[leader],
        "the restarted follower's tree differs"
    );
    assert!(!e.proc(f).server_log().contains("digest mismatch"));
}

/// For each SNAP the leader sent, how many txns were applied during its walk.
fn snapshots_sent(e: &Ensemble, leader: usize) -> Vec<i64> {
    e.proc(leader)
        .server_log()
        .lines()
        .filter(|l| l.contains("txns were applied during the walk"))
        .map(|l| {
            let (_, rest) = l.split_once("; ").expect("the snapshot line");
            rest.split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(-1)
        })
        .collect()
}

/// Writes through `addr` until `stop`: creates, sets and deletes among the bulk nodes,
/// and parents made and deleted with creates under them that may find them gone, each
/// round pipelined. Returns how many requests it made.
async fn churn(addr: String, w: usize, stop: Arc<std::sync::atomic::AtomicBool>) -> u64 {
    let c = connect(&addr).await;
    let mut ops = 0u64;
    let mut k = 0usize;
    let ok = |r: Result<(), zk::Error>| match r {
        Ok(()) | Err(zk::Error::NoNode | zk::Error::NodeExists) => {}
        Err(e) => panic!("writer {w}: {e}"),
    };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        k += 1;
        let g = (k * 7 + w * 13) % 40;
        let n = (k * 31 + w * 101) % 1000;
        let bulk = format!("/bulk/g{g}/n{n}");
        let parent = format!("/p{w}-{k}");
        let (pa, pb) = (format!("{parent}/a"), format!("{parent}/b"));
        let late = format!("{parent}/late");
        let value = format!("v{k}");
        // Sent in this order before any answer is awaited.
        let del_bulk = k.is_multiple_of(3).then(|| c.delete(&bulk, None));
        let add_bulk = (k % 3 == 1).then(|| c.create(&bulk, b"again", OPEN));
        let set_bulk = (k % 3 == 2).then(|| c.set_data(&bulk, value.as_bytes(), None));
        let mk_parent = c.create(&parent, b"p", OPEN);
        let mk_a = c.create(&pa, b"a", OPEN);
        let mk_b = c.create(&pb, b"b", OPEN);
        let del_a = c.delete(&pa, None);
        let set_b = c.set_data(&pb, b"bb", None);
        let del_b = c.delete(&pb, None);
        let del_parent = k.is_multiple_of(2).then(|| c.delete(&parent, None));
        // Under a parent that is gone by now (or not, every other time).
        let mk_late = c.create(&late, b"l", OPEN);
        if let Some(r) = del_bulk {
            ok(r.await);
        }
        if let Some(r) = add_bulk {
            ok(r.await.map(|_| ()));
        }
        if let Some(r) = set_bulk {
            ok(r.await.map(|_| ()));
        }
        ok(mk_parent.await.map(|_| ()));
        ok(mk_a.await.map(|_| ()));
        ok(mk_b.await.map(|_| ()));
        ok(del_a.await);
        ok(set_b.await.map(|_| ()));
        ok(del_b.await);
        if let Some(r) = del_parent {
            ok(r.await);
        }
        ok(mk_late.await.map(|_| ()));
        ops += 9;
    }
    ops
}

/// Every node under the root but /zookeeper, sorted by path, with its data and stat.
async fn whole_tree(c: &zk::Client) -> Vec<(String, Vec<u8>, zk::Stat)> {
    let mut out = Vec::new();
    let mut level = vec!["/".to_owned()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(500) {
            let reads: Vec<_> = chunk
                .iter()
                .map(|p| (c.get_data(p), c.get_children(p)))
                .collect();
            for (p, (data, children)) in chunk.iter().zip(reads) {
                let (data, stat) = data.await.unwrap();
                let (children, _) = children.await.unwrap();
                for ch in children {
                    let child = match p.as_str() {
                        "/" => format!("/{ch}"),
                        _ => format!("{p}/{ch}"),
                    };
                    if !child.starts_with("/zookeeper") {
                        next.push(child);
                    }
                }
                out.push((p.clone(), data, stat));
            }
        }
        level = next;
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// zoo.cfg lines for TLS between members: a key store signed by `ca` (valid for
/// loopback) and `trusted` as the trust store, written under `dir` as `<name>.pem`.
fn quorum_stores(dir: &std::path::Path, name: &str, ca: &Ca, trusted: &Ca) -> String {
    let keys = dir.join(format!("{name}-keys.pem"));
    let cas = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&keys, pki::key_store_pem(&ca.loopback_server())).unwrap();
    std::fs::write(&cas, &trusted.pem).unwrap();
    format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
        keys.display(),
        cas.display()
    )
}

/// A write through each member reads back through every member.
fn writes_replicate(e: &Ensemble, members: &[usize]) {
    let rt = common::runtime(2);
    rt.block_on(async {
        for &i in members {
            let c = connect(&e.addr(i)).await;
            c.create(&format!("/tls{i}"), b"x", OPEN)
                .await
                .unwrap_or_else(|err| panic!("create through server {i}: {err}"));
        }
        for &i in members {
            let c = connect(&e.addr(i)).await;
            c.sync("/").await.unwrap();
            for &j in members {
                let (data, _) = c.get_data(&format!("/tls{j}")).await.unwrap();
                assert_eq!(data, b"x", "/tls{j} on server {i}");
            }
        }
    });
}

/// Member i's election port, from the `server.N` lines.
fn election_port(e: &Ensemble, i: usize) -> u16 {
    let prefix = format!("server.{}=127.0.0.1:", i + 1);
    let line = e
        .extra
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap();
    let ports: Vec<&str> = line.split([':', ';']).collect();
    ports[1].parse().unwrap()
}

#[test]
fn ssl_quorum_members_speak_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Quorum CA");
    let cfg = format!(
        "sslQuorum=true\n{}",
        quorum_stores(dir.path(), "all", &ca, &ca)
    );
    let e = Ensemble::start_cfg(3, 0, false, &cfg);
    let leader = e.wait_leader(Duration::from_secs(60));
    writes_replicate(&e, &[0, 1, 2]);
    // A plain election handshake is not TLS: closed without a word.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", election_port(&e, leader))).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    use std::io::{Read, Write};
    plain.write_all(&[0xff, 0xff, 0xff, 0xfd]).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(plain.read(&mut buf), Ok(0) | Err(_)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.proc(leader).server_log().contains("not a TLS connection") {
        assert!(Instant::now() < deadline, "{}", e.proc(leader).server_log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ZooKeeper's usual quorum TLS set-up: a JKS key store and a PKCS12 trust store made by
/// keytool (crates/zooid-server/src/tls/testdata/README.md), shared by every member.
#[test]
fn ssl_quorum_with_jks_and_pkcs12_stores() {
    let store = |name: &str| {
        format!(
            "{}/../zooid-server/src/tls/testdata/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let cfg = format!(
        "sslQuorum=true\nssl.quorum.keyStore.location={}\nssl.quorum.keyStore.password=serverpass\n\
         ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.password=trustpass\n",
        store("server.jks"),
        store("trust.p12")
    );
    let e = Ensemble::start_cfg(3, 0, false, &cfg);
    e.wait_leader(Duration::from_secs(60));
    writes_replicate(&e, &[0, 1, 2]);
}

#[test]
fn port_unification_lets_one_member_move_to_tls() {
    // A rolling move to TLS: every member takes both kinds of connection, and only
    // the third dials with TLS already.
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Quorum CA");
    let cfg = format!(
        "portUnification=true\n{}",
        quorum_stores(dir.path(), "all", &ca, &ca)
    );
    let own = vec![String::new(), String::new(), "sslQuorum=true\n".to_owned()];
    let e = Ensemble::start_own(3, 0, false, &cfg, own);
    e.wait_leader(Duration::from_secs(60));
    writes_replicate(&e, &[0, 1, 2]);
}

#[test]
fn a_member_with_an_untrusted_certificate_stays_out() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Quorum CA");
    let other = Ca::new("Some Other CA");
    let good = quorum_stores(dir.path(), "good", &ca, &ca);
    let bad = quorum_stores(dir.path(), "bad", &other, &ca);
    let own = vec![good.clone(), good, bad];
    let e = Ensemble::start_own(3, 0, false, "sslQuorum=true\n", own);
    // The first two make a quorum (wait_leader would wait for the third too).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut modes = [e.mode(0), e.mode(1)].map(Option::unwrap_or_default);
        modes.sort();
        if modes == ["follower", "leader"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{modes:?}: {}",
            e.proc(0).server_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    writes_replicate(&e, &[0, 1]);
    // Its dials fail their handshakes: it never serves.
    assert_eq!(e.mode(2).as_deref().unwrap_or(""), "");
    let logs = e.proc(0).server_log() + &e.proc(1).server_log();
    assert!(logs.contains("unsuccessful TLS handshake"), "{logs}");
}
