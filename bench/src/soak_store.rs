//! The soak's look at the checkpoint store: how many objects and bytes lie under the job's prefix. Incremental
//! checkpoints share files and garbage collection removes the unreferenced ones, so with a steady state this
//! levels off; a count that only grows would mean checkpoints that get slower as they reference more files.

use sluice_testbed::TestBedError;
use sluice_testbed::testbed::{bucket_census, s3_client};

use super::soak::soak_err;

pub(super) struct StoreCensus {
    runtime: tokio::runtime::Runtime,
    endpoint: String,
    bucket: String,
    prefix: String,
}

impl StoreCensus {
    pub fn new(endpoint: &str, bucket: &str, prefix: &str) -> Result<StoreCensus, TestBedError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(TestBedError::io("starting a runtime"))?;
        Ok(StoreCensus {
            runtime,
            endpoint: endpoint.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    pub fn create_bucket(&self) -> Result<(), TestBedError> {
        let client = s3_client(&self.endpoint);
        self.runtime
            .block_on(client.create_bucket().bucket(&self.bucket).send())
            .map(|_| ())
            .map_err(|e| soak_err(format_args!("creating bucket {}: {e}", self.bucket)))
    }

    /// Objects and bytes under the prefix; None when the listing fails (the sample then lacks the figure).
    pub fn count(&self) -> Option<(u64, u64)> {
        self.runtime
            .block_on(bucket_census(&self.endpoint, &self.bucket, &self.prefix))
            .ok()
    }
}
