//! TLS between the operator and the workers' control API (`spec.controlTls`, on by default).
//!
//! The operator keeps one CA ([`ca`]) in a Secret of its own namespace and issues each job a certificate
//! ([`leaf`]) for a name that identifies the job, not a pod (`sluice_api::worker_names`); the job's Secret is mounted into its
//! workers, which serve the control API with it and pick up a renewed one without a restart. The operator
//! calls the workers through a client that trusts only its CA and resolves only worker names
//! ([`crate::worker_client`]), so the job's bearer token goes only to a process holding that job's key.
//! [`store`] reads and writes the Secrets.

pub mod ca;
pub mod leaf;
pub mod store;

use sluice_crds::StreamJob;

use crate::apply::publish;
use crate::build::JobMeta;
use crate::controller::Context;
use crate::error::Error;
use crate::reconcile::{Problem, Severity, Transition};
use crate::worker_client::JobWorkers;
use ca::now_unix;
use store::ensure_job_certificate;

/// The calls to `job`'s workers (per pod over TLS or plain HTTP, see `fetch`), with the operator's CA
/// trusted. For a live job with `spec.controlTls` on (`ensure`), the job's certificate Secret is issued or
/// renewed first (a Normal Event says why); a Secret of that name the job does not own is returned as a
/// problem. With `controlTls` off the CA is still loaded when it can be, for pods started while it was on.
pub async fn job_workers(
    ctx: &Context,
    job: &StreamJob,
    meta: &JobMeta,
    ensure: bool,
) -> Result<(JobWorkers, Option<Problem>), Error> {
    let enabled = job.spec.control_tls.enabled();
    let ca = match ctx.control_ca.current(&ctx.client).await {
        Ok(ca) => ca,
        Err(e) if !enabled => {
            tracing::debug!(job = %meta.name, error = %e, "control CA not loaded (controlTls disabled)");
            return Ok((ctx.workers.for_job(&meta.namespace, &meta.name), None));
        }
        Err(e) => return Err(e),
    };
    ctx.workers
        .trust(&ca.trust_bundle(now_unix()))
        .map_err(|e| Error::Render {
            what: "the workers' TLS client",
            message: e.to_string(),
        })?;
    let mut problem = None;
    if ensure && enabled {
        match ensure_job_certificate(&ctx.client, meta, &ca).await? {
            Ok(Some(reason)) => {
                let t = Transition {
                    severity: Severity::Normal,
                    reason: "ControlCertificateIssued",
                    note: format!("control API certificate ({reason}), CA {}", ca.id()),
                };
                publish(&ctx.recorder, job, &t).await;
            }
            Ok(None) => {}
            Err(p) => problem = Some(p),
        }
    }
    Ok((ctx.workers.for_job(&meta.namespace, &meta.name), problem))
}

/// The calls to a deleted job's workers (for its final savepoint), issuing nothing. A CA that cannot be read
/// must not block the deletion: the call then fails (the `FinalSavepoint` Event says so) and the pods go.
pub async fn workers_for_deletion(ctx: &Context, job: &StreamJob, meta: &JobMeta) -> JobWorkers {
    match job_workers(ctx, job, meta, false).await {
        Ok((w, _)) => w,
        Err(e) => {
            tracing::warn!(job = %meta.name, error = %e, "control CA unavailable for the final savepoint");
            ctx.workers.for_job(&meta.namespace, &meta.name)
        }
    }
}
