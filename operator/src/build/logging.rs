//! `spec.logging` as the worker reads it: `RUST_LOG` (its `tracing` filter) and `SLUICE_LOG_FORMAT`.

use k8s_openapi::api::core::v1::EnvVar;
use sluice_crds::worker_env;
use sluice_crds::{LogFormat, LoggingSpec};

/// The worker container's logging environment.
pub fn env(logging: &LoggingSpec) -> Vec<EnvVar> {
    let var = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    let format = match logging.format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    let mut out = vec![var(worker_env::LOG_FORMAT, format)];
    if let Some(level) = &logging.level {
        out.push(var(worker_env::LOG_FILTER, level));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_and_format_become_the_workers_environment() {
        let pairs = |l: &LoggingSpec| -> Vec<(String, String)> {
            env(l)
                .into_iter()
                .map(|e| (e.name, e.value.unwrap_or_default()))
                .collect()
        };
        let default = LoggingSpec::default();
        assert_eq!(
            pairs(&default),
            [("SLUICE_LOG_FORMAT".into(), "text".into())]
        );
        let set = LoggingSpec {
            level: Some("info,sluice_worker=debug".into()),
            format: LogFormat::Json,
        };
        assert_eq!(
            pairs(&set),
            [
                ("SLUICE_LOG_FORMAT".into(), "json".into()),
                ("RUST_LOG".into(), "info,sluice_worker=debug".into())
            ]
        );
    }
}
