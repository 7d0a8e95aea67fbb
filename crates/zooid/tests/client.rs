//! The `zookeeper-client` crate against a real `zooid` process.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::ZooidProcess;
use zookeeper_client as zk;

const OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
const EPHEMERAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
const SEQUENTIAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

async fn connect(server: &ZooidProcess) -> zk::Client {
    tokio::time::timeout(Duration::from_secs(10), zk::Client::connect(&server.addr()))
        .await
        .expect("connect within 10 s")
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_stat_and_versions() {
    let server = ZooidProcess::start("");
    let c = connect(&server).await;
    let (stat, _) = c.create("/a", b"hello", OPEN).await.unwrap();
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.version, 0);
    assert_eq!(stat.data_length, 5);
    let (data, got) = c.get_data("/a").await.unwrap();
    assert_eq!((data.as_slice(), got), (&b"hello"[..], stat));
    assert_eq!(
        c.create("/a", b"", OPEN).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        c.create("/x/y", b"", OPEN).await.unwrap_err(),
        zk::Error::NoNode
    );
    let s2 = c.set_data("/a", b"bye", Some(0)).await.unwrap();
    assert_eq!(s2.version, 1);
    assert!(s2.mzxid > stat.mzxid);
    assert_eq!(
        c.set_data("/a", b"x", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    c.create("/a/b", b"", OPEN).await.unwrap();
    assert_eq!(c.delete("/a", None).await.unwrap_err(), zk::Error::NotEmpty);
    let (children, parent) = c.get_children("/a").await.unwrap();
    assert_eq!(children, vec!["b".to_string()]);
    assert_eq!((parent.num_children, parent.cversion), (1, 1));
    c.delete("/a/b", Some(0)).await.unwrap();
    c.delete("/a", None).await.unwrap();
    assert_eq!(c.check_stat("/a").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_follow_parent_cversion() {
    let server = ZooidProcess::start("");
    let c = connect(&server).await;
    c.create("/q", b"", OPEN).await.unwrap();
    c.create("/q/other", b"", OPEN).await.unwrap();
    let (_, seq) = c.create("/q/n-", b"", SEQUENTIAL).await.unwrap();
    assert_eq!(seq.into_i64(), 1);
    let (children, _) = c.get_children("/q").await.unwrap();
    assert!(
        children.contains(&"n-0000000001".to_string()),
        "{children:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_and_ephemerals_across_sessions() {
    let server = ZooidProcess::start("");
    let a = connect(&server).await;
    let b = connect(&server).await;
    a.create("/w", b"", OPEN).await.unwrap();
    let (_, _, data_watch) = a.get_and_watch_data("/w").await.unwrap();
    let (_, _, child_watch) = a.get_and_watch_children("/w").await.unwrap();
    b.set_data("/w", b"1", None).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), data_watch.changed())
        .await
        .unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w")
    );
    b.create("/w/e", b"", EPHEMERAL).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), child_watch.changed())
        .await
        .unwrap();
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    let (_, gone) = a.check_and_watch_stat("/w/e").await.unwrap();
    assert_eq!(
        b.list_ephemerals("/").await.unwrap(),
        vec!["/w/e".to_string()]
    );
    drop(b);
    let ev = tokio::time::timeout(Duration::from_secs(10), gone.changed())
        .await
        .unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDeleted, "/w/e")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_is_all_or_nothing() {
    let server = ZooidProcess::start("");
    let c = connect(&server).await;
    let mut w = c.new_multi_writer();
    w.add_create("/m1", b"", OPEN).unwrap();
    w.add_check_version("/m1", 3).unwrap();
    w.add_create("/m2", b"", OPEN).unwrap();
    let err = w.commit().await.unwrap_err();
    assert_eq!(
        err,
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion
        }
    );
    assert_eq!(c.check_stat("/m1").await.unwrap(), None);
    let mut w = c.new_multi_writer();
    w.add_create("/m1", b"", OPEN).unwrap();
    w.add_set_data("/m1", b"z", None).unwrap();
    assert_eq!(w.commit().await.unwrap().len(), 2);
    let mut r = c.new_multi_reader();
    r.add_get_data("/m1").unwrap();
    r.add_get_data("/nope").unwrap();
    let res = r.commit().await.unwrap();
    assert!(matches!(&res[0], zk::MultiReadResult::Data { data, .. } if data == b"z"));
    assert!(matches!(
        &res[1],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_and_whoami() {
    let server = ZooidProcess::start("");
    let c = connect(&server).await;
    c.auth("digest", b"alice:secret").await.unwrap();
    let acl = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    c.create("/secret", b"s", &acl).await.unwrap();
    let other = connect(&server).await;
    assert_eq!(
        other.get_data("/secret").await.unwrap_err(),
        zk::Error::NoAuth
    );
    let users = c.list_auth_users().await.unwrap();
    let text = format!("{users:?}");
    // whoAmI shows a digest identity by its user name only, as ZooKeeper does.
    assert!(
        text.contains("digest") && text.contains("\"alice\"") && !text.contains("alice:"),
        "{text}"
    );
    assert_eq!(c.get_data("/secret").await.unwrap().0, b"s");
}
