//! The znode commands of zkCli (the `cli/*Command.java` classes): each parses its words,
//! talks to the server, and prints what zkCli prints.

use std::time::Duration;

use zookeeper_client as zk;

use super::format;
use super::parse::{self, CommandLine, Spec};
use super::{CliError, Session, WatchKind};

/// One command: its name, its usage after the name, and its flags.
pub struct Def {
    pub name: &'static str,
    pub usage: &'static str,
    pub spec: Spec,
}

/// zkCli's commands that this shell implements, with zkCli's usage text.
pub const DEFS: &[Def] = &[
    def("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE", &[('m', true)]),
    def("addauth", "scheme auth", &[]),
    def("close", "", &[]),
    def("connect", "host:port", &[]),
    def("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]", &[('e', false), ('s', false), ('c', false), ('t', true)]),
    def("delete", "[-v version] path", &[('v', true)]),
    def("deleteall", "path [-b batch size]", &[('b', true)]),
    def("get", "[-s] [-w] path", &[('s', false), ('w', false)]),
    def("getAcl", "[-s] path", &[('s', false)]),
    def("getAllChildrenNumber", "path", &[]),
    def("getEphemerals", "path", &[]),
    def("history", "", &[]),
    def("ls", "[-s] [-w] [-R] path", &[('?', false), ('s', false), ('w', false), ('R', false)]),
    def("printwatches", "on|off", &[]),
    def("quit", "", &[]),
    def("redo", "cmdno", &[]),
    def("removewatches", "path [-c|-d|-a] [-l]", &[('c', false), ('d', false), ('p', false), ('r', false), ('a', false), ('l', false)]),
    def("set", "[-s] [-v version] path data", &[('s', false), ('v', true)]),
    def("setAcl", "[-s] [-v version] [-R] path acl", &[('s', false), ('v', true), ('R', false)]),
    def("stat", "[-w] path", &[('w', false)]),
    def("sync", "path", &[]),
    def("whoami", "", &[]),
];

const fn def(name: &'static str, usage: &'static str, spec: Spec) -> Def {
    Def { name, usage, spec }
}

pub fn find(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

fn usage_error(d: &Def) -> CliError {
    CliError::new(format!("{} {}", d.name, d.usage))
}

/// `Integer.parseInt` of a version; zkCli lets the NumberFormatException escape, so the
/// message is Java's.
fn version(cl: &CommandLine) -> Result<Option<i32>, CliError> {
    match cl.value('v') {
        None => Ok(None),
        Some(v) => v.parse::<i32>().map(Some).map_err(|_| {
            CliError::new(format!(
                "java.lang.NumberFormatException: For input string: \"{v}\""
            ))
        }),
    }
}

/// Runs a znode command on a live session. Returns Err with zkCli's message on failure.
pub fn run(s: &Session, d: &Def, words: &[String]) -> Result<(), CliError> {
    let cl = parse::parse(d.spec, words)?;
    let min_args = match d.name {
        "set" | "setAcl" => 3,
        "getEphemerals" | "whoami" | "close" | "ls" | "getAllChildrenNumber" => 1,
        _ => 2,
    };
    if cl.args.len() < min_args || (d.name == "addWatch" && cl.args.len() != 2) {
        return Err(usage_error(d));
    }
    match d.name {
        "create" => create(s, &cl),
        "get" => get(s, &cl),
        "set" => set(s, &cl),
        "stat" => stat(s, &cl),
        "ls" => ls(s, d, &cl),
        "delete" => delete(s, &cl),
        "deleteall" => deleteall(s, &cl),
        "getAcl" => get_acl(s, &cl),
        "setAcl" => set_acl(s, &cl),
        "addauth" => addauth(s, &cl),
        "sync" => sync(s, &cl),
        "addWatch" => add_watch(s, d, &cl),
        "removewatches" => remove_watches(s, &cl),
        "getEphemerals" => get_ephemerals(s, &cl),
        "getAllChildrenNumber" => all_children(s, d, &cl),
        "whoami" => whoami(s),
        "close" => {
            s.close();
            Ok(())
        }
        other => unreachable!("{other} is not a znode command"),
    }
}

fn checked(path: &str) -> Result<&str, CliError> {
    parse::validate_path(path)?;
    Ok(path)
}

fn wrap(path: &str) -> impl Fn(zk::Error) -> CliError + '_ {
    move |e| CliError::new(format::keeper_error(&e, path))
}

