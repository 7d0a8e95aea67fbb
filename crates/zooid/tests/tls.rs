//! The secure client port: the TLS handshake with certificates made here (rcgen), then
//! ZooKeeper's wire protocol over it; `ssl.clientAuth`, the trust store, the `x509`
//! identity, x509 ACLs and `X509AuthenticationProvider.superUser`. Then Zooid's own
//! clients over it: `zooid shell -client-configuration` and `zooid bench --tls`.
mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::pki::{self, Ca};
use common::{free_port, ZooidProcess};
use rcgen::{CertificateParams, DistinguishedName, DnType};
use zooid_proto::opcode::op;
use zooid_proto::{
    Acl, ConnectRequest, ConnectResponse, CreateRequest, GetDataRequest, GetDataResponse, Record,
    ReplyHeader, RequestHeader, WhoAmIResponse,
};

/// The subject of the client certificate, and how Java's X500Principal prints it.
const CLIENT_DN: &str = "CN=client\\, one,OU=Zooid\\+UID\\=c1,O=Test Org,C=NL";

fn client_params() -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    // rcgen's default subject is `CN=rcgen self signed cert`: start from an empty one.
    p.distinguished_name = DistinguishedName::new();
    let dn = &mut p.distinguished_name;
    dn.push(DnType::CountryName, "NL");
    dn.push(DnType::OrganizationName, "Test Org");
    // One attribute per RDN (rcgen writes no multi-valued RDN): the printed order and
    // the escaping of `,`, `+` and `=` are what this checks.
    dn.push(DnType::OrganizationalUnitName, "Zooid+UID=c1");
    dn.push(DnType::CommonName, "client, one");
    p
}

/// The files of one test: CA, server key store, client key pairs.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    client: (String, String),
    stranger: (String, String),
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("Zooid Test CA");
        let server = ca.loopback_server();
        std::fs::write(dir.path().join("server.pem"), pki::key_store_pem(&server)).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let client = ca.sign(client_params());
        let stranger = Ca::new("Some Other CA").sign(client_params());
        Pki {
            dir,
            ca,
            client,
            stranger,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// zoo.cfg lines for the secure port on `port`.
    fn cfg(&self, port: u16, extra: &str) -> String {
        format!(
            "secureClientPort={port}\nsecureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={}\nssl.trustStore.location={}\n{extra}",
            self.path("server.pem").display(),
            self.path("ca.pem").display()
        )
    }
}

type Tls = pki::TlsClient;

/// A TLS connection to the secure port, presenting `identity` if given.
fn tls_connect(port: u16, ca_pem: &str, identity: Option<&(String, String)>) -> Tls {
    pki::tls_client(port, ca_pem, identity, Duration::from_secs(5))
}

fn send<S: Write>(s: &mut S, body: &[u8]) -> std::io::Result<()> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f)?;
    s.flush()
}

fn recv<S: Read>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

fn handshake<S: Read + Write>(s: &mut S) -> std::io::Result<ConnectResponse> {
    let req = ConnectRequest {
        time_out: 30000,
        passwd: vec![0u8; 16].into(),
        ..Default::default()
    };
    send(s, &req.to_vec())?;
    Ok(ConnectResponse::from_bytes(&recv(s)?).unwrap())
}

/// Sends one request; returns the reply's error code and body.
fn call<S: Read + Write>(s: &mut S, xid: i32, op: i32, body: &[u8]) -> (i32, Vec<u8>) {
    let mut f = RequestHeader { xid, op }.to_vec();
    f.extend_from_slice(body);
    send(s, &f).unwrap();
    let reply = recv(s).unwrap();
    let mut r = zooid_proto::Reader::new(&reply);
    let hdr = ReplyHeader::decode(&mut r).unwrap();
    assert_eq!(hdr.xid, xid);
    (hdr.err, r.rest().to_vec())
}

fn whoami<S: Read + Write>(s: &mut S) -> Vec<String> {
    let (err, body) = call(s, 50, op::WHO_AM_I, &[]);
    assert_eq!(err, 0);
    let info = WhoAmIResponse::from_bytes(&body).unwrap().client_info;
    info.iter()
        .map(|c| format!("{}:{}", c.auth_scheme, c.user))
        .collect()
}

