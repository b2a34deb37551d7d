//! `examples/fraud-streamjob.yaml`, the production manifest users start from, with this machine's values in
//! place of the ones that cannot exist here, field by field: the namespace and name, image, Kafka address and
//! security (no SASL_SSL broker here), topic names and transactional-id prefix (unique per run), the
//! checkpoint store (the test S3 server), the PVC (an emptyDir), state cache sizes and resource requests (a
//! 2-core test machine), and Secret names. Everything else — parallelism, partitions, intervals, watermarks,
//! TTL, restart policy, rollback, the pod template — is the example's own.

use sluice_crds::JobConfig;

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
pub fn localize(local: &Localization<'_>) -> serde_yaml::Value {
    #[allow(clippy::expect_used)]
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(EXAMPLE_YAML).expect("the example manifest parses");
    let v = |j: serde_json::Value| serde_yaml::to_value(j).unwrap_or_default();
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
    let storage = serde_json::json!({"volume": "emptyDir", "credentialsSecret": {"name": "s3"}});
    set(&mut doc, &["spec", "storage"], v(storage));
    let control = serde_json::json!({"tokenSecret": {"name": "control", "key": "token"}});
    set(&mut doc, &["spec", "controlApi"], v(control));
    let model = serde_json::json!({"configMap": {"name": "fraud-model", "key": "model.yaml"}});
    set(&mut doc, &["spec", "model"], v(model));
    remove(&mut doc, &["spec", "kafkaAuth"]);
    remove(&mut doc, &["spec", "resources"]);
    doc
}

/// The node labels the example's `podTemplate.nodeSelector` asks for, as `key=value` (a real node must carry
/// them for the scheduler to place the workers; the example's tolerations are for the pool's taint).
pub fn example_node_labels() -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(EXAMPLE_YAML).unwrap_or_default();
    doc["spec"]["podTemplate"]["nodeSelector"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some(format!("{}={}", k.as_str()?, v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn set(doc: &mut serde_yaml::Value, path: &[&str], value: serde_yaml::Value) {
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    let mut at = doc;
    for key in parents {
        at = at
            .get_mut(*key)
            .unwrap_or_else(|| panic!("the example has no {key}"));
    }
    if let Some(map) = at.as_mapping_mut() {
        map.insert((*last).into(), value);
    }
}

fn remove(doc: &mut serde_yaml::Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    let mut at = doc;
    for key in parents {
        at = at
            .get_mut(*key)
            .unwrap_or_else(|| panic!("the example has no {key}"));
    }
    let removed = at.as_mapping_mut().and_then(|m| m.remove(*last));
    assert!(removed.is_some(), "the example has no {}", path.join("."));
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
