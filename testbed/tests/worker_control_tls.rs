//! The control API over TLS: a worker given a certificate and key serves `/v1/*` only over HTTPS; a client
//! trusting the CA gets the status with the token, and the same request without the token is still refused.
//! A rotated token file takes effect without a restart.

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
    let h = JobHarness::new(bed.kafka_bootstrap(), &dir, 1, "").unwrap();
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
    h.stop_all(vec![w]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
