//! The Sluice test bed: real services (Apache Kafka in KRaft mode, an S3-compatible object store, a Kubernetes
//! control plane) started on loopback for integration tests, plus helpers the end-to-end tests share.
//!
//! Everything downloaded or built is cached under [`cache::cache_root`] so a warm run reuses it. Every process
//! the test bed starts is owned by a [`process::ManagedProcess`] that kills it by PID when dropped, so a failed
//! test does not leave orphans behind.

pub mod autoscale;
pub mod binaries;
pub mod cache;
pub mod example;
pub mod helm;
pub mod input;
pub mod install;
pub mod job_harness;
pub mod kafka_admin;
pub mod node_agent;
pub mod once;
pub mod ports;
pub mod process;
pub mod provenance;
pub mod rng;
pub mod secured_kafka;
pub mod services;
pub mod testbed;

pub use services::kafka::KafkaBroker;
pub use services::kube::KubeCluster;
pub use services::s3::S3Server;
pub use testbed::{TestBed, unique_name};

/// Errors of the test bed. Each names what failed and where its log is, so a failing test explains itself.
#[derive(Debug, thiserror::Error)]
pub enum TestBedError {
    #[error("i/o error while {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command `{command}` failed ({status}); output:\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error(
        "{service} did not become ready within {timeout_s}s; last log lines from {log}:\n{tail}"
    )]
    NotReady {
        service: &'static str,
        timeout_s: u64,
        log: String,
        tail: String,
    },
    #[error("{service} exited during start-up ({status}); last log lines from {log}:\n{tail}")]
    Exited {
        service: &'static str,
        status: String,
        log: String,
        tail: String,
    },
    #[error("test bed environment: {0}")]
    Env(String),
    #[error("kubernetes client: {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TestBedError {
    pub fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let action = action.into();
        move |source| TestBedError::Io { action, source }
    }
}
