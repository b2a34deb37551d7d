//! Test builders shared by the unit and property tests (`mk_*` helpers and stream strategies).

use proptest::prelude::*;

use crate::card_state::DAY_MS;
use crate::event::{
    AccountChange, AccountStatus, Authorization, Channel, DeviceTelemetry, InputEvent, SourceTopic,
};
use crate::model::ScoringModel;
use crate::processor::{JobParams, MemStore, Output, OwnedInputRecord, PartitionProcessor};

/// 2023-11-14T22:13:20Z, a round base time for tests.
pub(crate) const T0: i64 = 1_700_000_000_000;

pub(crate) fn mk_auth(card: &str, txn: &str, t: i64) -> Authorization {
    Authorization {
        txn_id: txn.to_owned(),
        card_id: card.to_owned(),
        account_id: format!("acct-{card}"),
        merchant_id: "m1".to_owned(),
        mcc: "5411".to_owned(),
        amount_minor: 1_000,
        currency: "EUR".to_owned(),
        country: "DE".to_owned(),
        device_id: "d1".to_owned(),
        channel: Channel::Pos,
        event_time_ms: t,
    }
}

pub(crate) fn mk_telemetry(card: &str, device: &str, trusted: bool, t: i64) -> DeviceTelemetry {
    DeviceTelemetry {
        card_id: card.to_owned(),
        device_id: device.to_owned(),
        trusted,
        event_time_ms: t,
    }
}

pub(crate) fn mk_account(card: &str, status: AccountStatus, home: &str, t: i64) -> AccountChange {
    AccountChange {
        card_id: card.to_owned(),
        status,
        home_country: home.to_owned(),
        credit_limit_minor: 500_000,
        event_time_ms: t,
    }
}

/// A well-formed record for `event` on partition 0, keyed by card_id.
pub(crate) fn mk_record(event: &InputEvent, offset: i64) -> OwnedInputRecord {
    OwnedInputRecord {
        topic: event.topic(),
        partition: 0,
        offset,
        key: Some(event.card_id().as_bytes().to_vec()),
        value: Some(event.to_json().unwrap()),
    }
}

/// Records for events, offsets = position in the list.
pub(crate) fn mk_records(events: &[InputEvent]) -> Vec<OwnedInputRecord> {
    events
        .iter()
        .zip(0..)
        .map(|(e, offset)| mk_record(e, offset))
        .collect()
}

/// Feed records through a fresh processor on a fresh MemStore.
pub(crate) fn run_processor(
    params: JobParams,
    model: &ScoringModel,
    records: &[OwnedInputRecord],
) -> (Vec<Output>, MemStore, PartitionProcessor) {
    let mut store = MemStore::new();
    let mut p = PartitionProcessor::new(params, model.clone(), 0);
    p.load(&mut store).unwrap();
    let mut out = Vec::new();
    for r in records {
        p.process(&mut store, r.as_input(), &mut out).unwrap();
    }
    (out, store, p)
}

/// One generated stream element: a clock advance, a jitter behind the clock, and an event shape.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    advance: usize,
    jitter: usize,
    kind: u8,
    card: u8,
    device: u8,
    merchant: u8,
    amount: usize,
    flag: bool,
    malform: u8,
}

const ADVANCES: [i64; 16] = [
    0,
    0,
    1,
    1_000,
    1_000,
    2_000,
    5_000,
    5_000,
    10_000,
    59_999,
    60_000,
    600_000,
    3_600_000,
    3_600_000,
    DAY_MS,
    3 * DAY_MS,
];
const JITTERS: [i64; 8] = [0, 0, 0, 1_000, 4_000, 6_000, 7_001, 60_000];
const AMOUNTS: [i64; 6] = [100, 1_000, 5_000, 100_000, 300_000, 2_000_000];

fn step() -> impl Strategy<Value = Step> {
    (
        (0..ADVANCES.len(), 0..JITTERS.len(), 0u8..6, 0u8..3),
        (0u8..3, 0u8..5, 0..AMOUNTS.len(), any::<bool>(), 0u8..40),
    )
        .prop_map(
            |((advance, jitter, kind, card), (device, merchant, amount, flag, malform))| Step {
                advance,
                jitter,
                kind,
                card,
                device,
                merchant,
                amount,
                flag,
                malform,
            },
        )
}

/// Streams of up to `max_len` records over 3 cards, out of order, with some malformed records.
pub(crate) fn stream(max_len: usize) -> impl Strategy<Value = Vec<OwnedInputRecord>> {
    proptest::collection::vec(step(), 0..max_len).prop_map(|steps| build_stream(&steps))
}

/// A few interesting parameter sets (small TTL so expiry actually happens in short streams).
pub(crate) fn params() -> impl Strategy<Value = JobParams> {
    (
        prop_oneof![Just(0i64), Just(5_000)],
        prop_oneof![Just(0i64), Just(2_000), Just(60_000)],
        prop_oneof![Just(2 * DAY_MS), Just(45 * DAY_MS), Just(3_600_000)],
    )
        .prop_map(|(ooo, late, ttl)| JobParams {
            out_of_orderness_ms: ooo,
            allowed_lateness_ms: late,
            state_ttl_ms: ttl,
        })
}

fn build_stream(steps: &[Step]) -> Vec<OwnedInputRecord> {
    let mut clock = T0;
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        clock += ADVANCES[s.advance];
        let t = clock - JITTERS[s.jitter];
        let card = format!("card-{}", s.card);
        let device = format!("dev-{}", s.device);
        let event = match s.kind {
            0..=2 => {
                let mut a = mk_auth(&card, &format!("txn-{i}"), t);
                a.merchant_id = format!("m-{}", s.merchant);
                a.device_id = device;
                a.amount_minor = AMOUNTS[s.amount];
                a.country = if s.flag { "DE" } else { "FR" }.to_owned();
                InputEvent::Authorization(a)
            }
            3 | 4 => InputEvent::DeviceTelemetry(mk_telemetry(&card, &device, s.flag, t)),
            _ => {
                let status = if s.merchant == 0 {
                    AccountStatus::Blocked
                } else {
                    AccountStatus::Active
                };
                let home = if s.flag { "DE" } else { "FR" };
                InputEvent::AccountChange(mk_account(&card, status, home, t))
            }
        };
        let mut rec = mk_record(&event, i as i64);
        match s.malform {
            0 => rec.value = None,
            1 => rec.value = Some(b"{\"card_id\": \"card-0\"".to_vec()),
            2 => rec.key = Some(b"someone-else".to_vec()),
            3 => rec.key = None,
            4 => {
                // Right shape for the wrong topic: unknown/missing fields.
                rec.topic = SourceTopic::ALL[(usize::from(event.topic().index()) + 1) % 3];
            }
            _ => {}
        }
        out.push(rec);
    }
    out
}
