//! zkCli's commands (the `cli/*Command.java` classes of ZooKeeper 3.9): the table of names,
//! usages and options, the parsing every command shares, and the znode commands. Each
//! command talks to the server and prints what zkCli prints.

use std::time::Duration;

use zookeeper_client as zk;

use super::parse::{self, flag, valued, CommandLine, Group, Spec};
use super::{config, format, java, quota, walk};
use super::{CliError, Session, WatchKind};

/// One command: its name, its usage after the name, and its options.
pub struct Def {
    pub name: &'static str,
    pub usage: &'static str,
    pub spec: Spec,
    /// 3.9.5's get and set list their options under the usage of a parse error.
    pub usage_lists_options: bool,
}

const fn def(name: &'static str, usage: &'static str, opts: &'static [parse::Opt]) -> Def {
    Def {
        name,
        usage,
        spec: Spec {
            opts,
            group: Group::None,
        },
        usage_lists_options: false,
    }
}

const QUOTA_OPTS: &[parse::Opt] = &[
    valued("n", "num soft quota"),
    valued("b", "bytes soft quota"),
    valued("N", "num hard quota"),
    valued("B", "bytes hard quota"),
];

const DELQUOTA_OPTS: &[parse::Opt] = &[
    flag("n", "num soft quota"),
    flag("b", "bytes soft quota"),
    flag("N", "num hard quota"),
    flag("B", "bytes hard quota"),
];

/// zkCli's commands with zkCli's usage texts and options (descriptions where zkCli prints
/// them: in `ls -?`, the usage of get and set, and the quota group's error).
pub const DEFS: &[Def] = &[
    def("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE", &[valued("m", "")]),
    def("addauth", "scheme auth", &[]),
    def("close", "", &[]),
    def("config", "[-c] [-w] [-s]", &[flag("s", "stats"), flag("w", "watch"), flag("c", "client connection string")]),
    def("connect", "host:port", &[]),
    def("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]", &[flag("e", "ephemeral"), flag("s", "sequential"), flag("c", "container"), valued("t", "ttl")]),
    def("delete", "[-v version] path", &[valued("v", "version")]),
    def("deleteall", "path [-b batch size]", &[valued("b", "batch size")]),
    Def {
        spec: Spec { opts: DELQUOTA_OPTS, group: Group::Optional },
        ..def("delquota", "[-n|-b|-N|-B] path", &[])
    },
    Def {
        usage_lists_options: true,
        ..def("get", "[-s] [-w] [-b] [-x] path", &[
            flag("s", "Print znode stats additionally"),
            flag("w", "Watch for changes on the znode"),
            flag("b", "Output data in base64 format"),
            flag("x", "Output data in hexdump format"),
        ])
    },
    def("getAcl", "[-s] path", &[flag("s", "stats")]),
    def("getAllChildrenNumber", "path", &[]),
    def("getEphemerals", "path", &[]),
    def("history", "", &[]),
    def("listquota", "path", &[]),
    def("ls", "[-s] [-w] [-R] path", &[flag("?", "help"), flag("s", "stat"), flag("w", "watch"), flag("R", "recurse")]),
    def("printwatches", "on|off", &[]),
    def("quit", "", &[]),
    def("reconfig", "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]", config::RECONFIG_OPTS),
    def("redo", "cmdno", &[]),
    def("removewatches", "path [-c|-d|-a] [-l]", &[
        flag("c", "child watcher type"),
        flag("d", "data watcher type"),
        flag("p", "persistent watcher type"),
        flag("r", "persistent recursive watcher type"),
        flag("a", "any watcher type"),
        flag("l", "remove locally when there is no server connection"),
    ]),
    Def {
        usage_lists_options: true,
        ..def("set", "path data [-s] [-v version] [-b]", &[
            flag("s", "Print znode stats additionally"),
            valued("v", "Set with an expected version"),
            flag("b", "Supply data in base64 format"),
        ])
    },
    def("setAcl", "[-s] [-v version] [-R] path acl", &[flag("s", "stats"), valued("v", "version"), flag("R", "recursive")]),
    Def {
        spec: Spec { opts: QUOTA_OPTS, group: Group::Required },
        ..def("setquota", "-n|-b|-N|-B val path", &[])
    },
    def("stat", "[-w] path", &[flag("w", "watch")]),
    def("sync", "path", &[]),
    def("version", "", &[]),
    def("whoami", "", &[]),
];

