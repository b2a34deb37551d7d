package dev.sluice.flinkfraud.logic;

import java.nio.charset.StandardCharsets;

/**
 * One output record (a Flink POJO): which topic, the Kafka key and timestamp, the source partition
 * (outputs go to the same partition number, as Sluice's worker does) and the JSON value bytes.
 */
public class Output {
    public static final int DECISIONS = 0;
    public static final int ALERTS = 1;
    public static final int DLQ = 2;
    public static final int LATE = 3;

    public int kind;
    public int sourcePartition;
    /** Kafka timestamp of the input record, or -1 when it had none. */
    public long timestamp;
    public byte[] key;
    public byte[] value;

    public Output() {}

    static Output of(int kind, Event src, byte[] key, Json value) {
        Output o = new Output();
        o.kind = kind;
        o.sourcePartition = src.partition;
        o.timestamp = src.timestamp;
        o.key = key;
        o.value = value.bytes();
        return o;
    }

    /** A decision, plus its alert when the decision is REVIEW or DECLINE (sluice-core field order). */
    public static void decision(Event a, Features f, Model.Scored s, String modelVersion, java.util.List<Output> out) {
        byte[] key = a.cardId.getBytes(StandardCharsets.UTF_8);
        Json d = new Json().begin()
                .str("txn_id", a.txnId)
                .str("card_id", a.cardId)
                .str("decision", s.decision())
                .num("score", s.score())
                .strArray("reasons", s.reasons());
        f.writeJson(d);
        d.str("model_version", modelVersion)
                .num("source_partition", a.partition)
                .num("source_offset", a.offset)
                .num("event_time_ms", a.eventTimeMs)
                .end();
        out.add(of(DECISIONS, a, key, d));
        if (s.isAlert()) {
            Json al = new Json().begin()
                    .str("txn_id", a.txnId)
                    .str("card_id", a.cardId)
                    .str("account_id", a.accountId)
                    .str("merchant_id", a.merchantId)
                    .num("amount_minor", a.amountMinor)
                    .str("currency", a.currency)
                    .str("country", a.country)
                    .str("decision", s.decision())
                    .num("score", s.score())
                    .strArray("reasons", s.reasons())
                    .str("model_version", modelVersion)
                    .num("source_partition", a.partition)
                    .num("source_offset", a.offset)
                    .num("event_time_ms", a.eventTimeMs)
                    .end();
            out.add(of(ALERTS, a, key, al));
        }
    }

    /** A record that failed validation, with its raw bytes (key = original key). */
    public static Output dlq(RawRecord r, DecodeError err) {
        Json j = new Json().begin()
                .str("source_topic", Topic.fromIndex(r.topic).wireName())
                .num("source_partition", r.partition)
                .num("source_offset", r.offset)
                .str("error_kind", err.kind())
                .str("reason", err.reason())
                .str("key_hex", Json.hex(r.key))
                .str("value_hex", Json.hex(r.value))
                .end();
        Output o = new Output();
        o.kind = DLQ;
        o.sourcePartition = r.partition;
        o.timestamp = r.timestamp;
        o.key = r.key;
        o.value = j.bytes();
        return o;
    }

    /** A valid record behind the lateness cutoff (key = original key). */
    public static Output late(RawRecord r, Event e, long watermarkMs) {
        Json j = new Json().begin()
                .str("source_topic", Topic.fromIndex(r.topic).wireName())
                .num("source_partition", r.partition)
                .num("source_offset", r.offset)
                .str("card_id", e.cardId)
                .num("event_time_ms", e.eventTimeMs)
                .num("watermark_ms", watermarkMs)
                .str("key_hex", Json.hex(r.key))
                .str("value_hex", Json.hex(r.value))
                .end();
        Output o = new Output();
        o.kind = LATE;
        o.sourcePartition = r.partition;
        o.timestamp = r.timestamp;
        o.key = r.key;
        o.value = j.bytes();
        return o;
    }
}
