//! Leader election with a `coordination.k8s.io/v1` Lease, fenced by this process's own monotonic clock.
//!
//! - **Expiry without comparing clocks.** Another replica's `renewTime` was written with *its* clock, so it is
//!   never compared with ours. A Lease held by someone else is taken over only after *we* have seen it
//!   unchanged (same resourceVersion) for its whole `leaseDurationSeconds`, measured on our monotonic clock —
//!   as client-go does.
//! - **Renew deadline.** Leadership is valid until [`RENEW_DEADLINE`] after the start of the last round that
//!   renewed the Lease, again on the monotonic clock (which keeps running while the process is stopped). A
//!   leader that cannot renew in time — API server unreachable, calls hanging, the process paused by SIGSTOP
//!   or a long GC-like stall — stops acting before the Lease can expire for a standby
//!   (`RENEW_DEADLINE < LEASE_SECS`).
//! - **Fencing the work.** [`Leadership::is_leading`] is checked before a reconcile starts, and a reconcile in
//!   flight is abandoned as soon as [`Leadership::lost`] fires (the controller races them), so a long call such
//!   as a stop-with-savepoint does not go on writing after leadership ended.
//! - Every Lease call is bounded by [`ROUND_TIMEOUT`]; updates carry the Lease's resourceVersion, so two
//!   replicas can never both win a takeover.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

/// Lease validity written into the Lease (what a standby waits before taking over).
pub const LEASE_SECS: i32 = 15;
/// How long a renewal keeps this process leading, from the start of the round that made it.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between rounds.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// Bound on one round's API calls.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
}

/// Whether this process may act as the leader, shared by the election loop and every reconcile.
#[derive(Clone, Debug)]
pub struct Leadership {
    /// None: not leading. `always` (tests running one in-process operator) never expires.
    valid_until: Arc<Mutex<Option<Instant>>>,
    always: bool,
}

impl Leadership {
    /// Not leading until the election says so.
    pub fn elected() -> Leadership {
        Leadership {
            valid_until: Arc::new(Mutex::new(None)),
            always: false,
        }
    }

    /// Always leading: for a single in-process operator without a Lease.
    pub fn always() -> Leadership {
        Leadership {
            valid_until: Arc::new(Mutex::new(None)),
            always: true,
        }
    }

    fn until(&self) -> Option<Instant> {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, until: Option<Instant>) {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }

    /// True while the last renewal is younger than [`RENEW_DEADLINE`] (on the monotonic clock).
    pub fn is_leading(&self) -> bool {
        self.always || self.until().is_some_and(|t| Instant::now() < t)
    }

    /// Resolves once this process is no longer leading (never, for [`Leadership::always`]).
    pub async fn lost(&self) {
        if self.always {
            return std::future::pending().await;
        }
        loop {
            let Some(until) = self.until().filter(|t| Instant::now() < *t) else {
                return;
            };
            let mut sleep = pin!(tokio::time::sleep_until(until));
            // Checked on every poll as well: after the process was stopped the deadline may have passed before
            // the timer driver noticed, and the task may be woken by its own I/O first.
            poll_fn(|cx| {
                if !self.is_leading() {
                    return Poll::Ready(());
                }
                sleep.as_mut().poll(cx)
            })
            .await;
        }
    }
}

/// What this process last saw of the Lease, and when (our monotonic clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub version: String,
    pub holder: Option<String>,
    pub duration: Duration,
    pub since: Instant,
}

/// What to do with a Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// Ours: renew it.
    Renew,
    /// Free or expired (unchanged for its whole duration as we saw it): take it.
    Take,
    /// Someone else's and alive.
    Wait,
}

/// The move for `seen` at `now` (pure).
pub fn next_move(seen: &Seen, me: &str, now: Instant) -> Move {
    match seen.holder.as_deref() {
        Some(h) if h == me => Move::Renew,
        None | Some("") => Move::Take,
        Some(_) if now.saturating_duration_since(seen.since) > seen.duration => Move::Take,
        Some(_) => Move::Wait,
    }
}

/// One replica's view of the election.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    seen: Option<Seen>,
}

impl Elector {
    pub fn new(api: Api<Lease>, cfg: LeaseConfig) -> Elector {
        Elector {
            api,
            cfg,
            seen: None,
        }
    }

    /// Records the Lease as read now; a changed resourceVersion restarts its expiry clock.
    fn observe(&mut self, lease: &Lease) -> Seen {
        let spec = lease.spec.clone().unwrap_or_default();
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let secs = spec.lease_duration_seconds.unwrap_or(LEASE_SECS).max(1);
        let fresh = Seen {
            version,
            holder: spec.holder_identity.clone(),
            duration: Duration::from_secs(u64::try_from(secs).unwrap_or(15)),
            since: Instant::now(),
        };
        let seen = match self.seen.take() {
            Some(old) if old.version == fresh.version => old,
            _ => fresh,
        };
        self.seen = Some(seen.clone());
        seen
    }

    fn spec_for(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        // renewTime and acquireTime are for people reading the Lease; no replica compares them with its clock.
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(LEASE_SECS),
            renew_time: Some(now.clone()),
            acquire_time: acquired.or(Some(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One election round: whether we hold the Lease afterwards.
    pub async fn round(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec_for(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let seen = self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(match next_move(&seen, &self.cfg.identity, Instant::now()) {
            Move::Wait => return Ok(false),
            Move::Renew => self.spec_for(transitions, spec.acquire_time),
            Move::Take => self.spec_for(transitions.saturating_add(1), None),
        });
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Runs the election for ever, keeping `leadership` valid while the Lease is renewed in time.
pub async fn run(client: kube::Client, cfg: LeaseConfig, leadership: Leadership) {
    let identity = cfg.identity.clone();
    let mut elector = Elector::new(Api::namespaced(client, &cfg.namespace), cfg);
    let mut was_leading = false;
    loop {
        let started = Instant::now();
        match tokio::time::timeout(ROUND_TIMEOUT, elector.round()).await {
            Ok(Ok(true)) => leadership.set(Some(started + RENEW_DEADLINE)),
            Ok(Ok(false)) => leadership.set(None),
            // Leadership keeps its deadline and ends by itself if no later round renews in time.
            Ok(Err(e)) => tracing::warn!(error = %e, "lease round failed"),
            Err(_) => tracing::warn!(timeout = ?ROUND_TIMEOUT, "lease round timed out"),
        }
        let leading = leadership.is_leading();
        if leading != was_leading {
            tracing::info!(identity = %identity, leading, "leadership changed");
            was_leading = leading;
        }
        tokio::time::sleep(RETRY_PERIOD).await;
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
