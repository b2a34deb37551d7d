//! `spec.podTemplate` resolved into what `build` merges over the worker pod: labels, annotations and a typed
//! `PodSpec`. The raw `spec` is parsed here (its schema is open, see `sluice_crds::pod_template`), so an
//! unknown or mistyped field is a problem naming its path; the deprecated top-level fields are folded in;
//! and every field the operator owns is checked, each conflict a problem that names the field and the fix.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::Value;
use sluice_crds::{PodTemplate, StreamJobSpec, worker_env};

use crate::build::config_map::MODEL_DIR;
use crate::build::pod::{
    CONFIG_DIR, KAFKA_SASL_DIR, KAFKA_TLS_DIR, OPERATOR_VOLUMES, STATE_KEYS_DIR, TOKEN_DIR,
    WORKER_CONTAINER,
};
use crate::reconcile::Problem;

const FIELD: &str = "spec.podTemplate";

/// The template as the worker pods get it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerTemplate {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: PodSpec,
}

/// Resolves `spec.podTemplate`, or returns every problem found.
pub fn resolve(spec: &StreamJobSpec) -> Result<WorkerTemplate, Vec<Problem>> {
    let tpl = &spec.pod_template;
    let mut problems = Vec::new();
    let mut pod = parse(tpl.spec.as_ref())?;
    fold_deprecated(tpl, &mut pod, &mut problems);
    let metadata = tpl.metadata.clone().unwrap_or_default();
    let mut labels = tpl.labels.clone();
    let mut annotations = tpl.annotations.clone();
    for (old, new, name) in [
        (&mut labels, metadata.labels, "labels"),
        (&mut annotations, metadata.annotations, "annotations"),
    ] {
        if !old.is_empty() && !new.is_empty() {
            problems.push(said_twice(name, &format!("metadata.{name}")));
        }
        old.extend(new);
    }
    problems.extend(ownership_problems(spec, &pod));
    if problems.is_empty() {
        Ok(WorkerTemplate {
            labels,
            annotations,
            spec: pod,
        })
    } else {
        Err(problems)
    }
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        field: format!("{FIELD}.{path}"),
        message: message.into(),
    }
}

/// `podTemplate.spec` as a `PodSpec`: a field of the wrong type, or one `PodSpec` does not have, is a problem.
fn parse(raw: Option<&Value>) -> Result<PodSpec, Vec<Problem>> {
    let Some(raw) = raw else {
        return Ok(PodSpec::default());
    };
    let pod: PodSpec = serde_path_to_error::deserialize(raw).map_err(|e| {
        vec![problem(
            &format!("spec.{}", e.path()),
            format!("{}; fix: see `kubectl explain pod.spec`", e.inner()),
        )]
    })?;
    let parsed = serde_json::to_value(&pod).map_err(|e| vec![problem("spec", e.to_string())])?;
    let mut unknown = Vec::new();
    unknown_fields(raw, &parsed, "spec".into(), &mut unknown);
    if unknown.is_empty() {
        return Ok(pod);
    }
    Err(unknown
        .into_iter()
        .map(|path| {
            problem(
                &path,
                "is not a PodSpec field (misspelt, or at the wrong level); fix: see `kubectl explain pod.spec`",
            )
        })
        .collect())
}

