//! Exactly-once under crashes, against a real Kafka broker: two `sluice-worker` processes are SIGKILLed at
//! random moments and aborted at every crash_point, over and over; afterwards a read_committed reader and the
//! independent oracle must agree that every authorization has exactly one decision, nothing is lost, and the
//! DLQ holds exactly the malformed inputs. The workers reach the broker over SASL_SSL (SCRAM-SHA-512), as
//! every end-to-end job does by default; the test's producer and reader use the plaintext listener.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_crds::JobConfig;
use sluice_generator::GeneratorConfig;
use sluice_testbed::binaries::{binary, terminate};
use sluice_testbed::kafka_admin::{create_job_topics, group_lag, job_topics};
use sluice_testbed::process::ManagedProcess;
use sluice_testbed::rng::Lcg;
use sluice_testbed::secured_kafka::WorkerKafkaAccess;
use sluice_testbed::{TestBed, unique_name};
use sluice_worker::crash_points;

const PARTITIONS: i32 = 4;

struct Job {
    dir: PathBuf,
    /// The plaintext listener: topic set-up, lag, the test's producer and reader.
    bootstrap: String,
    /// How the workers connect: the secured listener.
    access: WorkerKafkaAccess,
    job: JobConfig,
}

impl Job {
    fn new(bed: &TestBed, dir: &Path) -> Job {
        let bootstrap = bed.kafka_bootstrap();
        let access = bed.kafka_sasl_ssl().unwrap().worker_access(dir).unwrap();
        let prefix = unique_name("eos");
        let topics = job_topics(&prefix);
        create_job_topics(bootstrap, &topics, PARTITIONS).unwrap();
        let yaml = format!(
            "transactionalIdPrefix: {prefix}\ncommitInterval: 100ms\ncommitMaxRecords: 300\nstate:\n  checkpointInterval: 700ms\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n"
        );
        let mut job: JobConfig = serde_norway::from_str(&yaml).unwrap();
        job.topics = topics;
        Job {
            dir: dir.to_path_buf(),
            bootstrap: bootstrap.to_string(),
            access,
            job,
        }
    }

    /// Writes the config of worker `w` (owning `partitions`) and returns its path.
    fn worker_config(&self, w: usize, partitions: &[i32]) -> PathBuf {
        self.worker_config_with(w, &format!("p2-w{w}"), partitions, &[])
    }

    /// A worker config with an explicit identity and transactional ids to fence first.
    fn worker_config_with(
        &self,
        w: usize,
        identity: &str,
        partitions: &[i32],
        fence: &[String],
    ) -> PathBuf {
        let mut job = self.job.clone();
        job.state.dir = self.dir.join(format!("state-w{w}")).display().to_string();
        job.kafka = Some(self.access.kafka.clone());
        let cfg = serde_json::json!({
            "job": job,
            "worker": { "identity": identity, "partitions": partitions, "fenceTransactionalIds": fence },
        });
        let path = self.dir.join(format!("worker-{w}.yaml"));
        std::fs::write(&path, serde_norway::to_string(&cfg).unwrap()).unwrap();
        path
    }

    fn start_worker(&self, w: usize, config: &Path, crash_point: Option<String>) -> ManagedProcess {
        let mut cmd = Command::new(binary("sluice-worker").unwrap());
        // Several workers share this host: let each bind free loopback ports for its control API and metrics.
        // The shared test bed's SLUICE_KAFKA_BOOTSTRAP (plaintext) would override the config's secured listener.
        cmd.env_remove("SLUICE_KAFKA_BOOTSTRAP");
        cmd.arg(config)
            .env("RUST_LOG", "info")
            .env("SLUICE_CONTROL_ADDR", "127.0.0.1:0")
            .env("SLUICE_METRICS_ADDR", "127.0.0.1:0")
            .envs(self.access.env.iter().map(|(k, v)| (k, v)));
        if let Some(fp) = crash_point {
            cmd.env(sluice_crds::crash_point::ENV, fp);
        }
        ManagedProcess::spawn(
            "sluice-worker",
            cmd,
            &self.dir.join(format!("worker-{w}.log")),
        )
        .unwrap()
    }

