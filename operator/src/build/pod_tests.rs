//! The objects a deployment renders to: the worker pod (identity, partitions, fencing, restore, probes,
//! the security context), the job ConfigMap, and a deploy step as a whole.

use k8s_openapi::api::core::v1::{Pod, PodSecurityContext, SeccompProfile};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use std::num::NonZeroU32;

use super::pod::{pod, pod_security};
use super::{BuildError, steps};
use crate::build::test_support::job_meta;
use crate::decide::tests::spec;
use crate::reconcile::{Action, Deploy, Deployment};
use crate::validate::ValidatedJob;

fn deployment(spec: sluice_crds::StreamJobSpec) -> Deployment {
    Deployment {
        job: ValidatedJob::from_spec(spec).unwrap(),
        hash: "h".into(),
        restore_from: None,
        previous_parallelism: None,
        lineage: None,
    }
}

fn env_of(p: &Pod, name: &str) -> Option<String> {
    p.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[test]
fn pod_carries_identity_partitions_restore_and_fencing() {
    let mut s = spec();
    s.parallelism = 3;
    s.partitions = 6;
    let d = Deployment {
        hash: "h1".into(),
        restore_from: Some("s3://b/p/fraud/savepoints/sp-1".into()),
        previous_parallelism: NonZeroU32::new(2),
        ..deployment(s)
    };
    let p = pod(&job_meta(), &d, 1).unwrap();
    assert_eq!(p.metadata.name.as_deref(), Some("fraud-worker-1"));
    assert_eq!(
        env_of(&p, "SLUICE_WORKER_IDENTITY").as_deref(),
        Some("p3-w1")
    );
    assert_eq!(
        env_of(&p, "SLUICE_WORKER_PARTITIONS").as_deref(),
        Some("2,3")
    );
    // Old layout p2: w0 owned 0..3, w1 owned 3..6; new w1 owns 2,3 → both old ids are fenced.
    assert_eq!(
        env_of(&p, "SLUICE_FENCE_TRANSACTIONAL_IDS").as_deref(),
        Some("fraud-test-p2-w0,fraud-test-p2-w1")
    );
    assert_eq!(
        env_of(&p, "SLUICE_RESTORE_FROM").as_deref(),
        Some("s3://b/p/fraud/savepoints/sp-1")
    );
    let labels = p.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("sluice-worker")
    );
    assert_eq!(
        labels.get("sluice.dev/job").map(String::as_str),
        Some("fraud")
    );
    assert_eq!(p.metadata.owner_references.as_ref().map(Vec::len), Some(1));
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        c.command.as_ref().unwrap(),
        &vec!["sluice-worker".to_string(), "/etc/sluice/job.yaml".into()]
    );
    let probe = c
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(probe.path.as_deref(), Some("/readyz"));
    assert_eq!(probe.port, IntOrString::Int(8080));
}

#[test]
fn no_fencing_or_restore_without_a_previous_layout() {
    let d = deployment(spec());
    let p = pod(&job_meta(), &d, 0).unwrap();
    assert_eq!(env_of(&p, "SLUICE_FENCE_TRANSACTIONAL_IDS"), None);
    assert_eq!(env_of(&p, "SLUICE_RESTORE_FROM"), None);
}

#[test]
fn config_map_holds_job_and_placeholder_worker() {
    let d = deployment(spec());
    let cm = crate::build::config_map::config_map(&job_meta(), &d).unwrap();
    let body = &cm.data.unwrap()["job.yaml"];
    let v: serde_norway::Value = serde_norway::from_str(body).unwrap();
    assert_eq!(
        v["job"]["transactionalIdPrefix"].as_str(),
        Some("fraud-test")
    );
    assert!(
        v["worker"]["partitions"]
            .as_sequence()
            .is_some_and(|s| s.is_empty())
    );
    // The worker's own type must accept what we write.
    let job: sluice_crds::JobConfig = serde_norway::from_value(v["job"].clone()).unwrap();
    assert!(job.validate().is_empty());
}

#[test]
fn a_partial_user_security_context_is_completed_to_restricted() {
    // The example manifest's podTemplate.securityContext: no seccomp profile, no group.
    let user = PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        fs_group: Some(65532),
        ..PodSecurityContext::default()
    };
    let ctx = pod_security(Some(&user));
    assert_eq!(
        ctx.seccomp_profile.map(|p| p.type_).as_deref(),
        Some("RuntimeDefault")
    );
    assert_eq!(ctx.run_as_group, Some(65532));
    // What the user set explicitly is kept.
    let own = PodSecurityContext {
        run_as_user: Some(1000),
        seccomp_profile: Some(SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: Some("sluice.json".into()),
        }),
        ..PodSecurityContext::default()
    };
    let ctx = pod_security(Some(&own));
    assert_eq!(ctx.run_as_user, Some(1000));
    assert_eq!(
        ctx.seccomp_profile.map(|p| p.type_).as_deref(),
        Some("Localhost")
    );
    assert_eq!(pod_security(None).run_as_non_root, Some(true));
}

