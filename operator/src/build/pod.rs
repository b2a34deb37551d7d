//! One worker Pod per ordinal. The pod's environment carries everything ordinal-specific (identity,
//! partitions, ids to fence, savepoint to restore) so the ConfigMap stays shared. `restartPolicy: OnFailure`:
//! the kubelet restarts a crashed worker in place (keeping its local state), while a worker that exits 0
//! after stop-with-savepoint stays stopped — the operator decides what runs next.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, Probe, SeccompProfile, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_crds::VolumeKind;
use sluice_crds::assignment::assign_partitions;
use sluice_crds::control::{CONTROL_PORT, METRICS_PORT};

use super::JobMeta;
use super::config_map::{JOB_KEY, MODEL_DIR};
use crate::naming;
use crate::reconcile::Deployment;

// Mount points never nest inside another volume (a read-only ConfigMap mount cannot host mount points, and
// the test bed's node agent materialises each volume as its own directory).
/// Where the job ConfigMap is mounted (`/etc/sluice/job.yaml`).
pub const CONFIG_DIR: &str = "/etc/sluice";
/// Where the control token Secret is mounted.
pub const TOKEN_DIR: &str = "/var/run/secrets/sluice/control";
/// Where Kafka TLS files are mounted.
pub const KAFKA_TLS_DIR: &str = "/etc/sluice-kafka/tls";
/// Where Kafka SASL credentials are mounted.
pub const KAFKA_SASL_DIR: &str = "/etc/sluice-kafka/sasl";

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Transactional ids of the previous assignment whose partitions overlap `ordinal`'s new partitions: the
/// new worker fences them before its first transaction, so no zombie of the old layout can commit.
pub fn fence_ids(
    prefix: &str,
    partitions: u32,
    previous: u32,
    parallelism: u32,
    ordinal: u32,
) -> Vec<String> {
    let new = assign_partitions(partitions, parallelism);
    let Some(mine) = new.get(ordinal as usize) else {
        return Vec::new();
    };
    assign_partitions(partitions, previous)
        .iter()
        .enumerate()
        .filter(|(_, old)| old.iter().any(|p| mine.contains(p)))
        .map(|(j, _)| format!("{prefix}-{}", naming::worker_identity(previous, j as u32)))
        .collect()
}