/// Paths of fields in `raw` that parsing dropped: what `PodSpec` does not know. Explicit nulls are absent.
fn unknown_fields(raw: &Value, parsed: &Value, path: String, out: &mut Vec<String>) {
    match (raw, parsed) {
        (Value::Object(raw), Value::Object(parsed)) => {
            for (key, value) in raw.iter().filter(|(_, v)| !v.is_null()) {
                match parsed.get(key) {
                    Some(p) => unknown_fields(value, p, format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(raw), Value::Array(parsed)) => {
            for (i, (r, p)) in raw.iter().zip(parsed).enumerate() {
                unknown_fields(r, p, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn said_twice(old: &str, new: &str) -> Problem {
    problem(
        old,
        format!(
            "is also set as {FIELD}.{new}; fix: keep only {FIELD}.{new} ({FIELD}.{old} is deprecated)"
        ),
    )
}

/// Moves the deprecated top-level fields into `pod`, unless the new place also sets them.
fn fold_deprecated(tpl: &PodTemplate, pod: &mut PodSpec, problems: &mut Vec<Problem>) {
    let mut fold = |set: bool, taken: bool, old: &str, new: &str| {
        if set && taken {
            problems.push(said_twice(old, new));
        }
        set && !taken
    };
    if fold(
        !tpl.node_selector.is_empty(),
        pod.node_selector.is_some(),
        "nodeSelector",
        "spec.nodeSelector",
    ) {
        pod.node_selector = Some(tpl.node_selector.clone());
    }
    if fold(
        !tpl.tolerations.is_empty(),
        pod.tolerations.is_some(),
        "tolerations",
        "spec.tolerations",
    ) {
        pod.tolerations = Some(tpl.tolerations.clone());
    }
    if fold(
        tpl.security_context.is_some(),
        pod.security_context.is_some(),
        "securityContext",
        "spec.securityContext",
    ) {
        pod.security_context.clone_from(&tpl.security_context);
    }
    if fold(
        tpl.service_account_name.is_some(),
        pod.service_account_name.is_some(),
        "serviceAccountName",
        "spec.serviceAccountName",
    ) {
        pod.service_account_name
            .clone_from(&tpl.service_account_name);
    }
    if fold(
        tpl.priority_class_name.is_some(),
        pod.priority_class_name.is_some(),
        "priorityClassName",
        "spec.priorityClassName",
    ) {
        pod.priority_class_name.clone_from(&tpl.priority_class_name);
    }
}

/// Every field of the template that the operator owns.
fn ownership_problems(spec: &StreamJobSpec, pod: &PodSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    let owned_pod_fields = [
        ("restartPolicy", pod.restart_policy.is_some()),
        ("hostname", pod.hostname.is_some()),
        ("subdomain", pod.subdomain.is_some()),
    ];
    for (name, _) in owned_pod_fields.iter().filter(|(_, set)| *set) {
        out.push(problem(
            &format!("spec.{name}"),
            "is the operator's (each worker has its own stable name and is restarted in place); fix: remove it",
        ));
    }
    for (i, v) in pod.volumes.iter().flatten().enumerate() {
        if OPERATOR_VOLUMES.contains(&v.name.as_str()) {
            out.push(problem(
                &format!("spec.volumes[{i}].name"),
                format!(
                    "{:?} is one of the operator's volumes ({}); fix: give the volume another name",
                    v.name,
                    OPERATOR_VOLUMES.join(", ")
                ),
            ));
        }
    }
    for (i, c) in pod.containers.iter().enumerate() {
        let path = format!("spec.containers[{i}]");
        out.extend(literal_secret_problems(c, &path));
        if c.name == WORKER_CONTAINER {
            out.extend(worker_problems(spec, c, &path));
        } else {
            out.extend(added_container_problems(c, &path));
        }
    }
    for (i, c) in pod.init_containers.iter().flatten().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        if c.name == WORKER_CONTAINER {
            out.push(problem(
                &format!("{path}.name"),
                "\"worker\" is the worker container's name; fix: name the init container otherwise",
            ));
        }
        out.extend(literal_secret_problems(c, &path));
        out.extend(added_container_problems(c, &path));
    }
    out
}

/// A credential written as a literal `value` would be stored in the StreamJob, copied into
/// `status.lastReconciledSpec` and the Pod spec, and shown by every `kubectl get -o yaml`: it must come
/// from a Secret.
fn literal_secret_problems(c: &Container, path: &str) -> Vec<Problem> {
    c.env
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, e)| {
            e.value.as_deref().is_some_and(|v| !v.is_empty())
                && sluice_crds::secrets::is_secret_env_name(&e.name)
        })
        .map(|(j, e)| {
            problem(
                &format!("{path}.env[{j}].value"),
                format!(
                    "{} looks like a credential, and a literal value would be stored in the StreamJob, its status \
                     and the Pod spec; fix: take it from a Secret with valueFrom.secretKeyRef",
                    e.name
                ),
            )
        })
        .collect()
}

/// An init container or sidecar: it needs its own name and image.
fn added_container_problems(c: &Container, path: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    if c.name.is_empty() {
        out.push(problem(
            &format!("{path}.name"),
            "is required; fix: name the container (the worker container is named \"worker\")",
        ));
    }
    if c.image.is_none() {
        out.push(problem(
            &format!("{path}.image"),
            "is required for a container the template adds",
        ));
    }
    out
}

/// The worker container's fields the operator sets from the spec.
fn worker_problems(spec: &StreamJobSpec, c: &Container, path: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let owned = [
        (
            "command",
            c.command.is_some(),
            "remove it: the operator runs `sluice-worker` with the job's config",
        ),
        (
            "args",
            c.args.is_some(),
            "remove it: the operator runs `sluice-worker` with the job's config",
        ),
        ("image", c.image.is_some(), "set spec.image"),
        (
            "imagePullPolicy",
            c.image_pull_policy.is_some(),
            "set spec.imagePullPolicy",
        ),
        ("resources", c.resources.is_some(), "set spec.resources"),
    ];
    for (name, _, fix) in owned.iter().filter(|(_, set, _)| *set) {
        out.push(problem(
            &format!("{path}.{name}"),
            format!("is the operator's for the worker container; fix: {fix}"),
        ));
    }
    for (j, e) in c.env.iter().flatten().enumerate() {
        if operator_env(spec, &e.name) {
            out.push(problem(
                &format!("{path}.env[{j}].name"),
                format!(
                    "{} is set by the operator; fix: remove it, or use the spec field that sets it",
                    e.name
                ),
            ));
        }
    }
    let paths = operator_mount_paths(spec);
    for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
        if let Some(p) = paths.iter().find(|p| overlaps(&m.mount_path, p)) {
            out.push(problem(
                &format!("{path}.volumeMounts[{j}].mountPath"),
                format!(
                    "{} overlaps the operator's mount {p}; fix: mount it elsewhere",
                    m.mount_path
                ),
            ));
        }
    }
    out
}

/// Whether the worker's environment variable `name` is one the operator sets.
fn operator_env(spec: &StreamJobSpec, name: &str) -> bool {
    let store_keys = [
        worker_env::AWS_ACCESS_KEY_ID,
        worker_env::AWS_SECRET_ACCESS_KEY,
    ];
    name.starts_with("SLUICE_")
        || [
            worker_env::LOG_FILTER,
            worker_env::POD_NAME,
            worker_env::POD_IP,
        ]
        .contains(&name)
        || (spec.storage.credentials_secret.is_some() && store_keys.contains(&name))
}

/// Where the operator mounts the worker's volumes.
fn operator_mount_paths(spec: &StreamJobSpec) -> Vec<String> {
    let mut paths: Vec<String> = [
        CONFIG_DIR,
        TOKEN_DIR,
        MODEL_DIR,
        KAFKA_TLS_DIR,
        KAFKA_SASL_DIR,
        STATE_KEYS_DIR,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    paths.push(spec.job.state.dir.clone());
    paths
}

/// Whether two mount paths are equal or one lies inside the other (a mount inside a read-only ConfigMap
/// mount cannot be created; one over the state directory would hide it).
pub(super) fn overlaps(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    let inside = |x: &str, y: &str| x.strip_prefix(y).is_some_and(|rest| rest.starts_with('/'));
    a == b || inside(a, b) || inside(b, a)
}
