//! `spec.podTemplate`: a full template resolves; unknown, mistyped and operator-owned fields are problems
//! naming their path; the deprecated fields still work and may not be said twice.

use serde_json::json;
use sluice_crds::StreamJobSpec;

use super::pod_template::{overlaps, resolve};
use crate::decide::tests::spec;

fn with_template(template: serde_json::Value) -> StreamJobSpec {
    let mut s = spec();
    s.pod_template = serde_json::from_value(template).unwrap();
    s
}

fn problem_fields(template: serde_json::Value) -> Vec<String> {
    match resolve(&with_template(template)) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.field).collect(),
    }
}

#[test]
fn a_full_template_resolves() {
    let t = resolve(&with_template(json!({
        "metadata": {"labels": {"team": "risk"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [
                {"name": "worker", "env": [{"name": "TZ", "value": "UTC"}],
                 "envFrom": [{"configMapRef": {"name": "extra"}}],
                 "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]},
                {"name": "shipper", "image": "shipper:1"}
            ],
            "initContainers": [{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["streaming"]}]}]}}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"sluice.dev/job": "fraud"}}}],
            "imagePullSecrets": [{"name": "registry"}],
            "priorityClassName": "streaming",
            "runtimeClassName": "gvisor",
            "terminationGracePeriodSeconds": 120
        }
    })))
    .unwrap();
    assert_eq!(t.labels["team"], "risk");
    assert_eq!(t.annotations["a"], "b");
    assert_eq!(t.spec.containers.len(), 2);
    assert_eq!(t.spec.init_containers.as_ref().unwrap()[0].name, "proxy");
    assert_eq!(t.spec.runtime_class_name.as_deref(), Some("gvisor"));
    assert_eq!(t.spec.termination_grace_period_seconds, Some(120));
    assert!(t.spec.topology_spread_constraints.is_some() && t.spec.affinity.is_some());
}

#[test]
fn an_unknown_field_is_a_problem_naming_its_path() {
    let fields = problem_fields(json!({"spec": {
        "nodeSelecter": {"pool": "streaming"},
        "containers": [{"name": "worker", "envv": [{"name": "TZ", "value": "UTC"}]}],
        "volumes": [{"name": "x", "emptyDir": {"sizeLimit": "1Gi", "medium": "Memory", "mediumm": 1}}]
    }}));
    assert_eq!(
        fields,
        [
            "spec.podTemplate.spec.containers[0].envv",
            "spec.podTemplate.spec.nodeSelecter",
            "spec.podTemplate.spec.volumes[0].emptyDir.mediumm",
        ]
    );
    // An explicit null is no field at all.
    assert!(problem_fields(json!({"spec": {"nodeSelector": null}})).is_empty());
}

#[test]
fn a_mistyped_field_is_a_problem_naming_its_path() {
    let s = with_template(
        json!({"spec": {"containers": [{"name": "worker", "ports": [{"containerPort": "http"}]}]}}),
    );
    let problems = resolve(&s).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].field,
        "spec.podTemplate.spec.containers[0].ports[0].containerPort"
    );
    assert!(
        problems[0].message.contains("invalid type"),
        "{}",
        problems[0].message
    );
}

#[test]
fn what_the_operator_owns_is_refused_with_the_field_and_the_fix() {
    let problems = resolve(&with_template(json!({"spec": {
        "restartPolicy": "Always",
        "hostname": "x",
        "containers": [{
            "name": "worker", "image": "other:2", "command": ["sh"], "args": ["-c"],
            "resources": {"limits": {"memory": "1Gi"}},
            "env": [{"name": "SLUICE_WORKER_IDENTITY", "value": "w9"}, {"name": "TZ", "value": "UTC"},
                    {"name": "RUST_LOG", "value": "debug"}],
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/sluice/extra"},
                             {"name": "ok", "mountPath": "/etc/sluice-extra"},
                             {"name": "cover", "mountPath": "/var"}]
        }],
        "volumes": [{"name": "state", "emptyDir": {}}],
        "initContainers": [{"name": "worker", "image": "x:1"}]
    }})))
    .unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    let p = "spec.podTemplate.spec";
    assert_eq!(
        fields,
        [
            format!("{p}.restartPolicy"),
            format!("{p}.hostname"),
            format!("{p}.volumes[0].name"),
            format!("{p}.containers[0].command"),
            format!("{p}.containers[0].args"),
            format!("{p}.containers[0].image"),
            format!("{p}.containers[0].resources"),
            format!("{p}.containers[0].env[0].name"),
            format!("{p}.containers[0].env[2].name"),
            format!("{p}.containers[0].volumeMounts[0].mountPath"),
            format!("{p}.containers[0].volumeMounts[2].mountPath"),
            format!("{p}.initContainers[0].name"),
        ]
    );
    let image = problems
        .iter()
        .find(|p| p.field.ends_with("[0].image"))
        .unwrap();
    assert!(
        image.message.contains("fix: set spec.image"),
        "{}",
        image.message
    );
    let mount = problems
        .iter()
        .find(|p| p.field.ends_with("volumeMounts[2].mountPath"))
        .unwrap();
    // The default state directory lies under /var.
    assert!(
        mount.message.contains("overlaps the operator's mount"),
        "{}",
        mount.message
    );
}

