//! Which configuration values are secrets, and how they appear in `Debug` output: redacted.
//!
//! `Debug` output ends up in logs and error messages; a derived `Debug` on a struct holding a password
//! would print it. Types holding secret values implement `Debug` by hand with these helpers.

use std::collections::BTreeMap;

/// What a secret value prints as.
pub const REDACTED: &str = "<redacted>";

/// The client properties (librdkafka's, and the Java client's that users copy from Kafka's docs) that hold
/// a credential or a private key by name. The admission rule refuses exactly these (a map lookup each, cheap
/// for the apiserver's cost estimate); the operator and the worker refuse the wider word match of
/// [`is_secret_kafka_property`].
pub const SECRET_KAFKA_PROPERTIES: [&str; 8] = [
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl.keystore.pem",
    "ssl.truststore.password",
];

/// True for librdkafka properties whose values are credentials or private keys
/// (`sasl.password`, `sasl.jaas.config`, `ssl.key.password`, `ssl.key.pem`,
/// `sasl.oauthbearer.client.secret`, `ssl.keystore.password`, …). File locations are not secret.
pub fn is_secret_kafka_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "jaas", "token", "credentials"]
        .iter()
        .any(|word| key.contains(word))
        || key == "ssl.key.pem"
        || key == "ssl.keystore.pem"
}

/// True for environment variable names that say they hold a credential (`DB_PASSWORD`, `API_TOKEN`,
/// `AWS_SECRET_ACCESS_KEY`, `PRIVATE_KEY`, …). Names of files or directories holding one (`…_FILE`,
/// `…_PATH`, `…_DIR`) are not secret, nor is anything else.
pub fn is_secret_env_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    let a_location = ["_FILE", "_PATH", "_DIR", "_LOCATION"]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    !a_location
        && [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "CREDENTIAL",
            "PRIVATE_KEY",
            "API_KEY",
            "APIKEY",
        ]
        .iter()
        .any(|word| name.contains(word))
}

/// Whether `id` can name a state encryption key: a file name a Kubernetes Secret key can have (1–64 letters,
/// digits, `.`, `_` or `-`, not starting with `.`), shown in errors and manifests.
pub fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Properties as a map with secret values replaced by [`REDACTED`].
pub fn redacted_properties(properties: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    properties
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret_kafka_property(k) {
                REDACTED
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_env_names_are_secret_file_names_are_not() {
        for name in [
            "DB_PASSWORD",
            "api_token",
            "AWS_SECRET_ACCESS_KEY",
            "PRIVATE_KEY",
            "STRIPE_API_KEY",
        ] {
            assert!(is_secret_env_name(name), "{name}");
        }
        for name in [
            "TOKEN_FILE",
            "DB_PASSWORD_FILE",
            "TLS_DIR",
            "LOG_LEVEL",
            "AWS_REGION",
            "KEY_ID",
        ] {
            assert!(!is_secret_env_name(name), "{name}");
        }
    }

    #[test]
    fn every_property_admission_refuses_is_one_the_operator_refuses() {
        for key in SECRET_KAFKA_PROPERTIES {
            assert!(is_secret_kafka_property(key), "{key}");
        }
    }

    #[test]
    fn credentials_and_keys_are_secret_locations_are_not() {
        for key in [
            "sasl.password",
            "sasl.jaas.config",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_kafka_property(key), "{key}");
        }
        for key in [
            "security.protocol",
            "sasl.mechanism",
            "sasl.username",
            "ssl.ca.location",
            "ssl.key.location",
            "ssl.certificate.location",
        ] {
            assert!(!is_secret_kafka_property(key), "{key}");
        }
    }
}
