//! Names AWS fixes that both sides here use: the client that signs requests and the emulation
//! that checks them.

/// API Gateway's signing name (the SigV4 service of `execute-api` endpoints).
pub const EXECUTE_API: &str = "execute-api";
