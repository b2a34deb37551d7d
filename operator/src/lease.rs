//! Leader election with a `coordination.k8s.io/v1` Lease: acquire when absent or expired, renew while
//! held, report leadership on a watch channel. Only the leader reconciles (and so writes). Updates use the
//! Lease's resourceVersion, so two replicas can never both win a takeover.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

/// Lease validity; renewed every third of it.
pub const LEASE_SECS: i32 = 15;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renew) = spec.renew_time.as_ref() else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECS));
    now.as_millisecond() - renew.0.as_millisecond() > secs * 1000
}

/// One election round: returns whether we hold the Lease afterwards.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    let mine = |transitions: i32, acquire: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(LEASE_SECS),
        renew_time: Some(MicroTime(now)),
        acquire_time: acquire.or(Some(MicroTime(now))),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(mine(0, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let held = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
            if !held && !expired(&spec, now) {
                return Ok(false);
            }
            let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!held);
            lease.spec = Some(mine(
                transitions,
                if held { spec.acquire_time } else { None },
            ));
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Runs the election forever, publishing leadership on `tx`. Losing contact for a whole lease period
/// drops leadership (the other replica may take over).
pub async fn run(client: kube::Client, cfg: LeaseConfig, tx: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let period = Duration::from_secs(u64::try_from(LEASE_SECS / 3).unwrap_or(5));
    let mut last_ok = tokio::time::Instant::now();
    loop {
        match try_acquire(&api, &cfg).await {
            Ok(leading) => {
                last_ok = tokio::time::Instant::now();
                if *tx.borrow() != leading {
                    tracing::info!(identity = %cfg.identity, leading, "leadership changed");
                }
                let _ = tx.send(leading);
            }
            Err(e) => {
                tracing::warn!(error = %e, "lease round failed");
                if last_ok.elapsed() > period * 2 {
                    let _ = tx.send(false);
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}
