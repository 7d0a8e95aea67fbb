//! Txns: a `TxnHeader` plus one of ZooKeeper's txn records. Prep produces them, the log
//! stores them, `DataTree::apply` replays them.

use bytes::Bytes;
use zooid_proto::opcode::op;
use zooid_proto::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DecodeError, DeleteTxn, ErrorTxn, JuteWrite, MultiTxn, Reader, Record, SetAclTxn,
    SetDataTxn, TxnHeader,
};

/// The record that follows a `TxnHeader`, chosen by the header's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// `create` and `create2` (and `reconfig`'s sibling ops) share `CreateTxn`.
    Create(CreateTxn),
    CreateTtl(CreateTtlTxn),
    CreateContainer(CreateContainerTxn),
    /// `delete` and `deleteContainer`.
    Delete(DeleteTxn),
    /// `setData` and `reconfig`.
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    Error(ErrorTxn),
    /// Sub-txns with their own types; all share the header's zxid.
    Multi(Vec<(i32, TxnBody)>),
}

/// A complete txn as it is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub hdr: TxnHeader,
    pub body: TxnBody,
}

impl TxnBody {
    pub fn encode<W: JuteWrite>(&self, w: &mut W) {
        match self {
            TxnBody::Create(t) => t.encode(w),
            TxnBody::CreateTtl(t) => t.encode(w),
            TxnBody::CreateContainer(t) => t.encode(w),
            TxnBody::Delete(t) => t.encode(w),
            TxnBody::SetData(t) => t.encode(w),
            TxnBody::SetAcl(t) => t.encode(w),
            TxnBody::Check(t) => t.encode(w),
            TxnBody::CreateSession(t) => t.encode(w),
            TxnBody::CloseSession(t) => t.encode(w),
            TxnBody::Error(t) => t.encode(w),
            TxnBody::Multi(subs) => {
                let txns = subs
                    .iter()
                    .map(|(op, b)| {
                        let mut v = Vec::new();
                        b.encode(&mut v);
                        zooid_proto::Txn {
                            op: *op,
                            data: Bytes::from(v),
                        }
                    })
                    .collect();
                MultiTxn { txns }.encode(w)
            }
        }
    }

    /// Decodes the record for txn type `op`.
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<TxnBody, DecodeError> {
        Ok(match op {
            op::CREATE | op::CREATE2 => TxnBody::Create(CreateTxn::decode(r)?),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn::decode(r)?),
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn::decode(r)?),
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete(DeleteTxn::decode(r)?),
            op::SET_DATA | op::RECONFIG => TxnBody::SetData(SetDataTxn::decode(r)?),
            op::SET_ACL => TxnBody::SetAcl(SetAclTxn::decode(r)?),
            op::CHECK => TxnBody::Check(CheckVersionTxn::decode(r)?),
            op::CREATE_SESSION => TxnBody::CreateSession(CreateSessionTxn::decode(r)?),
            op::CLOSE_SESSION => TxnBody::CloseSession(CloseSessionTxn::decode(r)?),
            op::MULTI => {
                let m = MultiTxn::decode(r)?;
                let mut subs = Vec::with_capacity(m.txns.len());
                for t in m.txns {
                    let mut sr = Reader::new(&t.data);
                    subs.push((t.op, TxnBody::decode(t.op, &mut sr)?));
                }
                TxnBody::Multi(subs)
            }
            _ => TxnBody::Error(ErrorTxn::decode(r)?),
        })
    }
}

impl Txn {
    pub fn zxid(&self) -> i64 {
        self.hdr.zxid
    }

    /// `TxnHeader` followed by the body, as the txn log stores it.
    pub fn encode<W: JuteWrite>(&self, w: &mut W) {
        self.hdr.encode(w);
        self.body.encode(w);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Txn, DecodeError> {
        let hdr = TxnHeader::decode(r)?;
        let body = TxnBody::decode(hdr.op, r)?;
        Ok(Txn { hdr, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_txn_round_trips() {
        let t = Txn {
            hdr: TxnHeader {
                client_id: 5,
                cxid: 7,
                zxid: 9,
                time: 11,
                op: op::MULTI,
            },
            body: TxnBody::Multi(vec![
                (
                    op::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: "/a".into(),
                        ..Default::default()
                    }),
                ),
                (op::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
            ]),
        };
        let mut v = Vec::new();
        t.encode(&mut v);
        let mut r = Reader::new(&v);
        assert_eq!(Txn::decode(&mut r).unwrap(), t);
        assert_eq!(r.remaining(), 0);
    }
}