fn create(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let (e, sq, c, t) = (cl.has('e'), cl.has('s'), cl.has('c'), cl.has('t'));
    if c && (e || sq) {
        return Err(CliError::new(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let ttl = match cl.value('t') {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| CliError::new("-t argument must be a long value"))?,
        None => 0,
    };
    if t && e {
        return Err(CliError::new("TTLs cannot be used with Ephemeral znodes"));
    }
    if t && c {
        return Err(CliError::new("TTLs cannot be used with Container znodes"));
    }
    const TTL_MAX_MS: i64 = 0xFF_FFFF_FFFF;
    if t && !(1..=TTL_MAX_MS).contains(&ttl) {
        return Err(CliError::new(format!(
            "ttl must be positive and cannot be larger than: {TTL_MAX_MS}"
        )));
    }
    let mode = match (e, sq, c) {
        (true, true, _) => zk::CreateMode::EphemeralSequential,
        (true, false, _) => zk::CreateMode::Ephemeral,
        (false, true, _) => zk::CreateMode::PersistentSequential,
        (false, false, true) => zk::CreateMode::Container,
        _ => zk::CreateMode::Persistent,
    };
    let path = cl.args[1].as_str();
    parse::validate_path(&if sq {
        format!("{path}1")
    } else {
        path.to_owned()
    })?;
    if path == "/" {
        return Err(CliError::new("Node already exists: /"));
    }
    let data = cl.args.get(2).map(|d| d.as_bytes()).unwrap_or_default();
    let acls = match cl.args.get(3) {
        Some(text) => parse_acl(text),
        None => vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())],
    };
    let mut options = mode.with_acls(zk::Acls::new(&acls));
    if t {
        options = options.with_ttl(Duration::from_millis(ttl as u64));
    }
    let (_, seq) = s
        .block_on(s.client()?.create(path, data, &options))
        .map_err(wrap(path))?;
    let created = if sq {
        format!("{path}{seq}")
    } else {
        path.to_owned()
    };
    eprintln!("Created {created}");
    Ok(())
}

/// zkCli's `AclParser`: `scheme:id:perm` entries split by commas; bad ones are reported
/// and skipped.
pub fn parse_acl(text: &str) -> Vec<zk::Acl> {
    let mut acls = Vec::new();
    for a in text.split(',') {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        };
        if first == last {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        }
        let mut perm = zk::Permission::NONE;
        for ch in a[last + 1..].chars() {
            perm = perm
                | match ch {
                    'r' => zk::Permission::READ,
                    'w' => zk::Permission::WRITE,
                    'c' => zk::Permission::CREATE,
                    'd' => zk::Permission::DELETE,
                    'a' => zk::Permission::ADMIN,
                    other => {
                        eprintln!("Unknown perm type: {other}");
                        zk::Permission::NONE
                    }
                };
        }
        let id = zk::AuthId::new(&a[..first], &a[first + 1..last]);
        acls.push(zk::Acl::new(perm, id));
    }
    acls
}

/// zkCli's `retainCompatibility`: the old `<cmd> path watch` form still sets a watch.
fn old_watch_form(cl: &CommandLine, name: &str, new_form: &str) -> bool {
    if cl.args.len() > 2 {
        eprintln!(
            "'{name} path [watch]' has been deprecated. Please use '{name} {new_form} path' instead."
        );
        return true;
    }
    cl.has('w')
}

