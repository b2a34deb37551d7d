//! The pod's volumes as files and directories under the pod root: ConfigMap and Secret volumes become their
//! keys' files (all keys, or the listed items), emptyDir volumes an empty directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, KeyToPath, Pod};

use super::paths::under_root;
use super::{Sources, spec_err};
use crate::node_agent::NodeAgentError;

type VolumeLayout = (Vec<(PathBuf, Vec<u8>)>, Vec<PathBuf>);

pub(super) fn volumes(
    pod: &Pod,
    c: &Container,
    sources: &Sources,
    root: &Path,
) -> Result<VolumeLayout, NodeAgentError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let declared = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .map_or(&[][..], Vec::as_slice);
    for mount in c.volume_mounts.iter().flatten() {
        let vol = declared
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| spec_err(format!("volumeMount {} names no volume", mount.name)))?;
        let dir = under_root(root, &mount.mount_path);
        dirs.push(dir.clone());
        let (data, items, optional, what) = if let Some(cm) = &vol.config_map {
            (
                sources.config_maps.get(&cm.name),
                cm.items.as_ref(),
                cm.optional,
                format!("ConfigMap {}", cm.name),
            )
        } else if let Some(s) = &vol.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            (
                sources.secrets.get(&name),
                s.items.as_ref(),
                s.optional,
                format!("Secret {name}"),
            )
        } else if vol.empty_dir.is_some() {
            continue;
        } else {
            return Err(spec_err(format!(
                "volume {} is not a configMap, secret or emptyDir",
                vol.name
            )));
        };
        let Some(data) = data else {
            if optional == Some(true) {
                continue;
            }
            return Err(spec_err(format!("{what} not found")));
        };
        files.extend(volume_files(&dir, data, items, &what)?);
    }
    Ok((files, dirs))
}

fn volume_files(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    what: &str,
) -> Result<Vec<(PathBuf, Vec<u8>)>, NodeAgentError> {
    let Some(items) = items else {
        return Ok(data.iter().map(|(k, v)| (dir.join(k), v.clone())).collect());
    };
    items
        .iter()
        .map(|item| {
            let bytes = data
                .get(&item.key)
                .ok_or_else(|| spec_err(format!("{what} has no key {}", item.key)))?;
            Ok((under_root(dir, &item.path), bytes.clone()))
        })
        .collect()
}
