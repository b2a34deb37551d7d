//! `spec.podTemplate`: what a user adds to the worker pods. `metadata` (labels, annotations) and `spec`, a
//! Kubernetes `PodSpec` merged over the pod the operator builds — env and volumes, init containers and
//! sidecars, affinity, topology spread, imagePullSecrets, priority, runtimeClass. The operator owns what
//! makes a worker a worker (its command, identity environment, state and config volumes) and reports a
//! template that sets those as a problem naming the field.
//!
//! `spec` is kept as raw JSON with an open schema (`x-kubernetes-preserve-unknown-fields`), as Stackable's
//! `podOverrides` does: the full PodSpec schema would make the CRD several hundred kilobytes. The operator
//! parses it into a `PodSpec` and reports an unknown or mistyped field by its path, so a typo is an error
//! rather than a silently ignored field.
//!
//! The fields at the top level of `podTemplate` (`labels` … `priorityClassName`) are the template's first
//! form; they still work, are deprecated, and a spec that sets one of them both there and in the new place
//! is a problem (say it once).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSecurityContext, Toleration};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The worker pods' template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Labels and annotations of every worker pod (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PodTemplateMetadata>,
    /// A Kubernetes PodSpec merged over the operator's pod (lists of named items — containers, env,
    /// volumes, volumeMounts — are merged by name, like a strategic merge patch). The worker container is
    /// named `worker`: its command, args, image, imagePullPolicy and resources, the `SLUICE_*`, `RUST_LOG`,
    /// `POD_*` and `AWS_*` environment, the operator's volumes (config, state, control-token, model,
    /// kafka-tls, kafka-sasl) and their mount paths, and the pod's restartPolicy, hostname and subdomain
    /// are the operator's. Security settings are merged with the `restricted` defaults, never replace them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "open_object")]
    pub spec: Option<serde_json::Value>,
    /// Deprecated: use `metadata.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Deprecated: use `metadata.annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Deprecated: use `spec.nodeSelector`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Deprecated: use `spec.tolerations`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Deprecated: use `spec.securityContext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Deprecated: use `spec.serviceAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Deprecated: use `spec.priorityClassName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// Labels and annotations of the worker pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateMetadata {
    /// Extra pod labels (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra pod annotations (the operator's own annotation wins on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `schema_with` target of [`PodTemplate::spec`]: any object, kept as written.
fn open_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_template_serializes_as_before_the_spec_field_existed() {
        // The deployment fingerprint hashes the spec's JSON: a job without a template must hash the same
        // under this operator as under the one before, or an operator upgrade would restart every worker.
        let json = serde_json::to_string(&PodTemplate::default()).unwrap();
        assert_eq!(json, "{}");
        let legacy = r#"{"labels":{"team":"risk"},"nodeSelector":{"pool":"streaming"}}"#;
        let parsed: PodTemplate = serde_json::from_str(legacy).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), legacy);
    }

    #[test]
    fn the_spec_is_kept_as_written() {
        let text =
            r#"{"spec":{"containers":[{"name":"worker","envv":[]}],"nodeSelector":{"a":"b"}}}"#;
        let parsed: PodTemplate = serde_json::from_str(text).unwrap();
        assert_eq!(
            parsed.spec.unwrap()["containers"][0]["envv"],
            serde_json::json!([])
        );
    }
}
