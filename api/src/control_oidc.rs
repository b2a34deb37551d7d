//! OIDC access to the control API for people: which issuer's JWTs a worker accepts, for which audience, and
//! which roles of the token grant what. Shared by the StreamJob (`spec.controlApi.oidc`), the operator (which
//! hands it to the workers as JSON in [`crate::worker_env::CONTROL_OIDC`]) and the worker (which enforces it).
//!
//! Two roles: *read* (`GET /v1/status`, `GET /v1/savepoints/{id}`) and *operate* (also checkpoints,
//! savepoints and stop). The job's static token stays the operator's own credential and may operate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Signature algorithms a token may use. Only asymmetric ones: the worker holds public keys, never a
/// shared secret, and `none` does not exist here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum JwtAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Status and savepoint lookups.
    Read,
    /// Also trigger checkpoints and savepoints, and stop the job.
    Operate,
}

/// HTTPS, or plain HTTP to a loopback address: the admission pattern of the URLs (restated by
/// [`OidcSettings::problems`] for settings that did not pass admission).
const URL_PATTERN: &str =
    r"^(https://[^\s]+|http://(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?([/?][^\s]*)?)$";

/// `spec.controlApi.oidc`: JWTs from one issuer, checked against its published keys (JWKS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL, exactly as in the tokens' `iss` claim (`https://idp.example.com/realms/payments`).
    /// Its keys are found through `<issuer>/.well-known/openid-configuration` unless `jwksUri` is set.
    /// HTTPS, except on a loopback address.
    #[schemars(length(min = 1, max = 512), pattern(URL_PATTERN))]
    pub issuer: String,
    /// The `aud` the tokens must carry (the client id registered for Sluice at the issuer).
    #[schemars(length(min = 1, max = 256))]
    pub audience: String,
    /// Where the issuer publishes its keys, when discovery is not wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), pattern(URL_PATTERN))]
    pub jwks_uri: Option<String>,
    /// The claim listing the caller's roles or groups: a string or a list of strings; a dotted path reaches
    /// into objects (`realm_access.roles`).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Any of these grants the read role.
    #[serde(default)]
    pub read_roles: Vec<String>,
    /// Any of these grants the operate role (which includes read).
    #[serde(default)]
    pub operate_roles: Vec<String>,
    /// The signature algorithms accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<JwtAlgorithm>,
}

fn default_roles_claim() -> String {
    "groups".into()
}

fn default_algorithms() -> Vec<JwtAlgorithm> {
    vec![JwtAlgorithm::RS256, JwtAlgorithm::ES256]
}

/// A field of the settings a problem is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidcField {
    Issuer,
    JwksUri,
    Audience,
    RolesClaim,
    /// `readRoles` and `operateRoles` together (reported as `operateRoles`).
    Roles,
    Algorithms,
}

impl OidcField {
    /// The field's name within the settings (`spec.controlApi.oidc.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            OidcField::Issuer => "issuer",
            OidcField::JwksUri => "jwksUri",
            OidcField::Audience => "audience",
            OidcField::RolesClaim => "rolesClaim",
            OidcField::Roles => "operateRoles",
            OidcField::Algorithms => "algorithms",
        }
    }

    /// The field's path in the worker's own configuration file.
    pub fn worker_path(self) -> &'static str {
        match self {
            OidcField::Issuer => "worker.controlOidc.issuer",
            OidcField::JwksUri => "worker.controlOidc.jwksUri",
            OidcField::Audience => "worker.controlOidc.audience",
            OidcField::RolesClaim => "worker.controlOidc.rolesClaim",
            OidcField::Roles => "worker.controlOidc.operateRoles",
            OidcField::Algorithms => "worker.controlOidc.algorithms",
        }
    }
}

/// One problem with the settings: the field and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProblem {
    pub field: OidcField,
    pub problem: String,
}

