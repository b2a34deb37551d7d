//! The headless Service giving each worker a stable DNS name (`<pod>.<service>`).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use sluice_crds::control::{CONTROL_PORT, METRICS_PORT};

use super::JobMeta;
use crate::naming;

/// The workers' Service (the same for every deployment of the job).
pub fn service(job: &JobMeta) -> Service {
    let port = |name: &str, port: u16| ServicePort {
        name: Some(name.to_string()),
        port: i32::from(port),
        ..ServicePort::default()
    };
    Service {
        metadata: job.meta(
            naming::service_name(&job.name),
            naming::selector_labels(&job.name),
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(naming::selector_labels(&job.name)),
            publish_not_ready_addresses: Some(true),
            ports: Some(vec![
                port("control", CONTROL_PORT),
                port("metrics", METRICS_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
