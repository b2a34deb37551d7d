//! The autoscaler's decision (pure given its inputs; time is `now_ms`, never a clock): gates → window →
//! sizing → stabilization → [`Verdict`].
//!
//! Gates, in order: invalid annotations, autoscaling off, parallelism changed by someone else (`kubectl
//! scale`, an HPA, our own previous decision: the window and history restart), an upgrade or rescale in
//! progress, the workers restarted (samples before the restart are dropped), the metrics window not full
//! yet, incomplete metrics, no capacity estimate. Only then is the job sized, and a recommendation that
//! differs from the current parallelism must persist through its stabilization window before it becomes a
//! [`Verdict::Scale`]. Every [`Verdict::Hold`] says why in words.

use sluice_crds::Millis;
use sluice_crds::autoscaler::{AutoscalerHistory, AutoscalerMetrics, AutoscalerReason};

use super::config::{AutoscaleConfig, AutoscaleMode, ConfigErrors, ENABLED, MODE};
use super::explain;
use super::metrics::{Fill, MetricsWindow, Sample, WindowSummary};
use super::sizing::{Adjustment, Sizing, SizingError, size};
use super::stabilize::{History, Stabilized};
use super::status::rfc3339;
use crate::saturating::millis;

/// What the reconciler knows about the job, besides the metric samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobView {
    /// `spec.partitions`.
    pub partitions: u32,
    /// `spec.parallelism`: what a decision would change.
    pub parallelism: u32,
    /// An upgrade, suspend, rollback or rescale is in flight, or `spec.parallelism` differs from the
    /// deployed `status.parallelism` (a rollout not started yet).
    pub upgrade_in_progress: bool,
    /// When the deployed workers last (re)started (unix ms), e.g. `status.readySince`; samples taken
    /// before it are dropped.
    pub restarted_at_ms: Option<i64>,
    /// How long the last rescale took from savepoint request to Ready, if measured.
    pub measured_restart: Option<Millis>,
}

/// Why the autoscaler holds, in words: a gate that did not pass.
type HoldReason = (AutoscalerReason, String);

/// The outcome of one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Do nothing now.
    Hold {
        reason: AutoscalerReason,
        message: String,
        /// The parallelism the figures call for, if they could be computed.
        recommended: Option<u32>,
        metrics: Option<AutoscalerMetrics>,
    },
    /// Set `spec.parallelism` from `from` to `to` (rolled out as a savepoint upgrade).
    Scale {
        from: u32,
        to: u32,
        /// `ScaleUp` or `ScaleDown`.
        reason: AutoscalerReason,
        message: String,
        metrics: AutoscalerMetrics,
    },
}

impl Verdict {
    /// The verdict as advise mode reports it: a rescale is explained, not made — a `Scale` becomes a
    /// `Hold` with reason `Advised` that carries the recommendation and its figures; holds are unchanged.
    pub fn advised(self) -> Verdict {
        match self {
            Verdict::Scale {
                to,
                message,
                metrics,
                ..
            } => Verdict::Hold {
                reason: AutoscalerReason::Advised,
                message: format!("advise mode ({MODE}: advise), not applied: {message}"),
                recommended: Some(to),
                metrics: Some(metrics),
            },
            hold => hold,
        }
    }

    pub fn reason(&self) -> AutoscalerReason {
        match self {
            Verdict::Hold { reason, .. } | Verdict::Scale { reason, .. } => *reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Verdict::Hold { message, .. } | Verdict::Scale { message, .. } => message,
        }
    }

    /// The target parallelism of a `Scale`.
    pub fn scale_to(&self) -> Option<u32> {
        match self {
            Verdict::Scale { to, .. } => Some(*to),
            Verdict::Hold { .. } => None,
        }
    }

    fn hold(reason: AutoscalerReason, message: impl Into<String>) -> Verdict {
        Verdict::Hold {
            reason,
            message: message.into(),
            recommended: None,
            metrics: None,
        }
    }
}

/// The autoscaler of one StreamJob: its metrics window and recommendation history. Lives in the
/// operator's memory (one per job); after an operator restart it refills, which only delays decisions.
#[derive(Clone, Debug, Default)]
pub struct Autoscaler {
    window: MetricsWindow,
    history: History,
    /// The parallelism the window's samples were taken at.
    parallelism: Option<u32>,
    /// When the newest recommendation of a history taken over from the status was recorded, until this
    /// process's window is first full (see [`Autoscaler::resume`]).
    carried: Option<i64>,
}

impl Autoscaler {
    pub fn new() -> Autoscaler {
        Autoscaler::default()
    }