#[test]
fn a_deploy_step_renders_every_object_and_other_actions_pass_through() {
    let deploy = Action::Deploy(Box::new(Deploy {
        deployment: deployment(spec()),
        create_ordinals: vec![1],
    }));
    let delete = Action::DeletePods(vec!["fraud-worker-0".into()]);
    let rendered = steps(&job_meta(), vec![delete.clone(), deploy]).unwrap();
    assert_eq!(rendered.len(), 2);
    assert!(
        matches!(&rendered[0], Action::DeletePods(p) if p == &vec!["fraud-worker-0".to_string()])
    );
    let Action::Deploy(objects) = &rendered[1] else {
        panic!("{rendered:?}")
    };
    assert_eq!(
        objects.config_map.metadata.name.as_deref(),
        Some("fraud-config")
    );
    assert_eq!(
        objects.service.metadata.name.as_deref(),
        Some("fraud-workers")
    );
    assert!(objects.disruption_budget.is_some());
    let pods: Vec<_> = objects
        .workers
        .iter()
        .map(|w| w.pod.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(pods, ["fraud-worker-1"]);
    // The default emptyDir needs no claim.
    assert!(objects.workers[0].volume_claim.is_none());
}

#[test]
fn an_ordinal_beyond_the_parallelism_is_an_error_not_an_idle_worker() {
    let deploy = Action::Deploy(Box::new(Deploy {
        deployment: deployment(spec()),
        create_ordinals: vec![2],
    }));
    let err = steps(&job_meta(), vec![deploy]).unwrap_err();
    assert!(
        matches!(err, BuildError::NoSuchOrdinal { ordinal: 2, .. }),
        "{err}"
    );
}

#[test]
fn the_pod_template_is_merged_over_the_operators_pod() {
    let mut s = spec();
    s.pod_template = serde_json::from_value(serde_json::json!({
        "metadata": {"labels": {"team": "risk", "sluice.dev/job": "other"}},
        "spec": {
            "securityContext": {"fsGroup": 2000},
            "containers": [
                {"name": "shipper", "image": "shipper:1", "securityContext": {"readOnlyRootFilesystem": true}},
                {"name": "worker", "env": [{"name": "TZ", "value": "UTC"}],
                 "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
                 "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                 "readinessProbe": {"periodSeconds": 2}}
            ],
            "initContainers": [{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "terminationGracePeriodSeconds": 120
        }
    }))
    .unwrap();
    let p = pod(&job_meta(), &deployment(s), 0).unwrap();
    let labels = p.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "risk");
    assert_eq!(
        labels["sluice.dev/job"], "fraud",
        "the operator's label wins"
    );
    let ps = p.spec.unwrap();
    let names: Vec<&str> = ps.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["worker", "shipper"], "the worker stays first");
    let worker = &ps.containers[0];
    let env: Vec<&str> = worker
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        env.contains(&"TZ") && env.contains(&"SLUICE_WORKER_IDENTITY"),
        "{env:?}"
    );
    assert!(worker.command.is_some());
    let mounts: Vec<&str> = worker
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert!(
        mounts.contains(&"/scratch") && mounts.contains(&"/etc/sluice"),
        "{mounts:?}"
    );
    let probe = worker.readiness_probe.as_ref().unwrap();
    assert_eq!(probe.period_seconds, Some(2));
    assert!(probe.http_get.is_some(), "the probe's target stays");
    // A partial container security context is merged with the restricted defaults.
    let ctx = worker.security_context.as_ref().unwrap();
    let caps = ctx.capabilities.as_ref().unwrap();
    assert_eq!(
        caps.add.as_deref(),
        Some(&["NET_BIND_SERVICE".to_string()][..])
    );
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(ctx.read_only_root_filesystem, Some(true));
    // Added containers meet `restricted` without saying so.
    for c in [&ps.containers[1], &ps.init_containers.as_ref().unwrap()[0]] {
        let ctx = c.security_context.as_ref().unwrap();
        assert_eq!(ctx.allow_privilege_escalation, Some(false), "{}", c.name);
        let drop = ctx.capabilities.as_ref().and_then(|c| c.drop.clone());
        assert_eq!(drop, Some(vec!["ALL".to_string()]), "{}", c.name);
    }
    let pod_ctx = ps.security_context.unwrap();
    assert_eq!(pod_ctx.fs_group, Some(2000));
    assert_eq!(pod_ctx.run_as_non_root, Some(true));
    assert!(pod_ctx.seccomp_profile.is_some());
    let volumes: Vec<&str> = ps
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert!(
        volumes.contains(&"scratch") && volumes.contains(&"state"),
        "{volumes:?}"
    );
    assert_eq!(ps.termination_grace_period_seconds, Some(120));
    assert_eq!(ps.restart_policy.as_deref(), Some("OnFailure"));
}

#[test]
fn every_volume_the_operator_mounts_is_reserved() {
    let mut s = spec();
    s.control_api =
        serde_json::from_value(serde_json::json!({"tokenSecret": {"name": "t", "key": "token"}}))
            .unwrap();
    s.model = serde_json::from_value(
        serde_json::json!({"configMap": {"name": "m", "key": "model.yaml"}}),
    )
    .unwrap();
    s.kafka_auth = serde_json::from_value(
        serde_json::json!({"tlsSecret": {"name": "tls"}, "saslSecret": {"name": "sasl"}}),
    )
    .unwrap();
    s.storage.encryption_keys_secret = Some(sluice_crds::LocalObjectRef {
        name: "keys".into(),
    });
    s.storage.credentials_secret = Some(sluice_crds::LocalObjectRef { name: "s3".into() });
    let p = pod(&job_meta(), &deployment(s), 0).unwrap();
    assert_eq!(
        env_of(&p, "SLUICE_S3_CREDENTIALS_DIR").as_deref(),
        Some("/var/run/secrets/sluice/s3")
    );
    assert_eq!(
        env_of(&p, "SLUICE_KAFKA_TLS_DIR").as_deref(),
        Some("/etc/sluice-kafka/tls")
    );
    // No secret travels as an environment variable: the S3 keys are files only.
    let env = p.spec.as_ref().unwrap().containers[0].env.clone().unwrap();
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(env.iter().all(|e| e.name != name), "{name}");
    }
    let volumes = p.spec.unwrap().volumes.unwrap();
    assert_eq!(volumes.len(), super::pod::OPERATOR_VOLUMES.len());
    for v in volumes {
        assert!(
            super::pod::OPERATOR_VOLUMES.contains(&v.name.as_str()),
            "{}",
            v.name
        );
    }
}

