//! Holds a new transaction's first outputs for a moment after the previous commit.
//!
//! The first record a transaction sends to a partition makes librdkafka register that partition with the
//! coordinator (AddPartitionsToTxn). Right after a commit the coordinator is still writing the previous
//! transaction's markers and answers CONCURRENT_TRANSACTIONS, and librdkafka retries after a fixed 20 ms —
//! so a worker that produces at once after every commit delays every transaction by ≥ 20 ms. Measured on the
//! test bed (`sluice-bench commit-probe`, transactions of 400 records): a transaction took 36 ms p50 when
//! the next one began producing at once, 7–9 ms when it waited 2–8 ms. Holding the outputs (processing goes on)
//! for `REGISTRATION_DELAY` lets the markers land first; the records are then sent in their original order.

use std::time::{Duration, Instant};

/// How long after a commit the next transaction's outputs are held.
pub const REGISTRATION_DELAY: Duration = Duration::from_millis(3);

/// The gate: closed for `REGISTRATION_DELAY` after each commit, open afterwards; shut (until the next
/// [`OutputGate::close`]) while a commit runs and no transaction is open. `T` is what is held: the worker's
/// encoded outputs, or the ceiling pipe's copied records.
pub struct OutputGate<T> {
    /// When the gate opens; `None` while it is shut.
    opens_at: Option<Instant>,
    open: bool,
    held: Vec<T>,
}

impl<T> Default for OutputGate<T> {
    fn default() -> Self {
        OutputGate {
            opens_at: Some(Instant::now()),
            open: true,
            held: Vec::new(),
        }
    }
}

impl<T> OutputGate<T> {
    /// Closes the gate; call right after a commit.
    pub fn close(&mut self) {
        self.opens_at = Some(Instant::now() + REGISTRATION_DELAY);
        self.open = false;
    }

    /// Shuts the gate until the next [`Self::close`]: a commit is running and no transaction takes output.
    pub fn shut(&mut self) {
        self.opens_at = None;
        self.open = false;
    }

    /// Whether outputs may be sent now (after the held ones).
    pub fn is_open(&mut self) -> bool {
        if !self.open && self.opens_at.is_some_and(|t| Instant::now() >= t) {
            self.open = true;
        }
        self.open
    }

    pub fn hold(&mut self, held: T) {
        self.held.push(held);
    }

    /// How long until the gate opens while something is held (the loop must not sleep past it); `None` when
    /// nothing is held or the gate is shut.
    pub fn wait_bound(&self) -> Option<Duration> {
        let opens_at = self.opens_at.filter(|_| !self.held.is_empty())?;
        Some(opens_at.saturating_duration_since(Instant::now()))
    }

    /// Sends every held output in order (the gate's state is unchanged). Call when the gate has opened and
    /// before a commit, so a transaction never commits without its outputs.
    pub fn release<E>(&mut self, mut send: impl FnMut(&T) -> Result<(), E>) -> Result<(), E> {
        for held in self.held.drain(..) {
            send(&held)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn holds_after_close_and_releases_in_order() {
        let mut gate: OutputGate<i32> = OutputGate::default();
        assert!(gate.is_open());
        assert_eq!(gate.wait_bound(), None);
        gate.close();
        assert!(!gate.is_open());
        gate.hold(1);
        gate.hold(2);
        assert!(gate.wait_bound().is_some_and(|d| d <= REGISTRATION_DELAY));
        std::thread::sleep(REGISTRATION_DELAY);
        assert!(gate.is_open());
        let mut sent = Vec::new();
        gate.release(|h| {
            sent.push(*h);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(sent, vec![1, 2]);
        assert_eq!(gate.wait_bound(), None);
    }

    #[test]
    fn a_shut_gate_stays_closed_until_closed_again() {
        let mut gate: OutputGate<i32> = OutputGate::default();
        gate.shut();
        gate.hold(1);
        assert_eq!(gate.wait_bound(), None);
        std::thread::sleep(REGISTRATION_DELAY * 2);
        assert!(!gate.is_open());
        gate.close();
        assert!(gate.wait_bound().is_some());
        std::thread::sleep(REGISTRATION_DELAY);
        assert!(gate.is_open());
    }
}