    /// Adds one scrape of the workers (see [`Sample::from_statuses`]). Call it at every reconcile that
    /// fetched worker statuses, before [`Autoscaler::evaluate`].
    pub fn observe(&mut self, sample: Sample, cfg: &AutoscaleConfig) {
        self.window.push(sample, cfg.metrics_window);
    }

    /// Forgets all samples and recommendations (also done automatically by `evaluate` when needed).
    pub fn reset(&mut self) {
        self.window.reset();
        self.history.clear();
        self.carried = None;
    }

    /// Continues the stabilization windows of a previous operator process (a restart or a new leader) from
    /// the history it persisted, if this autoscaler has observed nothing yet and the layout is the same.
    /// The samples are not persisted, so the metrics window fills again first; the history is kept through
    /// that refill (the first full window covers the gap), but not through a worker restart since it was
    /// recorded nor a gap longer than two metrics windows.
    pub fn resume(&mut self, persisted: Option<&AutoscalerHistory>, parallelism: u32) {
        let Some(h) = persisted else { return };
        let fresh = self.parallelism.is_none() && self.history.is_empty();
        if fresh && u32::try_from(h.parallelism).ok() == Some(parallelism) {
            self.history = History::from_persisted(h);
            self.carried = self.history.last_at();
        }
    }

    /// What `status.autoscaler.history` keeps of the stabilization windows (None: nothing to keep).
    pub fn persisted(&self) -> Option<AutoscalerHistory> {
        let parallelism = self.parallelism?;
        (!self.history.is_empty()).then(|| self.history.persisted(parallelism))
    }

    /// Decides at `now_ms`.
    pub fn evaluate(
        &mut self,
        cfg: &Result<AutoscaleConfig, ConfigErrors>,
        job: &JobView,
        now_ms: i64,
    ) -> Verdict {
        match self.gates(cfg, job, now_ms) {
            Ok(cfg) => self.size_and_stabilize(cfg, job, now_ms),
            Err((reason, message)) => Verdict::hold(reason, message),
        }
    }