pub fn find(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// `CliCommand.getUsageStr`: the usage, and for get and set their options.
pub fn usage_error(d: &Def) -> CliError {
    let mut text = format!("{} {}", d.name, d.usage);
    if d.usage_lists_options {
        text.push('\n');
        text.push_str(&parse::options_help(&d.spec));
        text.push('\n');
    }
    CliError::new(text)
}

/// The positional words each command needs at least (its name included).
fn min_args(name: &str) -> usize {
    match name {
        "set" | "setAcl" => 3,
        "getEphemerals" | "ls" | "getAllChildrenNumber" | "config" | "reconfig" | "version" => 1,
        _ => 2,
    }
}

/// Runs a command other than zkCli's built-ins on a live session. Returns Err with zkCli's
/// message on failure.
pub fn run(s: &Session, d: &Def, words: &[String]) -> Result<(), CliError> {
    // whoami takes whatever follows it: zkCli does not parse its words (nor close's, which
    // the shell runs itself).
    if d.name == "whoami" {
        return whoami(s);
    }
    let cl = parse_words(d, words)?;
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
        "setquota" => quota::set_quota(s, &cl),
        "listquota" => quota::list_quota(s, &cl),
        "delquota" => quota::del_quota(s, &cl),
        "config" => config::config(s, &cl),
        "reconfig" => config::reconfig(s, d, &cl),
        "version" => config::version(),
        other => Err(CliError::new(format!("Command not found {other}"))),
    }
}

/// A command's `parse`: the options, the count of words, and the deprecated
/// `get|ls|stat path watch` form, which zkCli rewrites by putting `-w` in place of the
/// third word and parsing again.
fn parse_words(d: &Def, words: &[String]) -> Result<CommandLine, CliError> {
    let cl = parse::parse(&d.spec, words)?;
    if d.name == "ls" && cl.has("?") {
        println!("usage: ls [options] path\n{}", parse::options_help(&d.spec));
    }
    // ls, getAllChildrenNumber and addWatch check their words when they run.
    let checked_late = matches!(d.name, "ls" | "getAllChildrenNumber" | "addWatch");
    if !checked_late && cl.args.len() < min_args(d.name) {
        return Err(usage_error(d));
    }
    if d.name == "version" && cl.args.len() > 1 {
        return Err(usage_error(d));
    }
    if cl.args.len() > 2 {
        let new_form = match d.name {
            "get" => "[-s] [-w]",
            "ls" | "stat" => "[-w]",
            "delete" => {
                eprintln!("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
                return Ok(cl);
            }
            _ => return Ok(cl),
        };
        eprintln!(
            "'{} path [watch]' has been deprecated. Please use '{} {new_form} path' instead.",
            d.name, d.name
        );
        let mut rewritten = words.to_vec();
        rewritten[2] = "-w".to_owned();
        return parse::parse(&d.spec, &rewritten);
    }
    Ok(cl)
}

/// The session's client, or the ConnectionLoss zkCli's request on `path` fails with.
pub fn client(s: &Session, path: &str) -> Result<zk::Client, CliError> {
    s.client().map_err(wrap(path))
}

/// `Integer.parseInt` of `-v`. zkCli does not catch the NumberFormatException.
fn version(cl: &CommandLine) -> Result<Option<i32>, CliError> {
    cl.value("v")
        .map(|v| java::parse_int(v).map_err(number_format))
        .transpose()
}

/// A NumberFormatException that escapes zkCli and ends the JVM.
pub fn number_format(message: String) -> CliError {
    CliError::uncaught(format!("java.lang.NumberFormatException: {message}"))
}

pub fn checked(path: &str) -> Result<&str, CliError> {
    parse::validate_path(path)?;
    Ok(path)
}

pub fn wrap(path: &str) -> impl Fn(zk::Error) -> CliError + '_ {
    move |e| CliError::new(format::keeper_error(&e, path))
}

