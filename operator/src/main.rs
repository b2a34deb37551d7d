//! `sluice-operator`: reconciles StreamJobs into Sluice worker pods. Only the Lease holder reconciles.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use sluice_operator::controller::{self, Context, Scope};
use sluice_operator::health::Readiness;
use sluice_operator::lease::{self, Leadership, LeaseConfig};
use sluice_operator::metrics::Metrics;
use sluice_operator::worker_client::WorkerClient;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Reconciles `StreamJob`s (sluice.dev/v1alpha1) into worker pods.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Reconcile StreamJobs only in these namespaces, comma-separated (default: all namespaces).
    #[arg(long, env = "SLUICE_OPERATOR_WATCH_NAMESPACES", value_delimiter = ',')]
    watch_namespaces: Vec<String>,
    /// One namespace to watch; the same as `--watch-namespaces` with one entry (kept for existing
    /// deployments).
    #[arg(long, env = "SLUICE_OPERATOR_NAMESPACE")]
    namespace: Option<String>,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else the only watched namespace,
    /// else "default").
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "sluice-operator")]
    lease_name: String,
    /// Name of the Secret holding the CA of the workers' control certificates, in the Lease's namespace
    /// (created on first use).
    #[arg(long, env = "SLUICE_OPERATOR_CONTROL_CA_SECRET", default_value = controller::DEFAULT_CONTROL_CA_SECRET)]
    control_ca_secret: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, default_value = "0.0.0.0:9090")]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| format!("sluice-operator-{}", std::process::id()))
}

#[tokio::main]
async fn main() -> ExitCode {
    // kube (ring) and the AWS SDK (aws-lc-rs) both link a rustls provider: pick one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = Args::parse();
    // Empty entries (`--namespace=`, as a chart in cluster mode may render it) mean all namespaces.
    let scope = Scope::from_list(
        &args
            .watch_namespaces
            .iter()
            .chain(args.namespace.iter())
            .collect::<Vec<_>>(),
    );
    args.leader_election_namespace = args
        .leader_election_namespace
        .filter(|n| !n.trim().is_empty());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match args.log_format {
        // Colour codes only at a terminal: `kubectl logs` and log shippers get plain text.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    sluice_operator::crash_point::report_unknown();
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no Kubernetes client configuration (in-cluster or KUBECONFIG)");
            return ExitCode::FAILURE;
        }
    };
    let workers = match WorkerClient::new() {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "building the HTTP client failed");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Metrics::new();
    let me = identity();
    let only_namespace = match &scope {
        Scope::Namespaces(list) if list.len() == 1 => list.first().cloned(),
        _ => None,
    };
    let lease_ns = args
        .leader_election_namespace
        .clone()
        .or(only_namespace)
        .unwrap_or_else(|| "default".into());
    let leadership = Leadership::elected();
    tokio::spawn(lease::run(
        client.clone(),
        LeaseConfig {
            namespace: lease_ns.clone(),
            name: args.lease_name.clone(),
            identity: me.clone(),
        },
        leadership.clone(),
    ));
    let serve_metrics = metrics.clone();
    let lead = leadership.clone();
    let addr = args.metrics_addr;
    let readiness = Readiness::new();
    let probe = readiness.clone();
    tokio::spawn(async move {
        if let Err(e) = sluice_operator::metrics::serve(addr, serve_metrics, probe, lead).await {
            tracing::error!(error = %e, %addr, "metrics endpoint failed");
        }
    });
    tracing::info!(identity = %me, scope = ?scope, "sluice-operator starting");
    let ctx = Arc::new(
        Context::new(client, workers, metrics, leadership, me)
            .with_control_ca(lease_ns, args.control_ca_secret.clone()),
    );
    controller::run_with_readiness(ctx, scope, readiness).await;
    ExitCode::SUCCESS
}
