//! The autoscaler's recommendation, once per reconcile (pure but for the job's in-memory [`Autoscaler`]
//! window): from the job's annotations, its status as persisted and the workers' `/v1/status` answers to
//! the new `status.autoscaler`, an Event, and the parallelism to set.
//!
//! The reconciler (`crate::rescale`) makes it before the decide stage and hands it to `decide` as an
//! observation; `decide` folds it into the status it writes, and the controller executes
//! [`Recommendation::scale`] after apply by patching `spec.parallelism` — which the normal upgrade path
//! then rolls out as a savepoint upgrade.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_crds::autoscaler::AutoscalerStatus;
use sluice_crds::control::WorkerStatus;
use sluice_crds::{LifecycleState, StreamJobSpec, StreamJobStatus};

use super::config::{self, AutoscaleMode, PREFIX};
use super::evaluate::{Autoscaler, JobView};
use super::metrics::Sample;
use super::status::{AutoscalerEvent, event, measured_restart, next_status};

/// A rescale ordered by the autoscaler: set `spec.parallelism` from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescale {
    pub from: u32,
    pub to: u32,
}

/// What the autoscaler recommends at one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// The new `status.autoscaler`.
    pub status: AutoscalerStatus,
    pub event: Option<AutoscalerEvent>,
    pub scale: Option<Rescale>,
    /// The `Autoscaling` condition: status, reason, message (an invalid annotation is named here).
    pub condition: (bool, &'static str, String),
    /// While autoscaling is on, reconcile (and so sample the workers) at least this often: a tenth of the
    /// metrics window, between 1 s and 15 s.
    pub sample_every: Option<Duration>,
}

/// What the recommendation reads of the job.
pub struct JobInput<'a> {
    pub annotations: &'a BTreeMap<String, String>,
    pub spec: &'a StreamJobSpec,
    pub generation: Option<i64>,
    /// The job's status as persisted (the previous reconcile's decision): whether a rollout is pending,
    /// since when the workers are ready, and the previous `status.autoscaler`.
    pub status: &'a StreamJobStatus,
}

impl JobInput<'_> {
    /// `status.autoscaler` as persisted before this reconcile.
    fn previous(&self) -> Option<&AutoscalerStatus> {
        self.status.autoscaler.as_ref()
    }
}

/// Whether any `sluice.dev/autoscale*` annotation is present.
pub fn has_annotations(annotations: &BTreeMap<String, String>) -> bool {
    annotations.keys().any(|k| k.starts_with(PREFIX))
}

/// Runs the autoscaler once at `now_ms`. `None` for a job that never had autoscaler annotations: it gets no
/// `status.autoscaler` at all (removing the annotations later leaves a status saying it is disabled).
pub fn recommend<'a>(
    scaler: &mut Autoscaler,
    job: &JobInput<'_>,
    statuses: impl IntoIterator<Item = &'a WorkerStatus>,
    now_ms: i64,
) -> Option<Recommendation> {
    if !has_annotations(job.annotations) && job.previous().is_none() {
        return None;
    }
    let cfg = config::parse(job.annotations);
    let sample_every = match &cfg {
        Ok(c) if c.enabled => {
            scaler.observe(Sample::from_statuses(now_ms, statuses), c);
            let tenth = c.metrics_window.as_millis() / 10;
            Some(Duration::from_millis(tenth.clamp(1_000, 15_000)))
        }
        _ => None,
    };
    let ready_since_ms = job
        .status
        .ready_since
        .as_ref()
        .map(|t| t.0.as_millisecond());
    // The autoscaler reads the spec before validation (it reports on an invalid job too). Admission keeps
    // both counts at least 1; a value below that (only in an object admitted under an older CRD) reads as
    // 0, which the sizing bounds to at least one worker.
    let view = JobView {
        partitions: u32::try_from(job.spec.partitions).unwrap_or(0),
        parallelism: u32::try_from(job.spec.parallelism).unwrap_or(0),
        upgrade_in_progress: rollout_pending(job),
        restarted_at_ms: ready_since_ms,
        measured_restart: measured_restart(job.previous(), ready_since_ms),
    };
    let persisted = job.previous().and_then(|p| p.history.as_ref());
    scaler.resume(persisted, view.parallelism);
    let verdict = scaler.evaluate(&cfg, &view, now_ms);
    let condition = match &cfg {
        Err(e) => (false, "InvalidAnnotations", e.to_string()),
        Ok(c) if !c.enabled => (
            false,
            "Disabled",
            format!("set the annotation {PREFIX}: \"true\" to enable autoscaling"),
        ),
        Ok(c) => (
            true,
            "Enabled",
            format!(
                "between {} and {} workers at target utilization {}{}",
                c.min,
                c.max
                    .map_or_else(|| "spec.partitions".to_string(), |m| m.to_string()),
                c.target_utilization,
                match c.mode {
                    AutoscaleMode::Apply => "",
                    AutoscaleMode::Advise =>
                        "; advise mode: recommendations are reported, not applied",
                }
            ),
        ),
    };
    Some(Recommendation {
        condition,
        status: AutoscalerStatus {
            history: scaler.persisted(),
            ..next_status(job.previous(), &cfg, &verdict, now_ms)
        },
        event: event(job.previous(), &verdict),
        scale: verdict.scale_to().map(|to| Rescale {
            from: view.parallelism,
            to,
        }),
        sample_every,
    })
}

