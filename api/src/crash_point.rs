//! Named crash points for the crash tests, one mechanism for the worker and the operator.
//!
//! `SLUICE_CRASH_AT=<point>[:<n>][@<marker file>]`, several comma-separated, makes the process abort — no
//! destructors, no flushes, no Lease release: like a SIGKILL — the `n`-th time (default: the first) execution
//! reaches `<point>`. With `@<marker file>` only the process that creates the marker dies, once: a test
//! kills the leader at a step, and the replica that takes over passes the same point and carries on.
//!
//! Points are named where they are reached ([`reach`]); each binary lists the points it has so a typo in the
//! variable is reported at start-up ([`unknown_points`]) instead of silently never firing. Unset, reaching
//! a point costs one read of an initialised `OnceLock`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms crash points.
pub const ENV: &str = "SLUICE_CRASH_AT";

/// One armed point of [`ENV`].
#[derive(Debug)]
struct Armed {
    point: String,
    /// Hits left before the point fires (see [`fires`]).
    remaining: AtomicU64,
    marker: Option<PathBuf>,
}

/// Parses one comma-separated entry; malformed entries are dropped (and reported by [`unknown_points`]).
fn parse_entry(entry: &str) -> Option<Armed> {
    let (rest, marker) = match entry.split_once('@') {
        Some((rest, marker)) => (rest, Some(PathBuf::from(marker.trim()))),
        None => (entry, None),
    };
    let (point, n) = match rest.split_once(':') {
        Some((point, n)) => (point, n.trim().parse::<u64>().ok()?),
        None => (rest, 1),
    };
    let point = point.trim();
    (!point.is_empty()).then(|| Armed {
        point: point.to_string(),
        remaining: AtomicU64::new(n.max(1)),
        marker,
    })
}

fn parse(spec: &str) -> Vec<Armed> {
    spec.split(',')
        .filter(|e| !e.trim().is_empty())
        .filter_map(parse_entry)
        .collect()
}

fn armed() -> &'static [Armed] {
    static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| parse(&std::env::var(ENV).unwrap_or_default()))
}

/// Whether this hit of `a` fires: the `n`-th and every later one. Without a marker the first firing aborts,
/// so only the `n`-th matters; with one, a process that lost the marker to another keeps trying on later
/// hits, which is what a marker an operator test removes to re-arm needs.
fn fires(a: &Armed) -> bool {
    let before = a
        .remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
            Some(r.saturating_sub(1))
        });
    before.is_ok_and(|r| r <= 1)
}

/// Aborts the process if `point` is armed and this hit is the one (and, with a marker, this process creates
/// the marker first).
pub fn reach(point: &str) {
    for a in armed().iter().filter(|a| a.point == point) {
        if !fires(a) {
            continue;
        }
        // `create_new` makes the claim atomic between processes sharing the marker.
        let claimed = a.marker.as_ref().is_none_or(|m| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(m)
                .is_ok()
        });
        if claimed {
            let message = format!("sluice: crash point {point} reached; aborting");
            eprintln!("{message}");
            // Best effort: in a pod, the container's termination message names the point for sure.
            let _ = crate::termination::write(&message);
            std::process::abort();
        }
    }
}

/// Entries of [`ENV`] that name no point in `known` or do not parse: the caller reports them at start-up.
pub fn unknown_points(known: &[&str]) -> Vec<String> {
    let spec = std::env::var(ENV).unwrap_or_default();
    spec.split(',')
        .filter(|e| !e.trim().is_empty())
        .filter(|e| parse_entry(e).is_none_or(|a| !known.contains(&a.point.as_str())))
        .map(|e| e.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{fires, parse};

    #[test]
    fn entries_name_a_point_a_hit_count_and_a_marker() {
        let armed = parse("before_produce:3, persisted_Deploying@/tmp/m1,during_replay");
        let view: Vec<_> = armed
            .iter()
            .map(|a| {
                (
                    a.point.as_str(),
                    a.remaining.load(std::sync::atomic::Ordering::Relaxed),
                    a.marker.clone(),
                )
            })
            .collect();
        assert_eq!(
            view,
            vec![
                ("before_produce", 3, None),
                ("persisted_Deploying", 1, Some("/tmp/m1".into())),
                ("during_replay", 1, None),
            ]
        );
        assert!(parse("x:notanumber,,:2").is_empty());
    }

    #[test]
    fn the_nth_hit_and_every_later_one_fire() {
        let armed = parse("p:3");
        let hits: Vec<bool> = (0..5).map(|_| fires(&armed[0])).collect();
        assert_eq!(hits, [false, false, true, true, true]);
    }
}