fn join(v: &[impl ToString]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Renders the pod of worker `ordinal`.
pub fn pod(job: &JobMeta, d: &Deployment, ordinal: u32) -> Pod {
    let spec = &d.spec;
    let parallelism = u32::try_from(spec.parallelism).unwrap_or(1);
    let partitions = u32::try_from(spec.partitions).unwrap_or(0);
    let owned = assign_partitions(partitions, parallelism)
        .get(ordinal as usize)
        .cloned()
        .unwrap_or_default();
    let name = naming::worker_pod_name(&job.name, ordinal);
    let state_dir = spec.job.state.dir.clone();

    let mut envs = vec![
        env(
            "SLUICE_WORKER_IDENTITY",
            naming::worker_identity(parallelism, ordinal),
        ),
        env("SLUICE_WORKER_PARTITIONS", join(&owned)),
        env("SLUICE_STATE_DIR", state_dir.clone()),
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_IP", "status.podIP"),
    ];
    if let Some(prev) = d.previous_parallelism {
        let ids = fence_ids(
            &spec.job.transactional_id_prefix,
            partitions,
            prev,
            parallelism,
            ordinal,
        );
        envs.push(env("SLUICE_FENCE_TRANSACTIONAL_IDS", ids.join(",")));
    }
    if let Some(from) = &d.restore_from {
        envs.push(env("SLUICE_RESTORE_FROM", from.clone()));
    }

    let mut volumes = vec![Volume {
        name: "config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: naming::config_map_name(&job.name),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    let mut mounts = vec![mount("config", CONFIG_DIR, true)];
    volumes.push(match spec.storage.volume {
        VolumeKind::EmptyDir => Volume {
            name: "state".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: spec.storage.size.clone().map(Quantity),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
        VolumeKind::PersistentVolumeClaim => Volume {
            name: "state".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: naming::pvc_name(&job.name, ordinal),
                ..PersistentVolumeClaimVolumeSource::default()
            }),
            ..Volume::default()
        },
    });
    mounts.push(mount("state", &state_dir, false));
    if let Some(api) = &spec.control_api {
        volumes.push(secret_volume("control-token", &api.token_secret.name));
        mounts.push(mount("control-token", TOKEN_DIR, true));
        envs.push(env(
            "SLUICE_CONTROL_TOKEN_FILE",
            format!("{TOKEN_DIR}/{}", api.token_secret.key),
        ));
    }
    if let Some(model) = &spec.model {
        volumes.push(Volume {
            name: "model".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: model.config_map.name.clone(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount("model", MODEL_DIR, true));
        // Also in the job config file; the env var is what a runtime that relocates mounts (the test node
        // agent) can rewrite, and it keeps the path next to the other per-pod settings.
        envs.push(env(
            "SLUICE_MODEL_PATH",
            format!("{MODEL_DIR}/{}", model.config_map.key),
        ));
    }
    envs.extend(super::logging::env(&spec.logging));
    if let Some(auth) = &spec.kafka_auth {
        if let Some(tls) = &auth.tls_secret {
            volumes.push(secret_volume("kafka-tls", &tls.name));
            mounts.push(mount("kafka-tls", KAFKA_TLS_DIR, true));
        }
        if let Some(sasl) = &auth.sasl_secret {
            volumes.push(secret_volume("kafka-sasl", &sasl.name));
            mounts.push(mount("kafka-sasl", KAFKA_SASL_DIR, true));
            envs.push(env(
                "SLUICE_KAFKA_SASL_USERNAME_FILE",
                format!("{KAFKA_SASL_DIR}/username"),
            ));
            envs.push(env(
                "SLUICE_KAFKA_SASL_PASSWORD_FILE",
                format!("{KAFKA_SASL_DIR}/password"),
            ));
        }
    }
    // Explicit secretKeyRefs rather than envFrom: the keys the worker needs are named, and a missing key
    // fails the pod start visibly instead of silently leaving the SDK without credentials.
    if let Some(creds) = &spec.storage.credentials_secret {
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            envs.push(EnvVar {
                name: key.into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: creds.name.clone(),
                        key: key.into(),
                        optional: Some(false),
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            });
        }
    }

    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(CONTROL_PORT)),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let port = |name: &str, p: u16| ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(p),
        ..ContainerPort::default()
    };
    let container = Container {
        name: "worker".into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| format!("{p:?}")),
        command: Some(vec![
            "sluice-worker".into(),
            format!("{CONFIG_DIR}/{JOB_KEY}"),
        ]),
        env: Some(envs),
        ports: Some(vec![
            port("control", CONTROL_PORT),
            port("metrics", METRICS_PORT),
        ]),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..probe("/healthz", 10)
        }),
        resources: spec.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        // The worker writes its fatal error to the termination log; a crash without one still says why.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };

    let tpl = &spec.pod_template;
    let mut labels: BTreeMap<String, String> = tpl.labels.clone();
    labels.extend(naming::selector_labels(&job.name));
    labels.insert(naming::ORDINAL_LABEL.into(), ordinal.to_string());
    let mut annotations = tpl.annotations.clone();
    annotations.insert(naming::HASH_ANNOTATION.into(), d.hash.clone());
    let mut meta = job.meta(name.clone(), labels);
    meta.annotations = Some(annotations);

    let security = pod_security(tpl.security_context.as_ref());
    Pod {
        metadata: meta,
        spec: Some(PodSpec {
            restart_policy: Some("OnFailure".into()),
            hostname: Some(name),
            subdomain: Some(naming::service_name(&job.name)),
            containers: vec![container],
            volumes: Some(volumes),
            node_selector: (!tpl.node_selector.is_empty()).then(|| tpl.node_selector.clone()),
            tolerations: (!tpl.tolerations.is_empty()).then(|| tpl.tolerations.clone()),
            security_context: Some(security),
            service_account_name: tpl.service_account_name.clone(),
            priority_class_name: tpl.priority_class_name.clone(),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(60),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// The pod's security context: the user's `podTemplate.securityContext` with every field it leaves unset
/// taken from the defaults, which meet the `restricted` Pod Security level (non-root uid/gid 65532, the
/// runtime's default seccomp profile). Filling in rather than replacing keeps a user who sets only, say,
/// `fsGroup` inside `restricted`; a field the user sets explicitly is kept as given.
fn pod_security(user: Option<&PodSecurityContext>) -> PodSecurityContext {
    let mut ctx = user.cloned().unwrap_or_default();
    ctx.run_as_non_root = ctx.run_as_non_root.or(Some(true));
    ctx.run_as_user = ctx.run_as_user.or(Some(65532));
    ctx.run_as_group = ctx.run_as_group.or(Some(65532));
    ctx.fs_group = ctx.fs_group.or(Some(65532));
    if ctx.seccomp_profile.is_none() {
        ctx.seccomp_profile = Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        });
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::test_support::job_meta;
    use crate::decide::tests::spec;

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
            spec: s,
            hash: "h1".into(),
            restore_from: Some("s3://b/p/fraud/savepoints/sp-1".into()),
            previous_parallelism: Some(2),
        };
        let p = pod(&job_meta(), &d, 1);
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
        let d = Deployment {
            spec: spec(),
            hash: "h".into(),
            restore_from: None,
            previous_parallelism: None,
        };
        let p = pod(&job_meta(), &d, 0);
        assert_eq!(env_of(&p, "SLUICE_FENCE_TRANSACTIONAL_IDS"), None);
        assert_eq!(env_of(&p, "SLUICE_RESTORE_FROM"), None);
    }

    #[test]
    fn config_map_holds_job_and_placeholder_worker() {
        let d = Deployment {
            spec: spec(),
            hash: "h".into(),
            restore_from: None,
            previous_parallelism: None,
        };
        let cm = crate::build::config_map::config_map(&job_meta(), &d).unwrap();
        let body = &cm.data.unwrap()["job.yaml"];
        let v: serde_yaml::Value = serde_yaml::from_str(body).unwrap();
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
        let job: sluice_crds::JobConfig = serde_yaml::from_value(v["job"].clone()).unwrap();
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
}
