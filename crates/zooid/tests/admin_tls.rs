//! The AdminServer over HTTPS, as ZooKeeper 3.9's `JettyAdminServer` serves it:
//! `admin.forceHttps` (TLS only), `admin.portUnification` (HTTP and HTTPS on one port),
//! `admin.needClientAuth`, the `ssl.quorum.*` stores, and `Authorization: x509` for
//! `snapshot` (the certificate's subject against the ACL of `/`, the x509 super user).
//! Certificates are made here with rcgen; the client is rustls over a blocking socket.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::pki::{self, Ca, Identity};
use common::{free_port, runtime, HttpReply, ZooidProcess};
use rcgen::{CertificateParams, DistinguishedName, DnType};
use zookeeper_client::{Acl, AuthId, Permission};

/// The subjects of the client certificates, as Java's `X500Principal.getName()`.
const ADMIN_DN: &str = "CN=admin,O=Zooid Test";
const ROOT_DN: &str = "CN=root,O=Zooid Test";

/// A CA, the server's key store and three client identities signed by the CA, plus
/// one signed by a CA nobody trusts.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    admin: Identity,
    other: Identity,
    root: Identity,
    stranger: Identity,
}

/// A client certificate for `CN=<cn>,O=Zooid Test`.
fn client(ca: &Ca, cn: &str) -> Identity {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "Zooid Test");
    p.distinguished_name.push(DnType::CommonName, cn);
    ca.sign(p)
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("Zooid Admin Test CA");
        let server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let server = ca.sign(server);
        std::fs::write(dir.path().join("server.pem"), pki::key_store_pem(&server)).unwrap();
        let ca_pem = ca.pem.clone();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        Pki {
            admin: client(&ca, "admin"),
            other: client(&ca, "other"),
            root: client(&ca, "root"),
            stranger: client(&Ca::new("Some Other CA"), "admin"),
            dir,
            ca_pem,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// zoo.cfg lines: the admin port on 127.0.0.1:`port` with the `ssl.quorum.*`
    /// stores, and `extra`.
    fn cfg(&self, port: u16, extra: &str) -> String {
        format!(
            "admin.serverAddress=127.0.0.1\nadmin.serverPort={port}\n\
             zookeeper.admin.rateLimiterIntervalInMS=0\n\
             ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n{extra}",
            self.path("server.pem").display(),
            self.path("ca.pem").display()
        )
    }

    /// The client port's trust store, which the x509 provider checks chains against.
    fn client_trust(&self) -> String {
        format!(
            "ssl.trustStore.location={}\n",
            self.path("ca.pem").display()
        )
    }
}

/// Registers ZooKeeper's x509 provider without a secure client port.
const X509_PROVIDER: &str =
    "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n";

impl Pki {}

/// A TLS connection to the admin port (not yet shaken hands), presenting `identity` if
/// the server asks for a certificate.
fn tls_stream(port: u16, pki: &Pki, identity: Option<&Identity>) -> pki::TlsClient {
    pki::tls_client(port, &pki.ca_pem, identity, Duration::from_secs(10))
}

/// One HTTPS GET on the admin port, presenting `identity` if asked; None when the
/// server answers nothing (handshake refused, connection cut).
fn https(
    port: u16,
    pki: &Pki,
    identity: Option<&Identity>,
    path: &str,
    auth: Option<&str>,
) -> Option<HttpReply> {
    let headers = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let s = tls_stream(port, pki, identity);
    common::http_exchange(s, "GET", path, &headers, b"")
}

fn http(port: u16, path: &str, auth: Option<&str>) -> Option<HttpReply> {
    let headers = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    common::http(port, "GET", path, &headers, b"")
}

/// The `error` field of a JSON answer.
fn error(r: &HttpReply) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON answer");
    v["error"].clone()
}

fn start(pki: &Pki, extra: &str) -> (ZooidProcess, u16) {
    let admin = free_port();
    (ZooidProcess::start(&pki.cfg(admin, extra)), admin)
}

