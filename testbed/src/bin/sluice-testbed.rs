//! `sluice-testbed`: installs and runs the shared test services for the README test command.
//!
//! - `sluice-testbed install [--skip-kube]` — fetch Kafka jars, build the S3 server and (unless skipped) the
//!   Kubernetes binaries (control plane and real node, with `go build`) and the real node's OCI registry into
//!   the cache (idempotent).
//! - `sluice-testbed serve --state-dir D` — start Kafka and S3 on free loopback ports, plus a Kubernetes
//!   control plane if its binaries are installed, write `D/env` (`SLUICE_KAFKA_BOOTSTRAP=…`,
//!   `SLUICE_S3_ENDPOINT=…`, `SLUICE_KUBECONFIG=…`) once all are ready, then keep them running until
//!   SIGTERM/SIGINT, when all are killed and reaped. PIDs go to `D/pids` so a later `stop` can clean up after a
//!   serve that was itself killed.
//! - `sluice-testbed stop --state-dir D` — kill PIDs left in `D/pids` by an earlier serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use sluice_testbed::secured_kafka::{ENV_KAFKA_CA, ENV_KAFKA_SASL_SSL};
use sluice_testbed::services::kube::install::{ensure_kube, kube_installed};
use sluice_testbed::services::kube::{ENV_KUBECONFIG, KubeCluster};
use sluice_testbed::testbed::{ENV_KAFKA, ENV_S3};
use sluice_testbed::{KafkaBroker, S3Server, TestBedError, install};

#[derive(Parser)]
#[command(about = "Real Kafka + S3 services for Sluice tests, on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download/build every service into the cache.
    Install {
        /// Skip building the Kubernetes binaries and the registry (a cold `go build` takes many minutes).
        #[arg(long)]
        skip_kube: bool,
    },
    /// Run Kafka and S3 until SIGTERM; write their addresses to STATE_DIR/env.
    Serve {
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Kill processes an earlier `serve` left behind.
    Stop {
        #[arg(long)]
        state_dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Install { skip_kube } => install::ensure_all().and_then(|()| {
            if skip_kube {
                Ok(())
            } else {
                ensure_kube()
                    .and_then(|_| sluice_testbed::services::node::registry::ensure_registry())
                    .map(drop)
            }
        }),
        Cmd::Serve { state_dir } => serve(&state_dir),
        Cmd::Stop { state_dir } => {
            stop_leftovers(&state_dir);
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-testbed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(state_dir: &Path) -> Result<(), TestBedError> {
    stop_leftovers(state_dir);
    std::fs::create_dir_all(state_dir)
        .map_err(|e| TestBedError::Env(format!("{}: {e}", state_dir.display())))?;
    let _ = std::fs::remove_file(state_dir.join("env"));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| TestBedError::Env(format!("installing a signal handler: {e}")))?;
    }
    // Kubernetes only when `install` built it (serving must not start a long `go build`); it starts on its own
    // thread because its API server bootstrap takes about as long as Kafka's start.
    let kube_dir = state_dir.join("kube");
    let kube_start =
        kube_installed().then(|| std::thread::spawn(move || KubeCluster::start(&kube_dir)));
    let kafka_and_s3 = KafkaBroker::start(&state_dir.join("kafka"))
        .and_then(|kafka| Ok((kafka, S3Server::start(&state_dir.join("s3"))?)));
    // Joined before any error returns, so a failed start still kills what the other side started.
    let kube =
        match kube_start {
            Some(handle) => Some(handle.join().map_err(|_| {
                TestBedError::Env("the Kubernetes start-up thread panicked".into())
            })?),
            None => None,
        };
    let (kafka, s3) = kafka_and_s3?;
    let kube = kube.transpose()?;
    let pids: Vec<String> = [kafka.pid(), s3.pid()]
        .into_iter()
        .flatten()
        .chain(kube.iter().flat_map(KubeCluster::pids))
        .map(|p| p.to_string())
        .collect();
    write(&state_dir.join("pids"), &pids.join("\n"))?;
    let mut env = format!(
        "{ENV_KAFKA}={}\n{ENV_KAFKA_SASL_SSL}={}\n{ENV_KAFKA_CA}={}\n{ENV_S3}={}\n",
        kafka.bootstrap(),
        kafka.sasl_ssl_bootstrap(),
        kafka.tls().ca_cert.display(),
        s3.endpoint()
    );
    if let Some(kube) = &kube {
        env.push_str(&format!(
            "{ENV_KUBECONFIG}={}\n",
            kube.kubeconfig_path().display()
        ));
    }
    // Written last (and atomically) so a reader that sees the file knows both services are ready.
    write(&state_dir.join("env.tmp"), &env)?;
    std::fs::rename(state_dir.join("env.tmp"), state_dir.join("env"))
        .map_err(|e| TestBedError::Env(format!("publishing env file: {e}")))?;
    eprintln!(
        "sluice-testbed: kafka at {}, s3 at {}",
        kafka.bootstrap(),
        s3.endpoint()
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("sluice-testbed: stopping");
    drop(kube);
    drop(kafka);
    drop(s3);
    let _ = std::fs::remove_file(state_dir.join("pids"));
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), TestBedError> {
    std::fs::write(path, text)
        .map_err(|e| TestBedError::Env(format!("writing {}: {e}", path.display())))
}

/// Kills (SIGKILL) the PIDs recorded by an earlier serve, if those processes still exist.
fn stop_leftovers(state_dir: &Path) {
    let Ok(text) = std::fs::read_to_string(state_dir.join("pids")) else {
        return;
    };
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // `kill` from procps keeps this free of unsafe code; a missing process is fine.
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status();
    }
    let _ = std::fs::remove_file(state_dir.join("pids"));
}
