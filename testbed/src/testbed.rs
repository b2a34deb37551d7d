//! How a test gets its services: the shared ones started by `sluice-testbed serve` (announced through
//! environment variables), or private ones started for this test and stopped when the handle drops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::run_root;
use crate::secured_kafka::SecuredKafka;
use crate::{KafkaBroker, S3Server, TestBedError};

/// Environment variable naming the shared broker's bootstrap address.
pub const ENV_KAFKA: &str = "SLUICE_KAFKA_BOOTSTRAP";
/// Environment variable naming the shared S3 endpoint (`http://127.0.0.1:PORT`).
pub const ENV_S3: &str = "SLUICE_S3_ENDPOINT";
/// Access key and secret of the test S3 server (test-only credentials, never used outside loopback).
pub const S3_ACCESS_KEY: &str = "sluice-test";
pub const S3_SECRET_KEY: &str = "sluice-test-secret";

/// A client for the test S3 server at `endpoint` (path-style, the test credentials).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
            None,
            None,
            "sluice-test",
        ))
        .force_path_style(true)
        .http_client(sluice_store::https_client())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Every object of `bucket` on the test S3 server at `endpoint`, as (key, bytes), listing page by page: what
/// a test inspects to see what the workers wrote.
pub async fn bucket_objects(
    endpoint: &str,
    bucket: &str,
) -> Result<Vec<(String, Vec<u8>)>, TestBedError> {
    let s3 = s3_client(endpoint);
    let failed =
        |what: &str, e: String| TestBedError::Env(format!("{what} in bucket {bucket}: {e}"));
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("listing", format!("{e:?}")))?;
        for o in page.contents() {
            let key = o.key().unwrap_or_default().to_string();
            let got = s3.get_object().bucket(bucket).key(&key).send().await;
            let body = got.map_err(|e| failed(&key, format!("{e:?}")))?.body;
            let bytes = body
                .collect()
                .await
                .map_err(|e| failed(&key, e.to_string()))?;
            out.push((key, bytes.into_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// How many objects, and how many bytes, lie under `prefix` in `bucket` (a listing, nothing is read).
pub async fn bucket_census(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
) -> Result<(u64, u64), TestBedError> {
    let s3 = s3_client(endpoint);
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let (mut objects, mut bytes) = (0u64, 0u64);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            TestBedError::Env(format!("listing {prefix} in bucket {bucket}: {e:?}"))
        })?;
        for o in page.contents() {
            objects += 1;
            bytes += o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        }
    }
    Ok((objects, bytes))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test, test binary or earlier run uses: for topics, buckets, transactional ids, dirs.
/// Only lowercase letters, digits and '-' so it is valid as a Kafka topic and an S3 bucket name.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The services one test uses. Private services (if any) stop when this is dropped.
#[derive(Debug)]
pub struct TestBed {
    kafka_bootstrap: Option<String>,
    /// The same broker's SASL_SSL listener.
    kafka_secured: Option<SecuredKafka>,
    s3_endpoint: Option<String>,
    private_kafka: Option<KafkaBroker>,
    private_s3: Option<S3Server>,
}

impl TestBed {
    /// Kafka from the environment, or a private broker.
    pub fn with_kafka() -> Result<TestBed, TestBedError> {
        let mut bed = TestBed::empty();
        bed.add_kafka()?;
        Ok(bed)
    }

    /// S3 from the environment, or a private server.
    pub fn with_s3() -> Result<TestBed, TestBedError> {
        let mut bed = TestBed::empty();
        bed.add_s3()?;
        Ok(bed)
    }

    /// Both services.
    pub fn with_kafka_and_s3() -> Result<TestBed, TestBedError> {
        let mut bed = TestBed::with_kafka()?;
        bed.add_s3()?;
        Ok(bed)
    }

    /// Private Kafka and S3 even when shared ones are announced: for tests that stop and restart them.
    pub fn private_kafka_and_s3() -> Result<TestBed, TestBedError> {
        let mut bed = TestBed::empty();
        bed.use_private_kafka(KafkaBroker::start(&run_root().join(unique_name("kafka")))?);
        let server = S3Server::start(&run_root().join(unique_name("s3")))?;
        bed.s3_endpoint = Some(server.endpoint());
        bed.private_s3 = Some(server);
        Ok(bed)
    }

    /// The private broker, if this bed started one (it can be stopped and restarted on the same ports).
    pub fn kafka_broker(&mut self) -> Option<&mut KafkaBroker> {
        self.private_kafka.as_mut()
    }

    /// The private S3 server, if this bed started one.
    pub fn s3_server(&mut self) -> Option<&mut S3Server> {
        self.private_s3.as_mut()
    }

    fn empty() -> TestBed {
        TestBed {
            kafka_bootstrap: None,
            kafka_secured: None,
            s3_endpoint: None,
            private_kafka: None,
            private_s3: None,
        }
    }

    fn add_kafka(&mut self) -> Result<(), TestBedError> {
        if let Ok(bootstrap) = std::env::var(ENV_KAFKA) {
            self.kafka_bootstrap = Some(bootstrap);
            self.kafka_secured = SecuredKafka::from_env()?;
            return Ok(());
        }
        self.use_private_kafka(KafkaBroker::start(&run_root().join(unique_name("kafka")))?);
        Ok(())
    }

    fn use_private_kafka(&mut self, broker: KafkaBroker) {
        self.kafka_bootstrap = Some(broker.bootstrap());
        self.kafka_secured = Some(SecuredKafka {
            bootstrap: broker.sasl_ssl_bootstrap(),
            ca_cert: broker.tls().ca_cert,
        });
        self.private_kafka = Some(broker);
    }

    fn add_s3(&mut self) -> Result<(), TestBedError> {
        if let Ok(endpoint) = std::env::var(ENV_S3) {
            self.s3_endpoint = Some(endpoint);
            return Ok(());
        }
        let server = S3Server::start(&run_root().join(unique_name("s3")))?;
        self.s3_endpoint = Some(server.endpoint());
        self.private_s3 = Some(server);
        Ok(())
    }

    /// `bootstrap.servers` of the broker. Empty if this bed has no Kafka.
    pub fn kafka_bootstrap(&self) -> &str {
        self.kafka_bootstrap.as_deref().unwrap_or_default()
    }

    /// The broker's SASL_SSL listener (SCRAM-SHA-512 over TLS), how the end-to-end jobs connect by default.
    pub fn kafka_sasl_ssl(&self) -> Result<&SecuredKafka, TestBedError> {
        self.kafka_secured.as_ref().ok_or_else(|| {
            TestBedError::Env("this test bed has no Kafka broker with a SASL_SSL listener".into())
        })
    }

    /// The S3 endpoint URL. Empty if this bed has no S3.
    pub fn s3_endpoint(&self) -> &str {
        self.s3_endpoint.as_deref().unwrap_or_default()
    }
}