const RUOK: &str = "/commands/ruok";
const SNAPSHOT: &str = "/commands/snapshot?streaming=false";
const STS: &str = "max-age=86400; includeSubDomains";

#[test]
fn force_https_serves_tls_only() {
    let pki = Pki::new();
    let (_zk, port) = start(&pki, "admin.forceHttps=true\n");
    // Plain HTTP gets no answer: its first bytes are not a TLS handshake.
    assert!(http(port, RUOK, None).is_none());
    let r = https(port, &pki, None, RUOK, None).expect("an HTTPS answer");
    assert_eq!(r.status, 200);
    assert_eq!(error(&r), serde_json::Value::Null);
    assert_eq!(r.header("Strict-Transport-Security"), Some(STS));
    // A client certificate is not asked for (needClientAuth is off): one offered is
    // not sent, so x509 proves nothing.
    let r = https(port, &pki, Some(&pki.admin), SNAPSHOT, Some("x509")).unwrap();
    assert_eq!((r.status, error(&r)), (401, "Not authenticated".into()));
    // Other schemes work as over HTTP.
    let r = https(port, &pki, None, SNAPSHOT, Some("ip")).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn port_unification_serves_http_and_https_on_one_port() {
    let pki = Pki::new();
    let (_zk, port) = start(&pki, "admin.portUnification=true\n");
    let plain = http(port, RUOK, None).expect("an HTTP answer");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("Strict-Transport-Security"), None);
    let secure = https(port, &pki, None, RUOK, None).expect("an HTTPS answer");
    assert_eq!(secure.status, 200);
    assert_eq!(secure.header("Strict-Transport-Security"), Some(STS));
    assert_eq!(plain.body, secure.body);
    // ZooKeeper counts the plain connections of a unified port.
    let monitor = https(port, &pki, None, "/commands/monitor", None).unwrap();
    let monitor: serde_json::Value = serde_json::from_slice(&monitor.body).unwrap();
    assert_eq!(monitor["insecure_admin_count"], 1);
    // The command list too, and the 404 of an unknown path.
    let links = https(port, &pki, None, "/commands", None).unwrap();
    assert!(links.text().contains("<a href=\"/commands/ruok\">ruok</a>"));
    assert_eq!(
        https(port, &pki, None, "/nothing", None).unwrap().status,
        404
    );
    // forceHttps wins over portUnification.
    let (_zk2, port2) = start(&pki, "admin.portUnification=true\nadmin.forceHttps=true\n");
    assert!(http(port2, RUOK, None).is_none());
    assert_eq!(https(port2, &pki, None, RUOK, None).unwrap().status, 200);
}

