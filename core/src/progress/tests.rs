use proptest::prelude::*;

use super::*;
use crate::event::SourceTopic::{
    AccountChanges as Acc, Authorizations as Auth, DeviceTelemetry as Dev,
};

fn rec(seq: u64, start: [i64; 3], runs: Vec<(SourceTopic, u32)>) -> ProgressRecord {
    let mut end = start;
    for (t, n) in &runs {
        end[usize::from(t.index())] += i64::from(*n);
    }
    ProgressRecord {
        partition: 2,
        txn_seq: seq,
        start_offsets: start,
        end_offsets: end,
        runs,
    }
}

#[test]
fn recorder_merges_runs() {
    let mut r = InterleavingRecorder::new();
    assert!(r.is_empty());
    for t in [Auth, Auth, Dev, Auth, Auth, Auth, Acc] {
        r.push(t);
    }
    assert_eq!(r.len(), 7);
    assert_eq!(r.take(), vec![(Auth, 2), (Dev, 1), (Auth, 3), (Acc, 1)]);
    assert!(r.is_empty());
}

#[test]
fn replay_yields_recorded_order_with_offsets() {
    let plan = ReplayPlan::new(vec![
        rec(7, [10, 0, 5], vec![(Auth, 2), (Dev, 1), (Auth, 1)]),
        rec(8, [13, 1, 5], vec![(Acc, 1), (Auth, 1)]),
    ])
    .unwrap();
    let steps: Vec<(u64, SourceTopic, i64)> = plan
        .steps()
        .map(|s| (s.txn_seq, s.topic, s.offset))
        .collect();
    assert_eq!(
        steps,
        [
            (7, Auth, 10),
            (7, Auth, 11),
            (7, Dev, 0),
            (7, Auth, 12),
            (8, Acc, 5),
            (8, Auth, 13)
        ]
    );
    assert_eq!(plan.topics().count(), 6);
    assert_eq!(plan.start_offsets(), Some([10, 0, 5]));
    assert_eq!(plan.end_offsets(), Some([14, 1, 6]));
    assert_eq!(ReplayPlan::new(vec![]).unwrap().steps().count(), 0);
}

#[test]
fn offset_gaps_from_commit_markers_are_accepted() {
    let mut gappy = rec(1, [0, 0, 0], vec![(Auth, 2)]);
    gappy.end_offsets[0] = 3; // two records and one transaction marker
    assert!(ReplayPlan::new(vec![gappy]).is_ok());
}

#[test]
fn replay_rejects_inconsistent_progress() {
    let mut bad = rec(1, [0, 0, 0], vec![(Auth, 2)]);
    bad.end_offsets[0] = 1;
    let e = ReplayPlan::new(vec![bad]).unwrap_err();
    assert_eq!(e.kind(), "run_mismatch");
    assert!(e.to_string().contains("authorizations"), "{e}");

    let e = ReplayPlan::new(vec![rec(1, [0; 3], vec![]), rec(3, [0; 3], vec![])]).unwrap_err();
    assert_eq!(e.kind(), "sequence_gap");

    let e =
        ReplayPlan::new(vec![rec(1, [0; 3], vec![(Dev, 1)]), rec(2, [0; 3], vec![])]).unwrap_err();
    assert_eq!(e.kind(), "offset_gap");

    let mut other = rec(2, [0; 3], vec![]);
    other.partition = 5;
    let e = ReplayPlan::new(vec![rec(1, [0; 3], vec![]), other]).unwrap_err();
    assert_eq!(e.kind(), "partition_mismatch");

    let mut backwards = rec(1, [5, 0, 0], vec![]);
    backwards.end_offsets[0] = 4;
    assert!(backwards.check().is_err());
}

#[test]
fn decode_rejects_bad_bytes() {
    let bytes = rec(1, [1, 2, 3], vec![(Auth, 2), (Acc, 9)]).encode();
    assert!(ProgressRecord::decode(&[]).is_err());
    for cut in 0..bytes.len() {
        assert!(ProgressRecord::decode(&bytes[..cut]).is_err());
    }
    let mut bad_topic = bytes.clone();
    let n = bad_topic.len();
    bad_topic[n - 2] = 3;
    assert_eq!(
        ProgressRecord::decode(&bad_topic).unwrap_err().kind(),
        "invalid_tag"
    );
    let mut v2 = bytes;
    v2[0] = 2;
    assert_eq!(
        ProgressRecord::decode(&v2).unwrap_err().kind(),
        "unsupported_version"
    );
}

fn arb_topic() -> impl Strategy<Value = SourceTopic> {
    (0u8..3).prop_map(|i| SourceTopic::from_index(i).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn progress_round_trips(
        partition in any::<i32>(),
        txn_seq in any::<u64>(),
        start in any::<[i64; 3]>(),
        end in any::<[i64; 3]>(),
        runs in proptest::collection::vec((arb_topic(), any::<u32>()), 0..20),
    ) {
        let r = ProgressRecord { partition, txn_seq, start_offsets: start, end_offsets: end, runs };
        prop_assert_eq!(ProgressRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn progress_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = ProgressRecord::decode(&bytes);
        let mut v1 = bytes;
        v1.insert(0, PROGRESS_VERSION);
        let _ = ProgressRecord::decode(&v1);
    }

    /// Recording then replaying reproduces the exact topic sequence, across transactions.
    #[test]
    fn record_then_replay_is_identity(
        topics in proptest::collection::vec(arb_topic(), 0..200),
        cuts in proptest::collection::vec(0usize..200, 0..5),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= topics.len()).collect();
        cuts.push(topics.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut recorder = InterleavingRecorder::new();
        let mut next = [100i64, 200, 300];
        let mut records = Vec::new();
        let mut from = 0;
        for (seq, cut) in cuts.into_iter().enumerate() {
            let start = next;
            for t in &topics[from..cut] {
                recorder.push(*t);
                next[usize::from(t.index())] += 1;
            }
            from = cut;
            let r = ProgressRecord {
                partition: 0,
                txn_seq: seq as u64,
                start_offsets: start,
                end_offsets: next,
                runs: recorder.take(),
            };
            records.push(ProgressRecord::decode(&r.encode()).unwrap());
        }
        let plan = ReplayPlan::new(records).unwrap();
        prop_assert_eq!(plan.topics().collect::<Vec<_>>(), topics);
        prop_assert_eq!(plan.end_offsets(), Some(next));
    }
}
