//! Object-store locations: `s3://bucket[/prefix]` or `file:///absolute/dir`.
//!
//! One parser for every place a location is written by a user or read back from status: the checkpoint store
//! (`state.checkpointStore`), the audit warehouse (`audit.warehouse`), savepoint locations the operator
//! deletes, and the stores the worker and the CLI open. Validation and opening therefore agree on what a
//! location means.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A parsed object-store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUri {
    /// `s3://bucket/prefix`; `prefix` has no leading or trailing `/` and may be empty (the whole bucket).
    S3 { bucket: String, prefix: String },
    /// `file:///dir`: a directory on a local (or mounted) file system.
    File { dir: PathBuf },
}

/// Why a location is not one [`StoreUri`] accepts. The message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUriError {
    #[error("{0:?} has no bucket: use s3://bucket/prefix")]
    NoBucket(String),
    #[error("{0:?} is not an absolute file:// URL: use file:///absolute/dir")]
    RelativeFile(String),
    #[error("{0:?} is neither s3://bucket[/prefix] nor file:///absolute/dir")]
    UnknownScheme(String),
}

impl FromStr for StoreUri {
    type Err = StoreUriError;

    fn from_str(uri: &str) -> Result<StoreUri, StoreUriError> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreUriError::NoBucket(uri.to_string()));
            }
            return Ok(StoreUri::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(dir) = uri.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(StoreUriError::RelativeFile(uri.to_string()));
            }
            return Ok(StoreUri::File { dir: dir.into() });
        }
        Err(StoreUriError::UnknownScheme(uri.to_string()))
    }
}

impl StoreUri {
    /// The S3 bucket and a non-empty key prefix: a location something may be deleted under. `None` for a
    /// file location or a whole bucket, so a bad location can never empty a bucket.
    pub fn s3_prefix(&self) -> Option<(&str, &str)> {
        match self {
            StoreUri::S3 { bucket, prefix } if !prefix.is_empty() => Some((bucket, prefix)),
            _ => None,
        }
    }
}

impl StoreUri {
    /// The URI of `key` inside the store: what the worker's store writes `key` to.
    pub fn uri_of(&self, key: &str) -> String {
        match self {
            StoreUri::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}/{key}"),
            StoreUri::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/{key}"),
            StoreUri::File { dir } => {
                let dir = dir.to_string_lossy();
                format!("file://{}/{key}", dir.trim_end_matches('/'))
            }
        }
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUri::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StoreUri::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            StoreUri::File { dir } => write!(f, "file://{}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{StoreUri, StoreUriError};

    fn parse(s: &str) -> Result<StoreUri, StoreUriError> {
        s.parse()
    }

    #[test]
    fn s3_locations_split_into_bucket_and_trimmed_prefix() {
        let s3 = |bucket: &str, prefix: &str| StoreUri::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        assert_eq!(parse("s3://b"), Ok(s3("b", "")));
        assert_eq!(parse("s3://b/"), Ok(s3("b", "")));
        assert_eq!(parse("s3://b/a/b/"), Ok(s3("b", "a/b")));
        assert_eq!(parse("s3://b//a"), Ok(s3("b", "a")));
        assert_eq!(
            parse("s3://b/a/b").map(|u| u.to_string()),
            Ok("s3://b/a/b".into())
        );
    }

    #[test]
    fn file_locations_must_be_absolute() {
        assert_eq!(
            parse("file:///var/lib/x"),
            Ok(StoreUri::File {
                dir: "/var/lib/x".into()
            })
        );
        assert!(matches!(
            parse("file://x"),
            Err(StoreUriError::RelativeFile(_))
        ));
    }

    #[test]
    fn anything_else_is_refused_with_the_shape_of_a_good_one() {
        for bad in ["s3://", "s3:///a", "bucket/x", "gs://b", ""] {
            let err = parse(bad).expect_err(bad);
            let text = err.to_string();
            assert!(text.contains("s3://bucket"), "{bad}: {text}");
        }
    }

    #[test]
    fn keys_join_the_store_root_once() {
        let uri = |u: &str| parse(u).unwrap().uri_of("j/savepoints/sp-1");
        assert_eq!(uri("s3://ckpt/prod/"), "s3://ckpt/prod/j/savepoints/sp-1");
        assert_eq!(uri("s3://ckpt"), "s3://ckpt/j/savepoints/sp-1");
        assert_eq!(
            uri("file:///var/store/"),
            "file:///var/store/j/savepoints/sp-1"
        );
        assert_eq!(uri("file:///"), "file:///j/savepoints/sp-1");
    }

    #[test]
    fn only_s3_locations_with_a_prefix_may_be_deleted_under() {
        assert_eq!(
            parse("s3://b/sp/1").unwrap().s3_prefix(),
            Some(("b", "sp/1"))
        );
        assert_eq!(parse("s3://b/").unwrap().s3_prefix(), None);
        assert_eq!(parse("file:///x").unwrap().s3_prefix(), None);
    }
}