    /// The gates before any sizing: the configuration, whether autoscaling is on, the layout, a rollout
    /// in flight, workers deployed. Each failed gate resets what it invalidates.
    fn gates<'c>(
        &mut self,
        cfg: &'c Result<AutoscaleConfig, ConfigErrors>,
        job: &JobView,
        now_ms: i64,
    ) -> Result<&'c AutoscaleConfig, HoldReason> {
        let cfg = match cfg {
            Ok(cfg) => cfg,
            Err(e) => {
                self.reset();
                let message = format!("autoscaling paused: {e}");
                return Err((AutoscalerReason::InvalidAnnotations, message));
            }
        };
        if !cfg.enabled {
            self.reset();
            let message = format!("set the annotation {ENABLED}: \"true\" to enable autoscaling");
            return Err((AutoscalerReason::Disabled, message));
        }
        if self.parallelism.is_some_and(|p| p != job.parallelism) {
            // A new layout (ours, kubectl scale, an HPA): figures of the old one say nothing about it. A
            // sample observed at `now_ms` was scraped from the current workers and stays.
            self.window.discard_before(now_ms);
            self.history.clear();
            self.carried = None;
        }
        self.parallelism = Some(job.parallelism);
        if job.upgrade_in_progress {
            self.reset();
            return Err((
                AutoscalerReason::UpgradeInProgress,
                "an upgrade or rescale is in progress; metrics are collected again once the workers run"
                    .into(),
            ));
        }
        if job.parallelism == 0 || job.partitions == 0 {
            self.reset();
            return Err((
                AutoscalerReason::MetricsIncomplete,
                "no workers are deployed".into(),
            ));
        }
        Ok(cfg)
    }

    /// The window's figures (once it is full and complete), sized; the recommendation recorded and
    /// stabilized into the verdict.
    fn size_and_stabilize(&mut self, cfg: &AutoscaleConfig, job: &JobView, now_ms: i64) -> Verdict {
        if let Some(t) = job.restarted_at_ms {
            self.window.discard_before(t);
            if self.carried.is_some_and(|last| t > last) {
                // The workers restarted after the carried history was recorded: it describes another run.
                self.history.clear();
                self.carried = None;
            }
        }
        let summary = match self.full_window(cfg, job, now_ms) {
            Ok(s) => s,
            Err((reason, message)) => {
                if !(reason == AutoscalerReason::MetricsWindowFilling && self.carried.is_some()) {
                    self.history.clear();
                    self.carried = None;
                }
                return Verdict::hold(reason, message);
            }
        };
        if let Some(last) = self.carried.take()
            && now_ms.saturating_sub(last) > millis(cfg.metrics_window).saturating_mul(2)
        {
            // The operator was away too long for the history to count as continuous observation.
            self.history.clear();
        }
        let sizing = match size(
            &summary,
            cfg,
            job.partitions,
            job.parallelism,
            job.measured_restart,
        ) {
            Ok(s) => s,
            Err(SizingError::NoCapacityEstimate { required_rate }) => {
                self.history.clear();
                return Verdict::hold(
                    AutoscalerReason::NoCapacityEstimate,
                    format!(
                        "{required_rate:.1} records/s must be processed but no worker reported busy time, so \
                         the capacity of a worker is unknown; check that the workers are processing"
                    ),
                );
            }
        };
        let explanation =
            explain::recommendation(&sizing, &summary, cfg, job.partitions, job.parallelism);
        let metrics = explain::metrics(&sizing, &summary, cfg);
        let keep = cfg.scale_up_stabilization.max(cfg.scale_down_stabilization);
        self.history.record(now_ms, sizing.recommended, keep);
        let stabilized = self.history.stabilized(
            now_ms,
            job.parallelism,
            cfg.scale_up_stabilization,
            cfg.scale_down_stabilization,
        );
        let verdict = verdict(stabilized, &sizing, job.parallelism, explanation, metrics);
        match cfg.mode {
            AutoscaleMode::Apply => {
                if matches!(verdict, Verdict::Scale { .. }) {
                    // The rescale restarts the workers: nothing of this layout may be reused.
                    self.reset();
                }
                verdict
            }
            // Nothing restarts: the window and history carry on, so the advice stands, and follows the
            // figures, on every evaluation.
            AutoscaleMode::Advise => verdict.advised(),
        }
    }

    /// The summary of a full, complete metrics window; a `Hold` saying what is missing otherwise.
    fn full_window(
        &self,
        cfg: &AutoscaleConfig,
        job: &JobView,
        now_ms: i64,
    ) -> Result<WindowSummary, HoldReason> {
        let length = cfg.metrics_window;
        if let Fill::Filling {
            since_ms,
            full_at_ms,
        } = self.window.fill(now_ms, length)
        {
            let message = match (since_ms, full_at_ms) {
                (Some(since), Some(full)) => format!(
                    "collecting metrics since {} ({} of the {length} window); the first decision can come \
                     at {} if samples keep arriving",
                    rfc3339(since),
                    Millis((now_ms - since).max(0).unsigned_abs()),
                    rfc3339(full)
                ),
                _ => format!("waiting for the first metric sample of the {length} window"),
            };
            return Err((AutoscalerReason::MetricsWindowFilling, message));
        }
        self.window
            .summarize(now_ms, length, job.partitions)
            .map_err(|incomplete| (AutoscalerReason::MetricsIncomplete, incomplete.to_string()))
    }
}

/// The verdict for a stabilized recommendation at parallelism `current`.
fn verdict(
    stabilized: Stabilized,
    sizing: &Sizing,
    current: u32,
    explanation: String,
    metrics: AutoscalerMetrics,
) -> Verdict {
    match stabilized {
        Stabilized::Steady => Verdict::Hold {
            reason: AutoscalerReason::WithinTarget,
            message: if sizing.peak_load <= 1.0 + 1e-9
                || sizing.adjustments.contains(&Adjustment::CurrentSuffices)
            {
                format!("{current} workers carry the load: {explanation}")
            } else {
                format!(
                    "{current} workers are over their target load, but no allowed parallelism does better: \
                     {explanation}"
                )
            },
            recommended: Some(sizing.recommended),
            metrics: Some(metrics),
        },
        Stabilized::Wait(p) => Verdict::Hold {
            reason: AutoscalerReason::Stabilizing,
            message: format!(
                "{} {current} → {} recommended since {}; executes at {} if it persists: {explanation}",
                p.direction.word(),
                p.to,
                rfc3339(p.since_ms),
                rfc3339(p.ready_at_ms)
            ),
            recommended: Some(sizing.recommended),
            metrics: Some(metrics),
        },
        Stabilized::Scale(to) => {
            let (reason, word) = if to > current {
                (AutoscalerReason::ScaleUp, "scale up")
            } else {
                (AutoscalerReason::ScaleDown, "scale down")
            };
            let sustained = if to == sizing.recommended {
                String::new()
            } else {
                format!(
                    " ({to} is what the load called for throughout the stabilization window; {} right now)",
                    sizing.recommended
                )
            };
            Verdict::Scale {
                from: current,
                to,
                reason,
                message: format!("{word} {current} → {to}{sustained}: {explanation}"),
                metrics,
            }
        }
    }
}
