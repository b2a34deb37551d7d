//! What makes two deployments different. A pod runs a *deployment*: the spec fields that reach the worker
//! (image, parallelism, job config, resources, refs, pod template, restartNonce) plus the model ConfigMap's
//! content. Operational fields (lifecycle switch, upgrade mode, savepoint/checkpoint nonces, periodic
//! savepoints and the savepoint timeout, restart/rollback/retention/deletion policies, the disruption budget) change what the operator does, not what the pods run,
//! so they are left out: changing only them restarts nothing.

use sha2::{Digest, Sha256};
use sluice_crds::StreamJobSpec;

/// The spec with operational fields reset, as JSON.
fn deploy_relevant(spec: &StreamJobSpec) -> serde_json::Value {
    let mut s = spec.clone();
    s.state = Default::default();
    s.upgrade_mode = Default::default();
    s.savepoint_trigger_nonce = None;
    s.checkpoint_trigger_nonce = None;
    s.initial_savepoint_path = None;
    s.restart_policy = Default::default();
    s.rollback = Default::default();
    s.savepoint_retention = Default::default();
    s.savepoints = Default::default();
    s.deletion = Default::default();
    s.disruption_budget = Default::default();
    serde_json::to_value(&s).unwrap_or(serde_json::Value::Null)
}

/// Short hex fingerprint of a deployment of `spec` with model content hash `model_hash`.
pub fn fingerprint(spec: &StreamJobSpec, model_hash: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(deploy_relevant(spec).to_string().as_bytes());
    h.update(b"\0model:");
    h.update(model_hash.unwrap_or("").as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Hash of a ConfigMap's data (sorted keys, so it is stable).
pub fn data_hash<'a>(entries: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let mut h = Sha256::new();
    for (k, v) in entries {
        h.update(k.as_bytes());
        h.update(b"\0");
        h.update(v.as_bytes());
        h.update(b"\0");
    }
    hex::encode(&h.finalize()[..8])
}

/// The spec as stored in `status.lastReconciledSpec` / `lastStableSpec`.
pub fn spec_json(spec: &StreamJobSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// Parses a stored spec; `None` when absent or unreadable (an older operator's format).
pub fn parse_spec(json: Option<&str>) -> Option<StreamJobSpec> {
    json.and_then(|j| serde_json::from_str(j).ok())
}