/// Anything but a settled deployment of the current spec: an upgrade, suspend or rollback in flight, a spec
/// change not rolled out yet, or workers not (yet) running.
fn rollout_pending(job: &JobInput<'_>) -> bool {
    let next = job.status;
    next.upgrade.is_some()
        || next.parallelism != Some(job.spec.parallelism)
        || (job.generation.is_some() && next.observed_generation != job.generation)
        || !matches!(
            next.lifecycle_state,
            Some(LifecycleState::Running | LifecycleState::Stable)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::autoscaler::AutoscalerReason;

    fn spec(parallelism: i32) -> StreamJobSpec {
        let mut s = crate::decide::tests::spec();
        s.parallelism = parallelism;
        s
    }

    fn settled(parallelism: i32) -> StreamJobStatus {
        StreamJobStatus {
            observed_generation: Some(1),
            lifecycle_state: Some(LifecycleState::Stable),
            parallelism: Some(parallelism),
            ..StreamJobStatus::default()
        }
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_job_without_annotations_gets_no_autoscaler_status() {
        let (spec, next) = (spec(2), settled(2));
        let none = BTreeMap::new();
        let job = JobInput {
            annotations: &none,
            spec: &spec,
            generation: Some(1),
            status: &next,
        };
        assert_eq!(recommend(&mut Autoscaler::new(), &job, [], 0), None);
    }

    #[test]
    fn removed_annotations_leave_a_disabled_status() {
        let spec = spec(2);
        let next = StreamJobStatus {
            autoscaler: Some(AutoscalerStatus {
                enabled: true,
                ..AutoscalerStatus::default()
            }),
            ..settled(2)
        };
        let none = BTreeMap::new();
        let job = JobInput {
            annotations: &none,
            spec: &spec,
            generation: Some(1),
            status: &next,
        };
        let s = recommend(&mut Autoscaler::new(), &job, [], 0).unwrap();
        assert!(!s.status.enabled);
        assert_eq!(s.status.current.unwrap().reason, AutoscalerReason::Disabled);
        assert_eq!(s.sample_every, None);
    }

    #[test]
    fn a_rollout_in_flight_holds_and_a_settled_job_samples() {
        let a = annotations(&[
            ("sluice.dev/autoscale", "true"),
            ("sluice.dev/autoscale-metrics-window", "30s"),
        ]);
        let spec3 = spec(3);
        let deployed2 = settled(2);
        let job = JobInput {
            annotations: &a,
            spec: &spec3,
            generation: Some(2),
            status: &deployed2,
        };
        let s = recommend(&mut Autoscaler::new(), &job, [], 0).unwrap();
        assert_eq!(
            s.status.current.unwrap().reason,
            AutoscalerReason::UpgradeInProgress
        );
        assert_eq!(s.sample_every, Some(Duration::from_secs(3)));

        let spec2 = spec(2);
        let job = JobInput {
            annotations: &a,
            spec: &spec2,
            generation: Some(1),
            status: &deployed2,
        };
        let s = recommend(&mut Autoscaler::new(), &job, [], 0).unwrap();
        assert!(s.status.enabled);
        assert_ne!(
            s.status.current.unwrap().reason,
            AutoscalerReason::UpgradeInProgress
        );
        assert_eq!(s.scale, None);
    }

    #[test]
    fn invalid_annotations_are_reported_in_status() {
        let a = annotations(&[("sluice.dev/autoscale-max", "lots")]);
        let (spec, next) = (spec(2), settled(2));
        let job = JobInput {
            annotations: &a,
            spec: &spec,
            generation: Some(1),
            status: &next,
        };
        let s = recommend(&mut Autoscaler::new(), &job, [], 0).unwrap();
        assert_eq!(s.status.problems.len(), 1);
        let (ok, reason, message) = s.condition;
        assert!(!ok);
        assert_eq!(reason, "InvalidAnnotations");
        assert!(message.contains("sluice.dev/autoscale-max"), "{message}");
        assert!(s.event.is_some_and(|e| e.warning));
    }

    /// Two overloaded workers (fully busy, lag growing) on 4 partitions, sampled every 15 s.
    fn overloaded(at_s: i64) -> Vec<WorkerStatus> {
        (0..2)
            .map(|w| WorkerStatus {
                worker: format!("fraud-{w}"),
                job: "fraud-test".into(),
                model_version: "v1".into(),
                phase: sluice_crds::control::WorkerPhase::Running,
                partitions: (0..2)
                    .map(|p| sluice_crds::control::PartitionStatus {
                        partition: w * 2 + p,
                        committed_offsets: [0; 3],
                        lag: Some(10_000 * at_s),
                        watermark_ms: None,
                        state_bytes: 0,
                        processed_per_sec: 250.0,
                    })
                    .collect(),
                last_checkpoint: None,
                last_savepoint: None,
                consecutive_failed_checkpoints: 0,
                state_bytes: 0,
                busy_ratio: 1.0,
                input_partitions: Some(4),
            })
            .collect()
    }

    /// The recommendations over a metrics window of overload and the evaluations after it, in `mode`.
    fn after_overload(mode: &str, until_s: i64) -> Vec<Recommendation> {
        let a = annotations(&[
            ("sluice.dev/autoscale", "true"),
            ("sluice.dev/autoscale-metrics-window", "30s"),
            ("sluice.dev/autoscale-scale-up-stabilization", "0s"),
            ("sluice.dev/autoscale-mode", mode),
        ]);
        let (spec, status) = (spec(2), settled(2));
        let job = JobInput {
            annotations: &a,
            spec: &spec,
            generation: Some(1),
            status: &status,
        };
        let mut scaler = Autoscaler::new();
        (0..=until_s)
            .step_by(15)
            .filter_map(|at_s| recommend(&mut scaler, &job, &overloaded(at_s), at_s * 1000))
            .collect()
    }

    #[test]
    fn advise_mode_recommends_what_apply_mode_would_do_and_changes_nothing() {
        // The window (30 s) is full at 30 s: apply mode scales 2 → 4 there.
        let applied = after_overload("apply", 30);
        let rescale = applied.last().and_then(|r| r.scale);
        assert_eq!(rescale.map(|r| (r.from, r.to)), Some((2, 4)));

        // Advise mode: the same recommendation, from 30 s on at every evaluation, and no rescale ever.
        let advised = after_overload("advise", 60);
        assert!(
            advised.iter().all(|r| r.scale.is_none()),
            "advise mode must not rescale"
        );
        for r in &advised[2..] {
            let current = r.status.current.clone().unwrap();
            assert_eq!(
                (current.reason, current.recommended),
                (AutoscalerReason::Advised, Some(4))
            );
            assert_eq!(r.status.last_decision, None);
            assert!(r.condition.2.contains("advise mode"), "{:?}", r.condition);
        }
        assert_eq!(
            advised[2].event.as_ref().map(|e| e.reason),
            Some("AutoscalerAdvice")
        );
    }
}
