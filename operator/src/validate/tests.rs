//! Validation: problems name their fields, and a spec without problems becomes the typed job.

use std::num::NonZeroU32;

use sluice_crds::StoreUri;

use super::{partition_count_problem, spec_problems, validate};
use crate::decide::tests::{T0, obs, spec, worker_status_for_tests};
use crate::reconcile::{Observed, Problem, WorkerProbe};

fn observed(spec: sluice_crds::StreamJobSpec) -> Observed {
    obs(spec, Default::default(), 1, T0)
}

fn fields(o: &Observed) -> Vec<String> {
    match validate(o) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.field).collect(),
    }
}

#[test]
fn problems_name_their_fields() {
    let mut s = spec();
    assert!(spec_problems(&s).is_empty());
    s.parallelism = 9;
    s.job.transaction_timeout = sluice_crds::Millis::from_secs(1);
    let fields: Vec<String> = spec_problems(&s).into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        vec!["spec.job.transactionTimeout", "spec.parallelism"]
    );
}

#[test]
fn a_good_spec_becomes_the_typed_job() {
    let job = validate(&observed(spec())).unwrap();
    assert_eq!(job.parallelism(), NonZeroU32::new(2).unwrap());
    assert_eq!(job.partitions(), NonZeroU32::new(4).unwrap());
    assert_eq!(job.ordinals(), 0..2);
    assert_eq!(job.partitions_of(0), Some(&[0, 1][..]));
    assert_eq!(job.partitions_of(1), Some(&[2, 3][..]));
    assert_eq!(job.partitions_of(2), None);
    assert_eq!(
        job.checkpoint_store(),
        Some(&StoreUri::S3 {
            bucket: "ckpt".into(),
            prefix: "prod".into()
        })
    );
    assert_eq!(
        job.savepoint_location("sp-1").as_deref(),
        Some("s3://ckpt/prod/fraud-test/savepoints/sp-1")
    );
    assert_eq!(job.spec(), &spec());
}

#[test]
fn a_parallelism_of_zero_is_a_problem_of_spec_parallelism() {
    let mut s = spec();
    s.parallelism = 0;
    let problems = validate(&observed(s)).unwrap_err();
    assert_eq!(
        problems,
        vec![Problem {
            field: "spec.parallelism".into(),
            message: "must be at least 1".into()
        }]
    );
}

#[test]
fn a_malformed_store_uri_is_a_problem_of_its_field() {
    for bad in ["s3://", "s3:///bucket", "gs://b/x", "file://relative"] {
        let mut s = spec();
        s.job.state.checkpoint_store = Some(bad.into());
        assert_eq!(
            fields(&observed(s)),
            ["spec.job.state.checkpointStore"],
            "{bad}"
        );
    }
    let mut s = spec();
    s.job.state.checkpoint_store = None;
    let job = validate(&observed(s)).unwrap();
    assert_eq!(job.checkpoint_store(), None);
    assert_eq!(job.savepoint_location("sp-1"), None);
}

#[test]
fn missing_references_and_a_partition_mismatch_keep_the_spec_from_validating() {
    let mut o = observed(spec());
    o.reference_problems.push(Problem {
        field: "spec.controlApi.tokenSecret".into(),
        message: "Secret \"tok\" not found".into(),
    });
    let mut status = worker_status_for_tests();
    status.input_partitions = Some(6);
    o.workers.insert(
        "fraud-worker-0".into(),
        WorkerProbe::Status(Box::new(status)),
    );
    assert_eq!(
        fields(&o),
        ["spec.controlApi.tokenSecret", "spec.partitions"]
    );
}

#[test]
fn a_stored_spec_reads_back_as_the_typed_job() {
    let job = validate(&observed(spec())).unwrap();
    let stored = super::ValidatedJob::stored(Some(job.spec_json()));
    assert_eq!(stored.as_ref(), Some(&job));
    assert_eq!(super::ValidatedJob::stored(None), None);
    assert_eq!(super::ValidatedJob::stored(Some("{not json")), None);
}

#[test]
fn a_log_level_that_would_not_log_as_meant_names_spec_logging_level() {
    let mut s = spec();
    for good in ["info", "WARN", "info,sluice_worker=debug", "rdkafka=warn"] {
        s.logging.level = Some(good.into());
        assert!(spec_problems(&s).is_empty(), "{good}");
    }
    for bad in ["debgu", "info,sluice=loud"] {
        s.logging.level = Some(bad.into());
        let problems = spec_problems(&s);
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        assert_eq!(problems[0].field, "spec.logging.level");
        assert!(problems[0].message.contains(bad), "{}", problems[0].message);
    }
}

#[test]
fn a_partition_count_other_than_the_topics_names_spec_partitions() {
    let spec = spec();
    let mut status = worker_status_for_tests();
    status.input_partitions = Some(6);
    let p = partition_count_problem(&spec, [&status]).unwrap();
    assert_eq!(p.field, "spec.partitions");
    assert!(
        p.message
            .contains("partitions 4..5 would never be processed"),
        "{}",
        p.message
    );
    assert!(
        p.message.contains("set spec.partitions to 6"),
        "{}",
        p.message
    );
    status.input_partitions = Some(4);
    assert_eq!(partition_count_problem(&spec, [&status]), None);
    status.input_partitions = None;
    assert_eq!(partition_count_problem(&spec, [&status]), None);
}

#[test]
fn encrypted_state_and_its_keys_secret_go_together() {
    let mut s = spec();
    s.job.state.checkpoint_store = Some("s3://b/p".into());
    s.job.state.encryption = Some(sluice_crds::job_config::StateEncryption {
        current_key: "2026-12".into(),
        allow_plaintext: false,
    });
    let problems = spec_problems(&s);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "spec.storage.encryptionKeysSecret");
    assert!(problems[0].message.contains("2026-12"), "{problems:?}");
    s.storage.encryption_keys_secret = Some(sluice_crds::LocalObjectRef {
        name: "keys".into(),
    });
    assert!(spec_problems(&s).is_empty());
    s.job.state.encryption = None;
    let problems = spec_problems(&s);
    assert_eq!(problems[0].field, "spec.job.state.encryption");
    assert!(problems[0].message.contains("\"keys\""), "{problems:?}");
}

#[test]
fn oidc_problems_name_their_fields_under_spec_control_api_oidc() {
    let mut s = spec();
    s.control_api = Some(
        serde_norway::from_str(
            "tokenSecret: {name: tok, key: token}\noidc:\n  issuer: http://idp.example.com\n  audience: sluice\n",
        )
        .unwrap(),
    );
    let fields: Vec<String> = spec_problems(&s).into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        [
            "spec.controlApi.oidc.issuer",
            "spec.controlApi.oidc.operateRoles"
        ]
    );
}
