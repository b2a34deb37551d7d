//! Real `sluice-operator` processes against the test's API server (leader election through a Lease), for the
//! tests that kill the operator.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use sluice_testbed::binaries::binary;
use sluice_testbed::ports::free_port;
use sluice_testbed::process::ManagedProcess;

use super::OperatorEnv;

/// The steps of a savepoint upgrade, in the order it passes them.
pub const UPGRADE_STEPS: [&str; 4] = [
    "SavepointRequested",
    "SavepointTaken",
    "PodsDeleted",
    "Deploying",
];

/// The marker file of `step`'s crash point in `dir`: whoever creates it dies there (once).
pub fn step_marker(dir: &Path, step: &str) -> PathBuf {
    dir.join(format!("crashed-in-{step}"))
}

/// The `SLUICE_CRASH_AT` value that kills an operator right after it persists each upgrade step, with the
/// markers in `dir` (a directory of the process that reads the variable).
pub fn crash_after_each_step(dir: &Path) -> String {
    let points: Vec<String> = UPGRADE_STEPS
        .iter()
        .map(|s| {
            let point = sluice_operator::crash_point::persisted(s);
            format!("{point}@{}", step_marker(dir, s).display())
        })
        .collect();
    points.join(",")
}

/// One `sluice-operator` process.
pub struct OperatorProcess {
    pub identity: &'static str,
    pub process: ManagedProcess,
    pub metrics: String,
    /// SIGKILLed by the test.
    pub killed: bool,
}

pub fn start_operator(
    env: &OperatorEnv,
    dir: &Path,
    identity: &'static str,
    lease: &str,
) -> OperatorProcess {
    start_operator_with(env, dir, identity, lease, &[])
}

/// [`start_operator`] with extra environment variables (e.g. `SLUICE_CRASH_AT`).
pub fn start_operator_with(
    env: &OperatorEnv,
    dir: &Path,
    identity: &'static str,
    lease: &str,
    extra_env: &[(&str, String)],
) -> OperatorProcess {
    let port = free_port().unwrap();
    let mut cmd = Command::new(binary("sluice-operator").unwrap());
    cmd.env("KUBECONFIG", env.kubeconfig_path())
        .env("POD_NAME", identity)
        .env("RUST_LOG", "info")
        .env_remove("POD_NAMESPACE")
        .env_remove("SLUICE_OPERATOR_NAMESPACE")
        .args(["--namespace", &env.ns])
        .args(["--leader-election-namespace", &env.ns])
        .args(["--lease-name", lease])
        .arg(format!("--metrics-addr=127.0.0.1:{port}"))
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    // Appended to across restarts of the same identity.
    let log = dir.join(format!("{identity}.log"));
    let process = ManagedProcess::spawn("sluice-operator", cmd, &log).unwrap();
    eprintln!("{identity}: pid {}, log {}", process.pid(), log.display());
    OperatorProcess {
        identity,
        process,
        metrics: format!("http://127.0.0.1:{port}/metrics"),
        killed: false,
    }
}

/// True when the operator's `/readyz` answers 200 (its StreamJob cache synced; the standby's too).
pub async fn is_ready(op: &OperatorProcess) -> bool {
    let url = op.metrics.replace("/metrics", "/readyz");
    reqwest::get(&url)
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
}

/// The value of the series `series` (name and labels, exactly as exposed) of a running operator (None while
/// its endpoint does not answer or the series is absent).
pub async fn metric<T: std::str::FromStr>(op: &OperatorProcess, series: &str) -> Option<T> {
    let text = reqwest::get(&op.metrics).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `sluice_operator_leader` of a running operator (None while its endpoint does not answer).
pub async fn leader_gauge(op: &OperatorProcess) -> Option<i64> {
    metric(op, "sluice_operator_leader").await
}

pub async fn lease_holder(env: &OperatorEnv, name: &str) -> Option<(String, i32)> {
    let lease = Api::<Lease>::namespaced(env.client.clone(), &env.ns)
        .get_opt(name)
        .await
        .unwrap()?;
    let spec = lease.spec?;
    Some((spec.holder_identity?, spec.lease_transitions.unwrap_or(0)))
}

/// Waits until `holder` holds the Lease, is the only process reporting leadership, and every live process
/// (the standbys too) is ready.
pub async fn wait_sole_leader(
    env: &OperatorEnv,
    lease: &str,
    ops: &mut [OperatorProcess],
    holder: Option<&str>,
    timeout: Duration,
) -> (usize, i32) {
    let deadline = Instant::now() + timeout;
    loop {
        for op in ops.iter_mut().filter(|o| !o.killed) {
            op.process.check_alive().unwrap();
        }
        if let Some((who, transitions)) = lease_holder(env, lease).await
            && holder.is_none_or(|h| h == who)
            && let Some(i) = ops.iter().position(|o| o.identity == who)
        {
            let mut gauges = Vec::new();
            let mut all_ready = true;
            for op in ops.iter() {
                all_ready &= op.killed || is_ready(op).await;
                // A killed process reports nothing; it does not lead.
                let g = if op.killed {
                    Some(0)
                } else {
                    leader_gauge(op).await
                };
                gauges.push(g);
            }
            let expected: Vec<Option<i64>> =
                (0..ops.len()).map(|j| Some(i64::from(j == i))).collect();
            if gauges == expected && all_ready {
                return (i, transitions);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no sole leader{} within {timeout:?}; lease: {:?}; logs:\n{}",
            holder.map(|h| format!(" {h}")).unwrap_or_default(),
            lease_holder(env, lease).await,
            ops.iter()
                .map(|o| format!("--- {}\n{}", o.identity, o.process.log_tail(20)))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
