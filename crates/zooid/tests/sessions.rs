//! Sessions over the raw protocol: resume with id and password, wrong password, expiry
//! deleting ephemerals; the container and TTL reaper.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{closed, raw, read_frame, send_frame, ZooidProcess};
use zooid_proto::opcode::op;
use zooid_proto::{
    ConnectRequest, ConnectResponse, CreateRequest, ExistsRequest, Reader, Record, ReplyHeader,
    RequestHeader,
};

fn connect(
    server: &ZooidProcess,
    session_id: i64,
    passwd: &[u8],
    timeout: i32,
) -> (std::net::TcpStream, ConnectResponse) {
    let mut s = raw(server);
    let req = ConnectRequest {
        time_out: timeout,
        session_id,
        passwd: passwd.to_vec().into(),
        ..Default::default()
    };
    send_frame(&mut s, &req.to_vec());
    let resp = ConnectResponse::from_bytes(&read_frame(&mut s).expect("connect response")).unwrap();
    (s, resp)
}

fn call<R: Record>(
    s: &mut std::net::TcpStream,
    xid: i32,
    opcode: i32,
    body: &R,
) -> (ReplyHeader, Vec<u8>) {
    let mut req = RequestHeader { xid, op: opcode }.to_vec();
    body.encode(&mut req);
    send_frame(s, &req);
    loop {
        let f = read_frame(s).expect("reply");
        let mut r = Reader::new(&f);
        let h = ReplyHeader::decode(&mut r).unwrap();
        if h.xid == xid {
            return (h, r.rest().to_vec());
        }
    }
}

fn create(s: &mut std::net::TcpStream, xid: i32, opcode: i32, path: &str, flags: i32) -> i32 {
    let req = CreateRequest {
        path: path.into(),
        data: Default::default(),
        acl: zooid_proto::open_acl_unsafe(),
        flags,
    };
    call(s, xid, opcode, &req).0.err
}

fn exists(s: &mut std::net::TcpStream, xid: i32, path: &str) -> i32 {
    call(
        s,
        xid,
        op::EXISTS,
        &ExistsRequest {
            path: path.into(),
            watch: false,
        },
    )
    .0
    .err
}

/// Polls `f` until true or the deadline.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn resume_with_password_and_refuse_a_wrong_one() {
    let server = ZooidProcess::start("");
    let (mut a, resp) = connect(&server, 0, &[0; 16], 30000);
    assert_eq!(
        resp.session_id >> 56,
        1,
        "standalone session ids carry server id 1"
    );
    assert_eq!(create(&mut a, 1, op::CREATE, "/eph", 1), 0);
    drop(a);
    let (mut b, again) = connect(&server, resp.session_id, &resp.passwd, 30000);
    assert_eq!(
        (again.session_id, again.time_out),
        (resp.session_id, resp.time_out)
    );
    assert_eq!(
        exists(&mut b, 1, "/eph"),
        0,
        "ephemeral survives a reconnect"
    );
    let mut wrong = resp.passwd.to_vec();
    wrong[0] ^= 1;
    let (mut c, refused) = connect(&server, resp.session_id, &wrong, 30000);
    assert_eq!((refused.session_id, refused.time_out), (0, 0));
    assert!(closed(&mut c));
}

#[test]
fn timeouts_are_clamped_and_expiry_deletes_ephemerals() {
    let server = ZooidProcess::start("minSessionTimeout=500\nmaxSessionTimeout=60000");
    let (_s, resp) = connect(&server, 0, &[0; 16], 1);
    assert_eq!(resp.time_out, 500);
    let (_t, resp) = connect(&server, 0, &[0; 16], 10_000_000);
    assert_eq!(resp.time_out, 60000);
    let (mut short, resp) = connect(&server, 0, &[0; 16], 500);
    assert_eq!(create(&mut short, 1, op::CREATE, "/gone", 1), 0);
    let (mut watcher, _) = connect(&server, 0, &[0; 16], 30000);
    // The short session stops pinging; its ephemeral goes within a few ticks.
    assert!(eventually(15, || exists(&mut watcher, 7, "/gone") == -101));
    let (_, expired) = connect(&server, resp.session_id, &resp.passwd, 500);
    assert_eq!(expired.session_id, 0);
}

#[test]
fn containers_and_ttl_nodes_are_reaped() {
    let server =
        ZooidProcess::start("extendedTypesEnabled=true\nznode.container.checkIntervalMs=100");
    let (mut s, _) = connect(&server, 0, &[0; 16], 30000);
    assert_eq!(create(&mut s, 1, op::CREATE_CONTAINER, "/box", 4), 0);
    assert_eq!(create(&mut s, 2, op::CREATE, "/box/item", 0), 0);
    // A container that never had a child is kept; one whose last child left goes.
    assert_eq!(create(&mut s, 3, op::CREATE_CONTAINER, "/never", 4), 0);
    let del = zooid_proto::DeleteRequest {
        path: "/box/item".into(),
        version: -1,
    };
    assert_eq!(call(&mut s, 4, op::DELETE, &del).0.err, 0);
    assert!(eventually(10, || exists(&mut s, 5, "/box") == -101));
    assert_eq!(exists(&mut s, 6, "/never"), 0);
    let ttl = zooid_proto::CreateTtlRequest {
        path: "/ttl".into(),
        data: Default::default(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 5,
        ttl: 200,
    };
    assert_eq!(call(&mut s, 7, op::CREATE_TTL, &ttl).0.err, 0);
    assert!(eventually(10, || exists(&mut s, 8, "/ttl") == -101));
}

#[test]
fn ttl_needs_extended_types() {
    let server = ZooidProcess::start("");
    let (mut s, _) = connect(&server, 0, &[0; 16], 30000);
    let ttl = zooid_proto::CreateTtlRequest {
        path: "/ttl".into(),
        data: Default::default(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 5,
        ttl: 200,
    };
    assert_eq!(call(&mut s, 1, op::CREATE_TTL, &ttl).0.err, -6);
}