#[test]
fn control_tls_mounts_the_job_certificate_and_probes_over_https_unless_disabled() {
    let p = pod(&job_meta(), &deployment(spec()), 0).unwrap();
    let ps = p.spec.clone().unwrap();
    let volume = ps
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "control-tls")
        .unwrap();
    let secret = volume.secret.as_ref().unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("fraud-control-tls"));
    assert_eq!(
        env_of(&p, "SLUICE_CONTROL_TLS_CERT_FILE").as_deref(),
        Some("/var/run/secrets/sluice/control-tls/tls.crt")
    );
    assert_eq!(
        env_of(&p, "SLUICE_CONTROL_TLS_KEY_FILE").as_deref(),
        Some("/var/run/secrets/sluice/control-tls/tls.key")
    );
    let c = &ps.containers[0];
    for probe in [&c.readiness_probe, &c.liveness_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
    }

    let mut off = spec();
    off.control_tls.mode = sluice_crds::ControlTlsMode::Disabled;
    let p = pod(&job_meta(), &deployment(off), 0).unwrap();
    let ps = p.spec.clone().unwrap();
    assert!(!ps.volumes.iter().flatten().any(|v| v.name == "control-tls"));
    assert_eq!(env_of(&p, "SLUICE_CONTROL_TLS_CERT_FILE"), None);
    let get = ps.containers[0]
        .readiness_probe
        .clone()
        .unwrap()
        .http_get
        .unwrap();
    assert_eq!(get.scheme, None);
}

#[test]
fn oidc_settings_reach_the_worker_as_json_beside_the_token_file() {
    let mut s = spec();
    s.control_api = Some(
        serde_norway::from_str(
            "tokenSecret: {name: tok, key: token}\noidc:\n  issuer: https://idp.example.com\n  audience: sluice\n  operateRoles: [oncall]\n",
        )
        .unwrap(),
    );
    let p = pod(&job_meta(), &deployment(s), 0).unwrap();
    let json = env_of(&p, "SLUICE_CONTROL_OIDC").unwrap();
    let back: sluice_api::control_oidc::OidcSettings = serde_json::from_str(&json).unwrap();
    assert_eq!(back.issuer, "https://idp.example.com");
    assert_eq!(back.operate_roles, ["oncall"]);
    assert!(env_of(&p, "SLUICE_CONTROL_TOKEN_FILE").is_some());
    assert_eq!(
        env_of(
            &pod(&job_meta(), &deployment(spec()), 0).unwrap(),
            "SLUICE_CONTROL_OIDC"
        ),
        None
    );
}
