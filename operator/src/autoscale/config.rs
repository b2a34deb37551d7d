//! The autoscaler's settings, parsed from the StreamJob's `sluice.dev/autoscale*` annotations (pure).
//!
//! Every annotation is checked and every problem is reported at once (not the first only), each naming the
//! annotation and the accepted form. Unknown `sluice.dev/autoscale-*` keys are errors too: a typo such as
//! `autoscale-maximum` must not silently leave the default in force.

use std::collections::BTreeMap;

use sluice_crds::Millis;
use sluice_crds::autoscaler::AnnotationProblem;

/// Annotation prefix shared by every setting.
pub const PREFIX: &str = "sluice.dev/autoscale";

pub const ENABLED: &str = "sluice.dev/autoscale";
pub const MIN: &str = "sluice.dev/autoscale-min";
pub const MAX: &str = "sluice.dev/autoscale-max";
pub const TARGET_UTILIZATION: &str = "sluice.dev/autoscale-target-utilization";
pub const CATCH_UP: &str = "sluice.dev/autoscale-catch-up";
pub const RESTART_TIME: &str = "sluice.dev/autoscale-restart-time";
pub const SCALE_UP_STABILIZATION: &str = "sluice.dev/autoscale-scale-up-stabilization";
pub const SCALE_DOWN_STABILIZATION: &str = "sluice.dev/autoscale-scale-down-stabilization";
pub const SCALE_DOWN_MAX_FACTOR: &str = "sluice.dev/autoscale-scale-down-max-factor";
pub const SCALE_UP_MAX_FACTOR: &str = "sluice.dev/autoscale-scale-up-max-factor";
pub const METRICS_WINDOW: &str = "sluice.dev/autoscale-metrics-window";
pub const MODE: &str = "sluice.dev/autoscale-mode";

/// Every annotation the autoscaler reads.
pub const KNOWN: [&str; 12] = [
    ENABLED,
    MIN,
    MAX,
    TARGET_UTILIZATION,
    CATCH_UP,
    RESTART_TIME,
    SCALE_UP_STABILIZATION,
    SCALE_DOWN_STABILIZATION,
    SCALE_DOWN_MAX_FACTOR,
    SCALE_UP_MAX_FACTOR,
    METRICS_WINDOW,
    MODE,
];

/// What the autoscaler does with a decision (`sluice.dev/autoscale-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoscaleMode {
    /// `apply` (the default): set `spec.parallelism`, rolled out as a savepoint upgrade.
    Apply,
    /// `advise`: compute and explain every decision in `status.autoscaler` and an Event, change nothing —
    /// for a team that wants to see what the autoscaler would do before it lets it act.
    Advise,
}

/// Validated autoscaler settings. Defaults are those of issue 7.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoscaleConfig {
    /// `sluice.dev/autoscale: "true"`; default off.
    pub enabled: bool,
    /// Fewest workers; default 1.
    pub min: u32,
    /// Most workers; default none (the partition count bounds it anyway).
    pub max: Option<u32>,
    /// Busy fraction a worker should run at after a rescale, in `(0, 1]`; default 0.7.
    pub target_utilization: f64,
    /// Time within which the current lag must be worked off; default 5m.
    pub catch_up: Millis,
    /// Expected stop-savepoint-restore time of a rescale, used until one was measured; default 2m.
    pub restart_time: Millis,
    /// A scale-up recommendation must persist this long; default 1m.
    pub scale_up_stabilization: Millis,
    /// A scale-down recommendation must persist this long; default 10m.
    pub scale_down_stabilization: Millis,
    /// A scale-down removes at most this fraction of the workers, in `(0, 1)`; default 0.5.
    pub scale_down_max_factor: f64,
    /// A scale-up adds at most this multiple of the current workers (`1` = at most double); default
    /// unlimited. Bounds the cost of a recommendation computed from a burst or a bad capacity estimate.
    pub scale_up_max_factor: Option<f64>,
    /// Metrics are averaged over this window, which must be full before any decision; default 5m.
    pub metrics_window: Millis,
    /// Apply decisions or only advise them; default apply.
    pub mode: AutoscaleMode,
}

impl Default for AutoscaleConfig {
    fn default() -> AutoscaleConfig {
        AutoscaleConfig {
            enabled: false,
            min: 1,
            max: None,
            target_utilization: 0.7,
            catch_up: Millis::from_secs(5 * 60),
            restart_time: Millis::from_secs(2 * 60),
            scale_up_stabilization: Millis::from_secs(60),
            scale_down_stabilization: Millis::from_secs(10 * 60),
            scale_down_max_factor: 0.5,
            scale_up_max_factor: None,
            metrics_window: Millis::from_secs(5 * 60),
            mode: AutoscaleMode::Apply,
        }
    }
}

/// Every invalid annotation found, in annotation order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid autoscaler annotations: {}", describe(.problems))]
pub struct ConfigErrors {
    pub problems: Vec<AnnotationProblem>,
}