impl OidcSettings {
    /// Every problem, each naming its field; empty when usable.
    pub fn problems(&self) -> Vec<OidcProblem> {
        let mut out = Vec::new();
        let mut push = |field: OidcField, problem: String| {
            out.push(OidcProblem { field, problem });
        };
        if let Err(p) = check_url(&self.issuer) {
            push(OidcField::Issuer, p);
        }
        if let Some(Err(p)) = self.jwks_uri.as_deref().map(check_url) {
            push(OidcField::JwksUri, p);
        }
        if self.audience.trim().is_empty() {
            push(
                OidcField::Audience,
                "must name the client id the tokens are issued for".into(),
            );
        }
        if self.roles_claim.trim().is_empty() || self.roles_claim.split('.').any(str::is_empty) {
            push(
                OidcField::RolesClaim,
                "must be a claim name or a dotted path such as realm_access.roles".into(),
            );
        }
        if self.read_roles.is_empty() && self.operate_roles.is_empty() {
            push(
                OidcField::Roles,
                "name at least one role in readRoles or operateRoles, or no token could do anything".into(),
            );
        }
        if self.algorithms.is_empty() {
            push(
                OidcField::Algorithms,
                "list at least one algorithm, e.g. RS256".into(),
            );
        }
        out
    }

    /// The role the token's `roles` grant: operate wins over read; None when neither.
    pub fn role_of<'a>(&self, roles: impl IntoIterator<Item = &'a str> + Clone) -> Option<Role> {
        let has = |wanted: &[String]| {
            roles
                .clone()
                .into_iter()
                .any(|r| wanted.iter().any(|w| w == r))
        };
        if has(&self.operate_roles) {
            Some(Role::Operate)
        } else if has(&self.read_roles) {
            Some(Role::Read)
        } else {
            None
        }
    }

    /// The discovery document's URL (used when `jwksUri` is not set).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// HTTPS, or HTTP to a loopback address (a test issuer, or a sidecar on the pod's own network namespace).
fn check_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() {
            Err("has no host".into())
        } else {
            Ok(())
        };
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("{url:?} is not an https:// URL"));
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is plain HTTP: use https:// (plain HTTP is accepted only on a loopback address)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example.com/realms/payments",
            "audience": "sluice",
            "operateRoles": ["fraud-oncall"],
            "readRoles": ["fraud-analyst"],
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_groups_and_rs256_es256() {
        let s = settings();
        assert_eq!(s.roles_claim, "groups");
        assert_eq!(s.algorithms, [JwtAlgorithm::RS256, JwtAlgorithm::ES256]);
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert_eq!(
            s.discovery_url(),
            "https://idp.example.com/realms/payments/.well-known/openid-configuration"
        );
    }

    #[test]
    fn operate_wins_and_unknown_roles_grant_nothing() {
        let s = settings();
        assert_eq!(
            s.role_of(["fraud-analyst", "fraud-oncall"]),
            Some(Role::Operate)
        );
        assert_eq!(s.role_of(["fraud-analyst"]), Some(Role::Read));
        assert_eq!(s.role_of(["everyone"]), None);
        assert_eq!(s.role_of([]), None);
    }

    #[test]
    fn each_problem_names_its_field() {
        let mut s = settings();
        s.issuer = "http://idp.example.com".into();
        s.jwks_uri = Some("ftp://x".into());
        s.audience = " ".into();
        s.roles_claim = "realm_access..roles".into();
        s.read_roles.clear();
        s.operate_roles.clear();
        s.algorithms.clear();
        let fields: Vec<&str> = s.problems().iter().map(|p| p.field.name()).collect();
        assert_eq!(
            fields,
            [
                "issuer",
                "jwksUri",
                "audience",
                "rolesClaim",
                "operateRoles",
                "algorithms"
            ]
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_url("http://127.0.0.1:8999/issuer").is_ok());
        assert!(check_url("http://[::1]:8999").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://10.0.0.1:80").is_err());
        assert!(check_url("http://localhost.evil.com").is_err());
        assert!(check_url("https://").is_err());
    }

    #[test]
    fn none_and_symmetric_algorithms_do_not_parse() {
        for alg in ["none", "HS256"] {
            let s: Result<JwtAlgorithm, _> = serde_json::from_value(serde_json::json!(alg));
            assert!(s.is_err(), "{alg}");
        }
    }
}