fn create<S: Read + Write>(s: &mut S, path: &str, acl: Vec<Acl>) -> i32 {
    let req = CreateRequest {
        path: path.to_owned(),
        data: b"v".to_vec().into(),
        acl,
        flags: 0,
    };
    call(s, 10, op::CREATE, &req.to_vec()).0
}

fn get<S: Read + Write>(s: &mut S, path: &str) -> Result<Vec<u8>, i32> {
    let req = GetDataRequest {
        path: path.to_owned(),
        watch: false,
    };
    match call(s, 11, op::GET_DATA, &req.to_vec()) {
        (0, body) => Ok(GetDataResponse::from_bytes(&body).unwrap().data.to_vec()),
        (err, _) => Err(err),
    }
}

/// A four-letter word over TLS with the client's certificate, and the reply.
fn tls_four_letter(port: u16, pki: &Pki, cmd: &str) -> String {
    let mut s = tls_connect(port, &pki.ca.pem, Some(&pki.client));
    s.write_all(cmd.as_bytes()).unwrap();
    s.flush().unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// True when the connection is refused during or right after the handshake.
fn refused(mut s: Tls) -> bool {
    handshake(&mut s).is_err()
}

fn start(pki: &Pki, extra: &str) -> (ZooidProcess, u16) {
    let port = free_port();
    (ZooidProcess::start(&pki.cfg(port, extra)), port)
}

fn file(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn requests_over_tls_with_an_x509_identity() {
    let pki = Pki::new();
    let (server, port) = start(&pki, "");
    let mut s = tls_connect(port, &file(&pki.path("ca.pem")), Some(&pki.client));
    let resp = handshake(&mut s).unwrap();
    assert_ne!(resp.session_id, 0);
    assert_eq!(
        whoami(&mut s),
        vec!["ip:127.0.0.1".to_owned(), format!("x509:{CLIENT_DN}")]
    );
    // x509 ACLs: the certificate's subject may read, others may not.
    let mine = vec![Acl::new(31, "x509", CLIENT_DN)];
    assert_eq!(create(&mut s, "/mine", mine), 0);
    assert_eq!(get(&mut s, "/mine"), Ok(b"v".to_vec()));
    let theirs = vec![Acl::new(31, "x509", "CN=someone else")];
    assert_eq!(create(&mut s, "/theirs", theirs), 0);
    assert_eq!(get(&mut s, "/theirs"), Err(-102)); // NoAuth
                                                   // The plain port still serves, without the x509 identity.
    let mut plain = common::raw(&server);
    common::handshake(&mut plain);
    assert_eq!(whoami(&mut plain), vec!["ip:127.0.0.1".to_owned()]);
    assert_eq!(get(&mut plain, "/mine"), Err(-102));
    // Four-letter words work over TLS too, as on ZooKeeper's Netty port.
    assert_eq!(tls_four_letter(port, &pki, "ruok"), "imok");
}

#[test]
fn client_auth_need_refuses_anonymous_and_untrusted_clients() {
    let pki = Pki::new();
    let (server, port) = start(&pki, "");
    assert!(refused(tls_connect(port, &pki.ca.pem, None)));
    assert!(refused(tls_connect(port, &pki.ca.pem, Some(&pki.stranger))));
    // The server goes on serving trusted clients.
    let mut s = tls_connect(port, &pki.ca.pem, Some(&pki.client));
    handshake(&mut s).unwrap();
    let log = server.server_log();
    assert!(log.contains("unsuccessful TLS handshake"), "{log}");
    // Both failures count, as NettyServerCnxnFactory counts them, and srst leaves
    // auth_failed_count alone (ServerStats.reset does not reset it).
    let counts = |port| {
        let mntr = common::four_letter(port, "mntr").unwrap();
        let value = |key: &str| {
            mntr.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t').map(str::to_owned))
                .unwrap_or_else(|| panic!("no {key} in {mntr}"))
        };
        (
            value("zk_auth_failed_count"),
            value("zk_unsuccessful_handshake"),
        )
    };
    // The server counts once its side of the failed handshake ends: wait for it.
    for _ in 0..500 {
        if counts(server.port).0 == "2" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counts(server.port), ("2".to_owned(), "2".to_owned()));
    assert_eq!(
        common::four_letter(server.port, "srst").unwrap(),
        "Server stats reset.\n"
    );
    assert_eq!(counts(server.port), ("2".to_owned(), "0".to_owned()));
}

#[test]
fn client_auth_want_and_none_let_anonymous_clients_in() {
    let pki = Pki::new();
    for mode in ["want", "none"] {
        let (_server, port) = start(&pki, &format!("ssl.clientAuth={mode}\n"));
        let mut s = tls_connect(port, &pki.ca.pem, None);
        handshake(&mut s).unwrap();
        assert_eq!(whoami(&mut s), vec!["ip:127.0.0.1".to_owned()]);
        // `want` still refuses a certificate it cannot verify.
        let stranger = tls_connect(port, &pki.ca.pem, Some(&pki.stranger));
        assert_eq!(refused(stranger), mode == "want", "{mode}");
    }
}

#[test]
fn x509_super_user_passes_every_acl() {
    let pki = Pki::new();
    // zoo.cfg is a Java properties file: a backslash is written twice.
    let dn = CLIENT_DN.replace('\\', "\\\\");
    let extra = format!("zookeeper.X509AuthenticationProvider.superUser={dn}\n");
    let (server, port) = start(&pki, &extra);
    let mut plain = common::raw(&server);
    common::handshake(&mut plain);
    let closed = vec![Acl::new(31, "ip", "10.9.9.9")];
    assert_eq!(create(&mut plain, "/closed", closed), 0);
    assert_eq!(get(&mut plain, "/closed"), Err(-102));
    let mut s = tls_connect(port, &pki.ca.pem, Some(&pki.client));
    handshake(&mut s).unwrap();
    assert_eq!(
        whoami(&mut s),
        // `super` has no authentication provider, so whoAmI shows it with an empty user
        // (AuthUtil.getUser; ZooKeeper 3.8 answers so for a SASL super user too).
        vec![
            "ip:127.0.0.1".to_owned(),
            "super:".to_owned(),
            format!("x509:{CLIENT_DN}")
        ]
    );
    assert_eq!(get(&mut s, "/closed"), Ok(b"v".to_vec()));
}

#[test]
fn bad_tls_settings_stop_the_start() {
    let pki = Pki::new();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let extra = pki.cfg(free_port(), "ssl.keyStore.type=JKS\n");
    let mut p = ZooidProcess::spawn(dir, free_port(), &extra);
    let status = p.wait_exit(20).expect("exits");
    assert!(!status.success());
    let log = p.server_log();
    // A PEM file typed JKS: the content is neither JKS nor PKCS12.
    assert!(log.contains("ssl.keyStore.location"), "{log}");
    assert!(log.contains("neither a JKS nor a PKCS12 store"), "{log}");
}

/// A store made by keytool (crates/zooid-server/src/tls/testdata/README.md).
fn store(name: &str) -> String {
    format!(
        "{}/../zooid-server/src/tls/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// ZooKeeper's usual deployment: JKS and PKCS12 stores with passwords, clientAuth=need.
#[test]
fn jks_and_pkcs12_stores_serve_a_client_with_a_certificate() {
    let ca = file(Path::new(&store("ca.pem")));
    let client = (
        file(Path::new(&store("client-cert.pem"))),
        file(Path::new(&store("client-key.pem"))),
    );
    let setups = [("server.jks", "trust.p12"), ("server-ec.p12", "trust.jks")];
    for (key_store, trust_store) in setups {
        let port = free_port();
        let cfg = format!(
            "secureClientPort={port}\nsecureClientPortAddress=127.0.0.1\nssl.clientAuth=need\n\
             ssl.keyStore.location={}\nssl.keyStore.password=serverpass\n\
             ssl.trustStore.location={}\nssl.trustStore.password=trustpass\n",
            store(key_store),
            store(trust_store)
        );
        let _server = ZooidProcess::start(&cfg);
        let mut s = tls_connect(port, &ca, Some(&client));
        handshake(&mut s).unwrap();
        assert_eq!(
            whoami(&mut s),
            vec![
                "ip:127.0.0.1".to_owned(),
                "x509:CN=client,O=Zooid".to_owned()
            ],
            "{key_store} {trust_store}"
        );
        assert!(refused(tls_connect(port, &ca, None)), "{key_store}");
        // The shell with the client's PKCS12 key store and a JKS trust store.
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("client.cfg");
        let lines = format!(
            "zookeeper.client.secure=true\n\
             zookeeper.ssl.keyStore.location={}\nzookeeper.ssl.keyStore.password=clientpass\n\
             zookeeper.ssl.trustStore.location={}\nzookeeper.ssl.trustStore.password=trustpass\n",
            store("client.p12"),
            store("trust.jks")
        );
        std::fs::write(&cfg, lines).unwrap();
        let r = shell(port, cfg.to_str().unwrap(), &["whoami"]);
        assert_eq!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
        assert!(r.out.contains("x509: CN=client,O=Zooid"), "{}", r.out);
    }
}

#[test]
fn a_wrong_store_password_stops_the_start() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cfg = format!(
        "secureClientPort={}\nsecureClientPortAddress=127.0.0.1\n\
         ssl.keyStore.location={}\nssl.keyStore.password=wrong\n\
         ssl.trustStore.location={}\nssl.trustStore.password=trustpass\n",
        free_port(),
        store("server.jks"),
        store("trust.p12")
    );
    let mut p = ZooidProcess::spawn(dir, free_port(), &cfg);
    let status = p.wait_exit(20).expect("exits");
    assert!(!status.success());
    let log = p.server_log();
    assert!(
        log.contains("ssl.keyStore.location: ")
            && log.contains("server.jks: the store's password is wrong"),
        "{log}"
    );
}

#[test]
fn connection_lists_are_per_port() {
    let pki = Pki::new();
    let admin = free_port();
    let (server, port) = start(
        &pki,
        &format!("admin.serverPort={admin}\nadmin.serverAddress=127.0.0.1\n"),
    );
    let mut tls = tls_connect(port, &pki.ca.pem, Some(&pki.client));
    let secure_session = handshake(&mut tls).unwrap().session_id;
    let mut plain = common::raw(&server);
    let plain_session = common::handshake(&mut plain).session_id;
    // The admin server lists each port's connections apart (Commands.ConsCommand).
    let reply = common::http(admin, "GET", "/commands/connections", "", b"").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let sessions = |key: &str| -> Vec<i64> {
        json[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {json}"))
            .iter()
            .map(|c| c["session_id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(sessions("connections"), [plain_session]);
    assert_eq!(sessions("secure_connections"), [secure_session]);
    // cons over each port lists that port's connections (and its own).
    let listed = |cons: &str| -> Vec<i64> {
        [plain_session, secure_session]
            .into_iter()
            .filter(|sid| cons.contains(&format!("sid=0x{sid:x}")))
            .collect()
    };
    let plain_cons = common::four_letter(server.port, "cons").unwrap();
    assert_eq!(listed(&plain_cons), [plain_session], "{plain_cons}");
    let secure_cons = tls_four_letter(port, &pki, "cons");
    assert_eq!(listed(&secure_cons), [secure_session], "{secure_cons}");
}

/// Output and exit code of one `zooid` run.
struct Run {
    out: String,
    err: String,
    code: i32,
}

fn zooid(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_zooid"))
        .args(args)
        .output()
        .expect("run zooid");
    Run {
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

impl Pki {
    /// Writes the client's PEM key store (key and chain in one file, as ZooKeeper's PEM
    /// loader reads it) and a client configuration file with `lines` after the secure
    /// switch; returns the configuration's path.
    fn client_config(&self, name: &str, lines: &str) -> String {
        let (cert, key) = &self.client;
        std::fs::write(self.path("client.pem"), format!("{key}{cert}")).unwrap();
        let path = self.path(name);
        std::fs::write(&path, format!("zookeeper.client.secure=true\n{lines}")).unwrap();
        path.display().to_string()
    }

    /// The trust store and key store lines of a working client configuration.
    fn client_stores(&self) -> String {
        format!(
            "zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n\
             zookeeper.ssl.keyStore.location={}\nzookeeper.ssl.trustStore.location={}\n",
            self.path("client.pem").display(),
            self.path("ca.pem").display()
        )
    }
}

/// `zooid shell -server 127.0.0.1:<port> -client-configuration <cfg> words...`.
fn shell(port: u16, cfg: &str, words: &[&str]) -> Run {
    let server = format!("127.0.0.1:{port}");
    let mut args = vec!["shell", "-server", &server, "-timeout", "5000"];
    args.extend(["-client-configuration", cfg]);
    args.extend_from_slice(words);
    zooid(&args)
}

#[test]
fn shell_over_tls_with_a_client_certificate() {
    let pki = Pki::new();
    let (_server, port) = start(&pki, "");
    let cfg = pki.client_config("client.cfg", &pki.client_stores());
    let r = shell(port, &cfg, &["create", "/x", "y"]);
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
    assert!(r.err.contains("Created /x"), "{}", r.err);
    let r = shell(port, &cfg, &["get", "/x"]);
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
    assert!(r.out.ends_with("\ny\n"), "{}", r.out);
    // The session carries the certificate's identity.
    let r = shell(port, &cfg, &["whoami"]);
    assert!(r.out.contains(&format!("x509: {CLIENT_DN}")), "{}", r.out);
    // The server's certificate names localhost too.
    let localhost = format!("localhost:{port}");
    let r = zooid(&[
        "shell",
        "-server",
        &localhost,
        "-client-configuration",
        &cfg,
        "get",
        "/x",
    ]);
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
}

#[test]
fn shell_over_tls_fails_clearly() {
    let pki = Pki::new();
    let (_server, port) = start(&pki, "");
    // No trust store: refused before connecting, as an unusable client configuration.
    let keys_only = format!(
        "zookeeper.ssl.keyStore.location={}\n",
        pki.path("client.pem").display()
    );
    let cfg = pki.client_config("no-trust.cfg", &keys_only);
    let r = shell(port, &cfg, &["get", "/"]);
    assert_eq!(r.code, 2, "stdout {} stderr {}", r.out, r.err);
    assert!(
        r.err.contains("zookeeper.ssl.trustStore.location"),
        "{}",
        r.err
    );
    // A PEM trust store typed JKS is refused with the key to change, as by the server.
    let jks = format!("{}zookeeper.ssl.trustStore.type=JKS\n", pki.client_stores());
    let r = shell(port, &pki.client_config("jks.cfg", &jks), &["get", "/"]);
    assert_eq!(r.code, 2, "stdout {} stderr {}", r.out, r.err);
    assert!(
        r.err.contains("zookeeper.ssl.trustStore.location"),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("neither a JKS nor a PKCS12 store"),
        "{}",
        r.err
    );
    // A CA that did not sign the server's certificate: the handshake fails, and the
    // command with it, as zkCli's does with ConnectionLoss.
    std::fs::write(pki.path("other-ca.pem"), Ca::new("Other CA").pem).unwrap();
    let untrusted = format!(
        "{keys_only}zookeeper.ssl.trustStore.location={}\n",
        pki.path("other-ca.pem").display()
    );
    let r = shell(
        port,
        &pki.client_config("untrusted.cfg", &untrusted),
        &["get", "/"],
    );
    assert_eq!(r.code, 1, "stdout {} stderr {}", r.out, r.err);
    assert!(r.err.contains("invalid peer certificate"), "{}", r.err);
    assert!(r.err.contains("ConnectionLoss"), "{}", r.err);
    // No client certificate for a server that needs one.
    let anonymous = format!(
        "zookeeper.ssl.trustStore.location={}\n",
        pki.path("ca.pem").display()
    );
    let r = shell(
        port,
        &pki.client_config("anon.cfg", &anonymous),
        &["get", "/"],
    );
    assert_eq!(r.code, 1, "stdout {} stderr {}", r.out, r.err);
    assert!(r.err.contains("refused by the server"), "{}", r.err);
    // Turning host name verification off is refused (see the shell's docs).
    let off = format!(
        "{}zookeeper.ssl.hostnameVerification=false\n",
        pki.client_stores()
    );
    let r = shell(port, &pki.client_config("off.cfg", &off), &["get", "/"]);
    assert_eq!(r.code, 2, "stdout {} stderr {}", r.out, r.err);
    assert!(r.err.contains("hostnameVerification"), "{}", r.err);
}

/// Runs `zooid bench --json` for one second with two sessions and `args`; returns its
/// JSON after checking the counts are consistent.
fn bench(port: u16, args: &[&str]) -> serde_json::Value {
    let server = format!("127.0.0.1:{port}");
    let mut all = vec!["bench", "--server", &server, "--json", "--seconds", "1"];
    all.extend(["--sessions", "2"]);
    all.extend_from_slice(args);
    let r = zooid(&all);
    assert_eq!(r.code, 0, "{args:?}: stdout {} stderr {}", r.out, r.err);
    assert_eq!(r.out.lines().count(), 1, "one JSON line: {}", r.out);
    let v: serde_json::Value = serde_json::from_str(r.out.trim()).expect("bench JSON");
    let ops = v["ops"].as_u64().expect("ops");
    assert!(ops > 0, "{v}");
    assert_eq!(v["requests"].as_u64(), Some(ops), "{v}");
    assert_eq!(v["errors"].as_u64(), Some(0), "{v}");
    assert_eq!(v["sessions"].as_u64(), Some(2), "{v}");
    v
}

/// numChildren of `path`, read over the plain port.
fn children(server: &ZooidProcess, path: &str) -> u64 {
    let mut plain = common::raw(server);
    common::handshake(&mut plain);
    let req = GetDataRequest {
        path: path.to_owned(),
        watch: false,
    };
    let (err, body) = call(&mut plain, 1, op::GET_DATA, &req.to_vec());
    assert_eq!(err, 0, "{path}");
    GetDataResponse::from_bytes(&body)
        .unwrap()
        .stat
        .num_children as u64
}

#[test]
fn bench_over_tls() {
    let pki = Pki::new();
    let (server, port) = start(&pki, "");
    let (cert, key) = &pki.client;
    std::fs::write(pki.path("client-cert.pem"), cert).unwrap();
    std::fs::write(pki.path("client-key.pem"), key).unwrap();
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client-cert.pem"),
        pki.path("client-key.pem"),
    );
    let flags = [
        "--tls",
        "--tls-ca",
        &ca.display().to_string(),
        "--tls-cert",
        &cert.display().to_string(),
        "--tls-key",
        &key.display().to_string(),
    ]
    .map(|s| s.to_owned());
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--workload", "create", "--keep"]);
    let v = bench(port, &args);
    // Every counted create is in the tree, next to the 1000 keys the setup made.
    let root = v["root"].as_str().unwrap();
    assert_eq!(
        children(&server, root),
        1000 + v["ops"].as_u64().unwrap(),
        "{v}"
    );
    assert_eq!(v["writes"], v["ops"], "{v}");
    // The shell's client configuration works for bench too, for reads and watches.
    let cfg = pki.client_config("client.cfg", &pki.client_stores());
    let v = bench(port, &["--client-configuration", &cfg, "--workload", "get"]);
    assert_eq!(v["writes"].as_u64(), Some(0), "{v}");
    let watch = ["--client-configuration", &cfg, "--workload", "watch"];
    let r = zooid(
        &[
            &["bench", "--server", &format!("127.0.0.1:{port}"), "--json"],
            &watch[..],
            &["--seconds", "1", "--watchers", "2"],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
    // Without a client certificate the server refuses the sessions: bench says so.
    let r = zooid(&[
        "bench",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--json",
        "--seconds",
        "1",
        "--tls",
        "--tls-ca",
        &ca.display().to_string(),
    ]);
    assert_ne!(r.code, 0, "stdout {} stderr {}", r.out, r.err);
    assert!(r.err.starts_with("zooid bench: "), "{}", r.err);
}
