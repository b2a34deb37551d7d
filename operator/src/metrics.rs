//! Operator metrics (prometheus-client): reconciles by result, errors by bounded category, reconcile
//! duration, leadership (label values from enums only), and the per-job series of [`crate::job_metrics`].

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Category;
use crate::job_metrics::JobMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    pub category: &'static str,
}

/// The operator's metric families.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ResultLabel, Counter>,
    pub errors: Family<CategoryLabel, Counter>,
    pub duration: Histogram,
    pub leader: Gauge,
    /// Per-job series (see [`crate::job_metrics`]).
    pub jobs: JobMetrics,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("sluice_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        let errors = Family::<CategoryLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconcile errors by category",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            leader.clone(),
        );
        let jobs = JobMetrics::register(&mut registry);
        Arc::new(Metrics {
            jobs,
            registry,
            reconciles,
            errors,
            duration,
            leader,
        })
    }

    /// Times one reconcile; records the duration when dropped.
    pub fn timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    pub fn error(&self, c: Category) {
        self.errors
            .get_or_create(&CategoryLabel {
                category: c.as_str(),
            })
            .inc();
        self.reconciles
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Drop guard recording a reconcile's duration.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` (see [`crate::health`]) until the process ends. The leader
/// gauge is read from `leadership` at each scrape, so a replica whose renew deadline passed (even while it
/// was stopped) reports 0 at once, and a replica that is not leading exports no per-job series.
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    readiness: crate::health::Readiness,
    leadership: crate::lease::Leadership,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                let leading = leadership.is_leading();
                async move {
                    m.leader.set(i64::from(leading));
                    if !leading {
                        m.jobs.clear();
                    }
                    m.encode()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let r = readiness.clone();
                async move { r.probe() }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
