//! Admission rules of `spec.job` that the worker's own types cannot carry: the schema of [`JobConfig`] is
//! generated as usual and then decorated with CEL (`x-kubernetes-validations`) and bounds.
//!
//! Durations are our own `<int><unit>` strings (`45d` included), which CEL's `duration()` does not accept
//! (`d` is not a Go duration unit). So the rules convert them to milliseconds in CEL itself
//! (`int(s.find('^[0-9]+')) * unit factor`), exactly as [`crate::Millis`] parses them; every duration string
//! gets a `maxLength` so the apiserver's cost estimate of those rules stays small. A number too large for a
//! 64-bit int makes the rule fail to evaluate, which the apiserver reports as a rejection of the field. The
//! operator re-checks the same rule with [`JobConfig::validate`] and reports it as a status condition, so an
//! object admitted before the rule existed is still caught.

use kube::core::{Rule, validate};
use schemars::{Schema, SchemaGenerator};
use serde_json::{Value, json};

use crate::job_config::JobConfig;

/// Longest accepted duration string (`99999999999d` fits; 20 digits would overflow anyway).
const MAX_DURATION_LEN: u64 = 24;

/// CEL: the milliseconds of duration field `f` of `self` (assumes the schema pattern already matched).
pub fn cel_millis(f: &str) -> String {
    format!(
        "(int(self.{f}.find('^[0-9]+')) * (self.{f}.endsWith('ms') ? 1 : self.{f}.endsWith('s') ? 1000 : \
         self.{f}.endsWith('m') ? 60000 : self.{f}.endsWith('h') ? 3600000 : 86400000))"
    )
}

/// `spec.savepoints.timeout` is at least 10 s.
pub fn savepoint_timeout_rule() -> String {
    format!("!has(self.timeout) || {} >= 10000", cel_millis("timeout"))
}

/// `spec.savepoints.periodic.interval` is at least a minute.
pub fn periodic_interval_rule() -> String {
    format!("{} >= 60000", cel_millis("interval"))
}

/// The transaction-timeout rule (mirrors [`JobConfig::validate`]).
pub fn transaction_timeout_rule() -> String {
    format!(
        "!has(self.transactionTimeout) || !has(self.commitInterval) || !has(self.maxRecoveryTime) || {} > {} * {} + {}",
        cel_millis("transactionTimeout"),
        crate::job_config::BACKLOG_COMMIT_STRETCH,
        cel_millis("commitInterval"),
        cel_millis("maxRecoveryTime")
    )
}

/// CEL: unless `guard` holds, none of `names` is a key of `kafka.properties` (each looked up in the map:
/// constant cost per name).
fn properties_without(guard: &str, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|k| format!("'{k}'")).collect();
    format!(
        "{guard} || !has(self.kafka.properties) || [{}].all(k, !(k in self.kafka.properties))",
        names.join(", ")
    )
}

/// No credential among the Kafka client properties ([`sluice_api::secrets::SECRET_KAFKA_PROPERTIES`]).
pub fn secret_properties_rule() -> String {
    properties_without(
        "!has(self.kafka)",
        &sluice_api::secrets::SECRET_KAFKA_PROPERTIES,
    )
}

/// With `kafka.security`, the SASL mechanism goes with the SASL protocols only.
pub fn kafka_mechanism_rule() -> String {
    "!has(self.kafka) || !has(self.kafka.security) || (self.kafka.security.protocol.startsWith('SASL_') == has(self.kafka.security.saslMechanism))".into()
}

/// With `kafka.security`, the properties it sets are not set again in `kafka.properties`.
pub fn kafka_owned_properties_rule() -> String {
    properties_without(
        "!has(self.kafka) || !has(self.kafka.security)",
        &sluice_api::kafka_security::OWNED_PROPERTIES,
    )
}

/// `schema_with` target of `StreamJobSpec::job`.
pub fn job_config_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<JobConfig>();
    if let Some(obj) = schema.as_object_mut() {
        bound_durations(obj);
        if let Some(Value::Object(props)) = obj.get_mut("properties")
            && let Some(Value::Object(prefix)) = props.get_mut("transactionalIdPrefix")
        {
            prefix.insert("pattern".into(), json!("^[A-Za-z0-9._-]{1,200}$"));
            prefix.insert("maxLength".into(), json!(200));
        }
    }
    let rules = [
        Rule::new("self.transactionalIdPrefix == oldSelf.transactionalIdPrefix")
            .message("transactionalIdPrefix is immutable: changing it orphans open Kafka transactions; create a new StreamJob instead")
            .field_path(".transactionalIdPrefix"),
        Rule::new(secret_properties_rule())
            .message("kafka.properties must not hold credentials (sasl.password, sasl.jaas.config, ssl.key.password, ssl.key.pem, sasl.oauthbearer.client.secret, …): they would be stored in the StreamJob, its ConfigMap and status; put SASL credentials in spec.kafkaAuth.saslSecret and TLS keys in spec.kafkaAuth.tlsSecret")
            .field_path(".kafka.properties"),
        Rule::new(kafka_mechanism_rule())
            .message("kafka.security.saslMechanism is required with protocol SASL_SSL or SASL_PLAINTEXT and refused with SSL or PLAINTEXT")
            .field_path(".kafka.security.saslMechanism"),
        Rule::new(kafka_owned_properties_rule())
            .message("with kafka.security, kafka.properties must not set security.protocol, sasl.mechanism or the ssl.*.location files: the protocol and mechanism come from kafka.security, the files from spec.kafkaAuth")
            .field_path(".kafka.properties"),
        Rule::new(transaction_timeout_rule())
            .message("transactionTimeout must exceed 8 × commitInterval (the longest transaction under a backlog) + maxRecoveryTime, or the broker aborts transactions during a slow recovery")
            .field_path(".transactionTimeout"),
    ];
    for rule in rules {
        // `validate` only fails when the rule cannot be serialized, which a plain struct cannot do.
        let _ = validate(&mut schema, rule);
    }
    schema
}

