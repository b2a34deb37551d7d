//! The processor must agree with the oracle byte for byte, and checkpoint/restore must be
//! invisible in the output.

use proptest::prelude::*;

use super::*;
use crate::processor::{MemStore, PartitionProcessor};
use crate::testkit::{params, run_processor, stream};

fn json_lines(r: &OracleResult) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    lines.extend(r.decisions.iter().map(|d| serde_json::to_vec(d).unwrap()));
    lines.extend(r.alerts.iter().map(|a| serde_json::to_vec(a).unwrap()));
    lines.extend(r.dlq.iter().map(|d| serde_json::to_vec(d).unwrap()));
    lines.extend(r.late.iter().map(|l| serde_json::to_vec(l).unwrap()));
    lines
}

fn all_json(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter().map(|o| o.to_json_bytes().unwrap()).collect()
}

#[test]
fn empty_stream() {
    let model = ScoringModel::default_v1();
    let r = oracle_decisions(&JobParams::default(), &model, &[]);
    assert_eq!(r, OracleResult::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn processor_matches_oracle(params in params(), records in stream(120)) {
        let model = ScoringModel::default_v1();
        let (out, _, _) = run_processor(params, &model, &records);
        let expected = oracle_decisions(&params, &model, &records);
        let got = OracleResult::from_outputs(out);
        prop_assert_eq!(json_lines(&got), json_lines(&expected));
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn checkpoint_restore_is_invisible(
        params in params(),
        records in stream(120),
        split in any::<prop::sample::Index>(),
    ) {
        let model = ScoringModel::default_v1();
        let (uninterrupted, final_store, _) = run_processor(params, &model, &records);
        let k = split.index(records.len() + 1);

        let mut store = MemStore::new();
        let mut p = PartitionProcessor::new(params, model.clone(), 0);
        p.load(&mut store).unwrap();
        let mut out = Vec::new();
        for r in &records[..k] {
            p.process(&mut store, r.as_input(), &mut out).unwrap();
        }
        // Checkpoint = a copy of the store; the processor object is thrown away.
        let mut restored = store.clone();
        drop(p);
        let mut p = PartitionProcessor::new(params, model.clone(), 0);
        p.load(&mut restored).unwrap();
        for r in &records[k..] {
            p.process(&mut restored, r.as_input(), &mut out).unwrap();
        }
        prop_assert_eq!(all_json(&out), all_json(&uninterrupted));
        prop_assert_eq!(restored, final_store);
    }
}