    /// Lets `procs` run until the input is fully committed (within `timeout`), then stops them with SIGTERM
    /// and requires a clean exit.
    fn run_to_end(&self, mut procs: Vec<ManagedProcess>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.lag() > 0 {
            assert!(
                Instant::now() < deadline,
                "workers did not catch up; logs in {}",
                self.dir.display()
            );
            for p in &mut procs {
                assert!(p.try_exit().is_none(), "worker died: {}", p.log_tail(30));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        for p in &procs {
            terminate(p.pid());
        }
        for p in &mut procs {
            let status = p
                .wait_exit(Duration::from_secs(30))
                .expect("worker did not stop on SIGTERM");
            assert!(
                status.success(),
                "worker exited with {status}: {}",
                p.log_tail(30)
            );
        }
    }

    /// `sluice verify` over the job's committed output.
    fn verify(&self) -> sluice_cli::verify::VerifyReport {
        sluice_cli::verify::verify(&self.bootstrap, &self.job).unwrap()
    }

    fn lag(&self) -> i64 {
        let t = &self.job.topics;
        group_lag(
            &self.bootstrap,
            &self.job.transactional_id_prefix,
            &[&t.authorizations, &t.device_telemetry, &t.account_changes],
            PARTITIONS,
        )
        .unwrap()
    }
}

#[test]
fn sigkill_and_crash_points_lose_and_duplicate_nothing() {
    let bed = TestBed::with_kafka().unwrap();
    let tmp = tempfile_dir();
    let job = Job::new(&bed, &tmp);
    let generator = GeneratorConfig {
        seed: 7,
        cards: 1_500,
        partitions: PARTITIONS as u32,
        authorizations: 12_000,
        events_per_second: 400,
        malformed_per_mille: 6,
        ..GeneratorConfig::default()
    };
    // The input arrives while the workers are being killed (paced to outlast the crash rounds), so every
    // restart has fresh records committed since its last checkpoint — which is what `during_replay` needs.
    let producer = {
        let bootstrap = bed.kafka_bootstrap().to_string();
        let topics = job.job.topics.clone();
        std::thread::spawn(move || {
            sluice_cli::produce::produce(&bootstrap, &topics, generator, 110, |_| {}).unwrap()
        })
    };

    let configs = [job.worker_config(0, &[0, 1]), job.worker_config(1, &[2, 3])];
    let seed = std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125);
    let mut rng = Lcg(seed);
    let mut kills = 0u32;
    let mut crash_point_aborts = 0u32;
    let started = Instant::now();
    // Rounds: both workers run; one (or both) die by SIGKILL after a random delay, or by an armed crash_point.
    let mut round = 0u64;
    // Whether each worker's last exit was a crash (SIGKILL or crash_point abort) rather than a clean stop.
    let mut unclean = [true, true];
    while kills + crash_point_aborts < 60 && started.elapsed() < Duration::from_secs(240) {
        round += 1;
        let use_crash_point = round.is_multiple_of(3);
        let fp = use_crash_point.then(|| {
            let name = crash_points::PROCESSING
                [(round / 3 % crash_points::PROCESSING.len() as u64) as usize];
            // Replay happens only for the records committed after the last checkpoint, which can be few: arm
            // `during_replay` at its first hit so each of its rounds surely reaches it.
            let n = if name == "during_replay" {
                1
            } else {
                1 + rng.below(5)
            };
            format!("{name}:{n}")
        });
        let mut victim = rng.below(2) as usize;
        if fp
            .as_deref()
            .is_some_and(|f| f.starts_with("during_replay"))
            && !unclean[victim]
        {
            // Only a worker that died uncleanly has committed transactions to replay.
            victim = 1 - victim;
        }
        let mut procs: Vec<ManagedProcess> = (0..2)
            .map(|w| job.start_worker(w, &configs[w], if w == victim { fp.clone() } else { None }))
            .collect();
        let delay = Duration::from_millis(300 + rng.below(1700));
        if use_crash_point {
            match procs[victim].wait_exit(delay + Duration::from_secs(3)) {
                Some(status) if ManagedProcess::is_crash_point_abort(status) => {
                    crash_point_aborts += 1
                }
                Some(status) => panic!(
                    "worker {victim} exited with {status}, not the crash point's abort: {}",
                    procs[victim].log_tail(40)
                ),
                // Not reached yet: killed instead. The point may still be reached between the wait and the
                // signal; that abort counts as the point's, any other exit fails the test.
                None => match procs[victim].kill_live() {
                    Ok(()) => kills += 1,
                    Err(_)
                        if procs[victim]
                            .try_exit()
                            .is_some_and(ManagedProcess::is_crash_point_abort) =>
                    {
                        crash_point_aborts += 1
                    }
                    Err(e) => panic!("{e}"),
                },
            }
        } else {
            std::thread::sleep(delay);
            procs[victim].kill_live().unwrap();
            kills += 1;
        }
        unclean[victim] = true;
        // Sometimes kill the other worker too, so both recover concurrently.
        if rng.below(3) == 0 {
            procs[1 - victim].kill_live().unwrap();
            kills += 1;
            unclean[1 - victim] = true;
        } else {
            let other = &mut procs[1 - victim];
            assert!(
                other.try_exit().is_none(),
                "worker died: {}",
                other.log_tail(40)
            );
            terminate(other.pid());
            let status = other.wait_exit(Duration::from_secs(30));
            assert!(
                status.is_some_and(|s| s.success()),
                "worker {} did not stop cleanly on SIGTERM ({status:?}): {}",
                1 - victim,
                other.log_tail(40)
            );
            unclean[1 - victim] = false;
        }
        drop(procs);
    }
    eprintln!("crash rounds: {round}, SIGKILLs: {kills}, crash_point aborts: {crash_point_aborts}");
    // Every crash point must really have been reached at least once (the worker logs it before aborting).
    let logs: String = (0..2)
        .map(|w| std::fs::read_to_string(tmp.join(format!("worker-{w}.log"))).unwrap_or_default())
        .collect();
    for name in crash_points::PROCESSING {
        assert!(
            logs.contains(&format!("crash point {name} reached")),
            "crash point {name} was never hit; logs in {}",
            tmp.display()
        );
    }
    assert!(
        kills + crash_point_aborts >= 50,
        "only {kills} kills and {crash_point_aborts} aborts"
    );

    let produced = producer.join().unwrap();
    assert!(produced.records > 12_000);

    // Finally let both run to the end of the input and stop cleanly.
    let procs: Vec<ManagedProcess> = (0..2)
        .map(|w| job.start_worker(w, &configs[w], None))
        .collect();
    job.run_to_end(procs, Duration::from_secs(180));

    let report = job.verify();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.unprocessed_records, 0);
    assert_eq!(report.input_records, produced.records);
    assert!(
        report.expected_decisions > 11_000,
        "{}",
        report.expected_decisions
    );
    assert!(report.ok(), "exactly-once violated: {report:#?}");
    assert_eq!(report.actual_decisions, report.expected_decisions);
    assert!(
        report.expected_dlq > 0,
        "the generator should have produced malformed records"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Rescale 1 → 2 workers after the single worker died with a transaction open: the new workers fence the old
/// transactional id (otherwise its open transaction would block read_committed readers until it times out),
/// rebuild the moved partitions' state from the progress log, and the output is still exactly-once.
/// (Checked to fail when the fencing list is left empty.)
#[test]
fn rescale_fences_the_old_assignment_and_keeps_exactly_once() {
    let bed = TestBed::with_kafka().unwrap();
    let tmp = tempfile_dir();
    let job = Job::new(&bed, &tmp);
    let generator = GeneratorConfig {
        seed: 11,
        cards: 800,
        partitions: PARTITIONS as u32,
        authorizations: 6_000,
        events_per_second: 400,
        ..GeneratorConfig::default()
    };
    sluice_cli::produce::produce(bed.kafka_bootstrap(), &job.job.topics, generator, 0, |_| {})
        .unwrap();

    // Parallelism 1: one worker owns every partition; it dies (abort at a crash_point) with a transaction open.
    let single = job.worker_config_with(9, "p1-w0", &[0, 1, 2, 3], &[]);
    let mut p = job.start_worker(9, &single, Some("after_produce_before_commit:8".into()));
    assert!(
        p.wait_exit(Duration::from_secs(60)).is_some(),
        "the single worker should have aborted"
    );
    assert!(job.lag() > 0, "the single worker should not have finished");

    // Parallelism 2, with the old id fenced.
    let old = vec![format!("{}-p1-w0", job.job.transactional_id_prefix)];
    let configs = [
        job.worker_config_with(0, "p2-w0", &[0, 1], &old),
        job.worker_config_with(1, "p2-w1", &[2, 3], &old),
    ];
    let procs: Vec<ManagedProcess> = (0..2)
        .map(|w| job.start_worker(w, &configs[w], None))
        .collect();
    job.run_to_end(procs, Duration::from_secs(120));
    let report = job.verify();
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.expected_decisions > 5_000, "{report:#?}");
    assert!(
        report.ok(),
        "exactly-once violated across the rescale: {report:#?}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Input written by producers with each compression codec Kafka offers — gzip, snappy, lz4 and zstd, in turn
/// per chunk of records — is read: one worker processes all of it, exactly once.
#[test]
fn input_in_every_compression_codec_is_read() {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let bed = TestBed::with_kafka().unwrap();
    let tmp = tempfile_dir();
    let job = Job::new(&bed, &tmp);
    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    let producers: Vec<ThreadedProducer<DefaultProducerContext>> = codecs
        .iter()
        .map(|codec| {
            ClientConfig::new()
                .set("bootstrap.servers", bed.kafka_bootstrap())
                .set("enable.idempotence", "true")
                .set("compression.type", *codec)
                .create()
                .unwrap()
        })
        .collect();
    let generator = GeneratorConfig {
        seed: 21,
        cards: 400,
        partitions: PARTITIONS as u32,
        authorizations: 2_000,
        events_per_second: 400,
        ..GeneratorConfig::default()
    };
    let records: Vec<_> = sluice_generator::Generator::new(generator).collect();
    // Chunks in order, each flushed before the next codec's, so every partition keeps the generator's order.
    for (i, chunk) in records.chunks(250).enumerate() {
        let producer = &producers[i % codecs.len()];
        for rec in chunk {
            let topic = sluice_worker::kafka::clients::input_topic(&job.job.topics, rec.topic);
            let record = BaseRecord::to(topic)
                .partition(rec.partition)
                .key(&rec.key[..])
                .payload(&rec.value[..]);
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }
    assert!(
        records.len() > 2 * 250 * codecs.len(),
        "every codec wrote at least two chunks"
    );

    let config = job.worker_config(0, &[0, 1, 2, 3]);
    let worker = job.start_worker(0, &config, None);
    job.run_to_end(vec![worker], Duration::from_secs(120));
    let report = job.verify();
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert_eq!(report.input_records, records.len() as u64, "{report:#?}");
    assert!(report.ok(), "{report:#?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Records no producer limit can copy whole: a 900 kB value, a valid-looking event padded past the 64 KiB
/// input limit and a 70 kB key. Each goes to the DLQ cut to 64 KiB with its length and SHA-256
/// (docs/semantics.md §2, §8), the job runs on, and the independent oracle agrees field by field.
#[test]
fn oversized_input_goes_to_the_dlq_cut_and_the_job_runs_on() {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let bed = TestBed::with_kafka().unwrap();
    let tmp = tempfile_dir();
    let job = Job::new(&bed, &tmp);
    let generator = GeneratorConfig {
        seed: 22,
        cards: 200,
        partitions: PARTITIONS as u32,
        authorizations: 1_000,
        events_per_second: 400,
        ..GeneratorConfig::default()
    };
    let summary =
        sluice_cli::produce::produce(bed.kafka_bootstrap(), &job.job.topics, generator, 0, |_| {})
            .unwrap();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bed.kafka_bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let t = &job.job.topics;
    let telemetry = format!(
        "{{\"card_id\":\"c1\",\"device_id\":\"d1\",\"trusted\":true,\"event_time_ms\":1{}}}",
        " ".repeat(70_000)
    );
    let huge_key = vec![b'k'; 70_000];
    let oversized: [(&str, i32, &[u8], Vec<u8>); 3] = [
        (&t.authorizations, 0, b"card-x", vec![b'A'; 900_000]),
        (&t.device_telemetry, 1, b"c1", telemetry.into_bytes()),
        (&t.account_changes, 2, &huge_key, b"{}".to_vec()),
    ];
    for (topic, partition, key, value) in &oversized {
        let record = BaseRecord::to(topic)
            .partition(*partition)
            .key(*key)
            .payload(value);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let config = job.worker_config(0, &[0, 1, 2, 3]);
    let worker = job.start_worker(0, &config, None);
    job.run_to_end(vec![worker], Duration::from_secs(120));
    let report = job.verify();
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert_eq!(report.input_records, summary.records + 3, "{report:#?}");
    assert!(report.expected_dlq >= 3, "{report:#?}");
    assert!(report.ok(), "{report:#?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

fn tempfile_dir() -> PathBuf {
    let dir = sluice_testbed::cache::run_root().join(unique_name("eos-test"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