#[test]
fn need_client_auth_refuses_clients_without_a_trusted_certificate() {
    let pki = Pki::new();
    let need = "admin.forceHttps=true\nadmin.needClientAuth=true\n";
    let (_zk, port) = start(&pki, &format!("{need}{X509_PROVIDER}"));
    assert!(https(port, &pki, None, RUOK, None).is_none());
    assert!(https(port, &pki, Some(&pki.stranger), RUOK, None).is_none());
    let r = https(port, &pki, Some(&pki.admin), RUOK, None).expect("an answer");
    assert_eq!(r.status, 200);
    // Without the client port's trust store the x509 provider has no trust manager:
    // even a certificate the admin port accepted proves nothing (as in ZooKeeper).
    let r = https(port, &pki, Some(&pki.admin), SNAPSHOT, Some("x509")).unwrap();
    assert_eq!((r.status, error(&r)), (401, "Not authenticated".into()));
    // With the trust store but no x509 provider registered (no secure client port, no
    // authProvider key), neither.
    let (_zk2, port2) = start(&pki, &format!("{need}{}", pki.client_trust()));
    let r = https(port2, &pki, Some(&pki.admin), SNAPSHOT, Some("x509")).unwrap();
    assert_eq!((r.status, error(&r)), (401, "Not authenticated".into()));
    let r = https(port2, &pki, Some(&pki.admin), SNAPSHOT, Some("ip")).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn x509_auth_checks_the_subject_against_the_root_acl() {
    let pki = Pki::new();
    let extra = format!(
        "admin.portUnification=true\nadmin.needClientAuth=true\n{}{X509_PROVIDER}\
         X509AuthenticationProvider.superUser={ROOT_DN}\n",
        pki.client_trust()
    );
    let (zk, port) = start(&pki, &extra);
    // An open root: any certificate the provider trusts passes.
    let r = https(port, &pki, Some(&pki.other), SNAPSHOT, Some("x509")).unwrap();
    assert_eq!((r.status, error(&r)), (200, serde_json::Value::Null));
    // Over plain HTTP (port unification) there is no certificate: 401.
    let r = http(port, SNAPSHOT, Some("x509")).unwrap();
    assert_eq!((r.status, error(&r)), (401, "Not authenticated".into()));
    // Root restricted to the admin's subject.
    runtime(1).block_on(async {
        let c = common::connect(&zk.addr()).await;
        let acl = [Acl::new(Permission::ALL, AuthId::new("x509", ADMIN_DN))];
        c.set_acl("/", &acl, None).await.unwrap();
    });
    for (who, id, status) in [
        ("admin", &pki.admin, 200),
        ("other", &pki.other, 403),
        ("super user", &pki.root, 200),
    ] {
        let r = https(port, &pki, Some(id), SNAPSHOT, Some("x509")).unwrap();
        assert_eq!(r.status, status, "{who}: {}", r.text());
        if status == 403 {
            assert_eq!(error(&r), "Not authorized");
        }
        // The auth text after the scheme is ignored, as ZooKeeper's provider does.
        let r = https(port, &pki, Some(id), SNAPSHOT, Some("x509 anything")).unwrap();
        assert_eq!(r.status, status, "{who} with auth text");
    }
    // The snapshot itself streams over TLS.
    let full = "/commands/snapshot";
    let r = https(port, &pki, Some(&pki.admin), full, Some("x509")).unwrap();
    assert_eq!(r.status, 200);
    let size: usize = r.header("snapshot_size").unwrap().parse().unwrap();
    assert_eq!(r.body.len(), size);
    // Other schemes do not match an x509 ACL.
    let r = https(port, &pki, Some(&pki.admin), SNAPSHOT, Some("ip")).unwrap();
    assert_eq!(r.status, 403);
    // `restore` (a POST) is authorized the same way, before its body is looked at.
    let restore = |id| {
        let s = tls_stream(port, &pki, Some(id));
        let auth = "Authorization: x509\r\n";
        common::http_exchange(s, "POST", "/commands/restore", auth, b"not a snapshot").unwrap()
    };
    let r = restore(&pki.other);
    assert_eq!((r.status, error(&r)), (403, "Not authorized".into()));
    let r = restore(&pki.admin);
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(error(&r)
        .as_str()
        .unwrap()
        .starts_with("not a valid snapshot"));
}

#[test]
fn unusable_stores_stop_the_start() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("zoo.cfg");
    let jks = format!(
        "tickTime=2000\ndataDir={}\nclientPort={}\nadmin.serverPort={}\n\
         admin.forceHttps=true\nssl.quorum.keyStore.location={}\n\
         ssl.quorum.keyStore.password=wrong\nssl.quorum.trustStore.location={}\n",
        dir.path().join("data").display(),
        free_port(),
        free_port(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../zooid-server/src/tls/testdata/server.jks"
        ),
        pki.path("ca.pem").display()
    );
    std::fs::write(&cfg, jks).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zooid"))
        .arg("server")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ssl.quorum.keyStore.location: ")
            && text.contains("server.jks: the store's password is wrong"),
        "{text}"
    );
}
