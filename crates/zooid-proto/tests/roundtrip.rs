//! Property and golden-byte tests of the jute codec: every record and every client request
//! round-trips, undecodable bytes give an error and never a panic, a cut-short encoding is
//! an error, and a few records match the bytes the jute spec (zookeeper.jute) prescribes.

use std::fmt::Debug;

use bytes::Bytes;
use proptest::prelude::*;
use zooid_proto::jute::{DecodeError, Field, Reader, Record};
use zooid_proto::opcode::{self, op};
use zooid_proto::records::*;
use zooid_proto::request::{
    decode_multi_response, encode_multi, encode_multi_response, MultiOp, MultiResult, Request,
    RequestError,
};

// ---------------------------------------------------------------------------------------
// Strategies

/// Values of a field type: small, but covering empty, zero, negative and non-ASCII.
trait Arb: Sized + Debug + Clone + 'static {
    fn arb() -> BoxedStrategy<Self>;
}

impl Arb for i32 {
    fn arb() -> BoxedStrategy<Self> {
        prop_oneof![any::<i32>(), -2..3i32].boxed()
    }
}

impl Arb for i64 {
    fn arb() -> BoxedStrategy<Self> {
        prop_oneof![any::<i64>(), -2..3i64].boxed()
    }
}

impl Arb for bool {
    fn arb() -> BoxedStrategy<Self> {
        any::<bool>().boxed()
    }
}

impl Arb for String {
    fn arb() -> BoxedStrategy<Self> {
        prop_oneof![
            "[/a-z0-9]{0,12}",
            proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
        ]
        .boxed()
    }
}

impl Arb for Bytes {
    fn arb() -> BoxedStrategy<Self> {
        proptest::collection::vec(any::<u8>(), 0..24)
            .prop_map(Bytes::from)
            .boxed()
    }
}

impl<T: Arb> Arb for Vec<T> {
    fn arb() -> BoxedStrategy<Self> {
        proptest::collection::vec(T::arb(), 0..4).boxed()
    }
}

/// The strategy for the type of a field, named by an accessor (so the macro below need
/// not repeat the field types).
fn arb_of<R, T: Arb>(_field: fn(&R) -> &T) -> BoxedStrategy<T> {
    T::arb()
}

/// Untrusted input: mostly short, sometimes all zeros or all ones (null lengths).
fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        (0..64usize).prop_map(|n| vec![0u8; n]),
        (0..64usize).prop_map(|n| vec![0xffu8; n]),
    ]
}

/// Byte overwrites to apply to a valid encoding: (position seed, new byte).
fn mutations() -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)
}

