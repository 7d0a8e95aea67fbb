//! Golden outputs of the four letter words. The expected texts are ZooKeeper's layouts,
//! checked against a running ZooKeeper 3.8 with the same state.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use bytes::Bytes;
use zooid_proto::opcode::op;
use zooid_proto::request::Request;
use zooid_proto::CreateRequest;
use zooid_tree::acl::AclPolicy;
use zooid_tree::prep::{Prep, PrepCtx};

use super::host::*;
use super::*;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn summary() -> ServerSummary {
    ServerSummary {
        version: "3.9.5-zooid-0.1.0, built on 2026-11-26 04:16 UTC".into(),
        latency: LatencyTotals {
            min_ms: 0,
            max_ms: 9,
            total_ms: 32,
            count: 13,
        },
        received: 16,
        sent: 17,
        connections: 3,
        outstanding: 0,
        zxid: 7,
        mode: MODE_STANDALONE,
        node_count: 9,
    }
}

fn session_conn() -> ConnInfo {
    ConnInfo {
        remote: v4(41184),
        interest_ops: 1,
        queued: 0,
        received: 10,
        sent: 11,
        session: Some(ConnSession {
            id: 0x100000f1d200000,
            last_op: "GETD",
            established_ms: 1795666755129,
            timeout_ms: 10000,
            last_cxid: 9,
            last_zxid: 5,
            last_response_ms: 1795666755300,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 2,
            max_latency_ms: 9,
        }),
    }
}

fn own_conn() -> ConnInfo {
    ConnInfo {
        remote: v4(41200),
        interest_ops: 0,
        queued: 0,
        received: 1,
        sent: 0,
        session: None,
    }
}

#[test]
fn srvr_layout() {
    assert_eq!(
        render_stat(&summary(), None),
        "Zookeeper version: 3.9.5-zooid-0.1.0, built on 2026-11-26 04:16 UTC\n\
         Latency min/avg/max: 0/2.4615/9\n\
         Received: 16\n\
         Sent: 17\n\
         Connections: 3\n\
         Outstanding: 0\n\
         Zxid: 0x7\n\
         Mode: standalone\n\
         Node count: 9\n"
    );
}

#[test]
fn stat_lists_clients_briefly() {
    let clients = [session_conn(), own_conn()];
    assert_eq!(
        render_stat(&summary(), Some(&clients)),
        "Zookeeper version: 3.9.5-zooid-0.1.0, built on 2026-11-26 04:16 UTC\n\
         Clients:\n \
         /127.0.0.1:41184[1](queued=0,recved=10,sent=11)\n \
         /127.0.0.1:41200[0](queued=0,recved=1,sent=0)\n\
         \n\
         Latency min/avg/max: 0/2.4615/9\n\
         Received: 16\n\
         Sent: 17\n\
         Connections: 3\n\
         Outstanding: 0\n\
         Zxid: 0x7\n\
         Mode: standalone\n\
         Node count: 9\n"
    );
}

#[test]
fn cons_layout() {
    let mut reset = session_conn();
    let s = reset.session.as_mut().unwrap();
    (s.last_op, s.last_cxid, s.last_zxid, s.last_response_ms) = ("NA", -1, -1, 0);
    (s.avg_latency_ms, s.max_latency_ms) = (0, 0);
    reset.interest_ops = 5;
    assert_eq!(
        render_cons(&[session_conn(), own_conn(), reset]),
        " /127.0.0.1:41184[1](queued=0,recved=10,sent=11,sid=0x100000f1d200000,lop=GETD,\
         est=1795666755129,to=10000,lcxid=0x9,lzxid=0x5,lresp=1795666755300,llat=0,\
         minlat=0,avglat=2,maxlat=9)\n \
         /127.0.0.1:41200[0](queued=0,recved=1,sent=0)\n \
         /127.0.0.1:41184[5](queued=0,recved=10,sent=11,sid=0x100000f1d200000,lop=NA,\
         est=1795666755129,to=10000,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,\
         avglat=0,maxlat=0)\n\n"
    );
}

fn monitor() -> Monitor {
    Monitor {
        summary: summary(),
        uptime_ms: 206501,
        watch_count: 4,
        ephemerals_count: 3,
        approximate_data_size: 66,
        global_sessions: 2,
        auth_failed: 0,
        open_fds: 268,
        max_fds: 20000,
        response_size: (22, 16, 93),
        quotas: QuotaGauges::default(),
        metrics: Vec::new(),
        ensemble: None,
    }
}

