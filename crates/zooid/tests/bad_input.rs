//! Bad input on the client port: every case gets a clear error or a closed connection,
//! and the server keeps serving other clients afterwards.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{closed, four_letter, handshake, raw, read_frame, send_frame, ZooidProcess};
use zooid_proto::{ConnectRequest, Record, ReplyHeader, RequestHeader};

fn still_serves(server: &ZooidProcess) {
    assert_eq!(four_letter(server.port, "ruok").as_deref(), Some("imok"));
    let mut s = raw(server);
    let resp = handshake(&mut s);
    assert_ne!(resp.session_id, 0);
}

#[test]
fn oversize_negative_and_http_lengths_close_the_connection() {
    let server = ZooidProcess::start("jute.maxbuffer=4096");
    for first in [
        0x7fff_ffffu32.to_be_bytes().to_vec(),
        (-5i32).to_be_bytes().to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        5000i32.to_be_bytes().to_vec(),
    ] {
        let mut s = raw(&server);
        s.write_all(&first).unwrap();
        assert!(closed(&mut s), "{first:?}");
    }
    still_serves(&server);
}

#[test]
fn garbage_and_truncated_frames_close_the_connection() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    s.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap();
    assert!(closed(&mut s));
    let mut s = raw(&server);
    s.write_all(&[0, 0, 0, 100, 1, 2]).unwrap();
    drop(s);
    still_serves(&server);
}

#[test]
fn unknown_opcode_gets_unimplemented_then_close() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    handshake(&mut s);
    send_frame(&mut s, &RequestHeader { xid: 1, op: 999 }.to_vec());
    let reply = read_frame(&mut s).expect("reply");
    let hdr = ReplyHeader::decode(&mut zooid_proto::Reader::new(&reply)).unwrap();
    assert_eq!((hdr.xid, hdr.err), (1, -6));
    assert!(closed(&mut s));
    still_serves(&server);
}

#[test]
fn malformed_body_gets_marshalling_error_and_connection_stays() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    handshake(&mut s);
    let mut req = RequestHeader { xid: 7, op: 4 }.to_vec();
    req.extend_from_slice(&[0, 0, 0, 50, b'/']);
    send_frame(&mut s, &req);
    let reply = read_frame(&mut s).expect("reply");
    let hdr = ReplyHeader::decode(&mut zooid_proto::Reader::new(&reply)).unwrap();
    assert_eq!((hdr.xid, hdr.err), (7, -5));
    // The connection still answers a ping.
    send_frame(&mut s, &RequestHeader { xid: -2, op: 11 }.to_vec());
    let reply = read_frame(&mut s).expect("ping reply");
    let hdr = ReplyHeader::decode(&mut zooid_proto::Reader::new(&reply)).unwrap();
    assert_eq!((hdr.xid, hdr.err), (-2, 0));
}

#[test]
fn connections_past_max_client_cnxns_are_refused() {
    let server = ZooidProcess::start("maxClientCnxns=3");
    // The readiness probe's own connections may still hold a slot for a moment:
    // retry until three sessions are up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut held: Vec<TcpStream> = Vec::new();
    while held.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "could not open 3 sessions"
        );
        let mut s = raw(&server);
        let req = ConnectRequest {
            time_out: 30000,
            passwd: vec![0u8; 16].into(),
            ..Default::default()
        };
        send_frame(&mut s, &req.to_vec());
        if read_frame(&mut s).is_some() {
            held.push(s);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut extra = raw(&server);
    let _ = extra.write_all(&[0, 0, 0, 1]);
    assert!(closed(&mut extra));
    drop(held);
    // Slots free up once the connections are gone (poll with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = raw(&server);
        let req = ConnectRequest {
            time_out: 30000,
            passwd: vec![0u8; 16].into(),
            ..Default::default()
        };
        send_frame(&mut s, &req.to_vec());
        if read_frame(&mut s).is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_never_reads_does_not_stall_others() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    handshake(&mut s);
    // Pipeline many getData requests for "/" and never read a reply.
    let mut req = RequestHeader { xid: 1, op: 4 }.to_vec();
    req.extend_from_slice(&[0, 0, 0, 1, b'/', 0]);
    let mut batch = Vec::new();
    for _ in 0..2000 {
        batch.extend_from_slice(&(req.len() as i32).to_be_bytes());
        batch.extend_from_slice(&req);
    }
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..50 {
        if s.write_all(&batch).is_err() {
            break;
        }
    }
    still_serves(&server);
}
