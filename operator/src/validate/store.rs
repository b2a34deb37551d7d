//! `spec.job.state.checkpointStore` parsed: which bucket and prefix (or directory) the workers write their
//! checkpoints and savepoints to. Accepts exactly what `JobConfig::validate` accepts, and reads the URI the
//! way the worker's store does (`s3://bucket[/prefix]`, `file:///dir`), so a location the operator derives
//! is the one the workers wrote.

/// Where a job's snapshots live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointStore {
    S3 {
        bucket: String,
        /// Key prefix without a trailing `/`; empty for the bucket's root.
        prefix: String,
    },
    File {
        /// Absolute directory.
        dir: String,
    },
}

impl CheckpointStore {
    /// Parses a store URI; `None` when it is neither `s3://bucket[/prefix]` nor `file:///absolute/dir`.
    pub fn parse(uri: &str) -> Option<CheckpointStore> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            if rest.is_empty() || rest.starts_with('/') {
                return None;
            }
            let (bucket, prefix) = match rest.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_end_matches('/')),
                None => (rest, ""),
            };
            return Some(CheckpointStore::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        let dir = uri.strip_prefix("file://")?;
        dir.starts_with('/').then(|| CheckpointStore::File {
            dir: dir.to_string(),
        })
    }

    /// The URI of `key` inside the store.
    pub fn uri_of(&self, key: &str) -> String {
        match self {
            CheckpointStore::S3 { bucket, prefix } if prefix.is_empty() => {
                format!("s3://{bucket}/{key}")
            }
            CheckpointStore::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/{key}"),
            CheckpointStore::File { dir } => {
                format!("file://{}/{key}", dir.trim_end_matches('/'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CheckpointStore;

    #[test]
    fn bucket_and_prefix_are_read_as_the_worker_reads_them() {
        let s3 = |bucket: &str, prefix: &str| {
            Some(CheckpointStore::S3 {
                bucket: bucket.into(),
                prefix: prefix.into(),
            })
        };
        assert_eq!(CheckpointStore::parse("s3://ckpt/prod"), s3("ckpt", "prod"));
        assert_eq!(CheckpointStore::parse("s3://ckpt/a/b/"), s3("ckpt", "a/b"));
        assert_eq!(CheckpointStore::parse("s3://ckpt"), s3("ckpt", ""));
        assert_eq!(
            CheckpointStore::parse("file:///var/store"),
            Some(CheckpointStore::File {
                dir: "/var/store".into()
            })
        );
        let uri = |u: &str| CheckpointStore::parse(u).map(|s| s.uri_of("j/savepoints/sp-1"));
        assert_eq!(
            uri("s3://ckpt/prod/").as_deref(),
            Some("s3://ckpt/prod/j/savepoints/sp-1")
        );
        assert_eq!(
            uri("s3://ckpt").as_deref(),
            Some("s3://ckpt/j/savepoints/sp-1")
        );
        assert_eq!(
            uri("file:///var/store/").as_deref(),
            Some("file:///var/store/j/savepoints/sp-1")
        );
    }

    /// The operator refuses no store the job config's own validation accepts, and accepts none it refuses.
    #[test]
    fn accepts_exactly_what_the_job_config_accepts() {
        let mut job: sluice_crds::JobConfig =
            serde_yaml::from_str("transactionalIdPrefix: t\n").unwrap();
        for uri in [
            "s3://bucket",
            "s3://bucket/",
            "s3://bucket/a/b",
            "s3://b//x",
            "file:///tmp/x",
            "file:///",
            "s3://",
            "s3:///bucket",
            "bucket/x",
            "file://relative",
            "gs://b",
            "",
        ] {
            job.state.checkpoint_store = Some(uri.into());
            let refused = job
                .validate()
                .iter()
                .any(|e| e.field == "state.checkpointStore");
            assert_eq!(CheckpointStore::parse(uri).is_none(), refused, "{uri:?}");
        }
    }
}
