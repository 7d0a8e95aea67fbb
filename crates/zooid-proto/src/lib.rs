//! zooid-proto: ZooKeeper's byte format. Records, opcodes, error codes and path rules;
//! no IO, no clocks.

pub mod error;
pub mod jute;
pub mod opcode;
pub mod path;
pub mod quorum;
pub mod records;
pub mod request;

pub use error::ErrorCode;
pub use jute::{DecodeError, JuteWrite, Reader, Record};
pub use records::*;