/// The keys and their order as ZooKeeper 3.8/3.9's mntr prints them before its
/// `ServerMetrics` section.
const ZOOKEEPER_MNTR_KEYS: [&str; 26] = [
    "zk_version",
    "zk_server_state",
    "zk_ephemerals_count",
    "zk_num_alive_connections",
    "zk_avg_latency",
    "zk_outstanding_requests",
    "zk_znode_count",
    "zk_global_sessions",
    "zk_non_mtls_remote_conn_count",
    "zk_last_client_response_size",
    "zk_packets_sent",
    "zk_packets_received",
    "zk_max_client_response_size",
    "zk_connection_drop_probability",
    "zk_watch_count",
    "zk_auth_failed_count",
    "zk_min_latency",
    "zk_max_file_descriptor_count",
    "zk_approximate_data_size",
    "zk_open_file_descriptor_count",
    "zk_local_sessions",
    "zk_uptime",
    "zk_max_latency",
    "zk_outstanding_tls_handshake",
    "zk_min_client_response_size",
    "zk_non_mtls_local_conn_count",
];

#[test]
fn mntr_keys_and_order_are_zookeepers() {
    let text = render_mntr(&mntr_lines(&monitor()));
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split_once('\t').expect("tab separated").0)
        .collect();
    assert_eq!(keys, ZOOKEEPER_MNTR_KEYS);
    assert!(text.ends_with('\n'));
}

#[test]
fn mntr_values() {
    assert_eq!(
        render_mntr(&mntr_lines(&monitor())),
        "zk_version\t3.9.5-zooid-0.1.0, built on 2026-11-26 04:16 UTC\n\
         zk_server_state\tstandalone\n\
         zk_ephemerals_count\t3\n\
         zk_num_alive_connections\t3\n\
         zk_avg_latency\t2.4615\n\
         zk_outstanding_requests\t0\n\
         zk_znode_count\t9\n\
         zk_global_sessions\t2\n\
         zk_non_mtls_remote_conn_count\t0\n\
         zk_last_client_response_size\t22\n\
         zk_packets_sent\t17\n\
         zk_packets_received\t16\n\
         zk_max_client_response_size\t93\n\
         zk_connection_drop_probability\t0.0\n\
         zk_watch_count\t4\n\
         zk_auth_failed_count\t0\n\
         zk_min_latency\t0\n\
         zk_max_file_descriptor_count\t20000\n\
         zk_approximate_data_size\t66\n\
         zk_open_file_descriptor_count\t268\n\
         zk_local_sessions\t0\n\
         zk_uptime\t206501\n\
         zk_max_latency\t9\n\
         zk_outstanding_tls_handshake\t0\n\
         zk_min_client_response_size\t16\n\
         zk_non_mtls_local_conn_count\t0\n"
    );
}

#[test]
fn mntr_quota_sets_follow_the_gauges() {
    let mut m = monitor();
    let set = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    m.quotas = QuotaGauges {
        count_limit: set(&[("app", 3), ("b", 10)]),
        bytes_limit: set(&[("app", 20), ("b", -1)]),
        count_usage: set(&[("app", 2), ("b", 1)]),
        bytes_usage: set(&[("app", 7), ("b", 0)]),
    };
    let lines = mntr_lines(&m);
    let tail: Vec<String> = lines[26..]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        tail,
        [
            "app_quota_bytes_limit_per_namespace=20",
            "b_quota_bytes_limit_per_namespace=-1",
            "app_quota_count_usage_per_namespace=2",
            "b_quota_count_usage_per_namespace=1",
            "app_quota_count_limit_per_namespace=3",
            "b_quota_count_limit_per_namespace=10",
            "app_quota_bytes_usage_per_namespace=7",
            "b_quota_bytes_usage_per_namespace=0",
        ]
    );
}

