//! The state machine's edge table: every edge of the diagram is allowed, everything else is refused and
//! leaves the persisted step as it was.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::{UpgradeMode, UpgradeReason, UpgradeStatus, UpgradeStep};

use super::machine::{End, Transition, end_legal, legal, take};
use crate::decide::Ctx;
use crate::decide::tests::stable;

fn requested(id: &str) -> UpgradeStep {
    UpgradeStep::SavepointRequested {
        savepoint_id: id.into(),
        stopped: Vec::new(),
        location: None,
    }
}

fn all_steps() -> Vec<UpgradeStep> {
    let since = Time(crate::decide::ts(0));
    vec![
        requested("a"),
        UpgradeStep::SavepointTaken { location: None },
        UpgradeStep::PodsDeleted { restore_from: None },
        UpgradeStep::Deploying {
            restore_from: None,
            since: since.clone(),
        },
        UpgradeStep::RollingBack {
            restore_from: None,
            deployed: false,
            since: since.clone(),
        },
        UpgradeStep::RollingBack {
            restore_from: None,
            deployed: true,
            since,
        },
    ]
}

#[test]
fn exactly_the_diagrams_edges_are_legal() {
    let steps = all_steps();
    let names = |i: usize| -> String {
        match &steps[i] {
            UpgradeStep::RollingBack { deployed, .. } => {
                format!("RollingBack{{deployed: {deployed}}}")
            }
            s => s.name().to_string(),
        }
    };
    let mut allowed = Vec::new();
    for (i, from) in steps.iter().enumerate() {
        for (j, to) in steps.iter().enumerate() {
            if legal(from, to) {
                allowed.push(format!("{} -> {}", names(i), names(j)));
            }
        }
    }
    assert_eq!(
        allowed,
        [
            "SavepointRequested -> SavepointRequested",
            "SavepointRequested -> SavepointTaken",
            "SavepointTaken -> PodsDeleted",
            "PodsDeleted -> Deploying",
            "Deploying -> RollingBack{deployed: false}",
            "RollingBack{deployed: false} -> RollingBack{deployed: true}",
        ]
    );
    // Progress within SavepointRequested keeps its savepoint id.
    assert!(!legal(&requested("a"), &requested("b")));
    let ends = [
        End::Ready,
        End::Suspended,
        End::RolledBack,
        End::SavepointFailed(String::new()),
        End::JobFailed,
        End::NothingToRollBackTo,
    ];
    let endings: Vec<usize> = ends
        .iter()
        .map(|e| steps.iter().filter(|s| end_legal(s, e)).count())
        .collect();
    assert_eq!(endings, [1, 1, 1, 1, 3, 1]);
}

#[test]
fn an_illegal_edge_is_refused_with_a_warning_and_the_step_stays() {
    let obs = stable();
    let validation = crate::validate::validate(&obs);
    let mut cx = Ctx::new(&obs, &validation);
    let up = UpgradeStatus {
        reason: UpgradeReason::SpecChange,
        mode: UpgradeMode::Savepoint,
        target_generation: 2,
        started_at: cx.now(),
        step: UpgradeStep::PodsDeleted { restore_from: None },
    };
    cx.st.upgrade = Some(up.clone());
    take(&mut cx, &up, Transition::To(requested("x")));
    take(&mut cx, &up, Transition::End(End::Ready));
    assert_eq!(cx.st.upgrade, Some(up));
    let refused = cx
        .events
        .iter()
        .filter(|e| e.reason == "IllegalUpgradeTransition")
        .count();
    assert_eq!(refused, 2);
}
