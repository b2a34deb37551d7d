//! The built-in deterministic event generator used by local mode (`sluice run`) and `sluice produce`.
//!
//! Event time comes from a virtual clock (`startTimeMs` + n / eventsPerSecond), never the wall clock, so the
//! same seed always yields byte-identical records. It mixes normal traffic with the fraud patterns the job
//! must catch (velocity bursts, merchant spraying, new devices, foreign countries) and with the input the job
//! must survive (out-of-order, late and malformed records).

pub mod rng;

use rng::{SplitMix64, kafka_partition};
use serde::{Deserialize, Serialize};
use sluice_core::event::SourceTopic;

/// Generator settings (the `generator:` section of a local job file, and `sluice produce` flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Distinct cards.
    pub cards: u64,
    /// Input partitions (co-partitioned by card_id with Kafka's murmur2 partitioner).
    pub partitions: u32,
    /// Authorizations to generate (other topics come on top).
    pub authorizations: u64,
    /// Event-time rate of the virtual clock.
    pub events_per_second: u32,
    /// Event time of the first record.
    pub start_time_ms: i64,
    /// Share of authorizations that start a fraud pattern, per mille.
    pub fraud_per_mille: u32,
    /// Share of records that are malformed (must go to the DLQ), per mille.
    pub malformed_per_mille: u32,
    /// Share of records shifted back within the out-of-orderness bound, per mille.
    pub out_of_order_per_mille: u32,
    /// Share of records shifted back beyond watermark + allowed lateness (must go to `late`), per mille.
    pub late_per_mille: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            cards: 10_000,
            partitions: 4,
            authorizations: 100_000,
            events_per_second: 2_000,
            start_time_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            fraud_per_mille: 20,
            malformed_per_mille: 2,
            out_of_order_per_mille: 50,
            late_per_mille: 2,
        }
    }
}

/// One generated record, with the partition it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedRecord {
    pub topic: SourceTopic,
    pub partition: i32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The txn_id of an authorization (None for other topics and for malformed records).
    pub txn_id: Option<String>,
}

const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "IN", "BR"];
const CURRENCIES: [&str; 6] = ["USD", "GBP", "EUR", "EUR", "INR", "BRL"];
const CHANNELS: [&str; 4] = ["pos", "ecom", "atm", "moto"];

/// A pending fraud burst on one card.
struct Burst {
    card: u64,
    remaining: u32,
    spray: bool,
}

/// Iterator over generated records.
pub struct Generator {
    cfg: GeneratorConfig,
    rng: SplitMix64,
    auths_done: u64,
    seq: u64,
    pending: Vec<GeneratedRecord>,
    burst: Option<Burst>,
    introduced: Vec<bool>,
}

impl Generator {
    pub fn new(cfg: GeneratorConfig) -> Generator {
        let cards = usize::try_from(cfg.cards.min(50_000_000)).unwrap_or(0);
        Generator {
            rng: SplitMix64::new(cfg.seed),
            introduced: vec![false; cards],
            cfg,
            auths_done: 0,
            seq: 0,
            pending: Vec::new(),
            burst: None,
        }
    }

    fn now_ms(&self) -> i64 {
        let rate = i64::from(self.cfg.events_per_second.max(1));
        self.cfg.start_time_ms + i64::try_from(self.seq).unwrap_or(i64::MAX) * 1000 / rate
    }

    fn card_id(card: u64) -> String {
        format!("card-{card:08}")
    }

    fn event_time(&mut self) -> i64 {
        let now = self.now_ms();
        if self.rng.chance(self.cfg.late_per_mille) {
            now - 60_000 - i64::try_from(self.rng.below(60_000)).unwrap_or(0)
        } else if self.rng.chance(self.cfg.out_of_order_per_mille) {
            now - i64::try_from(self.rng.below(4_000)).unwrap_or(0)
        } else {
            now
        }
    }