/// Gives every duration string (recognised by its pattern) a `maxLength`, recursively.
fn bound_durations(obj: &mut serde_json::Map<String, Value>) {
    let is_duration = obj
        .get("pattern")
        .and_then(Value::as_str)
        .is_some_and(|p| p == "^[0-9]+(ms|s|m|h|d)$");
    if is_duration {
        obj.insert("maxLength".into(), json!(MAX_DURATION_LEN));
    }
    for value in obj.values_mut() {
        match value {
            Value::Object(child) => bound_durations(child),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(child) = item {
                        bound_durations(child);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::Value;

    use crate::StreamJob;

    fn crd_json() -> Value {
        serde_json::to_value(StreamJob::crd()).unwrap()
    }

    fn spec_schema(crd: &Value) -> &Value {
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    }

    fn rules(v: &Value) -> Vec<String> {
        v["x-kubernetes-validations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| r["rule"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn cel_rules_are_in_the_schema() {
        let crd = crd_json();
        let spec = spec_schema(&crd);
        assert!(
            rules(spec).contains(&"self.parallelism <= self.partitions".to_string()),
            "{:?}",
            rules(spec)
        );
        let job = &spec["properties"]["job"];
        let job_rules = rules(job);
        assert!(
            job_rules
                .iter()
                .any(|r| r.contains("oldSelf.transactionalIdPrefix"))
        );
        assert!(
            job_rules
                .iter()
                .any(|r| r.contains("self.transactionTimeout"))
        );
        assert!(
            job_rules
                .iter()
                .any(|r| r.contains("'sasl.password'")
                    && r.contains("!(k in self.kafka.properties)")),
            "{job_rules:?}"
        );
        assert_eq!(
            spec["properties"]["parallelism"]["minimum"].as_f64(),
            Some(1.0)
        );
        assert_eq!(
            job["properties"]["transactionTimeout"]["maxLength"], 24,
            "{}",
            job["properties"]["transactionTimeout"]
        );
        assert_eq!(
            job["properties"]["watermark"]["properties"]["outOfOrderness"]["maxLength"],
            24
        );
        let size = &spec["properties"]["storage"]["properties"]["size"];
        assert!(
            rules(size).iter().any(|r| r == "isQuantity(self)"),
            "{size}"
        );
    }

    #[test]
    fn enums_are_closed() {
        let crd = crd_json();
        let spec = spec_schema(&crd);
        assert_eq!(
            spec["properties"]["upgradeMode"]["enum"],
            serde_json::json!(["stateless", "savepoint", "last-state"])
        );
        assert_eq!(
            spec["properties"]["state"]["enum"],
            serde_json::json!(["running", "suspended"])
        );
        let status =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        let lifecycle = status["properties"]["lifecycleState"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>();
        for s in [
            "CREATED",
            "DEPLOYING",
            "RUNNING",
            "UPGRADING",
            "SUSPENDED",
            "ROLLING_BACK",
            "ROLLED_BACK",
            "FAILED",
            "STABLE",
        ] {
            assert!(lifecycle.contains(&s), "{s} missing from {lifecycle:?}");
        }
        let conditions = &status["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
    }

    #[test]
    fn scale_subresource_and_printer_columns() {
        let crd = crd_json();
        let version = &crd["spec"]["versions"][0];
        let scale = &version["subresources"]["scale"];
        assert_eq!(scale["specReplicasPath"], ".spec.parallelism");
        assert_eq!(scale["statusReplicasPath"], ".status.parallelism");
        assert_eq!(scale["labelSelectorPath"], ".status.selector");
        assert!(version["subresources"]["status"].is_object());
        let names: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["Parallelism", "Lifecycle", "Lag", "Last Savepoint", "Age"]
        );
    }

    #[test]
    fn every_spec_field_is_documented() {
        let crd = crd_json();
        let spec = spec_schema(&crd);
        for (name, field) in spec["properties"].as_object().unwrap() {
            assert!(
                field["description"].as_str().is_some_and(|d| !d.is_empty()),
                "spec.{name} has no description"
            );
        }
    }

    #[test]
    fn cel_millis_converts_like_millis() {
        // The expression is plain CEL; check its shape names the unit factors Millis uses.
        let e = super::cel_millis("x");
        for f in ["1000", "60000", "3600000", "86400000"] {
            assert!(e.contains(f), "{e}");
        }
        // `ms` must be tested before `s` (both end in s).
        assert!(e.find("'ms'").unwrap() < e.find("'s'").unwrap());
    }
}
