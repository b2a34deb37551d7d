//! People's access to the control API with OIDC (`SLUICE_CONTROL_OIDC`): a worker checks JWTs from the test
//! bed's local issuer against the keys it publishes. A read token sees the status but cannot operate; an
//! operate token triggers a checkpoint; unauthenticated, expired, wrong-audience, wrong-issuer, wrong-key,
//! `alg: none` and HS256 tokens are refused; the issuer's key rotation reaches the worker without a
//! restart; the `sluice` CLI sends a token file with `--oidc-token-file`. The job's own token keeps working,
//! and the output stays exactly once.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sluice_api::control_client::{ClientError, ControlClient};
use sluice_testbed::binaries::binary;
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::services::oidc_issuer::{OidcIssuer, SigningKey};
use sluice_testbed::{TestBed, unique_name};

const AUDIENCE: &str = "sluice-fraud";
const INPUT: InputBatches = InputBatches::new(100, 2);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The HTTP status and error label of a refused call; panics when the call succeeded or got no answer.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Rejected { status, error, .. }) => (status, error),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A token with `header` and `claims` as given and a made-up signature: what an attacker can send.
fn unsigned(header: serde_json::Value, claims: &serde_json::Value) -> String {
    let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode(b"sig")
    )
}

#[test]
fn the_control_api_accepts_oidc_tokens_by_role_and_refuses_forged_ones() {
    let started = Instant::now();
    let bed = TestBed::with_kafka().unwrap();
    let issuer = OidcIssuer::start().unwrap();
    let dir = sluice_testbed::cache::run_root().join(unique_name("oidc-test"));
    let h = JobHarness::on_bed(&bed, &dir, 2, "").unwrap();
    let settings = serde_json::json!({
        "issuer": issuer.issuer, "audience": AUDIENCE,
        "readRoles": ["fraud-analyst"], "operateRoles": ["fraud-oncall"],
    });
    let spec = WorkerSpec {
        slot: "a".into(),
        identity: "p1-w0".into(),
        partitions: vec![0, 1],
        env: vec![("SLUICE_CONTROL_OIDC".into(), settings.to_string())],
        ..WorkerSpec::default()
    };
    let produced = INPUT.produce(&h, 0, 2_000).unwrap();
    let mut w = h.start(&spec).unwrap();
    let rt = rt();
    let with = |token: &str| ControlClient::new(&w.control_url, Some(token.to_string()));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !rt.block_on(with(&h.token).ready()) {
        assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
        assert!(Instant::now() < deadline, "{}", w.process.log_tail(40));
        std::thread::sleep(Duration::from_millis(200));
    }

    // Accepted: the job's token (the operator's), a read token for reading, an operate token for operating.
    let reader = issuer
        .token("ana", &["fraud-analyst"], AUDIENCE, 300)
        .unwrap();
    let oncall = issuer
        .token("olaf", &["fraud-oncall"], AUDIENCE, 300)
        .unwrap();
    rt.block_on(with(&h.token).status()).unwrap();
    assert_eq!(
        rt.block_on(with(&reader).status())
            .unwrap()
            .partitions
            .len(),
        2
    );
    rt.block_on(with(&oncall).trigger_checkpoint()).unwrap();
    let mut refusals = 0;
    let mut expect = |result: (u16, String), status: u16, label: &str| {
        assert_eq!(result, (status, label.to_string()));
        refusals += 1;
    };
    // The read role cannot operate: 403.
    expect(
        refused(rt.block_on(with(&reader).trigger_checkpoint())),
        403,
        "forbidden",
    );
    // A token granting neither role: 403.
    let nobody = issuer.token("eve", &["marketing"], AUDIENCE, 300).unwrap();
    expect(refused(rt.block_on(with(&nobody).status())), 403, "no-role");

    // Refused: 401 with the reason.
    let anonymous = ControlClient::new(&w.control_url, None);
    expect(
        refused(rt.block_on(anonymous.status())),
        401,
        "unauthorized",
    );
    let expired = issuer
        .token("ana", &["fraud-analyst"], AUDIENCE, -600)
        .unwrap();
    expect(
        refused(rt.block_on(with(&expired).status())),
        401,
        "expired",
    );
    let other_audience = issuer
        .token("ana", &["fraud-analyst"], "another-app", 300)
        .unwrap();
    expect(
        refused(rt.block_on(with(&other_audience).status())),
        401,
        "audience",
    );
    let mut claims = issuer.claims("ana", &["fraud-oncall"], AUDIENCE, 300);
    claims["iss"] = "http://127.0.0.1:1/impostor".into();
    let other_issuer = issuer.current_key().sign(&claims).unwrap();
    expect(
        refused(rt.block_on(with(&other_issuer).status())),
        401,
        "issuer",
    );
    // Signed by a key the issuer never published, under the id of the one it did.
    let claims = issuer.claims("mallory", &["fraud-oncall"], AUDIENCE, 300);
    let mut forger = SigningKey::generate("key-1").unwrap();
    let forged = forger.sign(&claims).unwrap();
    expect(
        refused(rt.block_on(with(&forged).stop(false, None))),
        401,
        "signature",
    );
    forger = SigningKey::generate("key-unknown").unwrap();
    let unknown = forger.sign(&claims).unwrap();
    expect(
        refused(rt.block_on(with(&unknown).status())),
        401,
        "unknown-key",
    );
    let none = unsigned(serde_json::json!({"alg": "none", "kid": "key-1"}), &claims);
    expect(refused(rt.block_on(with(&none).status())), 401, "malformed");
    let hs256 = unsigned(serde_json::json!({"alg": "HS256", "kid": "key-1"}), &claims);
    expect(
        refused(rt.block_on(with(&hs256).status())),
        401,
        "algorithm",
    );
    expect(
        refused(rt.block_on(with("a.b.c").status())),
        401,
        "malformed",
    );

    // The issuer rotates its key: a token under the new key id makes the worker fetch the keys again; the
    // withdrawn key's tokens stop working once the keys were refetched.
    let fetches = issuer.jwks_fetches();
    std::thread::sleep(Duration::from_secs(11)); // the worker refetches at most every 10 s
    issuer.rotate("key-2").unwrap();
    let rotated = issuer
        .token("olaf", &["fraud-oncall"], AUDIENCE, 300)
        .unwrap();
    rt.block_on(with(&rotated).trigger_checkpoint()).unwrap();
    assert!(issuer.jwks_fetches() > fetches, "no refetch after rotation");
    expect(
        refused(rt.block_on(with(&oncall).status())),
        401,
        "unknown-key",
    );

    // The CLI with --oidc-token-file: status with a read token, a savepoint refused with it.
    let token_file = dir.join("my-oidc-token");
    std::fs::write(&token_file, format!("{reader}\n")).unwrap();
    let reader_again = issuer
        .token("ana", &["fraud-analyst"], AUDIENCE, 300)
        .unwrap();
    std::fs::write(&token_file, format!("{reader_again}\n")).unwrap();
    let cli = |command: &str| {
        Command::new(binary("sluice").unwrap())
            .args([command, "--worker", &w.control_url, "--oidc-token-file"])
            .arg(&token_file)
            .env_remove("SLUICE_CONTROL_TOKEN_FILE")
            .output()
            .unwrap()
    };
    let status = cli("status");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let savepoint = cli("savepoint");
    let stderr = String::from_utf8_lossy(&savepoint.stderr);
    assert!(
        !savepoint.status.success() && stderr.contains("403"),
        "{stderr}"
    );
    refusals += 1;
    // No token ever appears in the worker's log; each operate call is logged with its subject.
    let log = w.process.log_tail(100_000);
    for token in [&reader, &oncall, &rotated, &forged] {
        assert!(!log.contains(token.as_str()), "a token in the worker's log");
    }
    assert!(
        log.contains("olaf"),
        "operate calls are logged with the subject"
    );

    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
    h.stop_all(vec![w]).unwrap();
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    common::report::record(
        "control API access with OIDC tokens",
        format!(
            "accepted: job token, read and operate roles, a token after the issuer's key rotation; {refusals} refused: read role operating, no role, no token, expired, wrong audience, wrong issuer, forged signature, unknown key, alg none, HS256, garbage, withdrawn key, CLI savepoint with a read token"
        ),
        0,
        Some(&report),
        started,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