fn describe(problems: &[AnnotationProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.annotation, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses and validates the autoscaler annotations of a StreamJob (its `metadata.annotations`).
pub fn parse(annotations: &BTreeMap<String, String>) -> Result<AutoscaleConfig, ConfigErrors> {
    let mut p = Parser {
        annotations,
        problems: Vec::new(),
    };
    let d = AutoscaleConfig::default();
    for key in annotations.keys() {
        if key.starts_with(PREFIX) && !KNOWN.contains(&key.as_str()) {
            p.problem(
                key,
                format!(
                    "unknown autoscaler annotation; the known ones are {}",
                    KNOWN.join(", ")
                ),
            );
        }
    }
    let enabled = p.flag(ENABLED).unwrap_or(d.enabled);
    let min = p.count(MIN).unwrap_or(d.min);
    let max = p.count(MAX);
    if let Some(max) = max
        && max < min
    {
        p.problem(
            MAX,
            format!("must be at least {MIN} ({min}); raise it or lower the minimum"),
        );
    }
    let cfg = AutoscaleConfig {
        enabled,
        min,
        max,
        target_utilization: p
            .fraction(TARGET_UTILIZATION, true)
            .unwrap_or(d.target_utilization),
        catch_up: p.duration(CATCH_UP, false).unwrap_or(d.catch_up),
        restart_time: p.duration(RESTART_TIME, true).unwrap_or(d.restart_time),
        scale_up_stabilization: p
            .duration(SCALE_UP_STABILIZATION, true)
            .unwrap_or(d.scale_up_stabilization),
        scale_down_stabilization: p
            .duration(SCALE_DOWN_STABILIZATION, true)
            .unwrap_or(d.scale_down_stabilization),
        scale_down_max_factor: p
            .fraction(SCALE_DOWN_MAX_FACTOR, false)
            .unwrap_or(d.scale_down_max_factor),
        scale_up_max_factor: p.factor(SCALE_UP_MAX_FACTOR),
        metrics_window: p
            .duration(METRICS_WINDOW, false)
            .unwrap_or(d.metrics_window),
        mode: p.mode(MODE).unwrap_or(d.mode),
    };
    if p.problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors {
            problems: p.problems,
        })
    }
}

struct Parser<'a> {
    annotations: &'a BTreeMap<String, String>,
    problems: Vec<AnnotationProblem>,
}

impl<'a> Parser<'a> {
    fn problem(&mut self, annotation: &str, message: String) {
        self.problems.push(AnnotationProblem {
            annotation: annotation.to_string(),
            message,
        });
    }

    fn raw(&self, key: &str) -> Option<&'a str> {
        self.annotations.get(key).map(|v| v.trim())
    }

    fn flag(&mut self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                let msg = format!("{other:?} is not a switch; write \"true\" or \"false\"");
                self.problem(key, msg);
                None
            }
        }
    }

    /// `apply` or `advise`.
    fn mode(&mut self, key: &str) -> Option<AutoscaleMode> {
        match self.raw(key)? {
            "apply" => Some(AutoscaleMode::Apply),
            "advise" => Some(AutoscaleMode::Advise),
            other => {
                let msg = format!(
                    "{other:?} is not a mode; write \"apply\" (scale the job) or \"advise\" (recommend only)"
                );
                self.problem(key, msg);
                None
            }
        }
    }

    /// A worker count ≥ 1.
    fn count(&mut self, key: &str) -> Option<u32> {
        let raw = self.raw(key)?;
        match raw.parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                let msg =
                    format!("{raw:?} is not a worker count; write a whole number ≥ 1, e.g. \"2\"");
                self.problem(key, msg);
                None
            }
        }
    }

    /// A fraction in `(0, 1]` (`one_allowed`) or `(0, 1)`.
    fn fraction(&mut self, key: &str, one_allowed: bool) -> Option<f64> {
        let raw = self.raw(key)?;
        let range = if one_allowed {
            "greater than 0 and at most 1"
        } else {
            "greater than 0 and less than 1"
        };
        match raw.parse::<f64>() {
            Ok(x) if x > 0.0 && (x < 1.0 || (one_allowed && x == 1.0)) => Some(x),
            Ok(_) => {
                self.problem(
                    key,
                    format!("{raw:?} is out of range; write a number {range}, e.g. \"0.5\""),
                );
                None
            }
            Err(_) => {
                self.problem(
                    key,
                    format!("{raw:?} is not a number; write a number {range}, e.g. \"0.5\""),
                );
                None
            }
        }
    }

    /// A positive, finite multiple such as `1` or `0.5`.
    fn factor(&mut self, key: &str) -> Option<f64> {
        let raw = self.raw(key)?;
        match raw.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Some(x),
            _ => {
                let msg = format!(
                    "{raw:?} is not a positive number; write how many times the current workers a scale-up \
                     may add, e.g. \"1\" (at most double)"
                );
                self.problem(key, msg);
                None
            }
        }
    }

    /// A duration such as `90s` or `5m`; `zero_allowed` for the ones where 0 means "off".
    fn duration(&mut self, key: &str, zero_allowed: bool) -> Option<Millis> {
        let raw = self.raw(key)?;
        match raw.parse::<Millis>() {
            Ok(m) if zero_allowed || m.as_millis() > 0 => Some(m),
            Ok(_) => {
                self.problem(key, "must be longer than 0, e.g. \"5m\"".to_string());
                None
            }
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }
}

