//! The real services integration tests talk to.

pub mod kafka;
pub mod kafka_tls;
pub mod kube;
pub mod node;
pub mod oidc_issuer;
pub mod s3;
