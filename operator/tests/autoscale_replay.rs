//! Replays the recorded metric series under `tests/fixtures/autoscale/` through the autoscaler (window +
//! decide), one evaluation per sample, and checks each file's expected outcome: no rescale at all, or the
//! first rescale's target, direction and time range. A recording describes one layout, so the replay stops
//! at the first rescale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sluice_crds::autoscaler::AutoscalerReason;
use sluice_operator::autoscale::{Autoscaler, JobView, Sample, Verdict, config};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    description: String,
    partitions: u32,
    parallelism: u32,
    annotations: BTreeMap<String, String>,
    expect: Expect,
    samples: Vec<Sample>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expect {
    scale: Option<ExpectScale>,
    #[serde(default)]
    final_reason: Option<AutoscalerReason>,
    why: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectScale {
    to: u32,
    reason: AutoscalerReason,
    not_before_ms: i64,
    not_after_ms: i64,
    #[serde(default)]
    message_contains: Option<String>,
}

/// This package's directory as cargo reports it when running the test (not the compiled-in path, which can
/// belong to another checkout sharing the target directory).
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<(String, Fixture)> {
    let dir = manifest_dir().join("tests/fixtures/autoscale");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let fx: Fixture =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.file_stem().unwrap().to_string_lossy().into_owned(), fx));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Replays until the first rescale; returns every (time, decision).
fn replay(fx: &Fixture) -> Vec<(i64, Verdict)> {
    let cfg = config::parse(&fx.annotations);
    let job = JobView {
        partitions: fx.partitions,
        parallelism: fx.parallelism,
        upgrade_in_progress: false,
        restarted_at_ms: None,
        measured_restart: None,
    };
    let mut scaler = Autoscaler::new();
    let mut out = Vec::new();
    for s in &fx.samples {
        let at = s.at_ms;
        if let Ok(c) = &cfg {
            scaler.observe(s.clone(), c);
        }
        let d = scaler.evaluate(&cfg, &job, at);
        let done = matches!(d, Verdict::Scale { .. });
        out.push((at, d));
        if done {
            break;
        }
    }
    out
}

fn check(name: &str, fx: &Fixture) -> Result<(), String> {
    let out = replay(fx);
    let t0 = fx.samples.first().map_or(0, |s| s.at_ms);
    let trace = || {
        out.iter()
            .map(|(t, d)| format!("  +{}s {:?}: {}", (t - t0) / 1000, d.reason(), d.message()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ctx = || {
        format!(
            "{name} ({}; expected because {})",
            fx.description, fx.expect.why
        )
    };
    let scale = out.iter().find(|(_, d)| matches!(d, Verdict::Scale { .. }));
    match (&fx.expect.scale, scale) {
        (None, Some((t, d))) => {
            return Err(format!(
                "{}: unexpected rescale at +{}s: {}\n{}",
                ctx(),
                (t - t0) / 1000,
                d.message(),
                trace()
            ));
        }
        (Some(e), None) => {
            return Err(format!(
                "{}: expected a rescale to {}, none happened\n{}",
                ctx(),
                e.to,
                trace()
            ));
        }
        (Some(e), Some((t, d))) => {
            let Verdict::Scale {
                to,
                reason,
                message,
                ..
            } = d
            else {
                unreachable!()
            };
            let in_time = (e.not_before_ms..=e.not_after_ms).contains(t);
            let text_ok = e
                .message_contains
                .as_ref()
                .is_none_or(|m| message.contains(m.as_str()));
            if *to != e.to || *reason != e.reason || !in_time || !text_ok {
                return Err(format!(
                    "{}: got {reason:?} to {to} at +{}s (expected {:?} to {} within +{}..+{}s{}): {message}\n{}",
                    ctx(),
                    (t - t0) / 1000,
                    e.reason,
                    e.to,
                    (e.not_before_ms - t0) / 1000,
                    (e.not_after_ms - t0) / 1000,
                    e.message_contains
                        .as_ref()
                        .map(|m| format!(", message containing {m:?}"))
                        .unwrap_or_default(),
                    trace()
                ));
            }
        }
        (None, None) => {}
    }
    if let Some(want) = fx.expect.final_reason {
        let got = out.last().map(|(_, d)| d.reason());
        if got != Some(want) {
            return Err(format!(
                "{}: ended {got:?}, expected {want:?}\n{}",
                ctx(),
                trace()
            ));
        }
    }
    Ok(())
}

#[test]
fn recorded_series_lead_to_the_expected_decisions() {
    let all = fixtures();
    assert!(all.len() >= 7, "fixtures missing: {}", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|(name, fx)| check(name, fx).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_holds_while_its_window_fills() {
    for (name, fx) in fixtures() {
        let out = replay(&fx);
        let t0 = fx.samples[0].at_ms;
        for (t, d) in &out {
            if t - t0 < 300_000 {
                assert_eq!(
                    d.reason(),
                    AutoscalerReason::MetricsWindowFilling,
                    "{name} at +{}s: {}",
                    (t - t0) / 1000,
                    d.message()
                );
            }
        }
    }
}
