//! The real services integration tests talk to.

pub mod kafka;
pub mod s3;
