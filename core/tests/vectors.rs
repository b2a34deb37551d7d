//! Shared test vectors (`testdata/vectors.json`): the contract between sluice-core and the Apache Flink peer
//! of the job (`bench/flink-fraud`, whose `VectorsTest` reads the same file).
//!
//! The inputs are hand-written; the expected score cases and partition outputs are sluice-core's own. This
//! test fails when sluice-core's results drift from the file (then the Flink peer must change too); after an
//! intended change, rewrite the expectations with `SLUICE_WRITE_VECTORS=1 cargo test -p sluice-core --test
//! vectors` and review the diff.

// Test code: a failed expect is a failed test with its message.
#![allow(clippy::expect_used)]

use serde_json::{Value, json};
use sluice_core::event::SourceTopic;
use sluice_core::features::FeatureVector;
use sluice_core::model::ScoringModel;
use sluice_core::processor::{InputRecord, JobParams, MemStore, PartitionProcessor};

/// `testdata/vectors.json` of this package, located at run time (a shared target directory can hold a binary
/// compiled in another checkout).
fn vectors_path() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("testdata/vectors.json")
}

fn topic(name: &str) -> SourceTopic {
    SourceTopic::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown topic {name}"))
}

/// Score, decision and reasons of each score case, as sluice-core computes them.
fn score_cases(doc: &Value, model: &ScoringModel) -> Vec<Value> {
    doc["score_cases"]
        .as_array()
        .expect("score_cases")
        .iter()
        .map(|case| {
            let f: FeatureVector =
                serde_json::from_value(case["features"].clone()).expect("features");
            let s = model.score(&f);
            json!({
                "features": case["features"],
                "score": s.score,
                "decision": s.decision.as_str(),
                "reasons": s.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Every output of one partition processor fed the records in file order.
fn partition_outputs(doc: &Value, model: &ScoringModel) -> Vec<Value> {
    let params: JobParams = serde_json::from_value(doc["params"].clone()).expect("params");
    let partition = i32::try_from(doc["partition"].as_i64().expect("partition")).expect("i32");
    let mut p = PartitionProcessor::new(params, model.clone(), partition);
    let mut store = MemStore::new();
    p.load(&mut store).expect("load");
    let mut outs = Vec::new();
    for r in doc["records"].as_array().expect("records") {
        let rec = InputRecord {
            topic: topic(r["topic"].as_str().expect("topic")),
            partition,
            offset: r["offset"].as_i64().expect("offset"),
            key: r["key"].as_str().map(str::as_bytes),
            value: r["value"].as_str().map(str::as_bytes),
        };
        p.process(&mut store, rec, &mut outs).expect("process");
    }
    outs.iter()
        .map(|o| {
            json!({
                "topic": o.kind().name(),
                "key": o.key_bytes().map(|k| String::from_utf8_lossy(k).into_owned()),
                "value": String::from_utf8(o.to_json_bytes().expect("json")).expect("utf8"),
            })
        })
        .collect()
}

#[test]
fn sluice_core_matches_the_shared_vectors() {
    let text = std::fs::read_to_string(vectors_path()).expect("read vectors.json");
    let mut doc: Value = serde_json::from_str(&text).expect("parse vectors.json");
    let model = ScoringModel::default_v1();
    let scores = score_cases(&doc, &model);
    let outputs = partition_outputs(&doc, &model);
    if std::env::var_os("SLUICE_WRITE_VECTORS").is_some() {
        doc["score_cases"] = Value::Array(scores);
        doc["outputs"] = Value::Array(outputs);
        let pretty = serde_json::to_string_pretty(&doc).expect("serialize");
        std::fs::write(vectors_path(), pretty + "\n").expect("write vectors.json");
        return;
    }
    assert_eq!(
        doc["score_cases"],
        Value::Array(scores),
        "score cases drifted"
    );
    assert_eq!(
        doc["outputs"],
        Value::Array(outputs),
        "partition outputs drifted"
    );
}

#[test]
fn the_vectors_cover_every_decision_and_output_kind() {
    let text = std::fs::read_to_string(vectors_path()).expect("read vectors.json");
    let doc: Value = serde_json::from_str(&text).expect("parse vectors.json");
    let outputs = doc["outputs"].as_array().expect("outputs");
    for kind in ["decisions", "alerts", "dlq", "late"] {
        assert!(
            outputs.iter().any(|o| o["topic"] == kind),
            "no {kind} output in the vectors"
        );
    }
    for decision in ["APPROVE", "REVIEW", "DECLINE"] {
        assert!(
            outputs.iter().any(|o| o["value"]
                .as_str()
                .is_some_and(|v| v.contains(&format!(r#""decision":"{decision}""#)))),
            "no {decision} decision in the vectors"
        );
    }
}
