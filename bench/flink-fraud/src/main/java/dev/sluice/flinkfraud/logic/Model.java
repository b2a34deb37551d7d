package dev.sluice.flinkfraud.logic;

import java.util.ArrayList;
import java.util.List;

/**
 * The fraud-v1 scoring model (core/models/fraud-v1.yaml): integer points per triggered rule,
 * reasons in fixed rule order, {@code score >= 70} declines, {@code >= 40} reviews, a blocked card
 * always declines. Same saturating integer arithmetic as sluice-core's {@code ScoringModel::score}.
 */
public final class Model {
    public final String version;
    public final long review;
    public final long decline;
    public final long velocityMinCount;
    public final long velocityPoints;
    public final long amount1hMin;
    public final long amount1hPoints;
    public final long merchantsMinCount;
    public final long merchantsPoints;
    public final long newDevicePoints;
    public final long untrustedDevicePoints;
    public final long rapidMaxGapMs;
    public final long rapidPoints;
    public final long countryMismatchPoints;
    public final long ratioMinBp;
    public final long ratioPoints;
    public final long blockedPoints;

    /** Score, decision and reason codes of one authorization. */
    public record Scored(long score, String decision, List<String> reasons) {
        public boolean isAlert() {
            return !decision.equals("APPROVE");
        }
    }

    private Model() {
        version = "fraud-v1";
        review = 40;
        decline = 70;
        velocityMinCount = 4;
        velocityPoints = 30;
        amount1hMin = 500_000;
        amount1hPoints = 20;
        merchantsMinCount = 3;
        merchantsPoints = 20;
        newDevicePoints = 15;
        untrustedDevicePoints = 10;
        rapidMaxGapMs = 10_000;
        rapidPoints = 15;
        countryMismatchPoints = 25;
        ratioMinBp = 50_000;
        ratioPoints = 25;
        blockedPoints = 100;
    }

    /** Identical to sluice-core's {@code ScoringModel::default_v1()}. */
    public static Model fraudV1() {
        return new Model();
    }

    /** |gap| < max as Rust's {@code unsigned_abs} comparison (no overflow at Long.MIN_VALUE). */
    private static boolean absBelow(long gap, long max) {
        return Long.compareUnsigned(gap < 0 ? -gap : gap, max < 0 ? -max : max) < 0;
    }

    public Scored score(Features f) {
        long score = 0;
        List<String> reasons = new ArrayList<>(4);
        Object[][] rules = {
            {"VELOCITY_60S", f.txnCount60s >= velocityMinCount, velocityPoints},
            {"AMOUNT_1H", f.amountSum1hMinor >= amount1hMin, amount1hPoints},
            {"DISTINCT_MERCHANTS_10M", f.distinctMerchants10m >= merchantsMinCount, merchantsPoints},
            {"NEW_DEVICE", !f.deviceSeenBefore, newDevicePoints},
            {"UNTRUSTED_DEVICE", f.deviceSeenBefore && !f.deviceTrusted, untrustedDevicePoints},
            {"RAPID_SUCCESSION", f.msSincePrevTxn != null && absBelow(f.msSincePrevTxn, rapidMaxGapMs), rapidPoints},
            {"COUNTRY_MISMATCH", f.countryMismatch, countryMismatchPoints},
            {"AMOUNT_RATIO_30D", f.amountRatio30dBp != null && f.amountRatio30dBp >= ratioMinBp, ratioPoints},
        };
        for (Object[] r : rules) {
            long points = (Long) r[2];
            if ((Boolean) r[1] && points > 0) {
                score = CardState.satAdd(score, points);
                reasons.add((String) r[0]);
            }
        }
        if (f.cardBlocked) {
            score = CardState.satAdd(score, Math.max(blockedPoints, 0));
            reasons.add("CARD_BLOCKED");
        }
        String decision = f.cardBlocked || score >= decline ? "DECLINE" : score >= review ? "REVIEW" : "APPROVE";
        return new Scored(score, decision, reasons);
    }
}