fn get(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let watch = old_watch_form(cl, "get", "[-s] [-w]");
    let path = checked(&cl.args[1])?;
    let client = s.client()?;
    let (data, stat) = if watch {
        let (data, stat, watcher) = s
            .block_on(client.get_and_watch_data(path))
            .map_err(wrap(path))?;
        s.watch_once(path, WatchKind::Data, watcher);
        (data, stat)
    } else {
        s.block_on(client.get_data(path)).map_err(wrap(path))?
    };
    // The Rust client cannot tell empty data from null data; zkCli prints "null" for both
    // as zooid stores no null data apart from what create without data gives.
    if data.is_empty() {
        println!("null");
    } else {
        println!("{}", String::from_utf8_lossy(&data));
    }
    if cl.has('s') {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn set(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let v = version(cl)?;
    let stat = s
        .block_on(s.client()?.set_data(path, cl.args[2].as_bytes(), v))
        .map_err(wrap(path))?;
    if cl.has('s') {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn stat(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let watch = old_watch_form(cl, "stat", "[-w]");
    let path = checked(&cl.args[1])?;
    let client = s.client()?;
    let stat = if watch {
        let (stat, watcher) = s
            .block_on(client.check_and_watch_stat(path))
            .map_err(wrap(path))?;
        s.watch_once(path, WatchKind::Data, watcher);
        stat
    } else {
        s.block_on(client.check_stat(path)).map_err(wrap(path))?
    };
    match stat {
        Some(stat) => {
            print!("{}", format::stat(&stat));
            Ok(())
        }
        None => Err(CliError::new(format!("Node does not exist: {path}"))),
    }
}

fn ls(s: &Session, d: &Def, cl: &CommandLine) -> Result<(), CliError> {
    if cl.has('?') {
        println!("usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch");
    }
    let watch = old_watch_form(cl, "ls", "[-w]");
    if cl.args.len() < 2 {
        return Err(usage_error(d));
    }
    let path = checked(&cl.args[1])?;
    let client = s.client()?;
    if cl.has('R') {
        s.block_on(client.check_stat(path))
            .map_err(wrap(path))?
            .ok_or_else(|| CliError::new(format!("Node does not exist: {path}")))?;
        for p in subtree(s, &client, path)? {
            println!("{p}");
        }
        return Ok(());
    }
    let (mut children, stat) = match (watch, cl.has('s')) {
        (true, _) => {
            let (children, stat, watcher) = s
                .block_on(client.get_and_watch_children(path))
                .map_err(wrap(path))?;
            s.watch_once(path, WatchKind::Child, watcher);
            (children, Some(stat))
        }
        (false, true) => {
            let (c, st) = s.block_on(client.get_children(path)).map_err(wrap(path))?;
            (c, Some(st))
        }
        (false, false) => (
            s.block_on(client.list_children(path)).map_err(wrap(path))?,
            None,
        ),
    };
    children.sort();
    println!("[{}]", children.join(", "));
    if let (true, Some(stat)) = (cl.has('s'), stat) {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The node and its descendants, depth first, children in name order (`ZKUtil`'s visit).
fn subtree(s: &Session, client: &zk::Client, path: &str) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let children = match s.block_on(client.list_children(&p)) {
            Ok(c) => c,
            Err(zk::Error::NoNode) => Vec::new(),
            Err(e) => return Err(CliError::new(format::keeper_error(&e, &p))),
        };
        let mut kids: Vec<String> = children.iter().map(|c| child_path(&p, c)).collect();
        kids.sort();
        stack.extend(kids.into_iter().rev());
        out.push(p);
    }
    Ok(out)
}

fn delete(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    if cl.args.len() > 2 {
        eprintln!("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
    }
    let path = checked(&cl.args[1])?;
    let v = version(cl)?;
    s.block_on(s.client()?.delete(path, v)).map_err(wrap(path))
}

fn deleteall(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    if let Some(b) = cl.value('b') {
        if b.parse::<i32>().is_err() {
            return Err(CliError::new("-b argument must be an int value"));
        }
    }
    let path = checked(&cl.args[1])?;
    let client = s.client()?;
    s.block_on(client.list_children(path)).map_err(wrap(path))?;
    let nodes = subtree(s, &client, path)?;
    let mut failed = false;
    // Children before parents: the reverse of a preorder walk.
    for p in nodes.iter().rev() {
        match s.block_on(client.delete(p, None)) {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(_) => failed = true,
        }
    }
    if failed {
        eprintln!("Failed to delete some node(s) in the subtree!");
    }
    Ok(())
}

fn get_acl(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let (acls, stat) = s.block_on(s.client()?.get_acl(path)).map_err(wrap(path))?;
    for a in &acls {
        println!("{}", format::acl(a));
    }
    if cl.has('s') {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn set_acl(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let acls = parse_acl(&cl.args[2]);
    let v = version(cl)?;
    let client = s.client()?;
    if cl.has('R') {
        s.block_on(client.check_stat(path))
            .map_err(wrap(path))?
            .ok_or_else(|| CliError::new(format!("Node does not exist: {path}")))?;
        for p in subtree(s, &client, path)? {
            if let Err(e) = s.block_on(client.set_acl(&p, &acls, v)) {
                print!("{}", format::keeper_error_plain(&e, &p));
            }
        }
        return Ok(());
    }
    let stat = s
        .block_on(client.set_acl(path, &acls, v))
        .map_err(wrap(path))?;
    if cl.has('s') {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn addauth(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let auth = cl.args.get(2).map(|a| a.as_bytes()).unwrap_or_default();
    // zkCli does not wait for the reply; a failed auth shows as the session's state.
    let client = s.client()?;
    let _ = s.block_on(client.auth(&cl.args[1], auth));
    Ok(())
}

fn sync(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    match s.block_on(s.client()?.sync(path)) {
        Ok(()) => println!("Sync is OK"),
        Err(e) => println!("Sync has failed. rc={}", format::error_code(&e)),
    }
    Ok(())
}

fn add_watch(s: &Session, d: &Def, cl: &CommandLine) -> Result<(), CliError> {
    let mode = match cl.value('m').map(|m| m.to_uppercase()) {
        None => zk::AddWatchMode::PersistentRecursive,
        Some(m) if m == "PERSISTENT_RECURSIVE" => zk::AddWatchMode::PersistentRecursive,
        Some(m) if m == "PERSISTENT" => zk::AddWatchMode::Persistent,
        Some(_) => return Err(usage_error(d)),
    };
    let path = checked(&cl.args[1])?;
    let watcher = s
        .block_on(s.client()?.watch(path, mode))
        .map_err(wrap(path))?;
    let kind = match mode {
        zk::AddWatchMode::Persistent => WatchKind::Persistent,
        zk::AddWatchMode::PersistentRecursive => WatchKind::Recursive,
    };
    s.watch_persistent(path, kind, watcher);
    Ok(())
}

fn remove_watches(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let kinds: &[WatchKind] = if cl.has('c') {
        &[WatchKind::Child]
    } else if cl.has('d') {
        &[WatchKind::Data]
    } else if cl.has('p') {
        &[WatchKind::Persistent]
    } else if cl.has('r') {
        &[WatchKind::Recursive]
    } else {
        &[
            WatchKind::Child,
            WatchKind::Data,
            WatchKind::Persistent,
            WatchKind::Recursive,
        ]
    };
    s.client()?;
    if s.remove_watches(path, kinds) == 0 {
        return Err(CliError::new(format::keeper_error(
            &zk::Error::NoWatcher,
            path,
        )));
    }
    Ok(())
}

fn get_ephemerals(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = match cl.args.get(1) {
        Some(p) => checked(p)?,
        None => "/",
    };
    let list = s
        .block_on(s.client()?.list_ephemerals(path))
        .map_err(wrap(path))?;
    println!("[{}]", list.join(", "));
    Ok(())
}

fn all_children(s: &Session, d: &Def, cl: &CommandLine) -> Result<(), CliError> {
    if cl.args.len() < 2 {
        return Err(usage_error(d));
    }
    let path = checked(&cl.args[1])?;
    let n = s
        .block_on(s.client()?.count_descendants_number(path))
        .map_err(wrap(path))?;
    println!("{n}");
    Ok(())
}

fn whoami(s: &Session) -> Result<(), CliError> {
    let users = s
        .block_on(s.client()?.list_auth_users())
        .map_err(wrap(""))?;
    println!("Auth scheme: User");
    for u in users {
        println!("{}: {}", u.scheme(), u.user());
    }
    Ok(())
}
