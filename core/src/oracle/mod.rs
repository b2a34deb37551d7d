//! An independent, deliberately naive reference implementation of the processor.
//!
//! It keeps the full event history of every card in memory, never prunes, never encodes state, and
//! recomputes each feature by scanning that history. It shares only record decoding, scoring and the
//! output record types with the processor, so a disagreement between the two points at a bug in
//! pruning, encoding, TTL or windowing. Used by property tests and `sluice verify`; far too slow for
//! production on purpose.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{AccountStatus, Authorization, InputEvent, decode};
use crate::features::FeatureVector;
use crate::model::ScoringModel;
use crate::processor::{
    AlertRecord, DecisionRecord, DlqRecord, JobParams, LateRecord, Output, OwnedInputRecord,
};

/// Outputs by kind, each in emission order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OracleResult {
    pub decisions: Vec<DecisionRecord>,
    pub alerts: Vec<AlertRecord>,
    pub dlq: Vec<DlqRecord>,
    pub late: Vec<LateRecord>,
}

impl OracleResult {
    /// Group processor outputs the same way, for comparison with the oracle.
    pub fn from_outputs(outputs: impl IntoIterator<Item = Output>) -> Self {
        let mut r = Self::default();
        for o in outputs {
            match o {
                Output::Decision(d) => r.decisions.push(d),
                Output::Alert(a) => r.alerts.push(a),
                Output::Dlq(d) => r.dlq.push(d),
                Output::Late(l) => r.late.push(l),
            }
        }
        r
    }
}

/// Run one partition's records, in processing order, through the reference semantics.
pub fn oracle_decisions(
    params: &JobParams,
    model: &ScoringModel,
    records: &[OwnedInputRecord],
) -> OracleResult {
    let mut result = OracleResult::default();
    let mut max_seen: Option<i64> = None;
    let mut history: BTreeMap<String, Vec<InputEvent>> = BTreeMap::new();

    for rec in records {
        let input = rec.as_input();
        let event = match decode(rec.topic, input.key, input.value) {
            Ok(e) => e,
            Err(err) => {
                result.dlq.push(DlqRecord::new(&input, &err));
                continue;
            }
        };
        let t = event.event_time_ms();
        let watermark = max_seen.map(|m| m.saturating_sub(params.out_of_orderness_ms));

        if let Some(w) = watermark
            && t < w.saturating_sub(params.allowed_lateness_ms)
        {
            result
                .late
                .push(LateRecord::new(&input, event.card_id(), t, w));
            continue;
        }

        let card = history.entry(event.card_id().to_owned()).or_default();
        if let Some(w) = watermark {
            let newest = card.iter().map(InputEvent::event_time_ms).max();
            if newest.is_some_and(|n| n < w.saturating_sub(params.state_ttl_ms)) {
                card.clear();
            }
        }

        if let InputEvent::Authorization(auth) = &event {
            let features = scan_features(card, auth);
            let scored = model.score(&features);
            let decision = DecisionRecord::new(
                auth,
                &scored,
                features,
                &model.version,
                rec.partition,
                rec.offset,
            );
            if scored.decision.is_alert() {
                result.alerts.push(AlertRecord::new(auth, &decision));
            }
            result.decisions.push(decision);
        }
        card.push(event);
        max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
    }
    result
}

/// Features by brute force over the card's full history (events before this auth).
fn scan_features(history: &[InputEvent], auth: &Authorization) -> FeatureVector {
    let t = auth.event_time_ms;
    let auths: Vec<&Authorization> = history
        .iter()
        .filter_map(|e| match e {
            InputEvent::Authorization(a) => Some(a),
            _ => None,
        })
        .collect();
    let within =
        |a: &Authorization, width: i64| a.event_time_ms <= t && t - a.event_time_ms < width;

    let count_60s = auths.iter().filter(|a| within(a, 60_000)).count() + 1;
    let sum_1h: i128 = auths
        .iter()
        .filter(|a| within(a, 3_600_000))
        .map(|a| i128::from(a.amount_minor))
        .sum::<i128>()
        + i128::from(auth.amount_minor);
    let mut merchants: BTreeSet<&str> = auths
        .iter()
        .filter(|a| within(a, 600_000))
        .map(|a| a.merchant_id.as_str())
        .collect();
    merchants.insert(&auth.merchant_id);

    let mut device_seen_before = false;
    let mut trust: Option<(i64, bool)> = None;
    let mut account: Option<(i64, AccountStatus, &str)> = None;
    for e in history {
        match e {
            InputEvent::Authorization(a) => device_seen_before |= a.device_id == auth.device_id,
            InputEvent::DeviceTelemetry(d) if d.device_id == auth.device_id => {
                device_seen_before = true;
                if trust.is_none_or(|(at, _)| d.event_time_ms >= at) {
                    trust = Some((d.event_time_ms, d.trusted));
                }
            }
            InputEvent::DeviceTelemetry(_) => {}
            InputEvent::AccountChange(c) => {
                if account.is_none_or(|(at, _, _)| c.event_time_ms >= at) {
                    account = Some((c.event_time_ms, c.status, &c.home_country));
                }
            }
        }
    }

    let day = |ms: i64| ms.div_euclid(86_400_000);
    let today = day(t);
    let (mut sum_30d, mut count_30d) = (0i128, 0i128);
    for a in &auths {
        let d = day(a.event_time_ms);
        if d >= today - 30 && d < today {
            sum_30d += i128::from(a.amount_minor);
            count_30d += 1;
        }
    }
    let amount_ratio_30d_bp = sum_30d
        .checked_div(count_30d)
        .filter(|avg| *avg > 0)
        .and_then(|avg| i64::try_from(i128::from(auth.amount_minor) * 10_000 / avg).ok());

    FeatureVector {
        txn_count_60s: count_60s as u64,
        amount_sum_1h_minor: i64::try_from(sum_1h).unwrap_or(i64::MAX),
        distinct_merchants_10m: merchants.len() as u64,
        device_seen_before,
        device_trusted: trust.is_some_and(|(_, trusted)| trusted),
        ms_since_prev_txn: auths.last().map(|p| t - p.event_time_ms),
        country_mismatch: account.is_some_and(|(_, _, home)| home != auth.country),
        amount_ratio_30d_bp,
        card_blocked: account.is_some_and(|(_, s, _)| s == AccountStatus::Blocked),
    }
}
