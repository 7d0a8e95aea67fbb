//! What the four letter words report about the host and the process, where ZooKeeper
//! asks the JVM: read from `/proc` and `/etc/passwd` on Linux. Anything the host cannot
//! tell is reported the way ZooKeeper reports it when the JVM cannot (`<NA>`, -1).
//!
//! The `envi` keys keep ZooKeeper's names. The `java.*` properties have no Zooid
//! counterpart and print `<NA>`, which is `Environment.list`'s own word for a missing
//! property, except `java.io.tmpdir`, which is the directory this process would use.
//! `os.memory.*` describe the JVM heap in ZooKeeper; here `total` is the process's
//! resident memory (VmRSS), `max` the machine's memory (nothing else caps a native
//! process), and `free`, the unused part of what the process holds, is `<NA>`: the
//! allocator does not say.

use std::path::Path;
use std::time::UNIX_EPOCH;

/// `Environment.list`'s value for a property the runtime does not have.
const NOT_AVAILABLE: &str = "<NA>";

const MB: u64 = 1024 * 1024;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// When this executable's file was last written, in wall-clock milliseconds.
pub fn executable_mtime_ms() -> Option<i64> {
    let exe = std::env::current_exe().ok()?;
    let modified = std::fs::metadata(exe).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Open file descriptors (`UnixOperatingSystemMXBean.getOpenFileDescriptorCount`, which
/// likewise lists `/proc/self/fd` and leaves out the descriptor of the listing).
pub fn open_fd_count() -> Option<i64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    Some(entries - 1)
}

/// The soft limit on open files (`getMaxFileDescriptorCount`).
pub fn max_fd_count() -> Option<i64> {
    parse_max_open_files(&read("/proc/self/limits")?)
}

/// The soft "Max open files" of `/proc/<pid>/limits`; None when unlimited.
pub fn parse_max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `Key:   123 kB` field of `/proc/self/status` or `/proc/meminfo`, in bytes.
pub fn parse_kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split(':').next() == Some(key))?;
    let kb: u64 = line
        .split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The real uid of this process (the first field of `Uid:` in `/proc/self/status`).
pub fn parse_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_whitespace().next()?.parse().ok()
}

/// (name, home) of `uid` in an `/etc/passwd` text.
pub fn passwd_entry(passwd: &str, uid: u32) -> Option<(String, String)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| (f[0].to_owned(), f[5].to_owned()))
    })
}

/// `os.arch` as the JVM names Rust's target architectures.
pub fn java_os_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

/// `os.name` when the kernel does not say (`/proc/sys/kernel/ostype`).
fn java_os_name(os: &str) -> String {
    match os {
        "linux" => "Linux".to_owned(),
        "macos" => "Mac OS X".to_owned(),
        "freebsd" => "FreeBSD".to_owned(),
        "windows" => "Windows".to_owned(),
        other => other.to_owned(),
    }
}

fn trimmed(path: &str) -> Option<String> {
    read(path)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn or_na(v: Option<String>) -> String {
    v.unwrap_or_else(|| NOT_AVAILABLE.to_owned())
}

fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| NOT_AVAILABLE.to_owned(), |b| format!("{}MB", b / MB))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// `Environment.list`, in its order.
pub fn environment(full_version: &str) -> Vec<(&'static str, String)> {
    let status = read("/proc/self/status");
    let meminfo = read("/proc/meminfo");
    let user = status
        .as_deref()
        .and_then(parse_uid)
        .zip(read("/etc/passwd"))
        .and_then(|(uid, passwd)| passwd_entry(&passwd, uid));
    let na = || NOT_AVAILABLE.to_owned();
    vec![
        ("zookeeper.version", full_version.to_owned()),
        ("host.name", or_na(trimmed("/proc/sys/kernel/hostname"))),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", display(&std::env::temp_dir())),
        ("java.compiler", na()),
        (
            "os.name",
            trimmed("/proc/sys/kernel/ostype")
                .unwrap_or_else(|| java_os_name(std::env::consts::OS)),
        ),
        ("os.arch", java_os_arch(std::env::consts::ARCH).to_owned()),
        ("os.version", or_na(trimmed("/proc/sys/kernel/osrelease"))),
        ("user.name", or_na(user.as_ref().map(|u| u.0.clone()))),
        ("user.home", or_na(user.map(|u| u.1))),
        (
            "user.dir",
            or_na(std::env::current_dir().ok().map(|d| display(&d))),
        ),
        ("os.memory.free", na()),
        (
            "os.memory.max",
            megabytes(
                meminfo
                    .as_deref()
                    .and_then(|m| parse_kb_field(m, "MemTotal")),
            ),
        ),
        (
            "os.memory.total",
            megabytes(status.as_deref().and_then(|s| parse_kb_field(s, "VmRSS"))),
        ),
    ]
}
