//! Stabilization windows (pure): a recommendation must persist before it is acted on, so a load hovering
//! around a threshold does not flap the job through restarts.
//!
//! Every evaluation records its recommendation. A scale-up is executed once every recommendation of the
//! last `scale-up-stabilization` was above the current parallelism, to the *smallest* of them (the level
//! the load sustained for the whole window); a scale-down once every recommendation of the last
//! `scale-down-stabilization` was below it, to the *largest* of them. This is the Kubernetes HPA's rule,
//! plus the requirement that the run of same-direction recommendations spans the whole window (the HPA
//! would act on a partial history after a restart). The caller clears the history whenever it cannot
//! evaluate (window refilling, upgrade, incomplete metrics) and after every rescale, so "persisted" always
//! means "observed continuously".

use std::collections::VecDeque;

use sluice_crds::Millis;
use sluice_crds::autoscaler::{AutoscalerHistory, MAX_HISTORY, RecordedRecommendation};

use crate::saturating::millis;

/// Direction of a pending change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Up => "scale-up",
            Direction::Down => "scale-down",
        }
    }
}

/// A change waiting for its stabilization window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub direction: Direction,
    /// The latest recommendation.
    pub to: u32,
    /// Start of the uninterrupted run of recommendations in this direction.
    pub since_ms: i64,
    /// When it executes if it persists.
    pub ready_at_ms: i64,
}

/// What the history allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stabilized {
    /// The recommendation equals the current parallelism.
    Steady,
    Wait(Pending),
    /// Persisted for its window: scale to this.
    Scale(u32),
}

/// Recommendations of recent evaluations, oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    recs: VecDeque<(i64, u32)>,
}