#[test]
fn quota_gauges_read_limits_and_usage() {
    let mut tree = DataTree::new(false);
    let mut prep = Prep::new();
    let policy = AclPolicy::default();
    let nodes = [
        ("/app", "12345"),
        ("/app/a", "xy"),
        ("/zookeeper/quota/app", ""),
        (
            "/zookeeper/quota/app/zookeeper_limits",
            "count=-1,bytes=-1=;byteHardLimit=20;countHardLimit=3",
        ),
        ("/zookeeper/quota/app/zookeeper_stats", "count=0,bytes=0"),
        ("/app/b", "abc"),
    ];
    for (zxid, (path, data)) in (1..).zip(nodes) {
        let ctx = PrepCtx {
            session_id: 1,
            cxid: 0,
            zxid,
            time: 0,
            auth: &[],
            policy: &policy,
            extended_types: false,
            enforce_quota: true,
            digest: true,
        };
        let req = Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: path.into(),
                data: Bytes::copy_from_slice(data.as_bytes()),
                acl: zooid_proto::open_acl_unsafe(),
                flags: 0,
            },
        };
        let txn = prep.prep(&tree, &ctx, &req);
        assert_eq!(tree.apply(&txn, &mut Vec::new()).err, 0, "{path}");
        prep.applied(zxid);
    }
    let one = |v: i64| BTreeMap::from([("app".to_owned(), v)]);
    assert_eq!(
        quota_gauges(&tree),
        QuotaGauges {
            count_limit: one(3),
            bytes_limit: one(20),
            count_usage: one(3),
            bytes_usage: one(10),
        }
    );
}

#[test]
fn watch_reports() {
    let summary = WatchSummary {
        num_connections: 2,
        num_paths: 2,
        total_watches: 3,
    };
    assert_eq!(
        render_wchs(summary),
        "2 connections watching 2 paths\nTotal watches:3\n"
    );
    let by_session = [
        (0x100000f1d200000, vec!["/a".to_owned(), "/nope".to_owned()]),
        (0x100000f1d200001, vec!["/a".to_owned()]),
    ];
    assert_eq!(
        render_wchc(&by_session),
        "0x100000f1d200000\n\t/a\n\t/nope\n0x100000f1d200001\n\t/a\n\n"
    );
    let by_path = [
        ("/a".to_owned(), vec![0x100000f1d200000, 0x100000f1d200001]),
        ("/nope".to_owned(), vec![0x100000f1d200000]),
    ];
    assert_eq!(
        render_wchp(&by_path),
        "/a\n\t0x100000f1d200000\n\t0x100000f1d200001\n/nope\n\t0x100000f1d200000\n\n"
    );
    assert_eq!(
        render_wchs(WatchSummary::default()),
        "0 connections watching 0 paths\nTotal watches:0\n"
    );
    assert_eq!(render_wchc(&[]), "\n");
    assert_eq!(render_wchp(&[]), "\n");
}

#[test]
fn dump_layout() {
    let d = Dump {
        expiry: vec![
            (1795666766000, vec![0x100000f1d200000, 0x100000f1d200001]),
            (1795666768000, vec![0x100000f1d200002]),
        ],
        session_count: 3,
        ephemerals: vec![
            (0x100000f1d200000, vec!["/a/e1".into(), "/a/e2".into()]),
            (0x100000f1d200001, vec!["/b".into()]),
        ],
        connections: vec![
            (1795666760000, vec![]),
            (
                1795666770000,
                vec![
                    CnxnId {
                        remote: v4(41036),
                        session: 0x100000f1d200001,
                    },
                    CnxnId {
                        remote: v4(58030),
                        session: 0,
                    },
                ],
            ),
        ],
    };
    assert_eq!(
        render_dump(&d),
        "SessionTracker dump:\n\
         Session Sets (2)/(3):\n\
         2 expire at Thu Nov 26 04:19:26 UTC 2026:\n\
         \t0x100000f1d200000\n\
         \t0x100000f1d200001\n\
         1 expire at Thu Nov 26 04:19:28 UTC 2026:\n\
         \t0x100000f1d200002\n\
         ephemeral nodes dump:\n\
         Sessions with Ephemerals (2):\n\
         0x100000f1d200000:\n\
         \t/a/e1\n\
         \t/a/e2\n\
         0x100000f1d200001:\n\
         \t/b\n\
         Connections dump:\n\
         Connections Sets (2)/(2):\n\
         0 expire at Thu Nov 26 04:19:20 UTC 2026:\n\
         2 expire at Thu Nov 26 04:19:30 UTC 2026:\n\
         \tip: /127.0.0.1:41036 sessionId: 0x100000f1d200001\n\
         \tip: /127.0.0.1:58030 sessionId: 0x0\n"
    );
    assert_eq!(
        render_dump(&Dump::default()),
        "SessionTracker dump:\nSession Sets (0)/(0):\nephemeral nodes dump:\n\
         Sessions with Ephemerals (0):\nConnections dump:\nConnections Sets (0)/(0):\n"
    );
}

