//! The control API over TLS: a worker given a certificate and key serves `/v1/*` only over HTTPS; a client
//! trusting the CA gets the status with the token, and the same request without the token is still refused.
//! A rotated token file takes effect without a restart, and so does a renewed certificate (here one of a
//! new CA, as after the operator rotates its CA): new connections get it, the old CA no longer verifies.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use sluice_api::control_client::ControlClient;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::services::kube::certs;
use sluice_testbed::{TestBed, unique_name};

#[test]
fn control_api_serves_https_with_the_configured_certificate() {
    let bed = TestBed::with_kafka().unwrap();
    let dir = sluice_testbed::cache::run_root().join(unique_name("tls-test"));
    let pki = certs::generate(&dir.join("pki"), &[]).unwrap();
    let h = JobHarness::on_bed(&bed, &dir, 1, "").unwrap();
    let spec = WorkerSpec {
        slot: "a".into(),
        identity: "p1-w0".into(),
        partitions: vec![0],
        tls: Some((pki.server_cert.clone(), pki.server_key.clone())),
        ..WorkerSpec::default()
    };
    let mut w = h.start(&spec).unwrap();
    assert!(w.control_url.starts_with("https://"));
    let ca = std::fs::read(&pki.ca_cert).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let trusted = ControlClient::with_ca(&w.control_url, Some(h.token.clone()), Some(&ca));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !rt.block_on(trusted.ready()) {
        assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
        assert!(Instant::now() < deadline, "{}", w.process.log_tail(40));
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = rt.block_on(trusted.status()).unwrap();
    assert_eq!(status.partitions.len(), 1);

    // Without the CA the TLS handshake fails; without the token the request is refused.
    let untrusted = ControlClient::new(&w.control_url, Some(h.token.clone()));
    assert!(rt.block_on(untrusted.status()).is_err());
    let anonymous = ControlClient::with_ca(&w.control_url, None, Some(&ca));
    let err = rt.block_on(anonymous.status()).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = ControlClient::new(
        &w.control_url.replace("https://", "http://"),
        Some(h.token.clone()),
    );
    assert!(rt.block_on(plain.status()).is_err());

    // The token Secret rotated (the file replaced atomically, as the kubelet does): the new token works
    // at once, without a restart; the old one still does during the rotation grace; others never.
    let rotated = format!("rotated-{}", unique_name("token"));
    let staged = dir.join("control-token.new");
    std::fs::write(&staged, &rotated).unwrap();
    std::fs::rename(&staged, &h.token_file).unwrap();
    let with =
        |token: &str| ControlClient::with_ca(&w.control_url, Some(token.to_string()), Some(&ca));
    rt.block_on(with(&rotated).status()).unwrap();
    rt.block_on(with(&h.token).status()).unwrap();
    let err = rt
        .block_on(with("some-other-token-0123456789").status())
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));

    renewed_certificate_is_served_without_a_restart(&rt, &dir, &pki, &w, &h.token);
    assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
    h.stop_all(vec![w]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces the served certificate and key (each file renamed into place, the key a moment after the
/// certificate, as a secret agent may write them) with a pair of a new CA; within a few polls new
/// connections verify against the new CA only, and the worker logged the replacement once.
fn renewed_certificate_is_served_without_a_restart(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    pki: &certs::PkiFiles,
    w: &sluice_testbed::job_harness::RunningWorker,
    token: &str,
) {
    let next = certs::generate(&dir.join("pki-next"), &[]).unwrap();
    let client = |ca: &std::path::Path| {
        let ca = std::fs::read(ca).unwrap();
        ControlClient::with_ca(&w.control_url, Some(token.to_string()), Some(&ca))
    };
    for (from, to) in [
        (&next.server_cert, &pki.server_cert),
        (&next.server_key, &pki.server_key),
    ] {
        let staged = to.with_extension("staged");
        std::fs::copy(from, &staged).unwrap();
        std::fs::rename(&staged, to).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt.block_on(client(&next.ca_cert).status()).is_err() {
        assert!(Instant::now() < deadline, "{}", w.process.log_tail(40));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(rt.block_on(client(&pki.ca_cert).status()).is_err());
    let log = w.process.log_tail(400);
    let replaced = log.matches("control API certificate replaced").count();
    assert_eq!(replaced, 1, "{log}");
    assert!(!log.contains("does not load"), "{log}");
}
