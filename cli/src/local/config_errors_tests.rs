//! Configuration errors name the field (as written in YAML) and say how to fix it.

use std::path::Path;

use crate::local::LocalJob;

fn parse_err(yaml: &str) -> String {
    match LocalJob::parse(Path::new("job.yaml"), yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_fields_are_named_in_every_section() {
    let err = parse_err("job:\n  transactionalIdPrefix: t\nlocal:\n  outputdir: out\n");
    assert!(
        err.contains("local") && err.contains("outputdir") && err.contains("outputDir"),
        "{err}"
    );
    let err = parse_err("job:\n  transactionalIdPrefix: t\n  comitInterval: 1s\n");
    assert!(err.contains("comitInterval"), "{err}");
    let err = parse_err("job:\n  transactionalIdPrefix: t\ngenerator:\n  sead: 1\n");
    assert!(err.contains("generator") && err.contains("sead"), "{err}");
    let err = parse_err("job:\n  transactionalIdPrefix: t\nextra: 1\n");
    assert!(err.contains("extra"), "{err}");
}

#[test]
fn bad_durations_name_the_field_and_the_accepted_forms() {
    let err = parse_err("job:\n  transactionalIdPrefix: t\n  commitInterval: 1.5s\n");
    assert!(
        err.contains("job.commitInterval") && err.contains("e.g."),
        "{err}"
    );
    let err =
        parse_err("job:\n  transactionalIdPrefix: t\n  state:\n    checkpointInterval: 10 min\n");
    assert!(err.contains("job.state.checkpointInterval"), "{err}");
}

#[test]
fn invalid_values_are_all_reported_with_a_fix() {
    let err = parse_err(
        "job:\n  transactionalIdPrefix: t\n  commitMaxRecords: 0\ngenerator:\n  partitions: 0\nlocal:\n  outputDir: ''\n",
    );
    for field in [
        "job.commitMaxRecords",
        "generator.partitions",
        "local.outputDir",
    ] {
        assert!(err.contains(field), "{field} missing in: {err}");
    }
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn the_example_job_file_is_valid() {
    let path = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap())
        .join("../examples/fraud-local.yaml");
    let job = LocalJob::load(&path).unwrap();
    assert!(job.local.fresh, "the README command must be repeatable");
    assert_eq!(job.generator.partitions, 4);
}
