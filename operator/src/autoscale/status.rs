//! From a [`Verdict`] to `status.autoscaler` and an Event (pure).
//!
//! `current.since` only moves when the reason changes, so a job that keeps holding for the same reason does
//! not churn its status; `lastDecision` only changes on a rescale. Events are emitted for rescales and when
//! the autoscaler newly enters a state that needs a human (invalid annotations, no capacity estimate).

use k8s_openapi::jiff::Timestamp;
use sluice_crds::Millis;
use sluice_crds::autoscaler::{
    AutoscalerDecision, AutoscalerEvaluation, AutoscalerReason, AutoscalerStatus,
};

use super::config::{AutoscaleConfig, ConfigErrors, problems};
use super::evaluate::Verdict;
use crate::saturating;

/// Unix milliseconds as RFC 3339 (`2026-01-01T00:00:00Z`).
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Longest restart a measurement is believed for: beyond it, the Ready streak more likely began with a later
/// crash than with the rescale.
const MAX_MEASURED_RESTART: Millis = Millis(30 * 60 * 1000);

/// The restart time of the autoscaler's last rescale, for [`super::JobView::measured_restart`]: from the
/// decision's time to the start of the workers' current Ready streak (`status.readySince`), if that streak
/// began after the decision and within 30 minutes of it.
pub fn measured_restart(
    previous: Option<&AutoscalerStatus>,
    ready_since_ms: Option<i64>,
) -> Option<Millis> {
    let decided = previous?
        .last_decision
        .as_ref()?
        .time
        .parse::<Timestamp>()
        .ok()?;
    let took = ready_since_ms? - decided.as_millisecond();
    let took = Millis(u64::try_from(took).ok()?);
    (took.as_millis() > 0 && took <= MAX_MEASURED_RESTART).then_some(took)
}

/// An Event to record for a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoscalerEvent {
    /// Event reason (bounded, PascalCase).
    pub reason: &'static str,
    pub note: String,
    pub warning: bool,
}

/// The new `status.autoscaler`, given the previous one.
pub fn next_status(
    previous: Option<&AutoscalerStatus>,
    config: &Result<AutoscaleConfig, ConfigErrors>,
    verdict: &Verdict,
    now_ms: i64,
) -> AutoscalerStatus {
    let now = rfc3339(now_ms);
    let reason = verdict.reason();
    let since = previous
        .and_then(|p| p.current.as_ref())
        .filter(|c| c.reason == reason)
        .map_or_else(|| now.clone(), |c| c.since.clone());
    let (recommended, metrics) = match verdict {
        Verdict::Hold {
            recommended,
            metrics,
            ..
        } => (*recommended, metrics.clone()),
        Verdict::Scale { to, metrics, .. } => (Some(*to), Some(metrics.clone())),
    };
    let last_decision = match verdict {
        Verdict::Scale {
            from,
            to,
            reason,
            message,
            metrics,
        } => Some(AutoscalerDecision {
            from: saturating::to_i32(*from),
            to: saturating::to_i32(*to),
            reason: *reason,
            message: message.clone(),
            time: now,
            metrics: metrics.clone(),
        }),
        Verdict::Hold { .. } => previous.and_then(|p| p.last_decision.clone()),
    };
    AutoscalerStatus {
        enabled: config.as_ref().is_ok_and(|c| c.enabled),
        current: Some(AutoscalerEvaluation {
            reason,
            message: verdict.message().to_string(),
            since,
            recommended: recommended.and_then(|r| i32::try_from(r).ok()),
            metrics,
        }),
        last_decision,
        problems: problems(config),
        // Filled in by `recommend` from the autoscaler itself.
        history: None,
    }
}

/// Whether `verdict` recommends another parallelism than the previous evaluation did.
fn advice_changed(previous: Option<&AutoscalerStatus>, verdict: &Verdict) -> bool {
    let before = previous
        .and_then(|p| p.current.as_ref())
        .and_then(|c| c.recommended);
    let now = match verdict {
        Verdict::Hold { recommended, .. } => recommended.and_then(|r| i32::try_from(r).ok()),
        Verdict::Scale { to, .. } => i32::try_from(*to).ok(),
    };
    before != now
}

