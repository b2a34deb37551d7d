package dev.sluice.flinkfraud.logic;

/**
 * One validated input event (any of the three topics) plus where it came from. A flat Flink POJO
 * (public fields, no-arg constructor) so buffered events are stored in keyed state without Kryo;
 * the fields a topic does not carry stay at their defaults.
 */
public class Event {
    public int topic;
    public int partition;
    public long offset;
    /** Kafka timestamp of the input record, copied onto outputs (latency = output read − this). */
    public long timestamp;
    public long eventTimeMs;
    public String cardId;
    // authorizations
    public String txnId;
    public String accountId;
    public String merchantId;
    public String mcc;
    public long amountMinor;
    public String currency;
    public String country;
    public String deviceId;
    public String channel;
    // device-telemetry (deviceId above)
    public boolean trusted;
    // account-changes
    public boolean blocked;
    public String homeCountry;
    public long creditLimitMinor;

    public Event() {}

    public Topic topic() {
        return Topic.fromIndex(topic);
    }
}
