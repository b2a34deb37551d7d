//! The Sluice operator: reconciles `StreamJob`s into worker pods. The reconcile stages land with the
//! operator issue; this crate starts with the naming rules every stage relies on.

pub mod naming;
