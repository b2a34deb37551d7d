//! Deleting expired savepoints from the checkpoint store (S3). The operator talks to S3 directly with the
//! job's own store settings (`spec.job.state.s3`) and credentials (`spec.storage.credentialsSecret`, else the
//! operator's default AWS credential chain, e.g. IRSA); it never links the worker runtime.

use aws_sdk_s3::config::{Credentials, Region};
use sluice_crds::JobConfig;

use crate::validate::CheckpointStore;

/// Static credentials read from the job's Secret.
#[derive(Clone)]
pub struct StoreCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StoreCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Splits `s3://bucket/some/prefix` into bucket and key prefix (without leading or trailing slash).
pub fn parse_s3(location: &str) -> Option<(String, String)> {
    let CheckpointStore::S3 { bucket, prefix } = CheckpointStore::parse(location)? else {
        return None;
    };
    let key = prefix.trim_matches('/');
    if key.is_empty() {
        // Never delete a whole bucket.
        return None;
    }
    Some((bucket, key.to_string()))
}

async fn client(job: &JobConfig, creds: Option<&StoreCredentials>) -> aws_sdk_s3::Client {
    let s3 = &job.state.s3;
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new(s3.region.clone()))
        .force_path_style(s3.path_style);
    if let Some(ep) = &s3.endpoint {
        b = b.endpoint_url(ep);
    }
    match creds {
        Some(c) => {
            b = b.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "streamjob-secret",
            ));
        }
        None => {
            let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            if let Some(p) = shared.credentials_provider() {
                b = b.credentials_provider(p);
            }
        }
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// Deletes every object under the savepoint directory `location`; returns how many were deleted.
pub async fn delete_savepoint(
    job: &JobConfig,
    creds: Option<&StoreCredentials>,
    location: &str,
) -> Result<u64, String> {
    let Some((bucket, prefix)) = parse_s3(location) else {
        return Err(format!(
            "{location:?} is not an s3://bucket/prefix savepoint location"
        ));
    };
    let s3 = client(job, creds).await;
    let mut deleted = 0u64;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(format!("{prefix}/"))
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "listing {location}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            s3.delete_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "deleting s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
            deleted += 1;
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(deleted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_s3;

    #[test]
    fn locations_parse_and_bucket_roots_are_refused() {
        assert_eq!(
            parse_s3("s3://b/store/job/savepoints/sp-1"),
            Some(("b".into(), "store/job/savepoints/sp-1".into()))
        );
        assert_eq!(parse_s3("s3://b/"), None);
        assert_eq!(parse_s3("s3://b"), None);
        assert_eq!(parse_s3("file:///x"), None);
    }
}