fn mutate(bytes: &[u8], muts: &[(usize, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if !out.is_empty() {
        for &(at, b) in muts {
            let i = at % out.len();
            out[i] = b;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Checks shared by every record

/// Encoding then decoding gives the record back; every proper prefix of the encoding is
/// an error; one extra byte is `TrailingBytes`; the encoding is at least `min_size` bytes.
fn check_codec<R: Record + PartialEq + Debug>(r: &R, min_size: usize) -> Result<(), TestCaseError> {
    let bytes = r.to_vec();
    prop_assert!(
        bytes.len() >= min_size,
        "{} < MIN_SIZE {}",
        bytes.len(),
        min_size
    );
    prop_assert_eq!(&R::from_bytes(&bytes).expect("valid encoding decodes"), r);
    for cut in 0..bytes.len() {
        prop_assert!(
            R::from_bytes(&bytes[..cut]).is_err(),
            "{} of {} bytes decoded",
            cut,
            bytes.len()
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    prop_assert_eq!(
        R::from_bytes(&longer).unwrap_err(),
        DecodeError::TrailingBytes { count: 1 }
    );
    Ok(())
}

/// Decoding arbitrary bytes returns; whatever decodes re-encodes to something that
/// decodes to the same value (decoding is a function of the bytes, encoding its inverse on
/// the decoded values).
fn check_decode_total<R: Record + PartialEq + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = R::from_bytes(bytes) {
        prop_assert_eq!(R::from_bytes(&r.to_vec()).expect("re-encoding decodes"), r);
    }
    // Decoding a prefix of a longer frame (the way records sit inside requests) returns too.
    let mut reader = Reader::new(bytes);
    if R::decode(&mut reader).is_ok() {
        prop_assert!(reader.position() <= bytes.len());
    }
    Ok(())
}

/// For every record: a strategy, and a module of property tests named after it.
macro_rules! records {
    ($($module:ident: $name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Arb for $name {
            fn arb() -> BoxedStrategy<Self> {
                ($(arb_of(|r: &$name| &r.$field),)*)
                    .prop_map(|($($field,)*)| $name { $($field),* })
                    .boxed()
            }
        }

        mod $module {
            use super::*;

            #[test]
            fn default_encodes_to_min_size() {
                // `MIN_SIZE` bounds preallocation for vectors: it must never exceed the
                // smallest real encoding, or valid input would be rejected.
                assert_eq!($name::default().to_vec().len(), <$name as Field>::MIN_SIZE);
            }

            proptest! {
                #[test]
                fn round_trips(r in $name::arb()) {
                    check_codec(&r, <$name as Field>::MIN_SIZE)?;
                }

                #[test]
                fn arbitrary_bytes_never_panic(bytes in junk()) {
                    check_decode_total::<$name>(&bytes)?;
                }

                #[test]
                fn mutated_encodings_never_panic(r in $name::arb(), muts in mutations()) {
                    check_decode_total::<$name>(&mutate(&r.to_vec(), &muts))?;
                }
            }
        }
    )*};
}

records! {
    id: Id { scheme, id }
    acl: Acl { perms, id }
    stat: Stat {
        czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner,
        data_length, num_children, pzxid,
    }
    stat_persisted: StatPersisted {
        czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid,
    }
    client_info: ClientInfo { auth_scheme, user }
    connect_response: ConnectResponse { protocol_version, time_out, session_id, passwd, read_only }
    set_watches: SetWatches { relative_zxid, data_watches, exist_watches, child_watches }
    set_watches2: SetWatches2 {
        relative_zxid, data_watches, exist_watches, child_watches, persistent_watches,
        persistent_recursive_watches,
    }
    request_header: RequestHeader { xid, op }
    multi_header: MultiHeader { op, done, err }
    auth_packet: AuthPacket { kind, scheme, auth }
    reply_header: ReplyHeader { xid, zxid, err }
    get_data_request: GetDataRequest { path, watch }
    set_data_request: SetDataRequest { path, data, version }
    reconfig_request: ReconfigRequest { joining_servers, leaving_servers, new_members, cur_config_id }
    set_data_response: SetDataResponse { stat }
    get_sasl_request: GetSaslRequest { token }
    set_sasl_request: SetSaslRequest { token }
    set_sasl_response: SetSaslResponse { token }
    create_request: CreateRequest { path, data, acl, flags }
    create_ttl_request: CreateTtlRequest { path, data, acl, flags, ttl }
    delete_request: DeleteRequest { path, version }
    get_children_request: GetChildrenRequest { path, watch }
    get_all_children_number_request: GetAllChildrenNumberRequest { path }
    check_version_request: CheckVersionRequest { path, version }
    sync_request: SyncRequest { path }
    sync_response: SyncResponse { path }
    get_acl_request: GetAclRequest { path }
    set_acl_request: SetAclRequest { path, acl, version }
    set_acl_response: SetAclResponse { stat }
    add_watch_request: AddWatchRequest { path, mode }
    watcher_event: WatcherEvent { kind, state, path }
    error_response: ErrorResponse { err }
    create_response: CreateResponse { path }
    create2_response: Create2Response { path, stat }
    exists_request: ExistsRequest { path, watch }
    exists_response: ExistsResponse { stat }
    get_data_response: GetDataResponse { data, stat }
    get_children_response: GetChildrenResponse { children }
    get_all_children_number_response: GetAllChildrenNumberResponse { total_number }
    get_children2_response: GetChildren2Response { children, stat }
    get_acl_response: GetAclResponse { acl, stat }
    check_watches_request: CheckWatchesRequest { path, kind }
    remove_watches_request: RemoveWatchesRequest { path, kind }
    get_ephemerals_request: GetEphemeralsRequest { prefix_path }
    get_ephemerals_response: GetEphemeralsResponse { ephemerals }
    who_am_i_response: WhoAmIResponse { client_info }
    learner_info: LearnerInfo { serverid, protocol_version, config_version }
    quorum_packet: QuorumPacket { kind, zxid, data, authinfo }
    file_header: FileHeader { magic, version, dbid }
    txn_digest: TxnDigest { version, tree_digest }
    txn_header: TxnHeader { client_id, cxid, zxid, time, op }
    create_txn: CreateTxn { path, data, acl, ephemeral, parent_c_version }
    create_ttl_txn: CreateTtlTxn { path, data, acl, parent_c_version, ttl }
    create_container_txn: CreateContainerTxn { path, data, acl, parent_c_version }
    delete_txn: DeleteTxn { path }
    set_data_txn: SetDataTxn { path, data, version }
    check_version_txn: CheckVersionTxn { path, version }
    set_acl_txn: SetAclTxn { path, acl, version }
    create_session_txn: CreateSessionTxn { time_out }
    close_session_txn: CloseSessionTxn { paths_to_delete }
    error_txn: ErrorTxn { err }
    txn: Txn { op, data }
    multi_txn: MultiTxn { txns }
}

// ConnectRequest is written by hand: `readOnly` is optional on the wire (clients before
// 3.4 do not send it), so a cut that drops exactly that byte still decodes.

impl Arb for ConnectRequest {
    fn arb() -> BoxedStrategy<Self> {
        (
            i32::arb(),
            i64::arb(),
            i32::arb(),
            i64::arb(),
            Bytes::arb(),
            bool::arb(),
        )
            .prop_map(
                |(protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only)| {
                    ConnectRequest {
                        protocol_version,
                        last_zxid_seen,
                        time_out,
                        session_id,
                        passwd,
                        read_only,
                    }
                },
            )
            .boxed()
    }
}

mod connect_request {
    use super::*;

    proptest! {
        #[test]
        fn round_trips(r in ConnectRequest::arb()) {
            let bytes = r.to_vec();
            prop_assert_eq!(&ConnectRequest::from_bytes(&bytes).unwrap(), &r);
            let (without_read_only, _) = bytes.split_at(bytes.len() - 1);
            prop_assert_eq!(
                ConnectRequest::from_bytes(without_read_only).unwrap(),
                ConnectRequest { read_only: false, ..r.clone() }
            );
            for cut in 0..bytes.len() - 1 {
                prop_assert!(ConnectRequest::from_bytes(&bytes[..cut]).is_err(), "cut {}", cut);
            }
            let mut longer = bytes.clone();
            longer.push(1);
            prop_assert!(ConnectRequest::from_bytes(&longer).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in junk()) {
            check_decode_total::<ConnectRequest>(&bytes)?;
        }

        #[test]
        fn mutated_encodings_never_panic(r in ConnectRequest::arb(), muts in mutations()) {
            check_decode_total::<ConnectRequest>(&mutate(&r.to_vec(), &muts))?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// Every opcode `Request::decode` gives a meaning to, and a few it does not.
const OPCODES: &[i32] = &[
    op::NOTIFICATION,
    op::CREATE,
    op::DELETE,
    op::EXISTS,
    op::GET_DATA,
    op::SET_DATA,
    op::GET_ACL,
    op::SET_ACL,
    op::GET_CHILDREN,
    op::SYNC,
    op::PING,
    op::GET_CHILDREN2,
    op::CHECK,
    op::MULTI,
    op::CREATE2,
    op::RECONFIG,
    op::CHECK_WATCHES,
    op::REMOVE_WATCHES,
    op::CREATE_CONTAINER,
    op::DELETE_CONTAINER,
    op::CREATE_TTL,
    op::MULTI_READ,
    op::AUTH,
    op::SET_WATCHES,
    op::SASL,
    op::GET_EPHEMERALS,
    op::GET_ALL_CHILDREN_NUMBER,
    op::SET_WATCHES2,
    op::ADD_WATCH,
    op::WHO_AM_I,
    op::CREATE_SESSION,
    op::CLOSE_SESSION,
    op::ERROR,
];

/// Opcodes that decode to `Request::Unknown`.
/// (createSession is not among them: as a request it is refused like a malformed write.)
const UNKNOWN_OPCODES: &[i32] = &[op::NOTIFICATION, op::DELETE_CONTAINER, op::ERROR];

fn any_opcode() -> impl Strategy<Value = i32> {
    prop_oneof![3 => proptest::sample::select(OPCODES), 1 => any::<i32>()]
}

fn create_op() -> impl Strategy<Value = i32> {
    proptest::sample::select(&[op::CREATE, op::CREATE2, op::CREATE_CONTAINER][..])
}

fn write_op() -> BoxedStrategy<MultiOp> {
    prop_oneof![
        // Inside a multi the flags must name a create mode the op can carry.
        (create_op(), CreateRequest::arb(), 0..=4i32).prop_map(|(op, req, flags)| {
            MultiOp::Create {
                op,
                req: CreateRequest { flags, ..req },
            }
        }),
        (CreateTtlRequest::arb(), 5..=6i32)
            .prop_map(|(r, flags)| MultiOp::CreateTtl(CreateTtlRequest { flags, ..r })),
        DeleteRequest::arb().prop_map(MultiOp::Delete),
        SetDataRequest::arb().prop_map(MultiOp::SetData),
        CheckVersionRequest::arb().prop_map(MultiOp::Check),
    ]
    .boxed()
}

fn read_op() -> BoxedStrategy<MultiOp> {
    prop_oneof![
        GetChildrenRequest::arb().prop_map(MultiOp::GetChildren),
        GetDataRequest::arb().prop_map(MultiOp::GetData),
    ]
    .boxed()
}

/// A multi of only writes or only reads (mixing them is rejected).
fn multi_ops() -> impl Strategy<Value = Vec<MultiOp>> {
    prop_oneof![
        proptest::collection::vec(write_op(), 0..4),
        proptest::collection::vec(read_op(), 1..4),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let unknown = prop_oneof![
        proptest::sample::select(UNKNOWN_OPCODES),
        any::<i32>().prop_filter("unknown opcode", |o| !OPCODES.contains(o)),
    ];
    prop_oneof![
        (create_op(), CreateRequest::arb()).prop_map(|(op, req)| Request::Create { op, req }),
        CreateTtlRequest::arb().prop_map(Request::CreateTtl),
        DeleteRequest::arb().prop_map(Request::Delete),
        ExistsRequest::arb().prop_map(Request::Exists),
        GetDataRequest::arb().prop_map(Request::GetData),
        SetDataRequest::arb().prop_map(Request::SetData),
        GetAclRequest::arb().prop_map(Request::GetAcl),
        SetAclRequest::arb().prop_map(Request::SetAcl),
        (any::<bool>(), GetChildrenRequest::arb())
            .prop_map(|(with_stat, req)| Request::GetChildren { with_stat, req }),
        SyncRequest::arb().prop_map(Request::Sync),
        Just(Request::Ping),
        CheckVersionRequest::arb().prop_map(Request::Check),
        multi_ops().prop_map(Request::Multi),
        multi_ops().prop_map(Request::MultiRead),
        ReconfigRequest::arb().prop_map(Request::Reconfig),
        CheckWatchesRequest::arb().prop_map(Request::CheckWatches),
        RemoveWatchesRequest::arb().prop_map(Request::RemoveWatches),
        AuthPacket::arb().prop_map(Request::Auth),
        SetWatches2::arb().prop_map(Request::SetWatches),
        GetSaslRequest::arb().prop_map(Request::Sasl),
        GetEphemeralsRequest::arb().prop_map(Request::GetEphemerals),
        GetAllChildrenNumberRequest::arb().prop_map(Request::GetAllChildrenNumber),
        AddWatchRequest::arb().prop_map(Request::AddWatch),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
        unknown.prop_map(Request::Unknown),
    ]
}

/// The opcode and body a client sends for `req` (the inverse of `Request::decode`).
fn encode_request(req: &Request) -> (i32, Vec<u8>) {
    let mut b = Vec::new();
    let opcode = match req {
        Request::Create { op, req } => {
            req.encode(&mut b);
            *op
        }
        Request::CreateTtl(r) => {
            r.encode(&mut b);
            op::CREATE_TTL
        }
        Request::Delete(r) => {
            r.encode(&mut b);
            op::DELETE
        }
        Request::Exists(r) => {
            r.encode(&mut b);
            op::EXISTS
        }
        Request::GetData(r) => {
            r.encode(&mut b);
            op::GET_DATA
        }
        Request::SetData(r) => {
            r.encode(&mut b);
            op::SET_DATA
        }
        Request::GetAcl(r) => {
            r.encode(&mut b);
            op::GET_ACL
        }
        Request::SetAcl(r) => {
            r.encode(&mut b);
            op::SET_ACL
        }
        Request::GetChildren { with_stat, req } => {
            req.encode(&mut b);
            if *with_stat {
                op::GET_CHILDREN2
            } else {
                op::GET_CHILDREN
            }
        }
        Request::Sync(r) => {
            r.encode(&mut b);
            op::SYNC
        }
        Request::Ping => op::PING,
        Request::Check(r) => {
            r.encode(&mut b);
            op::CHECK
        }
        Request::Multi(ops) => {
            encode_multi(ops, &mut b);
            op::MULTI
        }
        Request::MultiRead(ops) => {
            encode_multi(ops, &mut b);
            op::MULTI_READ
        }
        Request::Reconfig(r) => {
            r.encode(&mut b);
            op::RECONFIG
        }
        Request::CheckWatches(r) => {
            r.encode(&mut b);
            op::CHECK_WATCHES
        }
        Request::RemoveWatches(r) => {
            r.encode(&mut b);
            op::REMOVE_WATCHES
        }
        Request::Auth(r) => {
            r.encode(&mut b);
            op::AUTH
        }
        Request::SetWatches(r) => {
            r.encode(&mut b);
            op::SET_WATCHES2
        }
        Request::Sasl(r) => {
            r.encode(&mut b);
            op::SASL
        }
        Request::GetEphemerals(r) => {
            r.encode(&mut b);
            op::GET_EPHEMERALS
        }
        Request::GetAllChildrenNumber(r) => {
            r.encode(&mut b);
            op::GET_ALL_CHILDREN_NUMBER
        }
        Request::AddWatch(r) => {
            r.encode(&mut b);
            op::ADD_WATCH
        }
        Request::WhoAmI => op::WHO_AM_I,
        Request::CloseSession => op::CLOSE_SESSION,
        Request::Unknown(op) => *op,
    };
    (opcode, b)
}

proptest! {
    #[test]
    fn requests_round_trip(req in request()) {
        let (opcode, body) = encode_request(&req);
        prop_assert_eq!(&Request::decode(opcode, &body).expect("valid request decodes"), &req);
        prop_assert_eq!(req.is_write(), opcode::is_write_op(opcode));
    }

    #[test]
    fn requests_ignore_trailing_bytes(req in request(), tail in junk()) {
        // Old clients append fields newer servers do not read; ZooKeeper ignores them.
        let (opcode, mut body) = encode_request(&req);
        body.extend_from_slice(&tail);
        prop_assert_eq!(Request::decode(opcode, &body).unwrap(), req);
    }

    #[test]
    fn cut_short_requests_are_errors(req in request()) {
        let (opcode, body) = encode_request(&req);
        for cut in 0..body.len() {
            prop_assert!(
                matches!(Request::decode(opcode, &body[..cut]), Err(RequestError::Decode(_))),
                "{} of {} bytes decoded",
                cut,
                body.len()
            );
        }
    }

    #[test]
    fn arbitrary_request_bodies_never_panic(opcode in any_opcode(), body in junk()) {
        let _ = Request::decode(opcode, &body);
    }

    #[test]
    fn mutated_requests_never_panic(
        req in request(),
        opcode in any_opcode(),
        muts in mutations(),
    ) {
        // Another request's body under any opcode, with some bytes overwritten.
        let (own, body) = encode_request(&req);
        let mutated = mutate(&body, &muts);
        let _ = Request::decode(own, &mutated);
        let _ = Request::decode(opcode, &mutated);
        let _ = Request::decode(opcode, &body);
    }

    #[test]
    fn old_set_watches_reads_as_set_watches2(w in SetWatches::arb()) {
        let decoded = Request::decode(op::SET_WATCHES, &w.to_vec()).unwrap();
        prop_assert_eq!(
            decoded,
            Request::SetWatches(SetWatches2 {
                relative_zxid: w.relative_zxid,
                data_watches: w.data_watches,
                exist_watches: w.exist_watches,
                child_watches: w.child_watches,
                persistent_watches: vec![],
                persistent_recursive_watches: vec![],
            })
        );
    }

    #[test]
    fn mixed_multis_are_rejected(
        writes in proptest::collection::vec(write_op(), 1..3),
        reads in proptest::collection::vec(read_op(), 1..3),
        reads_first in any::<bool>(),
        multi_read in any::<bool>(),
    ) {
        let ops: Vec<MultiOp> = if reads_first {
            reads.into_iter().chain(writes).collect()
        } else {
            writes.into_iter().chain(reads).collect()
        };
        let mut body = Vec::new();
        encode_multi(&ops, &mut body);
        let opcode = if multi_read { op::MULTI_READ } else { op::MULTI };
        prop_assert_eq!(Request::decode(opcode, &body), Err(RequestError::MixedMulti));
    }

    #[test]
    fn multi_ops_other_than_the_nine_are_rejected(
        bad in any::<i32>().prop_filter("not a multi op", |o| ![
            op::CREATE, op::CREATE2, op::CREATE_CONTAINER, op::CREATE_TTL, op::DELETE,
            op::SET_DATA, op::CHECK, op::GET_CHILDREN, op::GET_DATA,
        ].contains(o)),
        tail in junk(),
    ) {
        let mut body = MultiHeader { op: bad, done: false, err: -1 }.to_vec();
        body.extend_from_slice(&tail);
        prop_assert_eq!(Request::decode(op::MULTI, &body), Err(RequestError::InvalidMultiOp(bad)));
    }
}

// ---------------------------------------------------------------------------------------
// Multi responses

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        CreateResponse::arb().prop_map(MultiResult::Create),
        Create2Response::arb().prop_map(MultiResult::Create2),
        Just(MultiResult::Delete),
        SetDataResponse::arb().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        GetChildrenResponse::arb().prop_map(MultiResult::GetChildren),
        GetDataResponse::arb().prop_map(MultiResult::GetData),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

fn encode_results(results: &[MultiResult]) -> Vec<u8> {
    let mut b = Vec::new();
    encode_multi_response(results, &mut b);
    b
}

/// Decodes a whole `MultiResponse`, rejecting trailing bytes.
fn decode_results(bytes: &[u8]) -> Result<Vec<MultiResult>, DecodeError> {
    let mut r = Reader::new(bytes);
    let results = decode_multi_response(&mut r)?;
    r.finish()?;
    Ok(results)
}

proptest! {
    #[test]
    fn multi_responses_round_trip(results in proptest::collection::vec(multi_result(), 0..5)) {
        let bytes = encode_results(&results);
        prop_assert_eq!(&decode_results(&bytes).unwrap(), &results);
        for cut in 0..bytes.len() {
            prop_assert!(decode_results(&bytes[..cut]).is_err(), "cut {}", cut);
        }
    }

    #[test]
    fn arbitrary_multi_responses_never_panic(bytes in junk()) {
        if let Ok(results) = decode_results(&bytes) {
            prop_assert_eq!(decode_results(&encode_results(&results)).unwrap(), results);
        }
    }

    #[test]
    fn mutated_multi_responses_never_panic(
        results in proptest::collection::vec(multi_result(), 1..4),
        muts in mutations(),
    ) {
        let _ = decode_results(&mutate(&encode_results(&results), &muts));
    }
}

// ---------------------------------------------------------------------------------------
// Golden bytes, derived by hand from zookeeper.jute (3.9): fields in declaration order,
// big-endian int (4) and long (8), boolean as one byte, buffer and ustring as an int
// length then the bytes, vector as an int count then the elements.

/// Parses `"00 0a ff"`-style hex; `|` may separate fields, and `#` starts a comment that
/// runs to the end of the line.
fn hex(s: &str) -> Vec<u8> {
    s.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| c.is_whitespace() || c == '|'))
        .filter(|t| !t.is_empty())
        .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
        .collect()
}

/// Asserts `r` encodes to exactly `expected` and decodes back from it.
fn golden<R: Record + PartialEq + Debug>(r: &R, expected: &str) {
    let expected = hex(expected);
    assert_eq!(r.to_vec(), expected, "encoding of {r:?}");
    assert_eq!(&R::from_bytes(&expected).unwrap(), r);
}

#[test]
fn golden_connect_request_as_the_java_client_sends_it() {
    // ClientCnxn.primeConnection: ConnectRequest(0, lastZxid=0, sessionTimeout=30000,
    // sessionId=0, passwd=new byte[16], readOnly=false).
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30000,
        session_id: 0,
        passwd: Bytes::from(vec![0u8; 16]),
        read_only: false,
    };
    let expected = "00 00 00 00              # protocolVersion
                    00 00 00 00 00 00 00 00  # lastZxidSeen
                    00 00 75 30              # timeOut 30000
                    00 00 00 00 00 00 00 00  # sessionId
                    00 00 00 10              # passwd: length 16, then 16 zeros
                    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
                    00                       # readOnly";
    golden(&req, expected);
    assert_eq!(req.to_vec().len(), 45);
    // A 3.3 client stops after passwd; that is a valid request with readOnly false.
    let old = hex(expected);
    assert_eq!(ConnectRequest::from_bytes(&old[..44]).unwrap(), req);
}

#[test]
fn golden_connect_response() {
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: 30000,
        session_id: 0x0100_0000_0000_0001,
        passwd: Bytes::from((1..=16).collect::<Vec<u8>>()),
        read_only: true,
    };
    golden(
        &resp,
        "00 00 00 00 | 00 00 75 30 | 01 00 00 00 00 00 00 01 | 00 00 00 10 |
         01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 | 01",
    );
}

#[test]
fn golden_reply_and_request_headers() {
    golden(
        &ReplyHeader {
            xid: 1,
            zxid: 0x0000_0001_0000_0002,
            err: -101,
        },
        "00 00 00 01 | 00 00 00 01 00 00 00 02 | ff ff ff 9b",
    );
    // A ping: xid -2, op 11.
    golden(
        &RequestHeader {
            xid: opcode::xid::PING,
            op: op::PING,
        },
        "ff ff ff fe | 00 00 00 0b",
    );
    // A watch notification's header: xid -1, zxid -1, err 0.
    golden(
        &ReplyHeader {
            xid: -1,
            zxid: -1,
            err: 0,
        },
        "ff ff ff ff | ff ff ff ff ff ff ff ff | 00 00 00 00",
    );
}

#[test]
fn golden_stat() {
    let stat = Stat {
        czxid: 0x0102_0304_0506_0708,
        mzxid: 2,
        ctime: 1_700_000_000_000,
        mtime: -1,
        version: 3,
        cversion: -4,
        aversion: 5,
        ephemeral_owner: 0x7f00_0000_0000_00ff,
        data_length: 6,
        num_children: 7,
        pzxid: 8,
    };
    golden(
        &stat,
        "01 02 03 04 05 06 07 08  # czxid
         00 00 00 00 00 00 00 02  # mzxid
         00 00 01 8b cf e5 68 00  # ctime 1700000000000
         ff ff ff ff ff ff ff ff  # mtime -1
         00 00 00 03              # version
         ff ff ff fc              # cversion -4
         00 00 00 05              # aversion
         7f 00 00 00 00 00 00 ff  # ephemeralOwner
         00 00 00 06              # dataLength
         00 00 00 07              # numChildren
         00 00 00 00 00 00 00 08  # pzxid",
    );
    assert_eq!(stat.to_vec().len(), 68);
}

#[test]
fn golden_create_request_with_open_acl() {
    let req = CreateRequest {
        path: "/a".into(),
        data: Bytes::from_static(b"x"),
        acl: open_acl_unsafe(),
        flags: opcode::create_mode::EPHEMERAL,
    };
    golden(
        &req,
        "00 00 00 02 2f 61               # path \"/a\"
         00 00 00 01 78                  # data \"x\"
         00 00 00 01                     # one ACL
         00 00 00 1f                     #   perms ALL
         00 00 00 05 77 6f 72 6c 64      #   scheme \"world\"
         00 00 00 06 61 6e 79 6f 6e 65   #   id \"anyone\"
         00 00 00 01                     # flags EPHEMERAL",
    );
}

#[test]
fn golden_watcher_event_and_txn_header() {
    golden(
        &WatcherEvent {
            kind: opcode::event_type::NODE_DATA_CHANGED,
            state: opcode::keeper_state::SYNC_CONNECTED,
            path: "/a".into(),
        },
        "00 00 00 03 | 00 00 00 03 | 00 00 00 02 2f 61",
    );
    golden(
        &TxnHeader {
            client_id: 0x0100_0000_0000_0000,
            cxid: 1,
            zxid: 0x0000_0001_0000_0001,
            time: 0,
            op: op::CREATE,
        },
        "01 00 00 00 00 00 00 00 | 00 00 00 01 | 00 00 00 01 00 00 00 01 |
         00 00 00 00 00 00 00 00 | 00 00 00 01",
    );
}

#[test]
fn golden_multi_request_and_response() {
    let ops = vec![
        MultiOp::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: "/a".into(),
                data: Bytes::new(),
                acl: open_acl_unsafe(),
                flags: 0,
            },
        },
        MultiOp::Delete(DeleteRequest {
            path: "/b".into(),
            version: -1,
        }),
    ];
    let mut body = Vec::new();
    encode_multi(&ops, &mut body);
    let expected = hex(
        "00 00 00 01 | 00 | ff ff ff ff        # MultiHeader{create, done=false, err=-1}
         00 00 00 02 2f 61 | 00 00 00 00       # CreateRequest: path, empty data,
         00 00 00 01 | 00 00 00 1f             #   [ACL{ALL,
         00 00 00 05 77 6f 72 6c 64            #     world,
         00 00 00 06 61 6e 79 6f 6e 65         #     anyone}],
         00 00 00 00                           #   flags
         00 00 00 02 | 00 | ff ff ff ff        # MultiHeader{delete, done=false, err=-1}
         00 00 00 02 2f 62 | ff ff ff ff       # DeleteRequest{/b, version -1}
         ff ff ff ff | 01 | ff ff ff ff        # MultiHeader{-1, done=true, err=-1}",
    );
    assert_eq!(body, expected);
    assert_eq!(
        Request::decode(op::MULTI, &expected).unwrap(),
        Request::Multi(ops)
    );

    // MultiResponse: each result's header carries its op and err (0 unless an error),
    // then the result record; an error result is op -1 and an ErrorResponse.
    let results = vec![
        MultiResult::Create(CreateResponse { path: "/a".into() }),
        MultiResult::Error(-101),
    ];
    let expected = hex(
        "00 00 00 01 | 00 | 00 00 00 00        # MultiHeader{create, done=false, err=0}
         00 00 00 02 2f 61                     # CreateResponse{/a}
         ff ff ff ff | 00 | ff ff ff 9b        # MultiHeader{error, done=false, err=-101}
         ff ff ff 9b                           # ErrorResponse{-101}
         ff ff ff ff | 01 | ff ff ff ff        # MultiHeader{-1, done=true, err=-1}",
    );
    assert_eq!(encode_results(&results), expected);
    assert_eq!(decode_results(&expected).unwrap(), results);
}

#[test]
fn null_lengths_from_java_decode_as_empty() {
    // The Java server writes a null buffer (a node created with null data) as length -1.
    let mut bytes = hex("ff ff ff ff");
    bytes.extend(Stat::default().to_vec());
    let resp = GetDataResponse::from_bytes(&bytes).unwrap();
    assert!(resp.data.is_empty());
    // A null vector (e.g. no ACL list) is -1 too.
    let mut bytes = hex("00 00 00 02 2f 61 | 00 00 00 00 | ff ff ff ff | 00 00 00 00");
    let req = CreateRequest::from_bytes(&bytes).unwrap();
    assert!(req.acl.is_empty());
    // Any other negative length is an error, not a huge allocation.
    bytes[10..14].copy_from_slice(&(-2i32).to_be_bytes());
    assert_eq!(
        CreateRequest::from_bytes(&bytes).unwrap_err(),
        DecodeError::NegativeLength {
            offset: 10,
            len: -2
        }
    );
}

#[test]
fn lying_lengths_are_rejected_before_allocating() {
    // A vector claiming i32::MAX ACLs in a 20-byte body.
    let bytes = hex("00 00 00 00 | 00 00 00 00 | 7f ff ff ff | 00 00 00 00 00 00 00 00");
    assert!(matches!(
        CreateRequest::from_bytes(&bytes),
        Err(DecodeError::Truncated { offset: 8, .. })
    ));
    let bytes = hex("7f ff ff ff 2f");
    assert!(matches!(
        SyncRequest::from_bytes(&bytes),
        Err(DecodeError::Truncated { offset: 4, .. })
    ));
}
