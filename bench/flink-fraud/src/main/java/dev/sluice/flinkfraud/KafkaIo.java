package dev.sluice.flinkfraud;

import dev.sluice.flinkfraud.logic.DecodeError;
import dev.sluice.flinkfraud.logic.Decoder;
import dev.sluice.flinkfraud.logic.Output;
import dev.sluice.flinkfraud.logic.RawRecord;
import dev.sluice.flinkfraud.logic.Topic;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/** The Kafka edges of the job: input records to {@link RawRecord}, outputs to producer records, watermarks. */
final class KafkaIo {
    private KafkaIo() {}

    /** Wraps each input record with its topic index, card key and peeked event time; never fails. */
    static final class RawDeserializer implements KafkaRecordDeserializationSchema<RawRecord> {
        private static final long serialVersionUID = 1L;
        private final List<String> inputTopics;

        RawDeserializer(List<String> inputTopics) {
            this.inputTopics = inputTopics;
        }

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RawRecord> out) {
            RawRecord r = new RawRecord();
            r.topic = inputTopics.indexOf(record.topic());
            r.partition = record.partition();
            r.offset = record.offset();
            r.timestamp = record.timestamp();
            r.key = record.key();
            r.value = record.value();
            r.peekedTimeMs = RawRecord.peekEventTimeMs(r.value);
            if (r.key != null) {
                r.cardKey = new String(r.key, StandardCharsets.UTF_8);
            } else {
                try {
                    r.cardKey = Decoder.decode(Topic.fromIndex(r.topic), null, r.value).cardId;
                } catch (DecodeError e) {
                    r.cardKey = "";
                }
            }
            out.collect(r);
        }

        @Override
        public TypeInformation<RawRecord> getProducedType() {
            return TypeInformation.of(RawRecord.class);
        }
    }

    /**
     * Watermark = max peeked event time − out-of-orderness, per split (Flink combines splits and
     * inputs by taking the minimum). Unlike Flink's bounded-out-of-orderness strategy there is no
     * extra −1 ms, so "late" means exactly what it means in Sluice: t < watermark − allowed lateness.
     */
    static final class PeekWatermarks implements WatermarkGenerator<RawRecord> {
        private final long outOfOrdernessMs;
        private long max = Long.MIN_VALUE;

        PeekWatermarks(long outOfOrdernessMs) {
            this.outOfOrdernessMs = outOfOrdernessMs;
        }

        @Override
        public void onEvent(RawRecord event, long eventTimestamp, WatermarkOutput output) {
            if (event.peekedTimeMs != Long.MIN_VALUE) {
                max = Math.max(max, event.peekedTimeMs);
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            if (max != Long.MIN_VALUE) {
                output.emitWatermark(new Watermark(max - outOfOrdernessMs));
            }
        }
    }

    /** Routes an output to its topic, to the partition number of its source record (as Sluice does). */
    static final class OutputSerializer implements KafkaRecordSerializationSchema<Output> {
        private static final long serialVersionUID = 1L;
        private final String[] topics;

        /** {@code topics} indexed by {@link Output#kind}: decisions, alerts, dlq, late. */
        OutputSerializer(String[] topics) {
            this.topics = topics;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(Output o, KafkaSinkContext context, Long timestamp) {
            String topic = topics[o.kind];
            int[] partitions = context.getPartitionsForTopic(topic);
            int partition = Math.floorMod(o.sourcePartition, Math.max(1, partitions.length));
            Long ts = o.timestamp >= 0 ? o.timestamp : null;
            return new ProducerRecord<>(topic, partition, ts, o.key, o.value);
        }
    }
}
