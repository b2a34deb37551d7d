package dev.sluice.flinkfraud.logic;

import java.math.BigInteger;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Fraud features of one authorization in event time, as sluice-core's {@code features::compute}:
 * windows are half-open {@code (t - W, t]} over earlier-processed auths; the 30-day average reads
 * whole UTC days {@code [day(t) - 30, day(t) - 1]}; integer arithmetic only.
 */
public final class Features {
    public static final long WINDOW_60S_MS = 60_000;
    public static final long WINDOW_10M_MS = 600_000;
    public static final long WINDOW_1H_MS = 3_600_000;
    public static final long RATIO_LOOKBACK_DAYS = 30;

    public long txnCount60s;
    public long amountSum1hMinor;
    public long distinctMerchants10m;
    public boolean deviceSeenBefore;
    public boolean deviceTrusted;
    public Long msSincePrevTxn;
    public boolean countryMismatch;
    public Long amountRatio30dBp;
    public boolean cardBlocked;

    private static boolean inWindow(long eventTimeMs, long t, long widthMs) {
        return eventTimeMs <= t && eventTimeMs > CardState.satSub(t, widthMs);
    }

    /** Features of {@code auth} against {@code state} as it was before {@code auth} is applied. */
    public static Features compute(CardState state, Event auth) {
        long t = auth.eventTimeMs;
        long prior60s = 0;
        long sum1h = auth.amountMinor;
        Set<String> merchants = new HashSet<>();
        merchants.add(auth.merchantId);
        for (CardState.Auth a : state.auths) {
            long at = a.eventTimeMs();
            if (inWindow(at, t, WINDOW_60S_MS)) {
                prior60s++;
            }
            if (inWindow(at, t, WINDOW_1H_MS)) {
                // Amounts are positive: a saturated sum clamps to i64::MAX exactly as the i128 sum does.
                sum1h = CardState.satAdd(sum1h, a.amountMinor());
            }
            if (inWindow(at, t, WINDOW_10M_MS)) {
                merchants.add(a.merchantId());
            }
        }
        Features f = new Features();
        f.txnCount60s = prior60s + 1;
        f.amountSum1hMinor = sum1h;
        f.distinctMerchants10m = merchants.size();
        CardState.Device device = state.devices.get(auth.deviceId);
        f.deviceSeenBefore = device != null;
        f.deviceTrusted = device != null && device.trust == 2;
        f.msSincePrevTxn = state.prevTxnTimeMs == null ? null : CardState.satSub(t, state.prevTxnTimeMs);
        f.countryMismatch = state.hasAccount && !state.homeCountry.equals(auth.country);
        f.amountRatio30dBp = ratio(state, auth);
        f.cardBlocked = state.hasAccount && state.blocked;
        return f;
    }

    /** {@code amount * 10_000 / avg} with the integer 30-day average; null without history. */
    private static Long ratio(CardState state, Event auth) {
        long today = CardState.dayOf(auth.eventTimeMs);
        Map<Long, CardState.Bucket> days =
                state.daily.subMap(CardState.satSub(today, RATIO_LOOKBACK_DAYS), true, today, false);
        try {
            long sum = 0;
            long count = 0;
            for (CardState.Bucket b : days.values()) {
                sum = Math.addExact(sum, b.sumMinor);
                count = Math.addExact(count, b.count);
            }
            if (count == 0) {
                return null;
            }
            long avg = sum / count;
            return avg <= 0 ? null : Math.multiplyExact(Math.abs(auth.amountMinor), 10_000L) / avg;
        } catch (ArithmeticException overflow) {
            // Absurd volumes only: redo the same integer arithmetic without a width limit.
            BigInteger sum = BigInteger.ZERO;
            BigInteger count = BigInteger.ZERO;
            for (CardState.Bucket b : days.values()) {
                sum = sum.add(BigInteger.valueOf(b.sumMinor));
                count = count.add(BigInteger.valueOf(b.count));
            }
            BigInteger avg = sum.divide(count);
            if (avg.signum() <= 0) {
                return null;
            }
            BigInteger bp = BigInteger.valueOf(Math.abs(auth.amountMinor)).multiply(BigInteger.valueOf(10_000)).divide(avg);
            return bp.bitLength() < 64 ? bp.longValue() : Long.MAX_VALUE;
        }
    }

    /** The {@code features} object of a decision record, fields in sluice-core's order. */
    void writeJson(Json j) {
        j.object("features")
                .num("txn_count_60s", txnCount60s)
                .num("amount_sum_1h_minor", amountSum1hMinor)
                .num("distinct_merchants_10m", distinctMerchants10m)
                .bool("device_seen_before", deviceSeenBefore)
                .bool("device_trusted", deviceTrusted)
                .optNum("ms_since_prev_txn", msSincePrevTxn)
                .bool("country_mismatch", countryMismatch)
                .optNum("amount_ratio_30d_bp", amountRatio30dBp)
                .bool("card_blocked", cardBlocked)
                .end();
    }
}
