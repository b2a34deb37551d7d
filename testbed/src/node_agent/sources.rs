//! Fetches the ConfigMaps and Secrets a pod references (I/O only; [`super::plan`] decides what they mean).
//! A missing object is simply absent from [`Sources`]: whether that is an error depends on `optional`.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::{Api, Client};

use super::NodeAgentError;
use super::plan::{Sources, referenced};

pub async fn fetch(client: &Client, pod: &Pod) -> Result<Sources, NodeAgentError> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let (cm_names, secret_names) = referenced(pod);
    let mut sources = Sources::default();
    let cms = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    for name in cm_names {
        let Some(cm) = cms
            .get_opt(&name)
            .await
            .map_err(NodeAgentError::kube(format!(
                "reading ConfigMap {ns}/{name}"
            )))?
        else {
            continue;
        };
        let mut data: std::collections::BTreeMap<String, Vec<u8>> = cm
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        data.extend(
            cm.binary_data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0)),
        );
        sources.config_maps.insert(name, data);
    }
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    for name in secret_names {
        let Some(secret) = secrets
            .get_opt(&name)
            .await
            .map_err(NodeAgentError::kube(format!("reading Secret {ns}/{name}")))?
        else {
            continue;
        };
        let data = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        sources.secrets.insert(name, data);
    }
    Ok(sources)
}
