//! JWT validation for people's access to the control API (`spec.controlApi.oidc`): the signature against
//! the issuer's published keys (JWKS), the algorithm against an allow-list of asymmetric ones, `iss`, `aud`,
//! `exp` (required) and `nbf`, then the role from the configured claim.
//!
//! The keys are fetched lazily and cached: an issuer that is down when the worker starts must not stop the
//! fraud pipeline, only human access. They are fetched again every [`KEYS_MAX_AGE`], and at once (at most
//! every [`REFETCH_MIN_INTERVAL`]) when a token names a key id the cache lacks — how an issuer's key
//! rotation reaches the worker without a restart.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use sluice_api::control_oidc::{JwtAlgorithm, OidcSettings, Role};
use tokio::sync::Mutex;

/// How long fetched keys are used before they are fetched again.
const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// The least time between two fetches (an unknown key id or an unreachable issuer cannot make every
/// request a fetch).
const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Allowed clock difference with the issuer, for `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Who called, as the token says, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
}

/// Why a token was refused. The messages never include the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("not a JWT, or its header or claims do not parse")]
    Malformed,
    #[error("the token's algorithm is not in spec.controlApi.oidc.algorithms")]
    Algorithm,
    #[error("the token names no key id, or one the issuer does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's issuer is not spec.controlApi.oidc.issuer")]
    Issuer,
    #[error("the token's audience does not include spec.controlApi.oidc.audience")]
    Audience,
    #[error("the token lacks a required claim (exp, iss, aud)")]
    MissingClaim,
    #[error("the token grants neither a read role nor an operate role")]
    NoRole,
    #[error("the issuer's keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl Refusal {
    /// A bounded label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownKey => "unknown-key",
            Refusal::Signature => "signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not-yet-valid",
            Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::MissingClaim => "missing-claim",
            Refusal::NoRole => "no-role",
            Refusal::KeysUnavailable(_) => "keys-unavailable",
        }
    }
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

#[derive(Default)]
struct KeyCache {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// Validates the control API's JWTs for one issuer.
pub struct OidcVerifier {
    settings: OidcSettings,
    validation: Validation,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> Result<OidcVerifier, reqwest::Error> {
        let algorithms: Vec<Algorithm> =
            settings.algorithms.iter().copied().map(algorithm).collect();
        let mut validation =
            Validation::new(algorithms.first().copied().unwrap_or(Algorithm::RS256));
        validation.algorithms = algorithms;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let http = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?;
        Ok(OidcVerifier {
            settings,
            validation,
            http,
            cache: Mutex::new(KeyCache::default()),
        })
    }

    /// Validates `token` and returns its caller.
    pub async fn verify(&self, token: &str) -> Result<Caller, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(Refusal::Algorithm);
        }
        let kid = header.kid.ok_or(Refusal::UnknownKey)?;
        let key = self.key(&kid).await?;
        // The library requires every listed algorithm to fit the key's family: check this token's (already
        // found in the allow-list) alone.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| refusal(e.kind()))?;
        let claims = data.claims;
        let roles = roles(&claims, &self.settings.roles_claim);
        let role = self
            .settings
            .role_of(roles.iter().map(String::as_str))
            .ok_or(Refusal::NoRole)?;
        let subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or("(no sub)")
            .to_string();
        Ok(Caller { subject, role })
    }

    /// The decoding key `kid`, from the cache or a fresh fetch of the issuer's keys.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched.is_none_or(|t| t.elapsed() > KEYS_MAX_AGE);
        let known = cache.keys.as_ref().is_some_and(|k| k.find(kid).is_some());
        let may_fetch = cache
            .attempted
            .is_none_or(|t| t.elapsed() >= REFETCH_MIN_INTERVAL);
        if (stale || !known) && may_fetch {
            cache.attempted = Some(Instant::now());
            match self.fetch_keys().await {
                Ok(keys) => {
                    cache.keys = Some(keys);
                    cache.fetched = Some(Instant::now());
                }
                Err(e) if cache.keys.is_none() => return Err(Refusal::KeysUnavailable(e)),
                // Keep using the keys we have while the issuer is unreachable.
                Err(e) => tracing::warn!(error = %e, "refreshing the OIDC issuer's keys failed"),
            }
        }
        let keys = cache
            .keys
            .as_ref()
            .ok_or_else(|| Refusal::KeysUnavailable("not fetched yet".into()))?;
        let jwk = keys.find(kid).ok_or(Refusal::UnknownKey)?;
        DecodingKey::from_jwk(jwk).map_err(|_| Refusal::UnknownKey)
    }

    async fn fetch_keys(&self) -> Result<JwkSet, String> {
        let uri = match &self.settings.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = self.settings.discovery_url();
                let d: Discovery = self.get_json(&url).await?;
                d.jwks_uri
            }
        };
        let keys: JwkSet = self.get_json(&uri).await?;
        tracing::info!(jwks_uri = %uri, keys = keys.keys.len(), "fetched the OIDC issuer's keys");
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {url}: {e}"))?;
        response
            .json()
            .await
            .map_err(|e| format!("GET {url}: not the expected JSON: {e}"))
    }
}

fn refusal(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidIssuer => Refusal::Issuer,
        ErrorKind::InvalidAudience => Refusal::Audience,
        ErrorKind::MissingRequiredClaim(_) => Refusal::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Refusal::Algorithm,
        ErrorKind::InvalidSignature => Refusal::Signature,
        _ => Refusal::Malformed,
    }
}

/// The roles in the claim at the dotted `path`: a string is one role (a `scope` claim: space-separated
/// roles, the OAuth convention), a list gives its strings; anything else none.
fn roles(claims: &serde_json::Value, path: &str) -> Vec<String> {
    let mut at = claims;
    for part in path.split('.') {
        match at.get(part) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    match at {
        serde_json::Value::String(s) if last == "scope" || last == "scp" => {
            s.split_whitespace().map(str::to_string).collect()
        }
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_strings_lists_and_dotted_paths() {
        let claims = json!({
            "groups": ["fraud-oncall", 7, "fraud-analyst"],
            "realm_access": {"roles": ["operate"]},
            "scope": "openid sluice.read",
            "role": "reader",
        });
        assert_eq!(roles(&claims, "groups"), ["fraud-oncall", "fraud-analyst"]);
        assert_eq!(roles(&claims, "realm_access.roles"), ["operate"]);
        assert_eq!(roles(&claims, "scope"), ["openid", "sluice.read"]);
        assert_eq!(roles(&claims, "role"), ["reader"]);
        assert!(roles(&claims, "realm_access.missing").is_empty());
        assert!(roles(&claims, "realm_access").is_empty());
    }

    #[test]
    fn every_refusal_has_a_distinct_reason() {
        let all = [
            Refusal::Malformed,
            Refusal::Algorithm,
            Refusal::UnknownKey,
            Refusal::Signature,
            Refusal::Expired,
            Refusal::NotYetValid,
            Refusal::Issuer,
            Refusal::Audience,
            Refusal::MissingClaim,
            Refusal::NoRole,
            Refusal::KeysUnavailable(String::new()),
        ];
        let reasons: std::collections::BTreeSet<&str> = all.iter().map(Refusal::reason).collect();
        assert_eq!(reasons.len(), all.len());
    }

    #[tokio::test]
    async fn alg_none_and_garbage_are_refused_before_any_key_fetch() {
        let settings: OidcSettings = serde_json::from_value(json!({
            "issuer": "http://127.0.0.1:9", "audience": "sluice", "operateRoles": ["x"],
        }))
        .unwrap();
        let v = OidcVerifier::new(settings).unwrap();
        // {"alg":"none","kid":"k"} . {"sub":"x"} . (no signature)
        let none = "eyJhbGciOiJub25lIiwia2lkIjoiayJ9.eyJzdWIiOiJ4In0.";
        assert_eq!(v.verify(none).await, Err(Refusal::Malformed));
        assert_eq!(v.verify("not-a-jwt").await, Err(Refusal::Malformed));
        // {"alg":"HS256","kid":"k"}: symmetric, not allowed.
        let hs = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln";
        assert_eq!(v.verify(hs).await, Err(Refusal::Algorithm));
        // An allowed algorithm with an unreachable issuer: keys unavailable, not accepted.
        let rs = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln";
        assert!(matches!(
            v.verify(rs).await,
            Err(Refusal::KeysUnavailable(_))
        ));
    }
}
