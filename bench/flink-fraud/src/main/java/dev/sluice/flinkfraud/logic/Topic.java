package dev.sluice.flinkfraud.logic;

/** The three co-partitioned input topics; index and name match sluice-core's {@code SourceTopic}. */
public enum Topic {
    AUTHORIZATIONS("authorizations"),
    DEVICE_TELEMETRY("device-telemetry"),
    ACCOUNT_CHANGES("account-changes");

    private final String wireName;

    Topic(String wireName) {
        this.wireName = wireName;
    }

    /** Stable index (0, 1, 2): also the tie-break when two queue heads have the same event time. */
    public int index() {
        return ordinal();
    }

    /** The JSON spelling in DLQ and late records. */
    public String wireName() {
        return wireName;
    }

    public static Topic fromIndex(int i) {
        return values()[i];
    }
}
