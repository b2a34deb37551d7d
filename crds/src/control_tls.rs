//! `spec.controlTls`: how the operator reaches the workers' control API. The names shared by the operator
//! (which issues the certificate and calls the workers) and its tests live here too.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether the control API is served over TLS with a certificate from the operator's CA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum ControlTlsMode {
    /// The operator issues the job a certificate from its own CA (the Secret `<job>-control-tls`, renewed
    /// before it expires and when the CA rotates), the workers serve the control API over TLS with it (the
    /// kubelet's probes use HTTPS), and the operator verifies it for this job before sending the token.
    #[default]
    OperatorCa,
    /// Plain HTTP: the bearer token crosses the pod network in the clear and only a NetworkPolicy protects
    /// it. For worker images without TLS support or for debugging.
    Disabled,
}

/// `spec.controlTls`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlTlsSpec {
    #[serde(default)]
    pub mode: ControlTlsMode,
}

impl ControlTlsSpec {
    pub fn enabled(&self) -> bool {
        self.mode == ControlTlsMode::OperatorCa
    }
}

/// The Secret holding a job's control certificate (`tls.crt`, `tls.key`, `ca.crt`).
pub fn secret_name(job: &str) -> String {
    format!("{job}-control-tls")
}
