//! What makes the log worth an auditor's trust: the signing of checkpoints
//! of each company's hash chain, and the verification of a log against its
//! chain and its checkpoints.

pub mod archive;
pub mod cold;
pub mod signing;
pub mod verify;

pub use signing::{CheckpointKey, PublicKey};
pub use verify::{Progress, Report, VerifyError, verify};
