//! The process's command line: `command[0]` (or the binary the image maps to) and the arguments, with
//! mount paths rewritten (see [`super::paths`]); and the kubelet's `$(VAR)` expansion applied to both.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::paths::rewrite_paths;
use super::{ImageMapping, PlanContext, spec_err};
use crate::node_agent::NodeAgentError;

/// The program and its arguments, mount paths rewritten and `$(VAR)` not yet expanded. Without a command
/// the image's mapped binary runs; an unmapped image is an error.
pub(super) fn command_line(
    c: &Container,
    image: &str,
    mounts: &[String],
    ctx: &PlanContext<'_>,
) -> Result<(PathBuf, Vec<String>), NodeAgentError> {
    let rewrite = |s: &str| rewrite_paths(s, mounts, ctx.pod_root);
    let command = c.command.clone().unwrap_or_default();
    let mapped = ctx
        .images
        .iter()
        .find(|m| image.contains(&m.image_contains));
    let (program, mut args) = match command.split_first() {
        Some((first, rest)) => (
            program_for(first, ctx.images),
            rest.iter().map(|a| rewrite(a)).collect::<Vec<_>>(),
        ),
        None => match mapped {
            Some(m) => (m.binary.clone(), Vec::new()),
            None => {
                return Err(spec_err(format!(
                    "container {} has no command and image {image:?} maps to no local binary",
                    c.name
                )));
            }
        },
    };
    args.extend(c.args.iter().flatten().map(|a| rewrite(a)));
    Ok((program, args))
}

/// Replaces `$(NAME)` with the value of env var NAME when it is defined; `$$(NAME)` is a literal `$(NAME)`.
pub fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let name = tail
            .strip_prefix("$(")
            .and_then(|t| t.find(')').map(|end| &t[..end]));
        match name.and_then(|n| env.iter().rev().find(|(k, _)| k == n).map(|(_, v)| (n, v))) {
            Some((n, value)) => {
                out.push_str(value);
                rest = &tail[n.len() + 3..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `command[0]`: a mapped image binary when its file name matches, else the word itself (found on PATH).
fn program_for(word: &str, images: &[ImageMapping]) -> PathBuf {
    let base = Path::new(word).file_name();
    images
        .iter()
        .find(|m| base.is_some() && m.binary.file_name() == base)
        .map_or_else(|| PathBuf::from(word), |m| m.binary.clone())
}