impl History {
    pub fn clear(&mut self) {
        self.recs.clear();
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// When the newest recommendation was recorded.
    pub fn last_at(&self) -> Option<i64> {
        self.recs.back().map(|(t, _)| *t)
    }

    /// Records a recommendation, keeping `keep` of history (the longer stabilization window). A
    /// recommendation not newer than the previous one replaces nothing and is ignored.
    pub fn record(&mut self, at_ms: i64, recommended: u32, keep: Millis) {
        if self.recs.back().is_some_and(|(t, _)| *t >= at_ms) {
            return;
        }
        // A run of equal recommendations is kept as its first and last entry: [`History::stabilized`] reads
        // only where a run starts and which values fall inside a window, and both survive.
        let n = self.recs.len();
        if n >= 2 && self.recs.range(n - 2..).all(|(_, r)| *r == recommended) {
            self.recs.pop_back();
        }
        self.recs.push_back((at_ms, recommended));
        let horizon = at_ms.saturating_sub(millis(keep));
        // Keep one record at or before the horizon: it proves the run started early enough.
        while self.recs.len() > 1 && self.recs.get(1).is_some_and(|(t, _)| *t <= horizon) {
            self.recs.pop_front();
        }
    }

    /// The history as `status.autoscaler.history` stores it (the newest [`MAX_HISTORY`] entries; cutting
    /// older ones can only make a run look younger, so a window waits longer, never shorter).
    pub fn persisted(&self, parallelism: u32) -> AutoscalerHistory {
        let skip = self.recs.len().saturating_sub(MAX_HISTORY);
        AutoscalerHistory {
            parallelism: i32::try_from(parallelism).unwrap_or(i32::MAX),
            recommendations: self
                .recs
                .iter()
                .skip(skip)
                .map(|(t, r)| RecordedRecommendation {
                    at_ms: *t,
                    workers: i32::try_from(*r).unwrap_or(i32::MAX),
                })
                .collect(),
        }
    }

    /// A history read back from the status. Entries out of time order or with a worker count below 1 (a
    /// status edited by hand) end it there: what came before them is all that can be trusted.
    pub fn from_persisted(h: &AutoscalerHistory) -> History {
        let mut recs: VecDeque<(i64, u32)> = VecDeque::new();
        for r in &h.recommendations {
            let ordered = recs.back().is_none_or(|(t, _)| *t < r.at_ms);
            match u32::try_from(r.workers) {
                Ok(w) if w >= 1 && ordered => recs.push_back((r.at_ms, w)),
                _ => break,
            }
        }
        History { recs }
    }

    /// Applies the stabilization windows to the latest recommendation.
    pub fn stabilized(&self, now_ms: i64, current: u32, up: Millis, down: Millis) -> Stabilized {
        let Some(&(_, latest)) = self.recs.back() else {
            return Stabilized::Steady;
        };
        let direction = match latest.cmp(&current) {
            std::cmp::Ordering::Equal => return Stabilized::Steady,
            std::cmp::Ordering::Greater => Direction::Up,
            std::cmp::Ordering::Less => Direction::Down,
        };
        let same = |r: u32| match direction {
            Direction::Up => r > current,
            Direction::Down => r < current,
        };
        let window = match direction {
            Direction::Up => millis(up),
            Direction::Down => millis(down),
        };
        let run: Vec<(i64, u32)> = self
            .recs
            .iter()
            .rev()
            .take_while(|(_, r)| same(*r))
            .copied()
            .collect();
        let since_ms = run.last().map_or(now_ms, |(t, _)| *t);
        let ready_at_ms = since_ms.saturating_add(window);
        if now_ms < ready_at_ms {
            return Stabilized::Wait(Pending {
                direction,
                to: latest,
                since_ms,
                ready_at_ms,
            });
        }
        let horizon = now_ms.saturating_sub(window);
        let in_window = run.iter().filter(|(t, _)| *t >= horizon).map(|(_, r)| *r);
        let to = match direction {
            Direction::Up => in_window.min(),
            Direction::Down => in_window.max(),
        };
        Stabilized::Scale(to.unwrap_or(latest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Millis = Millis(60_000);
    const DOWN: Millis = Millis(600_000);

    fn replay(recs: &[(i64, u32)], current: u32) -> Stabilized {
        let mut h = History::default();
        for (t, r) in recs {
            h.record(*t, *r, DOWN);
        }
        h.stabilized(recs.last().map_or(0, |(t, _)| *t), current, UP, DOWN)
    }

    #[test]
    fn a_scale_up_waits_for_its_window_then_takes_the_sustained_level() {
        let w = replay(&[(0, 6), (30_000, 8)], 4);
        assert_eq!(
            w,
            Stabilized::Wait(Pending {
                direction: Direction::Up,
                to: 8,
                since_ms: 0,
                ready_at_ms: 60_000
            })
        );
        assert_eq!(
            replay(&[(0, 6), (30_000, 8), (60_000, 12)], 4),
            Stabilized::Scale(6)
        );
    }

    #[test]
    fn an_interruption_restarts_the_window() {
        let r = replay(&[(0, 6), (30_000, 4), (45_000, 6), (75_000, 6)], 4);
        assert!(
            matches!(
                r,
                Stabilized::Wait(Pending {
                    since_ms: 45_000,
                    ..
                })
            ),
            "{r:?}"
        );
        let r = replay(&[(0, 6), (30_000, 3), (45_000, 6), (105_000, 6)], 4);
        assert_eq!(r, Stabilized::Scale(6));
    }

    #[test]
    fn a_scale_down_needs_the_long_window_and_takes_the_highest_level() {
        let mut recs: Vec<(i64, u32)> = (0..=20).map(|i| (i * 30_000, 2)).collect();
        recs[5].1 = 3;
        assert_eq!(
            replay(&recs[..20], 6),
            Stabilized::Wait(Pending {
                direction: Direction::Down,
                to: 2,
                since_ms: 0,
                ready_at_ms: 600_000
            })
        );
        assert_eq!(replay(&recs, 6), Stabilized::Scale(3));
    }

    #[test]
    fn zero_windows_act_immediately_and_equal_is_steady() {
        let mut h = History::default();
        h.record(0, 6, DOWN);
        assert_eq!(h.stabilized(0, 4, Millis(0), DOWN), Stabilized::Scale(6));
        assert_eq!(h.stabilized(0, 6, UP, DOWN), Stabilized::Steady);
        assert_eq!(
            History::default().stabilized(0, 6, UP, DOWN),
            Stabilized::Steady
        );
    }

    #[test]
    fn history_is_bounded_by_the_longer_window() {
        let mut h = History::default();
        for i in 0..1_000 {
            h.record(i * 15_000, 4 + (i % 2) as u32, DOWN);
        }
        assert!(h.len() <= 42, "{}", h.len());
        h.record(0, 9, DOWN);
        assert_eq!(h.stabilized(999 * 15_000, 5, UP, DOWN), Stabilized::Steady);
    }

    #[test]
    fn a_steady_run_is_kept_as_its_ends_and_decides_as_the_full_record_would() {
        let recs: Vec<(i64, u32)> = (0..=40).map(|i| (i * 15_000, 2)).collect();
        let mut h = History::default();
        for (t, r) in &recs {
            h.record(*t, *r, DOWN);
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.stabilized(600_000, 6, UP, DOWN), replay(&recs, 6));
        assert_eq!(h.stabilized(600_000, 6, UP, DOWN), Stabilized::Scale(2));
    }

    #[test]
    fn the_persisted_history_decides_as_the_original() {
        let mut h = History::default();
        for (t, r) in [(0, 6), (30_000, 8), (45_000, 8), (50_000, 8)] {
            h.record(t, r, DOWN);
        }
        let back = History::from_persisted(&h.persisted(4));
        assert_eq!(back.recs, h.recs);
        assert_eq!(h.persisted(4).parallelism, 4);
        for now in [50_000, 60_000, 70_000] {
            assert_eq!(
                back.stabilized(now, 4, UP, DOWN),
                h.stabilized(now, 4, UP, DOWN)
            );
        }
    }

    #[test]
    fn a_hand_edited_history_is_trusted_only_up_to_its_first_bad_entry() {
        let mut p = History::default().persisted(4);
        for (at_ms, workers) in [(0, 6), (10, 7), (5, 8), (20, 9)] {
            p.recommendations
                .push(RecordedRecommendation { at_ms, workers });
        }
        assert_eq!(History::from_persisted(&p).recs, [(0, 6), (10, 7)]);
        p.recommendations[1].workers = 0;
        assert_eq!(History::from_persisted(&p).len(), 1);
    }

    #[test]
    fn only_the_newest_entries_are_persisted() {
        let mut h = History::default();
        for i in 0..1_000 {
            h.record(i, 1 + (i % 2) as u32, Millis(10_000));
        }
        let p = h.persisted(1);
        assert_eq!(p.recommendations.len(), MAX_HISTORY);
        assert_eq!(p.recommendations.last().map(|r| r.at_ms), Some(999));
    }
}