#[test]
fn expiry_ticks_round_up_past_the_deadline() {
    assert_eq!(expiry_tick(0, 1000), 1000);
    assert_eq!(expiry_tick(999, 1000), 1000);
    // Expired means strictly past the deadline, so a deadline on a tick waits one more.
    assert_eq!(expiry_tick(1000, 1000), 2000);
    assert_eq!(reaper_interval_ms(2000), 1000);
    assert_eq!(reaper_interval_ms(5), 10);
}

#[test]
fn dirs_envi_hash_layouts() {
    assert_eq!(
        render_dirs(67109337, 457),
        "datadir_size: 67109337\nlogdir_size: 457\n"
    );
    let env = [
        ("zookeeper.version", "v".to_owned()),
        ("java.version", "<NA>".to_owned()),
    ];
    assert_eq!(
        render_envi(&env),
        "Environment:\nzookeeper.version=v\njava.version=<NA>\n"
    );
    assert_eq!(render_hash(&[]), "");
    assert_eq!(render_hash(&[(0x80, -5), (0x100, 77)]), "80: -5\n100: 77\n");
}

#[test]
fn environment_has_zookeepers_keys_in_order() {
    let keys: Vec<&str> = host::environment("v").iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "zookeeper.version",
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total",
        ]
    );
}

#[test]
fn java_doubles() {
    let cases = [
        (0.0, "0.0"),
        (3.0, "3.0"),
        (2.4615, "2.4615"),
        (0.001, "0.001"),
        (5e-4, "5.0E-4"),
        (1e-4, "1.0E-4"),
        (1.25e-4, "1.25E-4"),
        (1e7, "1.0E7"),
        (12345678.5, "1.23456785E7"),
        (9999999.0, "9999999.0"),
    ];
    for (x, want) in cases {
        assert_eq!(java_double(x), want, "{x}");
    }
}

#[test]
fn average_latency_rounds_half_up_to_four_places() {
    let avg = |total_ms, count| {
        java_double(avg_latency(&LatencyTotals {
            min_ms: 0,
            max_ms: 0,
            total_ms,
            count,
        }))
    };
    assert_eq!(avg(0, 0), "0.0");
    assert_eq!(avg(32, 13), "2.4615");
    assert_eq!(avg(2, 3), "0.6667");
    assert_eq!(avg(1, 20000), "1.0E-4");
    assert_eq!(avg(1, 40000), "0.0");
    // 1/32 = 0.03125 exactly: half-up, not half-even.
    assert_eq!(avg(1, 32), "0.0313");
    assert_eq!(avg(3, 32), "0.0938");
    assert_eq!(avg(10, 1), "10.0");
}

#[test]
fn java_dates() {
    assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
    assert_eq!(java_date(1795666755129), "Thu Nov 26 04:19:15 UTC 2026");
    assert_eq!(java_date(951782400000), "Tue Feb 29 00:00:00 UTC 2000");
    assert_eq!(java_date(-1), "Wed Dec 31 23:59:59 UTC 1969");
    assert_eq!(build_date(1795666755129), "2026-11-26 04:19 UTC");
}

#[test]
fn java_socket_addresses() {
    assert_eq!(java_socket_addr(v4(5000)), "/127.0.0.1:5000");
    let loop6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 5000));
    assert_eq!(java_socket_addr(loop6), "/[0:0:0:0:0:0:0:1]:5000");
    let mapped = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(), 7));
    assert_eq!(java_socket_addr(mapped), "/10.0.0.1:7");
    let scoped = SocketAddrV6::new("fe80::1".parse().unwrap(), 9, 0, 2);
    assert_eq!(java_socket_addr(scoped.into()), "/[fe80:0:0:0:0:0:0:1%2]:9");
}

