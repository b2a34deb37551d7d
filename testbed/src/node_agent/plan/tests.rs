use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::{
    ImageMapping, PlanContext, RestartPolicy, Sources, expand_vars, plan, referenced, rewrite_paths,
};

fn mk_pod(json: serde_json::Value) -> Pod {
    serde_json::from_value(json).unwrap()
}

fn mk_sources() -> Sources {
    let mut s = Sources::default();
    s.config_maps.insert(
        "cfg".into(),
        BTreeMap::from([("job.yaml".to_string(), b"a: 1".to_vec())]),
    );
    s.secrets.insert(
        "creds".into(),
        BTreeMap::from([("password".to_string(), b"hunter2".to_vec())]),
    );
    s
}

fn images() -> Vec<ImageMapping> {
    vec![ImageMapping {
        image_contains: "sluice-worker".into(),
        binary: PathBuf::from("/build/sluice-worker"),
    }]
}

fn ctx<'a>(images: &'a [ImageMapping]) -> PlanContext<'a> {
    PlanContext {
        pod_root: Path::new("/pods/ns_p"),
        pod_ip: Ipv4Addr::new(127, 0, 0, 7),
        node_name: "node-a",
        images,
    }
}

fn worker_pod() -> Pod {
    mk_pod(serde_json::json!({
        "metadata": { "name": "p", "namespace": "ns" },
        "spec": {
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 3,
            "containers": [{
                "name": "worker",
                "image": "example.invalid/sluice-worker:1",
                "args": ["--config=/etc/sluice/job.yaml", "/etcetera"],
                "env": [
                    { "name": "PLAIN", "value": "/etc/sluice" },
                    { "name": "PASS", "valueFrom": { "secretKeyRef": { "name": "creds", "key": "password" } } },
                    { "name": "ME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                    { "name": "IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } },
                    { "name": "GONE", "valueFrom": { "configMapKeyRef": { "name": "cfg", "key": "x", "optional": true } } }
                ],
                "volumeMounts": [ { "name": "job", "mountPath": "/etc/sluice" }, { "name": "tmp", "mountPath": "/scratch" } ],
                "ports": [ { "name": "http", "containerPort": 8080 } ],
                "readinessProbe": { "httpGet": { "path": "/ready", "port": "http" }, "periodSeconds": 1 }
            }],
            "volumes": [ { "name": "job", "configMap": { "name": "cfg" } }, { "name": "tmp", "emptyDir": {} } ]
        }
    }))
}

#[test]
fn mapped_image_env_volumes_probe_and_policy() {
    let images = images();
    let p = plan(&worker_pod(), &mk_sources(), &ctx(&images)).unwrap();
    assert_eq!(p.program, PathBuf::from("/build/sluice-worker"));
    assert_eq!(
        p.args,
        ["--config=/pods/ns_p/etc/sluice/job.yaml", "/etcetera"]
    );
    let env: BTreeMap<_, _> = p.env.iter().cloned().collect();
    assert_eq!(env["PLAIN"], "/pods/ns_p/etc/sluice");
    assert_eq!(env["PASS"], "hunter2");
    assert_eq!(env["ME"], "p");
    assert_eq!(env["IP"], "127.0.0.7");
    assert_eq!(env["POD_IP"], "127.0.0.7");
    assert_eq!(env["SLUICE_POD_ROOT"], "/pods/ns_p");
    assert!(!env.contains_key("GONE"));
    assert_eq!(
        p.files,
        vec![(
            PathBuf::from("/pods/ns_p/etc/sluice/job.yaml"),
            b"a: 1".to_vec()
        )]
    );
    assert!(p.dirs.contains(&PathBuf::from("/pods/ns_p/scratch")));
    let probe = p.readiness.unwrap();
    assert_eq!((probe.port, probe.path.as_str()), (8080, "/ready"));
    assert_eq!(p.restart_policy, RestartPolicy::OnFailure);
    assert_eq!(p.grace.as_secs(), 3);
    assert_eq!(
        referenced(&worker_pod()),
        (vec!["cfg".to_string()], vec!["creds".to_string()])
    );
}

#[test]
fn missing_required_key_or_program_is_a_spec_error() {
    let images = images();
    let mut pod = worker_pod();
    let c = &mut pod.spec.as_mut().unwrap().containers[0];
    c.env.as_mut().unwrap()[1] = serde_json::from_value(serde_json::json!(
        { "name": "PASS", "valueFrom": { "secretKeyRef": { "name": "creds", "key": "nope" } } }
    ))
    .unwrap();
    assert!(plan(&pod, &mk_sources(), &ctx(&images)).is_err());

    let bare = mk_pod(serde_json::json!({
        "metadata": { "name": "p" },
        "spec": { "containers": [ { "name": "c", "image": "busybox" } ] }
    }));
    assert!(plan(&bare, &mk_sources(), &ctx(&images)).is_err());
}

#[test]
fn command_word_resolves_to_mapped_binary_by_file_name() {
    let images = images();
    let pod = mk_pod(serde_json::json!({
        "metadata": { "name": "p" },
        "spec": { "containers": [ {
            "name": "c", "image": "other", "command": ["/usr/local/bin/sluice-worker", "run"]
        } ] }
    }));
    let p = plan(&pod, &Sources::default(), &ctx(&images)).unwrap();
    assert_eq!(p.program, PathBuf::from("/build/sluice-worker"));
    assert_eq!(p.args, ["run"]);
    assert_eq!(p.restart_policy, RestartPolicy::Always);
}

#[test]
fn rewrite_respects_boundaries() {
    let mounts = vec!["/etc/a".to_string()];
    let root = Path::new("/r");
    assert_eq!(rewrite_paths("/etc/a/x", &mounts, root), "/r/etc/a/x");
    assert_eq!(rewrite_paths("/etc/a", &mounts, root), "/r/etc/a");
    assert_eq!(
        rewrite_paths("k=/etc/a,/etc/a/y", &mounts, root),
        "k=/r/etc/a,/r/etc/a/y"
    );
    assert_eq!(rewrite_paths("/etc/ab", &mounts, root), "/etc/ab");
    assert_eq!(rewrite_paths("x/etc/a", &mounts, root), "x/etc/a");
}

#[test]
fn expands_defined_vars_only() {
    let env = vec![("POD_IP".to_string(), "127.0.0.5".to_string())];
    assert_eq!(expand_vars("--bind=$(POD_IP)", &env), "--bind=127.0.0.5");
    assert_eq!(
        expand_vars("$(NOPE) $$(POD_IP) $", &env),
        "$(NOPE) $(POD_IP) $"
    );
}
