//! What makes two deployments different. A pod runs a *deployment*: the spec fields that reach the worker
//! (image, parallelism, job config, resources, refs, pod template, restartNonce) plus the model ConfigMap's
//! content. Operational fields (lifecycle switch, upgrade mode, savepoint/checkpoint/redeploy nonces, periodic
//! savepoints and the savepoint timeout, restart/rollback/retention/deletion policies, the disruption budget) change what the operator does, not what the pods run,
//! so they are left out: changing only them restarts nothing.

use sha2::{Digest, Sha256};
use sluice_crds::StreamJobSpec;

/// What a job without a model hashes in the model's place.
const NO_MODEL: &str = "";

/// The spec with operational fields reset, as JSON: what the fingerprint hashes.
pub fn deploy_relevant_json(spec: &StreamJobSpec) -> Result<String, serde_json::Error> {
    let mut s = spec.clone();
    s.state = Default::default();
    s.upgrade_mode = Default::default();
    s.savepoint_trigger_nonce = None;
    s.checkpoint_trigger_nonce = None;
    s.savepoint_redeploy_nonce = None;
    s.initial_savepoint_path = None;
    s.restart_policy = Default::default();
    s.rollback = Default::default();
    s.savepoint_retention = Default::default();
    s.savepoints = Default::default();
    s.deletion = Default::default();
    s.disruption_budget = Default::default();
    // Through a `Value` (sorted keys), byte for byte as earlier operators hashed it: a fingerprint that changed
    // with an operator upgrade would restart every worker.
    Ok(serde_json::to_value(&s)?.to_string())
}

/// Short hex fingerprint of a deployment whose [`deploy_relevant_json`] is `deploy_json`, with model content
/// hash `model_hash`.
pub fn fingerprint(deploy_json: &str, model_hash: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(deploy_json.as_bytes());
    h.update(b"\0model:");
    h.update(model_hash.unwrap_or(NO_MODEL).as_bytes());
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
