//! zooid-tree: the DataTree and its rules. Prep turns requests into txns, `apply`
//! replays txns, reads are plain functions of the tree. Pure: no IO, no clocks, no
//! randomness; every input (time, zxid, session) arrives in the request or the txn.
#![deny(clippy::disallowed_methods)]

pub mod acl;
pub mod children;
mod nodemap;
pub mod prep;
pub mod quota;
pub mod tree;
pub mod txn;
pub mod watch;

pub use tree::{DataTree, Node, NodeKind, TreeBuilder, Trigger, TxnResult, WalkCursor};
pub use txn::{Txn, TxnBody};
