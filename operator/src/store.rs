//! Deleting expired savepoints from the checkpoint store. The operator opens the job's own store
//! (`spec.job.state.s3`) through the same `sluice-store` the workers write with, with the credentials of
//! `spec.storage.credentialsSecret` (else the operator's default AWS credential chain, e.g. IRSA).

use sluice_crds::{JobConfig, StoreUri};
use sluice_store::ObjectStore;

use sluice_store::S3Credentials;

/// Deletes every object under the savepoint directory `location`; returns how many were deleted. Only an
/// `s3://bucket/prefix` location with a non-empty prefix is accepted: a bad location never empties a bucket.
pub async fn delete_savepoint(
    job: &JobConfig,
    creds: Option<&S3Credentials>,
    location: &str,
) -> Result<u64, String> {
    let uri = location
        .parse::<StoreUri>()
        .ok()
        .filter(|uri| uri.s3_prefix().is_some())
        .ok_or_else(|| format!("{location:?} is not an s3://bucket/prefix savepoint location"))?;
    let store = ObjectStore::connect(&uri, &job.state.s3, creds).await;
    let objects = store.list("").await.map_err(|e| e.to_string())?;
    let mut deleted = 0u64;
    for object in objects {
        store.delete(&object.key).await.map_err(|e| e.to_string())?;
        deleted += 1;
    }
    Ok(deleted)
}
