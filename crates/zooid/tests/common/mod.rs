//! Starts a real `zooid` process on a free loopback port and stops it (by PID) on drop.
#![allow(dead_code, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zooid_proto::{ConnectRequest, ConnectResponse, Record};

pub mod pki;

pub struct ZooidProcess {
    child: Child,
    pub port: u16,
    /// The directory holding zoo.cfg and data/ (kept when the process is restarted).
    pub dir: std::sync::Arc<tempfile::TempDir>,
    extra: String,
}

impl ZooidProcess {
    /// Starts `zooid server` with the given extra zoo.cfg lines in a new directory.
    pub fn start(extra: &str) -> ZooidProcess {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
        ZooidProcess::start_in(dir, free_port(), extra)
    }

    /// Starts `zooid server` on `dir` (its data under `dir/data`).
    pub fn start_in(
        dir: std::sync::Arc<tempfile::TempDir>,
        port: u16,
        extra: &str,
    ) -> ZooidProcess {
        let p = ZooidProcess::spawn(dir, port, extra);
        p.wait_ready();
        p
    }

    /// Starts the process without waiting for it to serve.
    pub fn spawn(dir: std::sync::Arc<tempfile::TempDir>, port: u16, extra: &str) -> ZooidProcess {
        let cfg = dir.path().join("zoo.cfg");
        // ZooKeeper's AdminServer is on by default at port 8080: tests that run many
        // servers on one machine turn it off unless they configure it themselves.
        let admin = if extra.contains("admin.") {
            ""
        } else {
            "admin.enableServer=false\n"
        };
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{admin}{extra}\n",
            dir.path().join("data").display()
        );
        std::fs::write(&cfg, text).expect("write cfg");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("server.log"))
            .expect("server log");
        let child = Command::new(env!("CARGO_BIN_EXE_zooid"))
            .arg("server")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn zooid");
        ZooidProcess {
            child,
            port,
            dir,
            extra: extra.to_owned(),
        }
    }

    /// SIGKILLs the process and starts a new one on the same directory and port.
    pub fn crash_and_restart(mut self) -> ZooidProcess {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (dir, port, extra) = (self.dir.clone(), self.port, self.extra.clone());
        drop(self);
        ZooidProcess::start_in(dir, port, &extra)
    }

    /// SIGKILLs the process now (the directory stays).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit on its own (bounded), returning its status.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`libc::SIGSTOP`, `libc::SIGCONT`, ...) to the process.
    pub fn signal(&self, sig: libc::c_int) {
        signal_pid(self.pid(), sig);
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if four_letter(self.port, "ruok").as_deref() == Some("imok") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "zooid did not answer ruok within 20 s; log:\n{}",
            self.server_log()
        );
    }
}

impl Drop for ZooidProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` to process `pid`, which must exist.
pub fn signal_pid(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// A loopback port nobody listens on now, and never handed out before by this test
/// process (the kernel may give the same free port to two binds in a row once the
/// first is closed: an ensemble's ports would then collide).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Sends a four-letter word and returns the reply text.
pub fn four_letter(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

pub fn raw(server: &ZooidProcess) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

pub fn send_frame(s: &mut TcpStream, body: &[u8]) {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f).unwrap();
}

pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// True when the server closed the connection (EOF or reset) without sending more.
pub fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

pub fn handshake(s: &mut TcpStream) -> ConnectResponse {
    let req = ConnectRequest {
        time_out: 30000,
        passwd: vec![0u8; 16].into(),
        ..Default::default()
    };
    send_frame(s, &req.to_vec());
    ConnectResponse::from_bytes(&read_frame(s).expect("connect response")).unwrap()
}

/// A `zookeeper-client` session to `addr`, within 10 s.
pub async fn connect(addr: &str) -> zookeeper_client::Client {
    tokio::time::timeout(
        Duration::from_secs(10),
        zookeeper_client::Client::connect(addr),
    )
    .await
    .expect("connect within 10 s")
    .expect("connect")
}

/// A runtime for tests that drive clients from plain threads.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// One HTTP/1.1 exchange with a server on loopback, the body de-chunked.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// Sends `method path` with `headers` (`Name: value` lines, each ending in CRLF) and
/// `body`; None when the server does not answer (not listening yet, connection cut).
pub fn http(port: u16, method: &str, path: &str, headers: &str, body: &[u8]) -> Option<HttpReply> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    http_exchange(s, method, path, headers, body)
}

/// [`http`] on a stream already open (a TLS one, say). Bytes read before an error
/// (a peer that closes without TLS's close_notify) still count.
pub fn http_exchange<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Option<HttpReply> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    s.flush().ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8(raw[..split].to_vec()).ok()?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    if chunked {
        body = dechunk(&body)?;
    }
    Some(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(eol + 2..eol + 2 + size)?);
        b = b.get(eol + 2 + size + 2..)?;
    }
}