#[test]
fn version_keeps_zookeepers_shape() {
    let v = version_revision();
    assert!(v.starts_with("3.9.5-zooid-"), "{v}");
    assert!(v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    assert!(full_version().starts_with(&format!("{v}, built on ")));
}

#[test]
fn output_chunks_count_as_sent_packets() {
    assert_eq!(sent_packets(""), 0);
    assert_eq!(sent_packets("imok"), 1);
    assert_eq!(sent_packets(&"x".repeat(8192)), 1);
    assert_eq!(sent_packets(&"x".repeat(8193)), 2);
}

#[test]
fn commands_are_the_first_four_bytes() {
    assert_eq!(command(*b"mntr"), Some("mntr"));
    assert_eq!(command(*b"MNTR"), None);
    assert_eq!(command([0, 0, 0, 45]), None);
}

#[test]
fn host_parsers() {
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max open files            1024                 524288               files     \n";
    assert_eq!(parse_max_open_files(limits), Some(1024));
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert_eq!(parse_max_open_files(unlimited), None);
    let status = "Name:\tzooid\nUid:\t1000\t1001\t1001\t1001\nVmRSS:\t   10240 kB\n";
    assert_eq!(parse_uid(status), Some(1000));
    assert_eq!(parse_kb_field(status, "VmRSS"), Some(10240 * 1024));
    assert_eq!(parse_kb_field(status, "VmHWM"), None);
    let passwd = "root:x:0:0:root:/root:/bin/bash\nzk:x:1000:1000::/home/zk:/bin/sh\n";
    assert_eq!(
        passwd_entry(passwd, 1000),
        Some(("zk".into(), "/home/zk".into()))
    );
    assert_eq!(passwd_entry(passwd, 7), None);
    assert_eq!(java_os_arch("x86_64"), "amd64");
    assert_eq!(java_os_arch("aarch64"), "aarch64");
}

// ---------------------------------------------------------------------------------------
// mntr's ServerMetrics part

use super::java_map;
use super::metrics::{self, Kind, Source, SERVER_METRICS};
use crate::stats::{self, CnxnExpiry, Metrics};

/// `ConcurrentHashMap` iteration orders, as printed by OpenJDK 17 after inserting the
/// same keys with `computeIfAbsent`.
#[test]
fn java_map_orders_are_javas() {
    let same_hash: Vec<String> = (0..16)
        .map(|i: u32| {
            (0..4)
                .rev()
                .map(|b| if i >> b & 1 == 0 { "Aa" } else { "BB" })
                .collect()
        })
        .collect();
    let order = |keys: &[&str]| java_map::iteration_order(keys.iter().copied()).join(" ");
    assert_eq!(
        order(&[
            "test_four_letter_words",
            "zookeeper",
            "test_multi",
            "app",
            "b",
            "test_acl_enforcement",
            "x",
        ]),
        "app b zookeeper test_four_letter_words test_multi x test_acl_enforcement"
    );
    // A ninth key in one bin of a small table grows the table (tryPresize) to 128.
    let mut keys: Vec<&str> = same_hash[..9].iter().map(String::as_str).collect();
    keys.extend(["a", "b"]);
    assert_eq!(
        order(&keys),
        "AaAaAaAa AaAaAaBB AaAaBBAa AaAaBBBB AaBBAaAa AaBBAaBB AaBBBBAa AaBBBBBB BBAaAaAa a b"
    );
    // In a table of 64 and up it becomes a TreeBin, which takes new keys at its head.
    let others: Vec<String> = (0..60).map(|i| format!("ns{i}")).collect();
    let mut keys: Vec<&str> = others.iter().map(String::as_str).collect();
    keys.extend(same_hash[..12].iter().map(String::as_str));
    assert_eq!(
        order(&keys),
        "ns0 ns2 ns1 ns4 ns3 ns6 ns53 ns5 ns52 ns8 ns51 ns7 ns50 ns13 ns57 ns9 ns12 ns56 ns11 \
         ns55 ns10 ns54 ns17 ns16 ns15 ns59 ns14 ns58 ns19 ns18 ns42 ns41 ns40 ns46 ns45 ns44 \
         ns43 ns49 ns48 ns47 BBAaBBBB BBAaBBAa BBAaAaBB AaAaAaAa AaAaAaBB AaAaBBAa AaAaBBBB \
         AaBBAaAa AaBBAaBB AaBBBBAa AaBBBBBB BBAaAaAa ns31 ns30 ns35 ns34 ns33 ns32 ns39 ns38 \
         ns37 ns36 ns20 ns24 ns23 ns22 ns21 ns28 ns27 ns26 ns25 ns29"
    );
    // Resizes split bins, reversing the nodes ahead of each bin's last run.
    let keys: Vec<String> = (0..100).map(|i| format!("k{i:03}")).collect();
    assert_eq!(
        java_map::iteration_order(keys.iter().map(String::as_str)).join(" "),
        "k020 k022 k021 k024 k023 k026 k025 k028 k027 k029 k095 k094 k097 k096 k011 k099 \
         k010 k098 k013 k012 k015 k014 k017 k016 k019 k018 k040 k042 k041 k044 k043 k046 \
         k045 k048 k047 k049 k031 k030 k033 k032 k035 k034 k037 k036 k039 k038 k071 k070 \
         k062 k061 k064 k063 k066 k065 k068 k067 k069 k060 k051 k050 k053 k052 k055 k054 \
         k057 k056 k059 k058 k091 k090 k093 k092 k084 k083 k086 k085 k000 k088 k087 k002 \
         k001 k089 k004 k003 k006 k005 k008 k007 k009 k080 k082 k081 k073 k072 k075 k074 \
         k077 k076 k079 k078"
    );
    assert_eq!(java_map::string_hash("Aa"), java_map::string_hash("BB"));
    assert_eq!(java_map::string_hash("zookeeper"), 1_600_681_804);
}

/// The metric names of each provider map in the order ZooKeeper 3.9.5 dumps them
/// (OpenJDK 17 running `ServerMetrics`' registrations through `ConcurrentHashMap`).
const ZK395_COUNTERS: &str = "watch_bytes stale_requests_dropped throttled_ops \
    insecure_admin_count connection_rejected sessionless_connections_expired \
    dead_watchers_queued stale_requests connection_drop_count response_packet_cache_hits \
    bytes_received_count add_dead_watcher_stall_time request_throttle_wait_count \
    requests_not_forwarded_to_commit_processor response_packet_cache_misses \
    prep_processor_request_queued stale_replies response_bytes ensemble_auth_fail \
    diff_count connection_revalidate_count quit_leading_due_to_disloyal_voter \
    unrecoverable_error_count unsuccessful_handshake commit_count \
    outstanding_changes_queued request_commit_queued ensemble_auth_skip \
    skip_learner_request_to_next_processor_count proposal_count large_requests_rejected \
    outstanding_changes_removed restore_error_count cnxn_closed_without_zk_server_running \
    looking_count snapshot_rate_limited_count learner_proposal_received_count \
    digest_mismatches_count dead_watchers_cleared ensemble_auth_success \
    learner_commit_received_count snapshot_error_count connection_request_count \
    response_packet_get_children_cache_misses snap_count stale_sessions_expired \
    restore_rate_limited_count response_packet_get_children_cache_hits \
    sync_processor_request_queued tls_handshake_exceeded revalidate_count";
const ZK395_SUMMARIES: &str = "socket_closing_time proposal_process_time \
    leader_unavailable_time node_created_watch_count session_queues_drained \
    write_commit_proc_req_queued connection_token_deficit read_commit_proc_req_queued \
    node_deleted_watch_count startup_txns_load_time sync_processor_queue_size \
    follower_sync_time prep_processor_queue_size fsynctime inflight_snap_count \
    reads_issued_from_session_queue restore_time learner_request_processor_queue_size \
    snapshottime unavailable_time startup_txns_loaded reads_after_write_in_session_queue \
    requests_in_session_queue write_commit_proc_issued prep_process_time \
    pending_session_queue_size time_waiting_empty_pool_in_commit_processor_read_ms \
    commit_process_time dbinittime inflight_diff_count netty_queued_buffer_capacity \
    election_time commit_commit_proc_req_queued sync_processor_batch_size \
    node_children_watch_count write_batch_time_in_commit_processor read_commit_proc_issued \
    concurrent_request_processing_in_commit_processor observer_sync_time \
    node_changed_watch_count sync_process_time startup_snap_load_time";
const ZK395_PERCENTILES: &str = "prep_processor_queue_time_ms jvm_pause_time_ms \
    close_session_prep_time read_commitproc_time_ms updatelatency \
    local_write_committed_time_ms request_throttle_queue_time_ms readlatency \
    quorum_ack_latency om_commit_process_time_ms read_final_proc_time_ms \
    commit_propagation_latency dead_watchers_cleaner_latency write_final_proc_time_ms \
    proposal_ack_creation_latency proposal_latency om_proposal_process_time_ms \
    sync_processor_queue_and_flush_time_ms propagation_latency \
    server_write_committed_time_ms sync_processor_queue_time_ms \
    sync_processor_queue_flush_time_ms write_commitproc_time_ms";

#[test]
fn idle_server_metrics_print_as_zookeepers() {
    let lines = metrics::lines(&Metrics::default());
    let mut expected = Vec::new();
    for name in ZK395_COUNTERS.split_whitespace() {
        expected.push(format!("{name}=0"));
    }
    for (names, pcts) in [(ZK395_SUMMARIES, false), (ZK395_PERCENTILES, true)] {
        for name in names.split_whitespace() {
            expected.push(format!("avg_{name}=0.0"));
            for p in ["min", "max", "cnt", "sum"] {
                expected.push(format!("{p}_{name}=0"));
            }
            if pcts {
                for p in ["p50", "p95", "p99", "p999"] {
                    expected.push(format!("{p}_{name}=0"));
                }
            }
        }
    }
    let got: Vec<String> = lines.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(got, expected);
}

#[test]
fn metric_table_is_consistent() {
    let mut names: Vec<&str> = SERVER_METRICS.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SERVER_METRICS.len(), "names are unique");
    let m = Metrics::default();
    for d in &SERVER_METRICS {
        if let Source::Zooid(read) = d.source {
            assert_eq!(read(&m).kind(), d.kind, "{}", d.name);
        }
    }
    // Sets of what a standalone server never does stay idle.
    for d in SERVER_METRICS
        .iter()
        .filter(|d| d.kind == Kind::PercentileSet)
    {
        assert!(matches!(d.source, Source::Idle), "{}", d.name);
    }
}