    fn record(
        &self,
        topic: SourceTopic,
        card_id: &str,
        value: String,
        txn_id: Option<String>,
    ) -> GeneratedRecord {
        GeneratedRecord {
            topic,
            partition: kafka_partition(card_id.as_bytes(), self.cfg.partitions),
            key: card_id.as_bytes().to_vec(),
            value: value.into_bytes(),
            txn_id,
        }
    }

    fn home(card: u64) -> usize {
        usize::try_from(card % COUNTRIES.len() as u64).unwrap_or(0)
    }

    fn account_change(&mut self, card: u64, status: &str) -> GeneratedRecord {
        let id = Self::card_id(card);
        let t = self.now_ms();
        let limit = 100_000 + self.rng.below(50) * 10_000;
        let v = format!(
            r#"{{"card_id":"{id}","status":"{status}","home_country":"{}","credit_limit_minor":{limit},"event_time_ms":{t}}}"#,
            COUNTRIES[Self::home(card)]
        );
        self.record(SourceTopic::AccountChanges, &id, v, None)
    }

    fn telemetry(&mut self, card: u64, device: &str, trusted: bool) -> GeneratedRecord {
        let id = Self::card_id(card);
        let t = self.event_time();
        let v = format!(
            r#"{{"card_id":"{id}","device_id":"{device}","trusted":{trusted},"event_time_ms":{t}}}"#
        );
        self.record(SourceTopic::DeviceTelemetry, &id, v, None)
    }

    fn authorization(&mut self, card: u64, fraud: bool, spray: bool) -> GeneratedRecord {
        let id = Self::card_id(card);
        let txn = format!("txn-{:016x}-{:010}", self.cfg.seed, self.auths_done);
        let t = self.event_time();
        let home = Self::home(card);
        let foreign = fraud && self.rng.chance(500);
        let country_idx = if foreign {
            (home + 1 + usize::try_from(self.rng.below(5)).unwrap_or(0)) % 6
        } else {
            home
        };
        let merchant = if spray {
            90_000 + self.rng.below(10_000)
        } else {
            card % 97 + self.rng.below(3)
        };
        let device = if fraud && self.rng.chance(600) {
            format!("dev-new-{}", self.rng.below(1_000_000))
        } else {
            format!("dev-{card}-{}", self.rng.below(2))
        };
        let amount = if fraud {
            50_000 + self.rng.below(450_000)
        } else {
            500 + self.rng.below(20_000)
        };
        let mcc = 5000 + self.rng.below(900);
        let channel = CHANNELS[usize::try_from(self.rng.below(4)).unwrap_or(0)];
        let v = format!(
            r#"{{"txn_id":"{txn}","card_id":"{id}","account_id":"acct-{}","merchant_id":"m-{merchant}","mcc":"{mcc}","amount_minor":{amount},"currency":"{}","country":"{}","device_id":"{device}","channel":"{channel}","event_time_ms":{t}}}"#,
            card / 2,
            CURRENCIES[country_idx],
            COUNTRIES[country_idx]
        );
        self.auths_done += 1;
        self.record(SourceTopic::Authorizations, &id, v, Some(txn))
    }

