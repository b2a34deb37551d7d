//! Local-mode tests with small generator configs in temp directories. Builders (`mk_*`) here; the tests, one
//! file per concern beside this one: `oracle_tests` (equality with the oracle), `crash_tests` (crash safety),
//! `fresh_tests` (fresh starts), `config_errors_tests` (configuration errors).

use std::path::Path;

use super::{COMMIT_LOG, CommitEntry, LocalJob, RunOptions};

/// Knobs the tests vary; everything else is a small fixed job.
pub struct JobSpec {
    pub authorizations: u64,
    pub partitions: u32,
    pub commit_max_records: u32,
    pub checkpoint_interval: &'static str,
    pub seed: u64,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            authorizations: 2_500,
            partitions: 3,
            commit_max_records: 250,
            checkpoint_interval: "0ms",
            seed: 7,
        }
    }
}

/// A job whose state and output live under `dir`. Commits are by record count only (`commitInterval` far
/// longer than a test run), so commit boundaries are the same in every run and crash points are exact.
pub fn mk_job(dir: &Path, spec: &JobSpec) -> LocalJob {
    let yaml = format!(
        r#"
job:
  transactionalIdPrefix: local-test
  commitInterval: 1m
  commitMaxRecords: {max}
  state:
    dir: {state}
    checkpointInterval: {cp}
    retainedCheckpoints: 2
    blockCacheMib: 8
    writeBufferMib: 8
generator:
  seed: {seed}
  cards: 150
  partitions: {partitions}
  authorizations: {auths}
  malformedPerMille: 15
  latePerMille: 10
local:
  outputDir: {out}
  fresh: true
"#,
        max = spec.commit_max_records,
        state = dir.join("state").display(),
        cp = spec.checkpoint_interval,
        seed = spec.seed,
        partitions = spec.partitions,
        auths = spec.authorizations,
        out = dir.join("out").display(),
    );
    match LocalJob::parse(Path::new("test.yaml"), &yaml) {
        Ok(job) => job,
        Err(e) => panic!("test job does not parse: {e}"),
    }
}

pub fn quiet() -> RunOptions {
    RunOptions::default()
}

/// The committed lines of `kind` in commit order, reading only files named by the commit log (as a consumer
/// of the output must).
pub fn committed_lines(out: &Path, kind: &str) -> Vec<String> {
    let log = std::fs::read_to_string(out.join(COMMIT_LOG)).unwrap();
    let mut lines = Vec::new();
    for line in log.lines() {
        let entry: CommitEntry = serde_json::from_str(line).unwrap();
        for f in entry
            .files
            .iter()
            .filter(|f| f.starts_with(&format!("{kind}/")))
        {
            let text = std::fs::read_to_string(out.join(f)).unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines
}

/// All four kinds' committed lines.
pub fn committed_output(out: &Path) -> [Vec<String>; 4] {
    ["decisions", "alerts", "dlq", "late"].map(|k| committed_lines(out, k))
}