#[test]
fn measured_metrics_print_their_values() {
    let m = Metrics::default();
    for v in [3, 1, 2] {
        m.read_latency.add(v);
    }
    m.bytes_received.add(44);
    m.read_stat("/app/x", 5);
    m.read_stat("/app", 0);
    m.read_stat("/", 0);
    m.quota_exceeded_per_namespace
        .with("app", stats::Counter::inc);
    let lines = metrics::lines(&m);
    let get = |k: &str| {
        lines
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(get("bytes_received_count"), "44");
    assert_eq!(get("avg_readlatency"), "2.0");
    assert_eq!(get("min_readlatency"), "1");
    assert_eq!(get("max_readlatency"), "3");
    assert_eq!(get("cnt_readlatency"), "3");
    assert_eq!(get("sum_readlatency"), "6");
    assert_eq!(get("p50_readlatency"), "2");
    assert_eq!(get("p999_readlatency"), "3");
    // path length + data + STAT_OVERHEAD_BYTES (68); "/" has no namespace.
    assert_eq!(get("cnt_app_read_per_namespace"), "2");
    assert_eq!(get("sum_app_read_per_namespace"), "151"); // (6 + 5 + 68) + (4 + 0 + 68)
    assert_eq!(get("max_app_read_per_namespace"), "79");
    assert_eq!(get("avg_app_read_per_namespace"), "75.5");
    assert_eq!(get("app_quota_exceeded_error_per_namespace"), "1");
    // Sets come after every summary, the counter set right after the counters.
    let pos = |k: &str| lines.iter().position(|(key, _)| key == k).unwrap();
    assert!(pos("app_quota_exceeded_error_per_namespace") < pos("avg_socket_closing_time"));
    assert!(pos("avg_app_read_per_namespace") > pos("p999_write_commitproc_time_ms"));
    // srst resets the values and keeps the keys.
    m.reset();
    let lines = metrics::lines(&m);
    assert!(lines.contains(&("cnt_app_read_per_namespace".into(), "0".into())));
    assert!(lines.contains(&("cnt_readlatency".into(), "0".into())));
}

#[test]
fn uniform_snapshot_quantiles() {
    let v: Vec<i64> = (1..=10).collect();
    assert_eq!(metrics::quantile(&v, 0.5), 5.5);
    assert_eq!(metrics::quantile(&v, 0.95), 10.0);
    assert_eq!(metrics::quantile(&[7], 0.5), 7.0);
    assert_eq!(metrics::quantile(&[], 0.99), 0.0);
    assert_eq!(metrics::quantile(&[1, 100], 0.05), 1.0);
    assert_eq!(metrics::java_round(5.5), 6);
    assert_eq!(metrics::java_round(-2.5), -2);
    assert_eq!(metrics::java_round(0.49999999999999994), 0);
    assert_eq!(metrics::java_round(2.4), 2);
}

#[test]
fn top_namespaces_split_as_java_does() {
    assert_eq!(stats::top_namespace("/"), None);
    assert_eq!(stats::top_namespace(""), None);
    assert_eq!(stats::top_namespace("/a"), Some("a"));
    assert_eq!(stats::top_namespace("/app/x/y"), Some("app"));
    assert_eq!(stats::java_len("/\u{1F600}"), 3);
}

#[test]
fn write_stats_follow_each_op_of_a_txn() {
    use zooid_proto::{CreateTxn, DeleteTxn, SetDataTxn};
    use zooid_tree::{Trigger, TxnBody};
    let m = Metrics::default();
    let create = TxnBody::Create(CreateTxn {
        path: "/w/a".into(),
        data: Bytes::from_static(b"xx"),
        ..Default::default()
    });
    let set = TxnBody::SetData(SetDataTxn {
        path: "/w/a".into(),
        data: Bytes::from_static(b"yyyyy"),
        version: 0,
    });
    let delete = TxnBody::Delete(DeleteTxn { path: "/v".into() });
    let body = TxnBody::Multi(vec![
        (op::CREATE, create),
        (op::SET_DATA, set),
        (op::DELETE, delete),
    ]);
    let acl = zooid_tree::acl::AclList::default();
    let triggers = [
        Trigger::Created {
            path: "/w/a".into(),
            acl: acl.clone(),
            parent_acl: acl.clone(),
        },
        Trigger::DataChanged {
            path: "/w/a".into(),
            acl: acl.clone(),
        },
        Trigger::Deleted {
            path: "/v".into(),
            acl: acl.clone(),
            parent_acl: acl,
        },
    ];
    m.write_stats(&body, &triggers);
    let w = m.write_per_namespace.read(stats::Summary::totals);
    assert_eq!(w.len(), 2);
    assert_eq!(
        (w[0].0.as_str(), w[0].1.count, w[0].1.total),
        ("w", 2, 4 + 2 + 4 + 5)
    );
    assert_eq!((w[1].0.as_str(), w[1].1.count, w[1].1.total), ("v", 1, 2));
}

#[test]
fn quota_refusals_count_per_namespace() {
    use zooid_proto::{ErrorCode, ErrorTxn, TxnHeader};
    use zooid_tree::{Txn, TxnBody};
    let m = Metrics::default();
    let refused = |body| Txn {
        hdr: TxnHeader::default(),
        body,
    };
    let quota = || {
        TxnBody::Error(ErrorTxn {
            err: ErrorCode::QuotaExceeded.code(),
        })
    };
    let create = Request::Create {
        op: op::CREATE,
        req: CreateRequest {
            path: "/q/n".into(),
            ..Default::default()
        },
    };
    m.quota_check(&create, &refused(quota()));
    let other = TxnBody::Error(ErrorTxn {
        err: ErrorCode::NoNode.code(),
    });
    m.quota_check(&create, &refused(other));
    let counts = m.quota_exceeded_per_namespace.read(stats::Counter::get);
    assert_eq!(counts, vec![("q".to_owned(), 1)]);
}

#[test]
fn connection_expiry_buckets() {
    let e = CnxnExpiry::new(10_000);
    // roundToNextInterval(now + timeout)
    assert_eq!(e.bucket(0, 10_000), 20_000);
    assert_eq!(e.bucket(5_000, 30_000), 40_000);
    assert_eq!(e.bucket(9_999, 10_000), 20_000);
    assert_eq!(e.timeout_of(0), 10_000);
    assert_eq!(e.timeout_of(6_000), 6_000);
    let cur = std::sync::atomic::AtomicI64::new(0);
    let b = e.touch(&cur, 30_000);
    assert_eq!(cur.load(std::sync::atomic::Ordering::Relaxed), b);
    // The bucket it left stays listed until its time passes.
    let b2 = e.touch(&cur, 60_000);
    assert_eq!(e.pending(e.now_ms()), vec![b, b2]);
    assert_eq!(e.pending(b), vec![b2]);
}
