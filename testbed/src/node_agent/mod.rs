//! `sluice-node-agent`: a stand-in for the kubelet on the local test control plane, so operator tests can run
//! real pods without containers. It registers one Node, binds every unscheduled pod to it, and runs each
//! pod's first container as a local process. docs/testing.md ("The node agent") lists exactly what of the pod
//! spec is honoured; anything else is ignored.
//!
//! - [`node`]: the Node object and its heartbeat.
//! - [`plan`]: pure translation of a pod (plus the ConfigMaps/Secrets it references) into a process launch.
//! - [`sources`]: fetching those ConfigMaps/Secrets.
//! - [`status`]: pure construction of the pod status the agent reports.
//! - [`worker`]: one task per pod: materialise, spawn, probe, restart, terminate, finalise.
//! - [`agent`]: the pod watch that binds pods and starts/stops workers.

pub mod agent;
pub mod ips;
pub mod node;
pub mod plan;
pub mod probe;
pub mod sources;
pub mod status;
pub mod worker;

use std::path::PathBuf;

pub use agent::{AgentConfig, run};
pub use plan::ImageMapping;

/// Errors of the node agent, each with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum NodeAgentError {
    #[error("kubernetes API: {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("i/o: {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The pod asks for something the agent cannot provide (e.g. a missing ConfigMap key).
    #[error("pod spec: {0}")]
    Spec(String),
    #[error("node agent configuration: {0}")]
    Config(String),
}

impl NodeAgentError {
    pub(crate) fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| NodeAgentError::Kube { action, source }
    }

    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let action = action.into();
        move |source| NodeAgentError::Io { action, source }
    }
}

/// The default image mapping: any image whose name contains `sluice-worker` runs
/// `$CARGO_TARGET_DIR/debug/sluice-worker` (or `target/debug/sluice-worker` of this checkout).
pub fn default_image_mappings() -> Vec<ImageMapping> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::cache::repo_root().join("target"), PathBuf::from);
    vec![ImageMapping {
        image_contains: "sluice-worker".into(),
        binary: target.join("debug").join("sluice-worker"),
    }]
}
