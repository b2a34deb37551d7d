//! Large state for `sluice-bench checkpoint --preload-cards N`: card states with a month of history, bulk-loaded
//! as sorted SST files into each partition's state and sealed as the job's first local checkpoint (at input
//! offset 0, so the worker restores it and then consumes the topics from the start).
//!
//! Why synthesize: with this job's state a card costs 56–76 bytes after one authorization, so the issue's ≥ 10 GB
//! would need hundreds of millions of authorizations through Kafka — many hours on this machine (20M took
//! 29 minutes for 630 MiB). The states written here are what the processor would hold for cards active every
//! day of the last month; the cards are the generator's (`card-<index>`), so the benchmark's later input
//! updates them like any others.

use std::path::Path;
use std::time::Instant;

use sluice_core::card_state::{
    AccountInfo, AuthEntry, CardState, DAY_MS, DayBucket, DeviceEntry, TrustSignal, day_of,
};
use sluice_core::event::AccountStatus;
use sluice_generator::rng::kafka_partition;
use sluice_worker::state::{LocalCheckpoints, PartitionDb, RocksResources, StatePosition};

use sluice_testbed::TestBedError;
use sluice_testbed::rng::Lcg;

/// Days of history per card (the 30-day average's window).
const HISTORY_DAYS: i64 = 30;
/// Staged SST file size: like RocksDB's own compaction output, so later compactions rewrite little at a time.
const FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What the preload wrote.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Preloaded {
    pub cards: u64,
    pub value_bytes: u64,
    pub sst_files: u64,
    pub seconds: f64,
}

/// Writes the states of cards `0..cards` into the worker state root `state_root` (all `partitions`), each as a
/// completed local checkpoint at offsets 0. `before_ms`: the input's first event time; history ends before it.
pub fn preload(
    state_root: &Path,
    partitions: i32,
    cards: u64,
    before_ms: i64,
) -> Result<Preloaded, TestBedError> {
    let started = Instant::now();
    let env = |what: &str| {
        let what = what.to_string();
        move |e: sluice_worker::state::StateError| TestBedError::Env(format!("{what}: {e}"))
    };
    let resources = RocksResources::new(64, 64);
    let mut out = Preloaded::default();
    let origin = StatePosition {
        offsets: [0, 0, 0],
        txn_seq: 0,
    };
    for p in 0..partitions {
        let live = LocalCheckpoints::live_dir(state_root, p);
        let mut db = PartitionDb::open(&resources, &live).map_err(env("opening the state"))?;
        let parts = u32::try_from(partitions).unwrap_or(1);
        // Zero-padded ids: ascending index order is ascending key order, as SST files need.
        let states = (0..cards)
            .map(|i| format!("card-{i:08}"))
            .filter(|id| kafka_partition(id.as_bytes(), parts) == p)
            .map(|id| {
                let state = card_state(&id, before_ms);
                (id, state.encode())
            });
        let loaded = db
            .bulk_load(
                states,
                &origin,
                FILE_BYTES,
                &state_root.join("bulk-staging"),
            )
            .map_err(env("bulk loading"))?;
        out.cards += loaded.cards;
        out.value_bytes += loaded.value_bytes;
        out.sst_files += loaded.files;
        LocalCheckpoints::new(state_root, p)
            .take(&db.handle())
            .map_err(env("sealing the preloaded state as a checkpoint"))?;
        eprintln!(
            "  partition {p}: {} cards, {:.1} MiB of values, {} SST files",
            loaded.cards,
            loaded.value_bytes as f64 / 1048576.0,
            loaded.files
        );
    }
    let _ = std::fs::remove_dir_all(state_root.join("bulk-staging"));
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The state of a card used every day of the last month: daily buckets, the last hour's authorizations, two
/// devices with telemetry verdicts and an account profile. Deterministic in the card id.
fn card_state(card_id: &str, before_ms: i64) -> CardState {
    let mut rng = Lcg(card_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let last_day = day_of(before_ms) - 1;
    let daily = (last_day - HISTORY_DAYS + 1..=last_day)
        .map(|d| {
            let count = 1 + rng.below(6);
            let sum = (0..count).map(|_| 500 + rng.below(40_000)).sum::<u64>();
            (
                d,
                DayBucket {
                    sum_minor: u128::from(sum),
                    count,
                },
            )
        })
        .collect();
    let mut t = before_ms - 3_600_000;
    let auths: Vec<AuthEntry> = (0..2 + rng.below(4))
        .map(|_| {
            t += i64::try_from(60_000 + rng.below(600_000)).unwrap_or(60_000);
            AuthEntry {
                event_time_ms: t.min(before_ms - 1),
                amount_minor: i64::try_from(500 + rng.below(40_000)).unwrap_or(500),
                merchant_id: format!("m-{}", rng.below(50_000)),
            }
        })
        .collect();
    let last = auths.last().map_or(before_ms - DAY_MS, |a| a.event_time_ms);
    let devices = (0..2)
        .map(|k| {
            let seen = last - i64::try_from(rng.below(20 * DAY_MS as u64)).unwrap_or(0);
            (
                format!("dev-{card_id}-{k}"),
                DeviceEntry {
                    last_seen_ms: seen,
                    trust: Some(TrustSignal {
                        trusted: rng.below(10) > 0,
                        as_of_ms: seen,
                    }),
                },
            )
        })
        .collect();
    CardState {
        last_event_time_ms: last,
        prev_txn_time_ms: Some(last),
        account: Some(AccountInfo {
            status: AccountStatus::Active,
            home_country: "US".into(),
            credit_limit_minor: i64::try_from(100_000 + rng.below(2_000_000)).unwrap_or(100_000),
            as_of_ms: before_ms - HISTORY_DAYS * DAY_MS,
        }),
        auths,
        devices,
        daily,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preloaded_states_decode_and_seal_a_checkpoint_at_offset_zero() {
        let tmp = tempfile::tempdir().unwrap();
        let before = 1_767_225_600_000;
        let r = preload(tmp.path(), 2, 2_000, before).unwrap();
        assert_eq!(r.cards, 2_000);
        for p in 0..2 {
            let metas = LocalCheckpoints::new(tmp.path(), p).list().unwrap();
            assert_eq!(metas.len(), 1);
            assert_eq!((metas[0].offsets, metas[0].txn_seq), ([0, 0, 0], 0));
        }
        let s = card_state("card-00000007", before);
        assert_eq!(CardState::decode(&s.encode()).unwrap(), s);
        assert!(s.last_event_time_ms < before);
        assert_eq!(s.daily.len(), 30);
    }
}