#[test]
fn added_containers_need_a_name_and_an_image() {
    let fields = problem_fields(
        json!({"spec": {"containers": [{"name": "", "image": "x:1"}, {"name": "shipper"}]}}),
    );
    assert_eq!(
        fields,
        [
            "spec.podTemplate.spec.containers[0].name",
            "spec.podTemplate.spec.containers[1].image"
        ]
    );
}

#[test]
fn store_credentials_are_the_operators_only_when_it_sets_them() {
    let template = json!({"spec": {"containers": [{"name": "worker", "env": [{"name": "AWS_ACCESS_KEY_ID", "value": "k"}]}]}});
    assert!(problem_fields(template.clone()).is_empty());
    let mut s = with_template(template);
    s.storage.credentials_secret = Some(serde_json::from_value(json!({"name": "s3"})).unwrap());
    let problems = resolve(&s).unwrap_err();
    assert_eq!(
        problems[0].field,
        "spec.podTemplate.spec.containers[0].env[0].name"
    );
}

#[test]
fn the_deprecated_fields_still_work_but_not_twice() {
    let t = resolve(&with_template(json!({
        "labels": {"team": "risk"},
        "nodeSelector": {"pool": "streaming"},
        "securityContext": {"fsGroup": 2000},
        "priorityClassName": "streaming",
        "spec": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}
    })))
    .unwrap();
    assert_eq!(t.labels["team"], "risk");
    assert_eq!(t.spec.node_selector.unwrap()["pool"], "streaming");
    assert_eq!(t.spec.security_context.unwrap().fs_group, Some(2000));
    assert_eq!(t.spec.priority_class_name.as_deref(), Some("streaming"));
    assert_eq!(t.spec.tolerations.unwrap().len(), 1);

    let twice = resolve(&with_template(json!({
        "labels": {"team": "risk"},
        "metadata": {"labels": {"team": "fraud"}},
        "nodeSelector": {"pool": "streaming"},
        "spec": {"nodeSelector": {"pool": "batch"}}
    })))
    .unwrap_err();
    let fields: Vec<&str> = twice.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.podTemplate.nodeSelector", "spec.podTemplate.labels"]
    );
    assert!(
        twice[0]
            .message
            .contains("keep only spec.podTemplate.spec.nodeSelector"),
        "{}",
        twice[0].message
    );
}

#[test]
fn mount_paths_overlap_when_equal_or_nested() {
    assert!(overlaps("/etc/sluice", "/etc/sluice/"));
    assert!(overlaps("/etc/sluice/x", "/etc/sluice"));
    assert!(overlaps("/etc", "/etc/sluice"));
    assert!(!overlaps("/etc/sluice-extra", "/etc/sluice"));
    assert!(!overlaps("/scratch", "/var/lib/sluice"));
}

#[test]
fn a_literal_credential_in_any_container_names_its_value_field() {
    let fields = problem_fields(json!({"spec": {
        "containers": [
            {"name": "worker", "env": [
                {"name": "TZ", "value": "UTC"},
                {"name": "FEATURE_API_TOKEN", "value": "t0ps3cret"},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "DB_PASSWORD_FILE", "value": "/secrets/db"}
            ]},
            {"name": "shipper", "image": "shipper:1", "env": [{"name": "SHIPPER_SECRET", "value": "x"}]}
        ],
        "initContainers": [{"name": "fetch", "image": "fetch:1", "env": [{"name": "PRIVATE_KEY", "value": "k"}]}]
    }}));
    assert_eq!(
        fields,
        [
            "spec.podTemplate.spec.containers[0].env[1].value",
            "spec.podTemplate.spec.containers[1].env[0].value",
            "spec.podTemplate.spec.initContainers[0].env[0].value",
        ]
    );
    let message = resolve(&with_template(json!({"spec": {"containers": [
        {"name": "worker", "env": [{"name": "FEATURE_API_TOKEN", "value": "t0ps3cret"}]}
    ]}})))
    .unwrap_err()[0]
        .message
        .clone();
    assert!(
        message.contains("secretKeyRef") && !message.contains("t0ps3cret"),
        "{message}"
    );
}
