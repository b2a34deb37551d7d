//! Reconcile errors with a bounded category (metric label and Event reason) and the retry policy per
//! category: transient ones back off, permanent ones wait for the next change of the object.

use std::time::Duration;

/// Everything a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {verb} {what}: {source}")]
    Kube {
        verb: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("rendering {what}: {message}")]
    Render { what: &'static str, message: String },
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    #[error("the StreamJob has no {0}")]
    MissingField(&'static str),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The API server refused a worker pod (PodSecurity admission, a ResourceQuota, an invalid field): no
    /// retry soon helps, the user must change the namespace or the spec.
    #[error("the API server refused to create pod {}: {}", .0.pod, .0.message)]
    PodRejected(crate::reconcile::PodRejection),
}

/// Bounded error categories (never object names or error text in labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    KubeApi,
    Conflict,
    Render,
    InvalidObject,
    Finalizer,
    PodRejected,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::KubeApi => "kube_api",
            Category::Conflict => "conflict",
            Category::Render => "render",
            Category::InvalidObject => "invalid_object",
            Category::Finalizer => "finalizer",
            Category::PodRejected => "pod_rejected",
        }
    }

    /// How long to wait before retrying; `None`: wait for the object to change.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Category::Conflict => Some(Duration::from_secs(1)),
            Category::KubeApi | Category::Finalizer => Some(Duration::from_secs(10)),
            // A quota may free up or a namespace label change without touching the StreamJob.
            Category::PodRejected => Some(Duration::from_secs(10)),
            Category::Render | Category::InvalidObject => None,
        }
    }
}

impl Error {
    pub fn kube(verb: &'static str, what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube { verb, what, source }
    }

    pub fn category(&self) -> Category {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => Category::Conflict,
            Error::Kube { .. } => Category::KubeApi,
            Error::Render { .. } | Error::Build(_) => Category::Render,
            Error::MissingField(_) => Category::InvalidObject,
            Error::Finalizer(_) => Category::Finalizer,
            Error::PodRejected(_) => Category::PodRejected,
        }
    }
}
