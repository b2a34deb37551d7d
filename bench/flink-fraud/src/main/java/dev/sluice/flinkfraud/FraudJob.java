package dev.sluice.flinkfraud;

import dev.sluice.flinkfraud.logic.Output;
import dev.sluice.flinkfraud.logic.RawRecord;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point: the fraud job on a local mini cluster.
 *
 * <pre>
 * java -jar flink-fraud.jar --bootstrap 127.0.0.1:9092 --transactional-id-prefix bench-flink \
 *   [--parallelism 4] [--checkpoint-interval-ms 30000] [--checkpoint-dir /tmp/ckpt] [--bounded]
 *   [--authorizations authorizations] [--device-telemetry device-telemetry] [--account-changes account-changes]
 *   [--decisions decisions] [--alerts alerts] [--dlq dlq] [--late late] [--group-id ID]
 *   [--out-of-orderness-ms 5000] [--allowed-lateness-ms 2000] [--state-ttl-ms 3888000000]
 *   [--alignment-drift-ms 10000] [--idle-timeout-ms 5000] [--hold] [--restore-from CHECKPOINT_DIR]
 * </pre>
 *
 * {@code --idle-timeout-ms} (unbounded runs only; 0 turns it off): an input split (one partition of one topic)
 * that has delivered no record for this long is marked idle and stops holding back the job's watermark, which
 * is otherwise the minimum over all splits. Without it, one partition that goes quiet (in the benchmark's
 * quick runs the account-changes partitions stop once every card's account record has been produced) freezes
 * the watermark at its last event time minus the out-of-orderness, and every later event stays buffered in
 * {@link FraudFunction} forever. This is Sluice's rule too: a topic partition that is caught up does not hold
 * the merge back. A bounded run needs no timeout: a split that reaches its end offset is finished and no
 * longer counts.
 *
 * {@code --bounded} reads each input up to its end offsets at start, then finishes (the end-of-input
 * watermark releases every buffered event; the final checkpoint commits the last transaction).
 *
 * {@code --restore-from} starts the job from a retained checkpoint ({@code <checkpoint-dir>/<job id>/chk-N},
 * the directory holding {@code _metadata}) — what a mini cluster needs after its JVM was killed, since it has
 * no high-availability store to find the checkpoint itself. Offsets, keyed state and the sink's pending
 * transactions come from the checkpoint; the sink aborts the killed run's open transactions on start.
 */
public final class FraudJob {
    private static final Logger LOG = LoggerFactory.getLogger(FraudJob.class);

    private FraudJob() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = parseArgs(argv);
        String bootstrap = required(a, "bootstrap");
        String txnPrefix = required(a, "transactional-id-prefix");
        int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "4"));
        long checkpointMs = Long.parseLong(a.getOrDefault("checkpoint-interval-ms", "30000"));
        String checkpointDir = a.getOrDefault("checkpoint-dir", "/tmp/flink-fraud-checkpoints/" + txnPrefix);
        boolean bounded = a.containsKey("bounded");
        List<String> inputs = List.of(
                a.getOrDefault("authorizations", "authorizations"),
                a.getOrDefault("device-telemetry", "device-telemetry"),
                a.getOrDefault("account-changes", "account-changes"));
        String[] outputs = {
            a.getOrDefault("decisions", "decisions"),
            a.getOrDefault("alerts", "alerts"),
            a.getOrDefault("dlq", "dlq"),
            a.getOrDefault("late", "late"),
        };
        long outOfOrderness = Long.parseLong(a.getOrDefault("out-of-orderness-ms", "5000"));
        long lateness = Long.parseLong(a.getOrDefault("allowed-lateness-ms", "2000"));
        long ttl = Long.parseLong(a.getOrDefault("state-ttl-ms", String.valueOf(45L * 86_400_000L)));
        long drift = Long.parseLong(a.getOrDefault("alignment-drift-ms", "10000"));
        long idleTimeout = Long.parseLong(a.getOrDefault("idle-timeout-ms", "5000"));

        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        conf.setString("execution.checkpointing.incremental", "true");
        conf.setString("execution.checkpointing.dir", "file://" + checkpointDir);
        conf.setString("execution.checkpointing.interval", checkpointMs + " ms");
        conf.setString("execution.checkpointing.mode", "EXACTLY_ONCE");
        conf.setString("taskmanager.memory.managed.size", a.getOrDefault("managed-memory", "256m"));
        // Keep completed checkpoints when the job is cancelled (a kill -9 leaves them anyway), so a
        // restarted JVM can resume from one.
        conf.setString("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        String restoreFrom = a.get("restore-from");
        if (restoreFrom != null) {
            // Read by the stream graph generator of this environment (StateRecoveryOptions.SAVEPOINT_PATH).
            conf.setString("execution.state-recovery.path", restoreFrom);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
        env.enableCheckpointing(checkpointMs, CheckpointingMode.EXACTLY_ONCE);

        var source = KafkaSource.<RawRecord>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(inputs)
                .setGroupId(a.getOrDefault("group-id", txnPrefix))
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new KafkaIo.RawDeserializer(inputs))
                .setProperty("isolation.level", "read_committed")
                .setProperty("commit.offsets.on.checkpoint", "true");
        if (bounded) {
            source.setBounded(OffsetsInitializer.latest());
        }
        WatermarkStrategy<RawRecord> watermarks = WatermarkStrategy
                .<RawRecord>forGenerator(ctx -> new KafkaIo.PeekWatermarks(outOfOrderness))
                .withTimestampAssigner((r, ts) -> r.peekedTimeMs == Long.MIN_VALUE ? ts : r.peekedTimeMs);
        if (!bounded && idleTimeout > 0) {
            watermarks = watermarks.withIdleness(Duration.ofMillis(idleTimeout));
        }
        watermarks = watermarks
                .withWatermarkAlignment("fraud-inputs", Duration.ofMillis(drift), Duration.ofMillis(200));

        Properties producer = new Properties();
        // Must exceed the checkpoint interval plus recovery; the broker caps it at transaction.max.timeout.ms.
        producer.setProperty("transaction.timeout.ms", "600000");
        producer.setProperty("linger.ms", "2");
        producer.setProperty("compression.type", "lz4");
        KafkaSink<Output> sink = KafkaSink.<Output>builder()
                .setBootstrapServers(bootstrap)
                .setRecordSerializer(new KafkaIo.OutputSerializer(outputs))
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(txnPrefix)
                .setKafkaProducerConfig(producer)
                .build();

        // Fixed operator ids: a restore maps checkpointed state to operators by these ids.
        env.fromSource(source.build(), watermarks, "inputs")
                .uid("inputs")
                .keyBy(r -> r.cardKey)
                .process(new FraudFunction(lateness, ttl))
                .uid("fraud")
                .name("fraud")
                .sinkTo(sink)
                .uid("outputs")
                .name("outputs");
        LOG.info("flink-fraud: parallelism {}, checkpoint every {} ms, bounded {}, idle timeout {} ms, restore from {}",
                parallelism, checkpointMs, bounded, bounded ? 0 : idleTimeout, restoreFrom);
        env.execute("sluice-fraud-peer");
        // The benchmark harness waits for this line; --hold keeps the JVM (and its /proc stats) alive
        // until the harness has sampled CPU and peak RSS and stops it.
        LOG.info("flink-fraud: job finished");
        if (a.containsKey("hold")) {
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String arg = argv[i];
            if (!arg.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + arg + " (flags are --name value)");
            }
            String name = arg.substring(2);
            if (name.equals("bounded") || name.equals("hold")) {
                m.put(name, "true");
            } else if (i + 1 < argv.length) {
                m.put(name, argv[++i]);
            } else {
                throw new IllegalArgumentException("--" + name + " needs a value");
            }
        }
        return m;
    }

    private static String required(Map<String, String> a, String name) {
        String v = a.get(name);
        if (v == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return v;
    }
}