    /// A malformed record of one of several kinds (bad JSON, wrong type, failed validation, key mismatch).
    fn malformed(&mut self, card: u64) -> GeneratedRecord {
        let id = Self::card_id(card);
        let t = self.now_ms();
        let (topic, value) = match self.rng.below(4) {
            0 => (
                SourceTopic::Authorizations,
                format!(r#"{{"txn_id":"bad-{}","card_id":"{id}""#, self.seq),
            ),
            1 => (
                SourceTopic::Authorizations,
                format!(
                    r#"{{"txn_id":"bad-{}","card_id":"{id}","account_id":"a","merchant_id":"m","mcc":"5411","amount_minor":-5,"currency":"USD","country":"US","device_id":"d","channel":"pos","event_time_ms":{t}}}"#,
                    self.seq
                ),
            ),
            2 => (
                SourceTopic::DeviceTelemetry,
                format!(
                    r#"{{"card_id":"{id}","device_id":"d","trusted":"yes","event_time_ms":{t}}}"#
                ),
            ),
            _ => (
                SourceTopic::AccountChanges,
                format!(
                    r#"{{"card_id":"{id}","status":"frozen","home_country":"US","credit_limit_minor":1,"event_time_ms":{t}}}"#
                ),
            ),
        };
        self.record(topic, &id, value, None)
    }

    fn step(&mut self) {
        self.seq += 1;
        if let Some(b) = self.burst.as_mut() {
            let (card, spray) = (b.card, b.spray);
            b.remaining = b.remaining.saturating_sub(1);
            if b.remaining == 0 {
                self.burst = None;
            }
            let r = self.authorization(card, true, spray);
            self.pending.push(r);
            return;
        }
        let card = self.rng.below(self.cfg.cards.max(1));
        let idx = usize::try_from(card).unwrap_or(0);
        if self.introduced.get(idx) == Some(&false) {
            if let Some(slot) = self.introduced.get_mut(idx) {
                *slot = true;
            }
            let r = self.account_change(card, "active");
            self.pending.push(r);
            let device = format!("dev-{card}-0");
            let r = self.telemetry(card, &device, true);
            self.pending.push(r);
        }
        if self.rng.chance(self.cfg.malformed_per_mille) {
            let r = self.malformed(card);
            self.pending.push(r);
        }
        match self.rng.below(1000) {
            0..=9 => {
                let device = format!("dev-{card}-{}", self.rng.below(2));
                let trusted = self.rng.chance(800);
                let r = self.telemetry(card, &device, trusted);
                self.pending.push(r);
            }
            10 => {
                let r = self.account_change(card, "blocked");
                self.pending.push(r);
            }
            _ => {}
        }
        if self.rng.chance(self.cfg.fraud_per_mille) {
            let spray = self.rng.chance(500);
            self.burst = Some(Burst {
                card,
                remaining: 4 + u32::try_from(self.rng.below(6)).unwrap_or(0),
                spray,
            });
            let r = self.authorization(card, true, spray);
            self.pending.push(r);
        } else {
            let r = self.authorization(card, false, false);
            self.pending.push(r);
        }
    }
}

impl Iterator for Generator {
    type Item = GeneratedRecord;

    fn next(&mut self) -> Option<GeneratedRecord> {
        while self.pending.is_empty() {
            if self.auths_done >= self.cfg.authorizations {
                return None;
            }
            self.step();
            // Records of one step come out in generation order.
            self.pending.reverse();
        }
        self.pending.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GeneratorConfig {
        GeneratorConfig {
            cards: 50,
            authorizations: 2_000,
            malformed_per_mille: 20,
            ..GeneratorConfig::default()
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a: Vec<_> = Generator::new(small()).collect();
        let b: Vec<_> = Generator::new(small()).collect();
        assert_eq!(a, b);
        let c: Vec<_> = Generator::new(GeneratorConfig {
            seed: 43,
            ..small()
        })
        .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn exact_authorization_count_and_unique_txn_ids() {
        let recs: Vec<_> = Generator::new(small()).collect();
        let mut ids: Vec<_> = recs.iter().filter_map(|r| r.txn_id.clone()).collect();
        assert_eq!(ids.len(), 2_000);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2_000);
    }

    #[test]
    fn every_record_of_a_card_lands_on_one_partition() {
        let recs: Vec<_> = Generator::new(small()).collect();
        let mut by_card = std::collections::BTreeMap::new();
        for r in &recs {
            let p = by_card.entry(r.key.clone()).or_insert(r.partition);
            assert_eq!(*p, r.partition);
        }
    }

    #[test]
    fn mixes_malformed_and_valid_records() {
        let recs: Vec<_> = Generator::new(small()).collect();
        let bad = recs
            .iter()
            .filter(|r| sluice_core::event::decode(r.topic, Some(&r.key), Some(&r.value)).is_err())
            .count();
        assert!(bad > 10 && bad < 200, "{bad}");
    }
}
