//! Topic administration for tests: create a job's topics with explicit partition counts and unique names.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use sluice_crds::job_config::TopicsConfig;

use crate::TestBedError;

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, TestBedError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| TestBedError::Env(format!("admin client: {e}")))
}

/// Creates `topics` with `partitions` partitions each (replication 1).
pub fn create_topics(
    bootstrap: &str,
    topics: &[&str],
    partitions: i32,
) -> Result<(), TestBedError> {
    let admin = admin(bootstrap)?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TestBedError::io("starting a runtime"))?;
    let results = rt
        .block_on(admin.create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .map_err(|e| TestBedError::Env(format!("create_topics: {e}")))?;
    for r in results {
        r.map_err(|(t, code)| TestBedError::Env(format!("creating topic {t}: {code}")))?;
    }
    Ok(())
}

/// Unique topic names for one job (`<prefix>-authorizations`, …).
pub fn job_topics(prefix: &str) -> TopicsConfig {
    TopicsConfig {
        authorizations: format!("{prefix}-authorizations"),
        device_telemetry: format!("{prefix}-device-telemetry"),
        account_changes: format!("{prefix}-account-changes"),
        decisions: format!("{prefix}-decisions"),
        alerts: format!("{prefix}-alerts"),
        dlq: format!("{prefix}-dlq"),
        late: format!("{prefix}-late"),
    }
}

/// Creates all seven topics of a job, every one with `partitions` partitions.
pub fn create_job_topics(
    bootstrap: &str,
    t: &TopicsConfig,
    partitions: i32,
) -> Result<(), TestBedError> {
    create_topics(
        bootstrap,
        &[
            &t.authorizations,
            &t.device_telemetry,
            &t.account_changes,
            &t.decisions,
            &t.alerts,
            &t.dlq,
            &t.late,
        ],
        partitions,
    )
}

/// Total records the group `group` has not yet committed past, over `topics` × `0..partitions` (the lag).
/// Retries transient broker errors (e.g. NotCoordinator while a fresh broker creates its offsets topic).
pub fn group_lag(
    bootstrap: &str,
    group: &str,
    topics: &[&str],
    partitions: i32,
) -> Result<i64, TestBedError> {
    let mut attempt = 0;
    loop {
        match group_lag_once(bootstrap, group, topics, partitions) {
            Ok(lag) => return Ok(lag),
            Err(e) if attempt >= 150 => return Err(e),
            Err(_) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn group_lag_once(
    bootstrap: &str,
    group: &str,
    topics: &[&str],
    partitions: i32,
) -> Result<i64, TestBedError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .map_err(|e| TestBedError::Env(format!("lag consumer: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..partitions {
            tpl.add_partition(t, p);
        }
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(30))
        .map_err(|e| TestBedError::Env(format!("committed offsets: {e}")))?;
    let mut lag = 0;
    for t in topics {
        for p in 0..partitions {
            let (_, high) = consumer
                .fetch_watermarks(t, p, Duration::from_secs(30))
                .map_err(|e| TestBedError::Env(format!("watermarks: {e}")))?;
            let done = match committed.find_partition(t, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            };
            lag += (high - done).max(0);
        }
    }
    Ok(lag)
}