/// The InvalidACLException the Java client throws itself for an empty ACL list: it has
/// no path, so zkCli prints "null" for it.
fn empty_acl() -> CliError {
    CliError::new("Acl is not valid : null")
}

fn create(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let (e, sq, c, t) = (cl.has("e"), cl.has("s"), cl.has("c"), cl.has("t"));
    if c && (e || sq) {
        return Err(CliError::new(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let ttl = match cl.value("t") {
        Some(v) => {
            java::parse_long(v).map_err(|_| CliError::new("-t argument must be a long value"))?
        }
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
    let data = cl.args.get(2).map(|d| d.as_bytes()).unwrap_or_default();
    let acls = match cl.args.get(3) {
        Some(text) => parse_acl(text),
        None => vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())],
    };
    // zkCli prints an InvalidACLException's own message before its usual one.
    if acls.is_empty() {
        eprintln!("{}", format::keeper_error_plain(&zk::Error::InvalidAcl, ""));
        return Err(empty_acl());
    }
    if path == "/" {
        return Err(CliError::new("Node already exists: /"));
    }
    let mut options = mode.with_acls(zk::Acls::new(&acls));
    if t {
        options = options.with_ttl(Duration::from_millis(ttl as u64));
    }
    let created = s.block_on(client(s, path)?.create(path, data, &options));
    let (_, seq) = created.map_err(|e| {
        if e == zk::Error::InvalidAcl {
            eprintln!("{}", format::keeper_error_plain(&e, path));
        }
        wrap(path)(e)
    })?;
    let created = if sq {
        format!("{path}{seq}")
    } else {
        path.to_owned()
    };
    eprintln!("Created {created}");
    Ok(())
}

/// zkCli's `AclParser`: `scheme:id:perm` entries split by commas (as Java's `split`);
/// bad ones are reported and skipped.
pub fn parse_acl(text: &str) -> Vec<zk::Acl> {
    let mut acls = Vec::new();
    for a in java::split(text, |c| c == ',', false) {
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

fn get(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let client = client(s, path)?;
    let (data, stat) = if cl.has("w") {
        let (data, stat, watcher) = s
            .block_on(client.get_and_watch_data(path))
            .map_err(wrap(path))?;
        s.watch_once(path, WatchKind::Data, watcher);
        (data, stat)
    } else {
        s.block_on(client.get_data(path)).map_err(wrap(path))?
    };
    // The Rust client cannot tell empty data from null data; zkCli prints "null" for null
    // data, and zooid stores no null data apart from what create without data gives.
    let data: &[u8] = if data.is_empty() { b"null" } else { &data };
    if cl.has("x") {
        println!("{}", format::hex_dump(data));
    } else if cl.has("b") {
        println!("{}", java::base64_encode(data));
    } else {
        println!("{}", String::from_utf8_lossy(data));
    }
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn set(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    let data = if cl.has("b") {
        java::base64_decode(&cl.args[2])
            .map_err(|m| CliError::uncaught(format!("java.lang.IllegalArgumentException: {m}")))?
    } else {
        cl.args[2].as_bytes().to_vec()
    };
    let v = version(cl)?;
    checked(path)?;
    let stat = s
        .block_on(client(s, path)?.set_data(path, &data, v))
        .map_err(wrap(path))?;
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn stat(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let client = client(s, path)?;
    let stat = if cl.has("w") {
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
    if cl.args.len() < 2 {
        return Err(usage_error(d));
    }
    let path = checked(&cl.args[1])?;
    let client = client(s, path)?;
    let watch = cl.has("w");
    if cl.has("R") {
        let mut print = |p: &str| {
            println!("{p}");
            Ok(())
        };
        return walk::visit_subtree(s, &client, path, watch, &mut print)
            .map_err(walk::Failure::into_cli);
    }
    let (mut children, stat) = match (watch, cl.has("s")) {
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
    if let (true, Some(stat)) = (cl.has("s"), stat) {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn delete(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    let v = version(cl)?;
    checked(path)?;
    s.block_on(client(s, path)?.delete(path, v))
        .map_err(wrap(path))
}

fn deleteall(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let batch = match cl.value("b") {
        Some(b) => {
            java::parse_int(b).map_err(|_| CliError::new("-b argument must be an int value"))?
        }
        None => walk::DELETE_BATCH_DEFAULT,
    };
    let path = checked(&cl.args[1])?;
    let client = client(s, path)?;
    if !walk::delete_recursive(s, &client, path, batch)? {
        eprintln!("Failed to delete some node(s) in the subtree!");
    }
    Ok(())
}

fn get_acl(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let (acls, stat) = s
        .block_on(client(s, path)?.get_acl(path))
        .map_err(wrap(path))?;
    for a in &acls {
        println!("{}", format::acl(a));
    }
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn set_acl(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = cl.args[1].as_str();
    let acls = parse_acl(&cl.args[2]);
    let v = version(cl)?;
    checked(path)?;
    let client = client(s, path)?;
    if cl.has("R") {
        // Each node's failure is printed (without a line end, as zkCli does) and the
        // walk goes on.
        let mut set_one = |p: &str| {
            let result = if acls.is_empty() {
                Err(zk::Error::InvalidAcl)
            } else {
                s.block_on(client.set_acl(p, &acls, v)).map(|_| ())
            };
            if let Err(e) = result {
                let at = if acls.is_empty() { "" } else { p };
                print!("{}", format::keeper_error_plain(&e, at));
            }
            Ok(())
        };
        return walk::visit_subtree(s, &client, path, false, &mut set_one)
            .map_err(walk::Failure::into_cli);
    }
    if acls.is_empty() {
        return Err(empty_acl());
    }
    let stat = s
        .block_on(client.set_acl(path, &acls, v))
        .map_err(wrap(path))?;
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

fn addauth(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let auth = cl.args.get(2).map(|a| a.as_bytes()).unwrap_or_default();
    s.add_auth(&cl.args[1], auth);
    Ok(())
}

fn sync(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let path = checked(&cl.args[1])?;
    let result = match s.client() {
        Ok(c) => s.block_on(c.sync(path)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => println!("Sync is OK"),
        Err(e) => println!("Sync has failed. rc={}", format::error_code(&e)),
    }
    Ok(())
}

fn add_watch(s: &Session, d: &Def, cl: &CommandLine) -> Result<(), CliError> {
    if cl.args.len() != 2 {
        return Err(usage_error(d));
    }
    let mode = match cl.value("m").map(|m| m.to_uppercase()) {
        None => zk::AddWatchMode::PersistentRecursive,
        Some(m) if m == "PERSISTENT_RECURSIVE" => zk::AddWatchMode::PersistentRecursive,
        Some(m) if m == "PERSISTENT" => zk::AddWatchMode::Persistent,
        Some(_) => return Err(usage_error(d)),
    };
    let path = checked(&cl.args[1])?;
    let watcher = s
        .block_on(client(s, path)?.watch(path, mode))
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
    let kinds: &[WatchKind] = if cl.has("c") {
        &[WatchKind::Child]
    } else if cl.has("d") {
        &[WatchKind::Data]
    } else if cl.has("p") {
        &[WatchKind::Persistent]
    } else if cl.has("r") {
        &[WatchKind::Recursive]
    } else {
        &[
            WatchKind::Child,
            WatchKind::Data,
            WatchKind::Persistent,
            WatchKind::Recursive,
        ]
    };
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
        .block_on(client(s, path)?.list_ephemerals(path))
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
        .block_on(client(s, path)?.count_descendants_number(path))
        .map_err(wrap(path))?;
    println!("{n}");
    Ok(())
}

/// `whoami`: the Java client ignores a failed request and returns no users, so zkCli then
/// prints only the heading.
fn whoami(s: &Session) -> Result<(), CliError> {
    let users = match s.client() {
        Ok(c) => s.block_on(c.list_auth_users()).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    println!("Auth scheme: User");
    for u in users {
        println!("{}: {}", u.scheme(), u.user());
    }
    Ok(())
}
