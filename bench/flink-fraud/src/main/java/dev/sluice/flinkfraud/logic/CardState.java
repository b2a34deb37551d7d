package dev.sluice.flinkfraud.logic;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Everything remembered about one card, and how each event changes it: sluice-core's
 * {@code card_state} (raw auths for the short windows, UTC-day buckets for the 30-day average,
 * devices, the latest account profile, the max event time for TTL), with the same update, pruning
 * and TTL rules. Stored in Flink keyed state as compact bytes ({@link #encode()}).
 */
public final class CardState {
    public static final long DAY_MS = 86_400_000L;
    public static final long BUCKET_RETENTION_DAYS = 31;

    /** One processed authorization. */
    public record Auth(long eventTimeMs, long amountMinor, String merchantId) {}

    /** A device; {@code trust} is 0 = no telemetry, 1 = untrusted, 2 = trusted (as of {@code trustAsOfMs}). */
    public static final class Device {
        long lastSeenMs;
        int trust;
        long trustAsOfMs;
    }

    /** Sum and count of one UTC day's authorization amounts (sum saturates at 2^63-1, see docs). */
    public static final class Bucket {
        long sumMinor;
        long count;
    }

    long lastEventTimeMs;
    Long prevTxnTimeMs;
    boolean hasAccount;
    boolean blocked;
    String homeCountry;
    long creditLimitMinor;
    long accountAsOfMs;
    final List<Auth> auths = new ArrayList<>();
    final TreeMap<String, Device> devices = new TreeMap<>();
    final TreeMap<Long, Bucket> daily = new TreeMap<>();

    public static long dayOf(long eventTimeMs) {
        return Math.floorDiv(eventTimeMs, DAY_MS);
    }

    /** TTL: a card whose newest event is older than {@code watermark - ttl} is treated as absent. */
    public boolean isExpired(Long watermarkMs, long stateTtlMs) {
        return watermarkMs != null && lastEventTimeMs < satSub(watermarkMs, stateTtlMs);
    }

    /** Applies any event; authorizations are scored against the state before this call. */
    public void apply(Event e) {
        long t = e.eventTimeMs;
        lastEventTimeMs = Math.max(lastEventTimeMs, t);
        switch (e.topic()) {
            case AUTHORIZATIONS -> {
                prevTxnTimeMs = t;
                auths.add(new Auth(t, e.amountMinor, e.merchantId));
                seeDevice(e.deviceId, t);
                Bucket b = daily.computeIfAbsent(dayOf(t), d -> new Bucket());
                b.sumMinor = satAdd(b.sumMinor, e.amountMinor);
                b.count = satAdd(b.count, 1);
            }
            case DEVICE_TELEMETRY -> {
                Device d = seeDevice(e.deviceId, t);
                // Latest by event time; on a tie the later-processed verdict wins.
                if (d.trust == 0 || t >= d.trustAsOfMs) {
                    d.trust = e.trusted ? 2 : 1;
                    d.trustAsOfMs = t;
                }
            }
            case ACCOUNT_CHANGES -> {
                if (!hasAccount || t >= accountAsOfMs) {
                    hasAccount = true;
                    blocked = e.blocked;
                    homeCountry = e.homeCountry;
                    creditLimitMinor = e.creditLimitMinor;
                    accountAsOfMs = t;
                }
            }
            default -> throw new IllegalStateException("unknown topic");
        }
    }

    private Device seeDevice(String deviceId, long t) {
        Device d = devices.get(deviceId);
        if (d == null) {
            d = new Device();
            d.lastSeenMs = t;
            devices.put(deviceId, d);
        }
        d.lastSeenMs = Math.max(d.lastSeenMs, t);
        return d;
    }

    /** Drops what no admissible future event can read (horizon = cutoff - 1 h, as in sluice-core). */
    public void prune(long horizonMs) {
        auths.removeIf(a -> a.eventTimeMs() < horizonMs);
        long firstKeptDay = dayOf(horizonMs) - BUCKET_RETENTION_DAYS;
        daily.headMap(firstKeptDay, false).clear();
    }

    static long satAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? (a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE) : r;
    }

    /** Rust's {@code saturating_sub}. */
    public static long satSub(long a, long b) {
        return b == Long.MIN_VALUE ? (a >= 0 ? Long.MAX_VALUE : a - b) : satAdd(a, -b);
    }

    public byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + auths.size() * 24);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(1);
            out.writeLong(lastEventTimeMs);
            out.writeBoolean(prevTxnTimeMs != null);
            if (prevTxnTimeMs != null) {
                out.writeLong(prevTxnTimeMs);
            }
            out.writeBoolean(hasAccount);
            if (hasAccount) {
                out.writeBoolean(blocked);
                out.writeUTF(homeCountry);
                out.writeLong(creditLimitMinor);
                out.writeLong(accountAsOfMs);
            }
            out.writeInt(auths.size());
            for (Auth a : auths) {
                out.writeLong(a.eventTimeMs());
                out.writeLong(a.amountMinor());
                out.writeUTF(a.merchantId());
            }
            out.writeInt(devices.size());
            for (Map.Entry<String, Device> d : devices.entrySet()) {
                out.writeUTF(d.getKey());
                out.writeLong(d.getValue().lastSeenMs);
                out.writeByte(d.getValue().trust);
                out.writeLong(d.getValue().trustAsOfMs);
            }
            out.writeInt(daily.size());
            for (Map.Entry<Long, Bucket> b : daily.entrySet()) {
                out.writeLong(b.getKey());
                out.writeLong(b.getValue().sumMinor);
                out.writeLong(b.getValue().count);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static CardState decode(byte[] bytes) {
        CardState s = new CardState();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            int version = in.readByte();
            if (version != 1) {
                throw new IllegalStateException("unsupported card state version " + version);
            }
            s.lastEventTimeMs = in.readLong();
            s.prevTxnTimeMs = in.readBoolean() ? in.readLong() : null;
            s.hasAccount = in.readBoolean();
            if (s.hasAccount) {
                s.blocked = in.readBoolean();
                s.homeCountry = in.readUTF();
                s.creditLimitMinor = in.readLong();
                s.accountAsOfMs = in.readLong();
            }
            for (int n = in.readInt(); n > 0; n--) {
                s.auths.add(new Auth(in.readLong(), in.readLong(), in.readUTF()));
            }
            for (int n = in.readInt(); n > 0; n--) {
                String id = in.readUTF();
                Device d = new Device();
                d.lastSeenMs = in.readLong();
                d.trust = in.readByte();
                d.trustAsOfMs = in.readLong();
                s.devices.put(id, d);
            }
            for (int n = in.readInt(); n > 0; n--) {
                long day = in.readLong();
                Bucket b = new Bucket();
                b.sumMinor = in.readLong();
                b.count = in.readLong();
                s.daily.put(day, b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return s;
    }
}
