//! The real services integration tests talk to.

pub mod kafka;
pub mod kube;
pub mod node;
pub mod s3;
