//! A local OIDC issuer for the control API's tests: it serves the discovery document and its keys (JWKS)
//! on loopback over HTTP, and signs tokens as an identity provider would (ES256, a key id per key). Keys
//! can be rotated, and a key the issuer never publishes signs the forged tokens the tests expect refused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::TestBedError;

/// One ES256 signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    der: Vec<u8>,
    jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key named `kid`.
    pub fn generate(kid: &str) -> Result<SigningKey, TestBedError> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| TestBedError::Env(format!("generating a P-256 key: {e}")))?;
        // The uncompressed point: 0x04, then x and y (32 bytes each).
        let point = pair.public_key_raw();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(SigningKey {
            kid: kid.to_string(),
            der: pair.serialize_der(),
            jwk,
        })
    }

    /// `claims` signed with this key (ES256, this key's id in the header).
    pub fn sign(&self, claims: &Value) -> Result<String, TestBedError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.der))
            .map_err(|e| TestBedError::Env(format!("signing a token: {e}")))
    }
}

/// The one key the issuer publishes and signs with.
fn published(m: &Mutex<SigningKey>) -> MutexGuard<'_, SigningKey> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    published: Arc<Mutex<SigningKey>>,
    jwks_fetches: Arc<AtomicU64>,
}

/// The running issuer; stops with the test process.
pub struct OidcIssuer {
    /// The issuer URL (`http://127.0.0.1:<port>`), the tokens' `iss`.
    pub issuer: String,
    shared: Shared,
    _runtime: tokio::runtime::Runtime,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn discovery(State(s): State<Shared>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": s.issuer,
        "jwks_uri": format!("{}/keys", s.issuer),
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn keys(State(s): State<Shared>) -> axum::Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let key = published(&s.published).jwk.clone();
    axum::Json(json!({ "keys": [key] }))
}

impl OidcIssuer {
    /// Starts the issuer on a free loopback port with one key, `key-1`.
    pub fn start() -> Result<OidcIssuer, TestBedError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(TestBedError::io("starting the issuer's runtime"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .map_err(TestBedError::io("binding the issuer"))?;
        let addr = listener
            .local_addr()
            .map_err(TestBedError::io("the issuer's address"))?;
        let issuer = format!("http://{addr}");
        let shared = Shared {
            issuer: issuer.clone(),
            published: Arc::new(Mutex::new(SigningKey::generate("key-1")?)),
            jwks_fetches: Arc::new(AtomicU64::new(0)),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/keys", get(keys))
            .with_state(shared.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(OidcIssuer {
            issuer,
            shared,
            _runtime: runtime,
        })
    }

    /// The key new tokens are signed with.
    pub fn current_key(&self) -> SigningKey {
        published(&self.shared.published).clone()
    }

    /// Publishes a new key `kid`, signs with it from now on, and withdraws every older key.
    pub fn rotate(&self, kid: &str) -> Result<(), TestBedError> {
        let key = SigningKey::generate(kid)?;
        *published(&self.shared.published) = key;
        Ok(())
    }

    /// How often the keys were fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.jwks_fetches.load(Ordering::Relaxed)
    }

    /// The claims of a token for `subject` with `groups`, for `audience`, valid for `ttl_secs` (negative:
    /// expired that long ago, beyond any clock leeway).
    pub fn claims(&self, subject: &str, groups: &[&str], audience: &str, ttl_secs: i64) -> Value {
        let now = now_secs();
        let exp = now.saturating_add_signed(ttl_secs);
        json!({
            "iss": self.issuer, "sub": subject, "aud": audience, "groups": groups,
            "iat": now, "exp": exp,
        })
    }

    /// A token signed with the current key.
    pub fn token(
        &self,
        subject: &str,
        groups: &[&str],
        audience: &str,
        ttl_secs: i64,
    ) -> Result<String, TestBedError> {
        self.current_key()
            .sign(&self.claims(subject, groups, audience, ttl_secs))
    }
}
