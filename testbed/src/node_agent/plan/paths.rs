//! Paths: every volume is materialised under the pod's own directory, `$SLUICE_POD_ROOT`, at
//! `$SLUICE_POD_ROOT/<mountPath>`. So that unmodified programs find their files, any command word, argument or
//! literal env value that contains a mountPath (at the start or after `=`, `:`, `,` or a space; followed by the
//! end, `/`, `:`, `,` or a space) gets `$SLUICE_POD_ROOT` put in front of it: `--config=/etc/sluice/job.yaml` becomes
//! `--config=<pod root>/etc/sluice/job.yaml`.

use std::path::{Path, PathBuf};

/// `root` + an absolute or relative in-container path (never escaping `root` through `..`).
pub(super) fn under_root(root: &Path, path: &str) -> PathBuf {
    let mut out = root.to_path_buf();
    for part in path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
    {
        out.push(part);
    }
    out
}

/// Prefixes every mountPath occurrence in `value` (see the module docs for the boundaries) with `root`.
pub fn rewrite_paths(value: &str, mounts: &[String], root: &Path) -> String {
    let root = root.display().to_string();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    'scan: while i < value.len() {
        let at_boundary = i == 0
            || value[..i]
                .chars()
                .next_back()
                .is_some_and(|c| matches!(c, '=' | ':' | ',' | ' '));
        if at_boundary {
            for m in mounts {
                let m = m.trim_end_matches('/');
                if m.is_empty() || !value[i..].starts_with(m) {
                    continue;
                }
                let after = &value[i + m.len()..];
                if after.is_empty() || after.starts_with(['/', ',', ':', ' ']) {
                    out.push_str(&root);
                    out.push_str(m);
                    i += m.len();
                    continue 'scan;
                }
            }
        }
        let Some(ch) = value[i..].chars().next() else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}
