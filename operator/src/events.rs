//! Kubernetes Events (events.k8s.io/v1) for the job's transitions: one Event object per transition.
//!
//! Not kube-runtime's `Recorder`: within its cache window it folds every Event of the same reason about the
//! same object into the first one's series and keeps the first note, so a suspend's `SavepointCompleted`
//! after an upgrade's, or a `WorkerRestarted` with a new exit, was counted but never shown. Transitions are
//! state changes, so they are few; nothing needs folding.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use sluice_crds::StreamJob;

use crate::reconcile::{Severity, Transition};

/// An Event's note may hold at most 1 KiB.
const NOTE_MAX_BYTES: usize = 1024;

/// Publishes transitions as Events about their StreamJob.
pub struct Recorder {
    client: kube::Client,
    controller: String,
    instance: String,
}

impl Recorder {
    pub fn new(client: kube::Client, controller: &str, instance: String) -> Recorder {
        Recorder {
            client,
            controller: controller.to_string(),
            instance,
        }
    }

    /// Creates one Event for `t` about `job`.
    pub async fn publish(&self, job: &StreamJob, t: &Transition) -> Result<(), kube::Error> {
        let namespace = job.namespace().unwrap_or_else(|| "default".into());
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", job.name_any(), now.as_nanosecond())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some("Reconcile".into()),
            reason: Some(t.reason.to_string()),
            note: Some(truncate(&t.note, NOTE_MAX_BYTES).to_string()),
            regarding: Some(job.object_ref(&())),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match t.severity {
                    Severity::Normal => "Normal",
                    Severity::Warning => "Warning",
                }
                .into(),
            ),
            ..Event::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await
            .map(|_| ())
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 1024), "short");
        let long = "é".repeat(600); // 1,200 bytes
        let cut = truncate(&long, 1024);
        assert_eq!(cut.len(), 1024);
        assert_eq!(truncate("aé", 2), "a");
    }
}