/// The Event for a decision, if it deserves one.
pub fn event(previous: Option<&AutoscalerStatus>, verdict: &Verdict) -> Option<AutoscalerEvent> {
    let was = previous.and_then(|p| p.current.as_ref()).map(|c| c.reason);
    let newly = |r: AutoscalerReason| was != Some(r);
    match verdict {
        Verdict::Scale {
            reason, message, ..
        } => Some(AutoscalerEvent {
            reason: if *reason == AutoscalerReason::ScaleUp {
                "AutoscalerScaleUp"
            } else {
                "AutoscalerScaleDown"
            },
            note: message.clone(),
            warning: false,
        }),
        Verdict::Hold {
            reason, message, ..
        } => match reason {
            AutoscalerReason::InvalidAnnotations if newly(*reason) => Some(AutoscalerEvent {
                reason: "AutoscalerInvalidAnnotations",
                note: message.clone(),
                warning: true,
            }),
            AutoscalerReason::NoCapacityEstimate if newly(*reason) => Some(AutoscalerEvent {
                reason: "AutoscalerNoCapacityEstimate",
                note: message.clone(),
                warning: true,
            }),
            // Advise mode repeats its advice every reconcile while it stands; one Event per new advice.
            AutoscalerReason::Advised if newly(*reason) || advice_changed(previous, verdict) => {
                Some(AutoscalerEvent {
                    reason: "AutoscalerAdvice",
                    note: message.clone(),
                    warning: false,
                })
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_crds::autoscaler::AutoscalerMetrics;

    fn hold(reason: AutoscalerReason) -> Verdict {
        Verdict::Hold {
            reason,
            message: "m".into(),
            recommended: None,
            metrics: None,
        }
    }

    fn enabled() -> Result<AutoscaleConfig, ConfigErrors> {
        Ok(AutoscaleConfig {
            enabled: true,
            ..AutoscaleConfig::default()
        })
    }

    #[test]
    fn rfc3339_of_unix_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600_000), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn since_moves_only_when_the_reason_changes() {
        let a = next_status(
            None,
            &enabled(),
            &hold(AutoscalerReason::MetricsWindowFilling),
            0,
        );
        let b = next_status(
            Some(&a),
            &enabled(),
            &hold(AutoscalerReason::MetricsWindowFilling),
            60_000,
        );
        assert_eq!(b.current.as_ref().unwrap().since, rfc3339(0));
        let c = next_status(
            Some(&b),
            &enabled(),
            &hold(AutoscalerReason::WithinTarget),
            120_000,
        );
        assert_eq!(c.current.as_ref().unwrap().since, rfc3339(120_000));
        assert!(c.enabled);
    }

    #[test]
    fn a_scale_is_recorded_and_kept_through_later_holds() {
        let scale = Verdict::Scale {
            from: 4,
            to: 6,
            reason: AutoscalerReason::ScaleUp,
            message: "scale up 4 → 6".into(),
            metrics: AutoscalerMetrics::default(),
        };
        let a = next_status(None, &enabled(), &scale, 1_000);
        let d = a.last_decision.clone().unwrap();
        assert_eq!((d.from, d.to, d.reason), (4, 6, AutoscalerReason::ScaleUp));
        assert_eq!(d.time, rfc3339(1_000));
        let e = event(None, &scale).unwrap();
        assert_eq!(e.reason, "AutoscalerScaleUp");
        assert!(!e.warning);
        let b = next_status(
            Some(&a),
            &enabled(),
            &hold(AutoscalerReason::UpgradeInProgress),
            2_000,
        );
        assert_eq!(b.last_decision, a.last_decision);
    }

    #[test]
    fn the_restart_is_measured_from_the_decision_to_ready() {
        let scale = Verdict::Scale {
            from: 4,
            to: 6,
            reason: AutoscalerReason::ScaleUp,
            message: "m".into(),
            metrics: AutoscalerMetrics::default(),
        };
        let st = next_status(None, &enabled(), &scale, 1_767_225_600_000);
        let m = |ready| measured_restart(Some(&st), ready);
        assert_eq!(m(Some(1_767_225_600_000 + 95_000)), Some(Millis(95_000)));
        assert_eq!(
            m(Some(1_767_225_600_000 - 1)),
            None,
            "ready before the decision"
        );
        assert_eq!(
            m(Some(1_767_225_600_000 + 3_600_000)),
            None,
            "too long: a later crash"
        );
        assert_eq!(m(None), None);
        assert_eq!(measured_restart(None, Some(1)), None);
    }

    #[test]
    fn advice_is_recorded_without_a_decision_and_announced_once_per_recommendation() {
        let advise = |to: u32| {
            Verdict::Scale {
                from: 4,
                to,
                reason: AutoscalerReason::ScaleUp,
                message: format!("scale up 4 → {to}"),
                metrics: AutoscalerMetrics::default(),
            }
            .advised()
        };
        let six = advise(6);
        let Verdict::Hold {
            reason,
            recommended,
            message,
            ..
        } = &six
        else {
            panic!("advise mode turned a rescale into {six:?}");
        };
        assert_eq!(
            (*reason, *recommended),
            (AutoscalerReason::Advised, Some(6))
        );
        assert!(
            message.contains("not applied") && message.contains("4 → 6"),
            "{message}"
        );
        let a = next_status(None, &enabled(), &six, 1_000);
        assert_eq!(a.last_decision, None, "advice is not a decision");
        let current = a.current.clone().unwrap();
        assert_eq!(
            (current.reason, current.recommended),
            (AutoscalerReason::Advised, Some(6))
        );
        // One Event for the advice, none while it stands, a new one when it changes.
        assert_eq!(
            event(None, &six).map(|e| e.reason),
            Some("AutoscalerAdvice")
        );
        assert_eq!(event(Some(&a), &six), None);
        assert!(event(Some(&a), &advise(8)).is_some());
        // Holds pass through advise mode unchanged.
        let held = hold(AutoscalerReason::Stabilizing);
        assert_eq!(held.clone().advised(), held);
    }

    #[test]
    fn invalid_annotations_are_listed_and_warned_about_once() {
        let bad = crate::autoscale::config::parse(
            &[("sluice.dev/autoscale-max".to_string(), "x".to_string())].into(),
        );
        let d = hold(AutoscalerReason::InvalidAnnotations);
        let a = next_status(None, &bad, &d, 0);
        assert!(!a.enabled);
        assert_eq!(a.problems[0].annotation, "sluice.dev/autoscale-max");
        assert!(event(None, &d).is_some_and(|e| e.warning));
        assert_eq!(event(Some(&a), &d), None);
        assert_eq!(event(None, &hold(AutoscalerReason::Stabilizing)), None);
    }
}
