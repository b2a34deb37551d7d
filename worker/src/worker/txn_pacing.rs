//! The open transaction's size and age, which pace the loop: when the transaction is due to commit (every
//! `commitInterval` or `commitMaxRecords`, stretched under a backlog), how many more records it may take,
//! and how long a poll may block meanwhile.

use std::time::{Duration, Instant};

use sluice_api::JobConfig;
use sluice_api::job_config::BACKLOG_COMMIT_STRETCH;

/// The longest the loop blocks when nothing is fetched. It can block on only one of the three topics'
/// consumers at a time, so a record arriving on another one waits up to this long: at 50 ms this added
/// ~10 ms to the median decision latency at 12k records/s. 2 ms costs an idle worker ~500 cheap wake-ups/s.
const MAX_POLL_BLOCK: Duration = Duration::from_millis(2);
/// Records moved from one consumer's local buffer to the inboxes per poll; a poll that fills it means input
/// is waiting (a backlog).
pub(super) const POLL_BATCH: usize = 2_000;

/// The records of the open transaction (or, while a commit is in flight, the next one) and when it took
/// its first record.
#[derive(Debug)]
pub(super) struct TxnPacing {
    interval: Duration,
    max_records: u64,
    backlog_interval: Duration,
    /// When the transaction took its first record (only meaningful while `records > 0`).
    started: Instant,
    /// Records processed into the open transaction (or, while a commit is in flight, the next one).
    records: u64,
}

impl TxnPacing {
    /// The job's `commitInterval` and `commitMaxRecords`; call right after beginning a transaction.
    pub(super) fn new(job: &JobConfig) -> TxnPacing {
        let interval = job.commit_interval.as_std();
        TxnPacing {
            interval,
            max_records: u64::from(job.commit_max_records),
            backlog_interval: interval * BACKLOG_COMMIT_STRETCH,
            started: Instant::now(),
            records: 0,
        }
    }

    /// How long the next poll may block: not at all while records wait in the inboxes, else at most
    /// [`MAX_POLL_BLOCK`], and no longer than what is left of an open transaction's interval.
    pub(super) fn poll_wait(&self, buffered: usize) -> Duration {
        if buffered > 0 {
            Duration::ZERO
        } else if self.records == 0 {
            MAX_POLL_BLOCK
        } else {
            self.interval
                .saturating_sub(self.started.elapsed())
                .min(MAX_POLL_BLOCK)
        }
    }

    /// How many more records the transaction may take (what is left of `commitMaxRecords`); `None` once it
    /// is full.
    pub(super) fn room(&self) -> Option<u64> {
        if self.records < self.max_records {
            Some(self.max_records - self.records)
        } else {
            None
        }
    }

    /// Called before a round processes records: an empty transaction's age starts now.
    pub(super) fn before_round(&mut self) {
        if self.records == 0 {
            self.started = Instant::now();
        }
    }

    /// Counts records processed into the transaction.
    pub(super) fn add(&mut self, records: u64) {
        self.records += records;
    }

    /// Whether no record was processed into the transaction yet.
    pub(super) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Whether the transaction is due to commit; `fetched`: the records the last poll moved.
    pub(super) fn is_due(&self, fetched: usize) -> bool {
        // Under a backlog the transaction runs longer (up to BACKLOG_COMMIT_STRETCH intervals): waiting
        // input is not made visible sooner by a commit, and each commit is a round trip to the
        // coordinator. "Backlog" = the last poll found a full batch already fetched.
        let due_after = if fetched >= POLL_BATCH {
            self.backlog_interval
        } else {
            self.interval
        };
        self.records > 0
            && (self.started.elapsed() >= due_after || self.records >= self.max_records)
    }

    /// The transaction went to a commit (or was committed): the next one holds no records yet.
    pub(super) fn reset(&mut self) {
        self.records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(interval_ms: u64, max_records: u64) -> TxnPacing {
        let interval = Duration::from_millis(interval_ms);
        TxnPacing {
            interval,
            max_records,
            backlog_interval: interval * BACKLOG_COMMIT_STRETCH,
            started: Instant::now(),
            records: 0,
        }
    }

    /// Pretends the transaction took its first record `ago`.
    fn aged(mut p: TxnPacing, ago: Duration) -> TxnPacing {
        p.started = Instant::now().checked_sub(ago).unwrap();
        p
    }

    #[test]
    fn polls_without_blocking_while_records_wait() {
        let mut p = pacing(25, 100);
        assert_eq!(p.poll_wait(1), Duration::ZERO);
        assert_eq!(p.poll_wait(0), MAX_POLL_BLOCK);
        p.add(1);
        assert!(p.poll_wait(0) <= MAX_POLL_BLOCK);
        let p = aged(p, Duration::from_millis(30));
        assert_eq!(p.poll_wait(0), Duration::ZERO);
    }

    #[test]
    fn room_is_what_is_left_of_max_records() {
        let mut p = pacing(25, 10);
        assert_eq!(p.room(), Some(10));
        p.add(7);
        assert_eq!(p.room(), Some(3));
        p.add(3);
        assert_eq!(p.room(), None);
        p.reset();
        assert!(p.is_empty());
        assert_eq!(p.room(), Some(10));
    }

    #[test]
    fn an_empty_transaction_is_never_due() {
        let p = aged(pacing(25, 10), Duration::from_secs(10));
        assert!(!p.is_due(0));
        assert!(!p.is_due(POLL_BATCH));
    }

    #[test]
    fn due_by_age_or_size_and_later_under_a_backlog() {
        let mut p = pacing(25, 10);
        p.add(1);
        assert!(!p.is_due(0));
        let mut p = aged(p, Duration::from_millis(30));
        assert!(p.is_due(0));
        assert!(!p.is_due(POLL_BATCH), "a backlog stretches the interval");
        p.add(9);
        assert!(p.is_due(POLL_BATCH), "a full transaction is due at once");
    }

    #[test]
    fn age_counts_from_the_first_record() {
        let mut p = aged(pacing(25, 10), Duration::from_secs(1));
        p.before_round();
        p.add(1);
        assert!(!p.is_due(0));
        let started = p.started;
        p.before_round();
        assert_eq!(
            p.started, started,
            "a non-empty transaction keeps its start"
        );
    }
}
