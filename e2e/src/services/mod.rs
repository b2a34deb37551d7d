//! The real services integration tests talk to.

pub mod kafka;
pub mod kube;
pub mod s3;
