package dev.sluice.flinkfraud.logic;

/**
 * One consumed Kafka record as the source hands it on (a Flink POJO): raw bytes plus position, the
 * card to key by, and the event time peeked for the watermark (like Sluice's inbox peek).
 */
public class RawRecord {
    public int topic;
    public int partition;
    public long offset;
    public long timestamp;
    public byte[] key;
    public byte[] value;
    /** Kafka key as text, else the decoded card_id, else "" (malformed and keyless: goes to the DLQ). */
    public String cardKey;
    /** Peeked {@code event_time_ms}, or Long.MIN_VALUE when absent (such a record never moves the watermark). */
    public long peekedTimeMs;

    public RawRecord() {}

    /** The integer after the first {@code "event_time_ms":}, as sluice-core's peek_event_time_ms. */
    public static long peekEventTimeMs(byte[] v) {
        if (v == null) {
            return Long.MIN_VALUE;
        }
        byte[] k = "\"event_time_ms\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + k.length <= v.length; i++) {
            for (int j = 0; j < k.length; j++) {
                if (v[i + j] != k[j]) {
                    continue outer;
                }
            }
            int p = i + k.length;
            while (p < v.length && Character.isWhitespace(v[p])) {
                p++;
            }
            if (p >= v.length || v[p] != ':') {
                return Long.MIN_VALUE;
            }
            p++;
            while (p < v.length && Character.isWhitespace(v[p])) {
                p++;
            }
            long n = 0;
            int digits = 0;
            while (p < v.length && v[p] >= '0' && v[p] <= '9' && digits < 19) {
                n = n * 10 + (v[p] - '0');
                p++;
                digits++;
            }
            return digits == 0 || digits > 18 ? Long.MIN_VALUE : n;
        }
        return Long.MIN_VALUE;
    }
}
