//! `manifest.json`: what the committed outputs were computed from (generator settings, event-time parameters,
//! scoring model). Resuming replays the input by regenerating it and rebuilds state by reprocessing it, so both
//! are only correct if these are unchanged; a resumed run with different settings is refused instead of
//! silently mixing two jobs' outputs in one directory.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_core::model::ScoringModel;
use sluice_core::processor::JobParams;

use super::commit_log::sync_dir;
use super::{LocalError, io_err};
use sluice_generator::GeneratorConfig;

pub const MANIFEST: &str = "manifest.json";

/// Everything that determines the output of a local job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub generator: GeneratorConfig,
    pub params: JobParams,
    pub model: ScoringModel,
}

impl Manifest {
    /// With no commits yet, records `self` as the job of `dir`. With commits, requires the recorded job to
    /// equal `self`, naming the first section that differs.
    pub fn check_or_write(&self, dir: &Path, has_commits: bool) -> Result<(), LocalError> {
        let path = dir.join(MANIFEST);
        if !has_commits {
            let bytes = serde_json::to_vec_pretty(self).map_err(LocalError::Encode)?;
            let tmp = dir.join("manifest.json.tmp");
            let mut f = std::fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
            f.write_all(&bytes).map_err(io_err("writing", &tmp))?;
            f.sync_all().map_err(io_err("syncing", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err("renaming into place", &path))?;
            return sync_dir(dir);
        }
        let changed = |section: &'static str| LocalError::JobChanged {
            path: path.clone(),
            section,
        };
        let recorded: Manifest = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| changed("manifest (missing or unreadable)"))?;
        if recorded.generator != self.generator {
            return Err(changed("generator"));
        }
        if recorded.params != self.params {
            return Err(changed("job.watermark / job.stateTtl"));
        }
        if recorded.model != self.model {
            return Err(changed("job.modelPath (the scoring model)"));
        }
        Ok(())
    }
}
