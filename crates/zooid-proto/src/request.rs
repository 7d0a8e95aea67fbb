//! Client requests decoded into one typed enum, and the multi-op framing.

use crate::jute::{DecodeError, JuteWrite, Reader, Record};
use crate::opcode::op;
use crate::records::*;

/// One operation inside a `multi` or `multiRead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `create`, `create2` or `createContainer` (the opcode says which).
    Create {
        op: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

impl MultiOp {
    pub fn opcode(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    fn encode_body<W: JuteWrite>(&self, w: &mut W) {
        match self {
            MultiOp::Create { req, .. } => req.encode(w),
            MultiOp::CreateTtl(r) => r.encode(w),
            MultiOp::Delete(r) => r.encode(w),
            MultiOp::SetData(r) => r.encode(w),
            MultiOp::Check(r) => r.encode(w),
            MultiOp::GetChildren(r) => r.encode(w),
            MultiOp::GetData(r) => r.encode(w),
        }
    }
}

/// Why a request body could not be turned into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request: {0}")]
    Decode(#[from] DecodeError),
    #[error("invalid type of op {0} in multi")]
    InvalidMultiOp(i32),
    #[error("mixing different kind of ops in multi")]
    MixedMulti,
    #[error("invalid flag {0} for create mode in multi")]
    InvalidCreateMode(i32),
    #[error("opcode {0} is not a client request")]
    NotAClientOp(i32),
}

/// A client request, decoded from its opcode and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `create` (1), `create2` (15) or `createContainer` (19).
    Create {
        op: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    /// `getChildren` (8) or `getChildren2` (12, with the parent's Stat).
    GetChildren {
        with_stat: bool,
        req: GetChildrenRequest,
    },
    Sync(SyncRequest),
    Ping,
    Check(CheckVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    Auth(AuthPacket),
    /// `setWatches` (101) is read into the `setWatches2` shape with empty persistent lists.
    SetWatches(SetWatches2),
    Sasl(GetSaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
    /// An opcode ZooKeeper does not know; the body is ignored.
    Unknown(i32),
}

impl Request {
    /// Decodes a request body for `opcode`. Trailing bytes after the body are ignored,
    /// as ZooKeeper ignores them (old clients append fields newer servers do not read).
    pub fn decode(opcode: i32, body: &[u8]) -> Result<Request, RequestError> {
        let r = &mut Reader::new(body);
        Ok(match opcode {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => Request::Create {
                op: opcode,
                req: CreateRequest::decode(r)?,
            },
            op::CREATE_TTL => Request::CreateTtl(CreateTtlRequest::decode(r)?),
            op::DELETE => Request::Delete(DeleteRequest::decode(r)?),
            op::EXISTS => Request::Exists(ExistsRequest::decode(r)?),
            op::GET_DATA => Request::GetData(GetDataRequest::decode(r)?),
            op::SET_DATA => Request::SetData(SetDataRequest::decode(r)?),
            op::GET_ACL => Request::GetAcl(GetAclRequest::decode(r)?),
            op::SET_ACL => Request::SetAcl(SetAclRequest::decode(r)?),
            op::GET_CHILDREN | op::GET_CHILDREN2 => Request::GetChildren {
                with_stat: opcode == op::GET_CHILDREN2,
                req: GetChildrenRequest::decode(r)?,
            },
            op::SYNC => Request::Sync(SyncRequest::decode(r)?),
            op::PING => Request::Ping,
            op::CHECK => Request::Check(CheckVersionRequest::decode(r)?),
            op::MULTI => Request::Multi(decode_multi(r)?),
            op::MULTI_READ => Request::MultiRead(decode_multi(r)?),
            op::RECONFIG => Request::Reconfig(ReconfigRequest::decode(r)?),
            op::CHECK_WATCHES => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
            op::REMOVE_WATCHES => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            op::AUTH => Request::Auth(AuthPacket::decode(r)?),
            op::SET_WATCHES => {
                let w = SetWatches::decode(r)?;
                Request::SetWatches(SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                })
            }
            op::SET_WATCHES2 => Request::SetWatches(SetWatches2::decode(r)?),
            op::SASL => Request::Sasl(GetSaslRequest::decode(r)?),
            op::GET_EPHEMERALS => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            op::GET_ALL_CHILDREN_NUMBER => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
            }
            op::ADD_WATCH => Request::AddWatch(AddWatchRequest::decode(r)?),
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            // createSession only comes from the handshake; as a request its body is not a
            // CreateSessionTxn ZooKeeper can use, and it fails like a malformed write.
            op::CREATE_SESSION => return Err(RequestError::NotAClientOp(opcode)),
            other => Request::Unknown(other),
        })
    }

    /// True for requests that change the tree or the session (they go through prep).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::CreateTtl(_)
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Check(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }
}

/// Reads `MultiOperationRecord`: (MultiHeader, op record)* terminated by a header with
/// `done == true`.
fn decode_multi(r: &mut Reader<'_>) -> Result<Vec<MultiOp>, RequestError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            break;
        }
        let o = match h.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => MultiOp::Create {
                op: h.op,
                req: CreateRequest::decode(r)?,
            },
            op::CREATE_TTL => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            op::DELETE => MultiOp::Delete(DeleteRequest::decode(r)?),
            op::SET_DATA => MultiOp::SetData(SetDataRequest::decode(r)?),
            op::CHECK => MultiOp::Check(CheckVersionRequest::decode(r)?),
            op::GET_CHILDREN => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            op::GET_DATA => MultiOp::GetData(GetDataRequest::decode(r)?),
            other => return Err(RequestError::InvalidMultiOp(other)),
        };
        // MultiOperationRecord builds a CreateMode from the flags and fails the whole
        // request when they name no mode (or a TTL mode the op cannot carry).
        match &o {
            MultiOp::Create { req, .. } if !(0..=4).contains(&req.flags) => {
                return Err(RequestError::InvalidCreateMode(req.flags))
            }
            MultiOp::CreateTtl(r) if !(5..=6).contains(&r.flags) => {
                return Err(RequestError::InvalidCreateMode(r.flags))
            }
            _ => {}
        }
        if ops
            .first()
            .is_some_and(|f: &MultiOp| f.is_read() != o.is_read())
        {
            return Err(RequestError::MixedMulti);
        }
        ops.push(o);
    }
    Ok(ops)
}

