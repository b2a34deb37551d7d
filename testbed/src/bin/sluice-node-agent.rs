//! `sluice-node-agent`: stands in for the kubelet on the local test control plane (see docs/testing.md,
//! "The node agent"). Registers a Node, binds unscheduled pods to it and runs them as local processes.
//!
//!   sluice-node-agent --kubeconfig $SLUICE_KUBECONFIG [--node-name N] [--root-dir D] [--image SUBSTR=PATH]...

use std::path::PathBuf;

use clap::Parser;
use sluice_testbed::cache::run_root;
use sluice_testbed::node_agent::{self, AgentConfig, ImageMapping};

#[derive(Parser)]
#[command(about = "Runs pods of a local Kubernetes API server as local processes")]
struct Cli {
    /// The kubeconfig to use (its current context).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// The Node name to register.
    #[arg(long, default_value = "sluice-node")]
    node_name: String,
    /// Where pod directories go; defaults to <cache>/run/node-agent-<node name>.
    #[arg(long)]
    root_dir: Option<PathBuf>,
    /// Run images whose name contains SUBSTR with the local binary PATH (repeatable). The default maps
    /// `sluice-worker` to $CARGO_TARGET_DIR/debug/sluice-worker.
    #[arg(long = "image", value_name = "SUBSTR=PATH")]
    images: Vec<String>,
    /// Only bind and run pods of this namespace (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
}

fn parse_images(specs: &[String]) -> Result<Vec<ImageMapping>, String> {
    let mut images: Vec<ImageMapping> = specs
        .iter()
        .map(|s| {
            let (sub, path) = s
                .split_once('=')
                .ok_or_else(|| format!("--image {s}: expected SUBSTR=PATH"))?;
            Ok(ImageMapping {
                image_contains: sub.to_string(),
                binary: PathBuf::from(path),
            })
        })
        .collect::<Result<_, String>>()?;
    images.extend(node_agent::default_image_mappings());
    Ok(images)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-node-agent: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let images = parse_images(&cli.images)?;
    let kubeconfig = kube::config::Kubeconfig::read_from(&cli.kubeconfig)
        .map_err(|e| format!("reading {}: {e}", cli.kubeconfig.display()))?;
    // rustls needs an explicit provider when more than one is compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| format!("loading the kubeconfig: {e}"))?;
    let client = kube::Client::try_from(config).map_err(|e| format!("building a client: {e}"))?;
    let root_dir = cli
        .root_dir
        .unwrap_or_else(|| run_root().join(format!("node-agent-{}", cli.node_name)));
    let config = AgentConfig {
        node_name: cli.node_name,
        root_dir,
        images,
        namespace: cli.namespace,
    };
    // On SIGTERM/SIGINT the agent future is dropped before main returns, so every pod worker is dropped too and
    // kills its process group (pods run in their own groups and would otherwise outlive the agent).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("installing a SIGTERM handler: {e}"))?;
    tokio::select! {
        result = node_agent::run(client, config) => result.map_err(|e| e.to_string()),
        _ = term.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
