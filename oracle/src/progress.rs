//! The recorded processing order (docs/semantics.md §3): progress records decoded from their binary
//! layout, and the order they describe rebuilt from the input topics — with every rule of a valid
//! interleaving checked, never assumed.

use crate::input::{Record, Topic};

/// One committed transaction's consumption on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub partition: i32,
    pub txn_seq: u64,
    pub start: [i64; 3],
    pub end: [i64; 3],
    pub runs: Vec<(Topic, u32)>,
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or("truncated")?;
        self.0 = rest;
        Ok(b)
    }

    /// Unsigned LEB128, at most 64 bits.
    fn unsigned(&mut self) -> Result<u64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// Zigzag-encoded signed LEB128.
    fn signed(&mut self) -> Result<i64, String> {
        let z = self.unsigned()?;
        let magnitude = i64::try_from(z >> 1).map_err(|e| e.to_string())?;
        Ok(if z & 1 == 0 {
            magnitude
        } else {
            -magnitude - 1
        })
    }
}

/// Decodes layout v1: `u8 version=1, svar partition, uvar txn_seq, 3 × svar start, 3 × svar end,
/// uvar n, n × (u8 topic index, uvar run length)`.
pub fn decode_progress(bytes: &[u8]) -> Result<Progress, String> {
    let mut r = Bytes(bytes);
    let version = r.byte()?;
    if version != 1 {
        return Err(format!("unknown progress record version {version}"));
    }
    let partition = i32::try_from(r.signed()?).map_err(|_| "partition out of range")?;
    let txn_seq = r.unsigned()?;
    let mut start = [0i64; 3];
    let mut end = [0i64; 3];
    for slot in start.iter_mut().chain(end.iter_mut()) {
        *slot = r.signed()?;
    }
    let n = r.unsigned()?;
    let mut runs = Vec::new();
    for _ in 0..n {
        let index = r.byte()?;
        let topic = Topic::from_index(index).ok_or(format!("unknown topic index {index}"))?;
        let len = u32::try_from(r.unsigned()?).map_err(|_| "run length out of range")?;
        runs.push((topic, len));
    }
    if !r.0.is_empty() {
        return Err(format!("{} trailing bytes", r.0.len()));
    }
    Ok(Progress {
        partition,
        txn_seq,
        start,
        end,
        runs,
    })
}

/// The processing order of one partition: `inputs[i]` are topic i's records in offset order, `progress`
/// the partition's progress records in commit order. Returns the order and every rule broken (a broken
/// rule ends the order where it was found).
pub fn interleave<'a>(
    partition: i32,
    inputs: [&'a [Record]; 3],
    progress: &[Progress],
) -> (Vec<&'a Record>, Vec<String>) {
    let mut next = [0usize; 3];
    let mut order = Vec::new();
    let mut problems = Vec::new();
    let mut previous_end: Option<[i64; 3]> = None;
    for p in progress {
        let here = format!("partition {partition} transaction {}", p.txn_seq);
        if p.partition != partition {
            problems.push(format!("{here}: recorded for partition {}", p.partition));
        }
        if let Some(end) = previous_end
            && end != p.start
        {
            problems.push(format!(
                "{here}: starts at {:?}, the previous one ended at {end:?}",
                p.start
            ));
        }
        previous_end = Some(p.end);
        for &(topic, len) in &p.runs {
            let i = topic.index();
            for _ in 0..len {
                let Some(rec) = inputs[i].get(next[i]) else {
                    problems.push(format!(
                        "{here}: consumes more {} records than exist",
                        topic.name()
                    ));
                    return (order, problems);
                };
                if rec.offset < p.start[i] || rec.offset >= p.end[i] {
                    problems.push(format!(
                        "{here}: consumes {} offset {} outside its range {}..{}",
                        topic.name(),
                        rec.offset,
                        p.start[i],
                        p.end[i]
                    ));
                    return (order, problems);
                }
                next[i] += 1;
                order.push(rec);
            }
        }
        for topic in Topic::ALL {
            let i = topic.index();
            if let Some(skipped) = inputs[i].get(next[i]).filter(|r| r.offset < p.end[i]) {
                problems.push(format!(
                    "{here}: {} offset {} is below the end {} but was never consumed",
                    topic.name(),
                    skipped.offset,
                    p.end[i]
                ));
                return (order, problems);
            }
        }
    }
    (order, problems)
}