/// What the autoscaler writes into `status.autoscaler.problems` for a parse result.
pub fn problems(result: &Result<AutoscaleConfig, ConfigErrors>) -> Vec<AnnotationProblem> {
    match result {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn no_annotations_is_disabled_with_the_issue_defaults() {
        let c = parse(&BTreeMap::new()).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.min, 1);
        assert_eq!(c.max, None);
        assert_eq!(c.target_utilization, 0.7);
        assert_eq!(c.catch_up, Millis(300_000));
        assert_eq!(c.restart_time, Millis(120_000));
        assert_eq!(c.scale_up_stabilization, Millis(60_000));
        assert_eq!(c.scale_down_stabilization, Millis(600_000));
        assert_eq!(c.scale_down_max_factor, 0.5);
        assert_eq!(c.scale_up_max_factor, None);
        assert_eq!(c.metrics_window, Millis(300_000));
        assert_eq!(c.mode, AutoscaleMode::Apply);
    }

    #[test]
    fn every_annotation_is_read() {
        let c = parse(&ann(&[
            (ENABLED, "true"),
            (MIN, "2"),
            (MAX, " 12 "),
            (TARGET_UTILIZATION, "1"),
            (CATCH_UP, "90s"),
            (RESTART_TIME, "0s"),
            (SCALE_UP_STABILIZATION, "0s"),
            (SCALE_DOWN_STABILIZATION, "15m"),
            (SCALE_DOWN_MAX_FACTOR, "0.25"),
            (SCALE_UP_MAX_FACTOR, "1.5"),
            (METRICS_WINDOW, "2m"),
            (MODE, "advise"),
            ("sluice.dev/other", "ignored"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            AutoscaleConfig {
                enabled: true,
                min: 2,
                max: Some(12),
                target_utilization: 1.0,
                catch_up: Millis(90_000),
                restart_time: Millis(0),
                scale_up_stabilization: Millis(0),
                scale_down_stabilization: Millis(900_000),
                scale_down_max_factor: 0.25,
                scale_up_max_factor: Some(1.5),
                metrics_window: Millis(120_000),
                mode: AutoscaleMode::Advise,
            }
        );
    }

    #[test]
    fn all_problems_are_collected_each_naming_its_annotation() {
        let err = parse(&ann(&[
            (ENABLED, "yes"),
            (MIN, "0"),
            (MAX, "many"),
            (TARGET_UTILIZATION, "1.5"),
            (CATCH_UP, "0s"),
            (RESTART_TIME, "2 min"),
            (SCALE_UP_STABILIZATION, "1.5m"),
            (SCALE_DOWN_STABILIZATION, "-1m"),
            (SCALE_DOWN_MAX_FACTOR, "1"),
            (SCALE_UP_MAX_FACTOR, "0"),
            (METRICS_WINDOW, "5"),
            (MODE, "dry-run"),
            ("sluice.dev/autoscale-maximum", "3"),
        ]))
        .unwrap_err();
        let named: Vec<&str> = err.problems.iter().map(|p| p.annotation.as_str()).collect();
        for key in KNOWN {
            assert!(named.contains(&key), "{key} not reported: {err}");
        }
        assert!(named.contains(&"sluice.dev/autoscale-maximum"));
        assert_eq!(err.problems.len(), 13, "{err}");
        // Each message says how to fix it.
        for p in &err.problems {
            assert!(
                p.message.contains("e.g.")
                    || p.message.contains("write")
                    || p.message.contains("known"),
                "{}: {}",
                p.annotation,
                p.message
            );
        }
    }

    #[test]
    fn max_below_min_is_reported_on_max() {
        let err = parse(&ann(&[(MIN, "4"), (MAX, "3")])).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].annotation, MAX);
        assert!(err.to_string().contains("at least"), "{err}");
    }

    #[test]
    fn fraction_bounds_are_exclusive_where_the_issue_says() {
        assert!(parse(&ann(&[(TARGET_UTILIZATION, "0")])).is_err());
        assert!(parse(&ann(&[(TARGET_UTILIZATION, "0.01")])).is_ok());
        assert!(parse(&ann(&[(SCALE_DOWN_MAX_FACTOR, "0.99")])).is_ok());
        assert!(parse(&ann(&[(SCALE_DOWN_MAX_FACTOR, "0")])).is_err());
        assert!(parse(&ann(&[(TARGET_UTILIZATION, "NaN")])).is_err());
    }
}
