//! `examples/fraud-streamjob.yaml`, the production manifest users start from, with this machine's values in
//! place of the ones that cannot exist here, field by field: the namespace and name, image, Kafka address and
//! security (no SASL_SSL broker here), topic names and transactional-id prefix (unique per run), the
//! checkpoint store (the test S3 server), the PVC (an emptyDir), state cache sizes and resource requests (a
//! 2-core test machine), and Secret names. Everything else — parallelism, partitions, intervals, watermarks,
//! TTL, restart policy, rollback, the pod template — is the example's own.

use std::path::Path;
use std::process::Command;

use sluice_crds::JobConfig;

use crate::TestBedError;
use crate::binaries::binary;
use crate::process::ManagedProcess;

/// The committed example manifest.
pub const EXAMPLE_YAML: &str = include_str!("../../examples/fraud-streamjob.yaml");

/// What replaces the example's production values.
#[derive(Debug, Clone)]
pub struct Localization<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub image: &'a str,
    /// The job's topics and transactional-id prefix.
    pub job: &'a JobConfig,
    pub bootstrap: &'a str,
    pub bucket: &'a str,
    pub s3_endpoint: &'a str,
}

/// The example with `local`'s values. Panics if the example lost a field it replaces (a test helper).
pub fn localize(local: &Localization<'_>) -> serde_norway::Value {
    #[allow(clippy::expect_used)]
    let mut doc: serde_norway::Value =
        serde_norway::from_str(EXAMPLE_YAML).expect("the example manifest parses");
    let v = |j: serde_json::Value| serde_norway::to_value(j).unwrap_or_default();
    set(&mut doc, &["metadata", "name"], local.name.into());
    set(&mut doc, &["metadata", "namespace"], local.namespace.into());
    set(&mut doc, &["spec", "image"], local.image.into());
    let prefix = local.job.transactional_id_prefix.clone();
    set(
        &mut doc,
        &["spec", "job", "transactionalIdPrefix"],
        prefix.into(),
    );
    let kafka = serde_json::json!({"bootstrapServers": local.bootstrap});
    set(&mut doc, &["spec", "job", "kafka"], v(kafka));
    let topics = serde_json::to_value(&local.job.topics).unwrap_or_default();
    set(&mut doc, &["spec", "job", "topics"], v(topics));
    let store = format!("s3://{}/store", local.bucket);
    set(
        &mut doc,
        &["spec", "job", "state", "checkpointStore"],
        store.into(),
    );
    let s3 = serde_json::json!({"endpoint": local.s3_endpoint, "region": "us-east-1", "pathStyle": true});
    set(&mut doc, &["spec", "job", "state", "s3"], v(s3));
    // The example's state sizes are for production nodes.
    set(
        &mut doc,
        &["spec", "job", "state", "blockCacheMib"],
        16.into(),
    );
    set(
        &mut doc,
        &["spec", "job", "state", "writeBufferMib"],
        16.into(),
    );
    let storage = serde_json::json!({"volume": "emptyDir", "credentialsSecret": {"name": "s3"},
        "encryptionKeysSecret": {"name": STATE_KEYS_SECRET}});
    set(&mut doc, &["spec", "storage"], v(storage));
    let control = serde_json::json!({"tokenSecret": {"name": "control", "key": "token"}});
    set(&mut doc, &["spec", "controlApi"], v(control));
    let model = serde_json::json!({"configMap": {"name": "fraud-model", "key": "model.yaml"}});
    set(&mut doc, &["spec", "model"], v(model));
    remove(&mut doc, &["spec", "kafkaAuth"]);
    remove(&mut doc, &["spec", "resources"]);
    doc
}

/// The Secret the localized example takes its state encryption keys from.
pub const STATE_KEYS_SECRET: &str = "state-keys";

/// The example's current state encryption key id, and a test key for it (32 bytes in base64): what the
/// keys Secret of a localized example holds.
pub fn example_state_key() -> (String, String) {
    let doc: serde_norway::Value = serde_norway::from_str(EXAMPLE_YAML).unwrap_or_default();
    let id = doc["spec"]["job"]["state"]["encryption"]["currentKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // 32 bytes: "sluice-example-state-key-32bytes".
    (id, "c2x1aWNlLWV4YW1wbGUtc3RhdGUta2V5LTMyYnl0ZXM=".into())
}

/// The node labels the example's `podTemplate.spec.nodeSelector` asks for, as `key=value` (a real node must carry
/// them for the scheduler to place the workers; the example's tolerations are for the pool's taint).
pub fn example_node_labels() -> Vec<String> {
    let doc: serde_norway::Value = serde_norway::from_str(EXAMPLE_YAML).unwrap_or_default();
    doc["spec"]["podTemplate"]["spec"]["nodeSelector"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some(format!("{}={}", k.as_str()?, v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The mapping that holds the last key of `path`, and that key. Panics if a parent key is missing.
fn parent_of<'v, 'p>(
    doc: &'v mut serde_norway::Value,
    path: &[&'p str],
) -> (Option<&'v mut serde_norway::Mapping>, &'p str) {
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    let mut at = doc;
    for key in parents {
        at = at
            .get_mut(*key)
            .unwrap_or_else(|| panic!("the example has no {key}"));
    }
    (at.as_mapping_mut(), last)
}

fn set(doc: &mut serde_norway::Value, path: &[&str], value: serde_norway::Value) {
    if let (Some(map), last) = parent_of(doc, path) {
        map.insert(last.into(), value);
    }
}

fn remove(doc: &mut serde_norway::Value, path: &[&str]) {
    let (map, last) = parent_of(doc, path);
    let removed = map.and_then(|m| m.remove(last));
    assert!(removed.is_some(), "the example has no {}", path.join("."));
}

/// Starts the example tests' load: `sluice produce` (the binary, as a separate process) at 400 records/s,
/// `authorizations` over 1,500 cards (seed 11) into the job's topics, which it reads from `dir/job.yaml`
/// (written here from `job`). Its log is `dir/produce.log`.
pub fn start_example_load(
    bootstrap: &str,
    job: &JobConfig,
    partitions: i32,
    authorizations: u32,
    dir: &Path,
) -> Result<ManagedProcess, TestBedError> {
    let job_file = dir.join("job.yaml");
    let yaml = serde_norway::to_string(job)
        .map_err(|e| TestBedError::Env(format!("serializing the job config: {e}")))?;
    std::fs::write(&job_file, yaml)
        .map_err(TestBedError::io(format!("writing {}", job_file.display())))?;
    let mut produce = Command::new(binary("sluice")?);
    produce
        .args(["produce", "--bootstrap", bootstrap, "--rate", "400"])
        .args([
            "--authorizations",
            &authorizations.to_string(),
            "--cards",
            "1500",
            "--seed",
            "11",
        ])
        .args(["--partitions", &partitions.to_string(), "--job"])
        .arg(&job_file);
    ManagedProcess::spawn("sluice produce", produce, &dir.join("produce.log"))
}

#[cfg(test)]
mod tests {
    use super::example_node_labels;

    #[test]
    fn the_example_pins_its_workers_to_a_node_pool() {
        assert_eq!(
            example_node_labels(),
            vec!["node.kubernetes.io/pool=streaming".to_string()]
        );
    }
}