/// Writes a `MultiOperationRecord` (used by tests and the bench client).
pub fn encode_multi<W: JuteWrite>(ops: &[MultiOp], w: &mut W) {
    for o in ops {
        MultiHeader {
            op: o.opcode(),
            done: false,
            err: -1,
        }
        .encode(w);
        o.encode_body(w);
    }
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .encode(w);
}

/// One result of a multi or multiRead, as `MultiResponse` serializes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create(CreateResponse),
    Create2(Create2Response),
    Delete,
    SetData(SetDataResponse),
    Check,
    GetChildren(GetChildrenResponse),
    GetData(GetDataResponse),
    Error(i32),
}

impl MultiResult {
    fn opcode(&self) -> i32 {
        match self {
            MultiResult::Create(_) => op::CREATE,
            MultiResult::Create2(_) => op::CREATE2,
            MultiResult::Delete => op::DELETE,
            MultiResult::SetData(_) => op::SET_DATA,
            MultiResult::Check => op::CHECK,
            MultiResult::GetChildren(_) => op::GET_CHILDREN,
            MultiResult::GetData(_) => op::GET_DATA,
            MultiResult::Error(_) => op::ERROR,
        }
    }
}

/// Writes a `MultiResponse`.
pub fn encode_multi_response<W: JuteWrite>(results: &[MultiResult], w: &mut W) {
    for res in results {
        let err = match res {
            MultiResult::Error(e) => *e,
            _ => 0,
        };
        MultiHeader {
            op: res.opcode(),
            done: false,
            err,
        }
        .encode(w);
        match res {
            MultiResult::Create(r) => r.encode(w),
            MultiResult::Create2(r) => r.encode(w),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(r) => r.encode(w),
            MultiResult::GetChildren(r) => r.encode(w),
            MultiResult::GetData(r) => r.encode(w),
            MultiResult::Error(e) => ErrorResponse { err: *e }.encode(w),
        }
    }
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .encode(w);
}

/// Reads a `MultiResponse` (used by tests and the bench client).
pub fn decode_multi_response(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.op {
            op::CREATE => MultiResult::Create(CreateResponse::decode(r)?),
            op::CREATE2 => MultiResult::Create2(Create2Response::decode(r)?),
            op::DELETE => MultiResult::Delete,
            op::CHECK => MultiResult::Check,
            op::SET_DATA => MultiResult::SetData(SetDataResponse::decode(r)?),
            op::GET_CHILDREN => MultiResult::GetChildren(GetChildrenResponse::decode(r)?),
            op::GET_DATA => MultiResult::GetData(GetDataResponse::decode(r)?),
            _ => MultiResult::Error(ErrorResponse::decode(r)?.err),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn multi_round_trips() {
        let ops = vec![
            MultiOp::Create {
                op: op::CREATE,
                req: CreateRequest {
                    path: "/a".into(),
                    data: Bytes::from_static(b"x"),
                    acl: open_acl_unsafe(),
                    flags: 0,
                },
            },
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
        ];
        let mut buf = Vec::new();
        encode_multi(&ops, &mut buf);
        assert_eq!(
            Request::decode(op::MULTI, &buf).unwrap(),
            Request::Multi(ops)
        );
    }

    #[test]
    fn mixed_multi_is_rejected() {
        let ops = vec![
            MultiOp::GetData(GetDataRequest {
                path: "/a".into(),
                watch: false,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            }),
        ];
        let mut buf = Vec::new();
        encode_multi(&ops, &mut buf);
        assert_eq!(
            Request::decode(op::MULTI, &buf),
            Err(RequestError::MixedMulti)
        );
    }

    #[test]
    fn multi_response_round_trips() {
        let res = vec![
            MultiResult::Create(CreateResponse { path: "/a".into() }),
            MultiResult::Error(-101),
            MultiResult::Check,
        ];
        let mut buf = Vec::new();
        encode_multi_response(&res, &mut buf);
        assert_eq!(decode_multi_response(&mut Reader::new(&buf)).unwrap(), res);
    }

    #[test]
    fn multi_create_with_invalid_flags_is_rejected() {
        let req = CreateRequest {
            path: "/a".into(),
            acl: open_acl_unsafe(),
            flags: 9,
            ..Default::default()
        };
        let mut buf = Vec::new();
        encode_multi(
            &[MultiOp::Create {
                op: op::CREATE,
                req,
            }],
            &mut buf,
        );
        assert_eq!(
            Request::decode(op::MULTI, &buf),
            Err(RequestError::InvalidCreateMode(9))
        );
    }

    #[test]
    fn unknown_opcode_is_kept() {
        assert_eq!(Request::decode(999, &[]).unwrap(), Request::Unknown(999));
    }
}
