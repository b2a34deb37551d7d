//! `spec.podTemplate.spec` merged over the pod the operator built. Validation already refused a template that
//! sets what the operator owns, so the merge may let the template win everywhere else: lists of named items
//! (containers, env, volumes, mounts) merge by name as a strategic merge patch would, and a partial security
//! context fills in only the fields it sets. Containers the template adds get the `restricted` level's
//! container settings unless they say otherwise, so a sidecar does not take a restricted namespace's pods
//! out of admission.

use k8s_openapi::DeepMerge;
use k8s_openapi::api::core::v1::{Capabilities, Container, PodSpec, SecurityContext};

use super::WORKER_CONTAINER;
use super::container::pod_security;

/// `built` with `template` merged over it.
pub(super) fn merge(mut built: PodSpec, template: &PodSpec) -> PodSpec {
    let mut template = template.clone();
    built.security_context = Some(pod_security(template.security_context.take().as_ref()));
    built.merge_from(template);
    let added = built
        .containers
        .iter_mut()
        .filter(|c| c.name != WORKER_CONTAINER)
        .chain(built.init_containers.iter_mut().flatten());
    for c in added {
        restricted_defaults(c);
    }
    built
}

/// The container settings the `restricted` Pod Security level requires, where `c` leaves them unset (the
/// pod-level security context already supplies non-root and the seccomp profile).
fn restricted_defaults(c: &mut Container) {
    let ctx = c
        .security_context
        .get_or_insert_with(SecurityContext::default);
    ctx.allow_privilege_escalation.get_or_insert(false);
    let caps = ctx.capabilities.get_or_insert_with(Capabilities::default);
    caps.drop.get_or_insert_with(|| vec!["ALL".into()]);
}
