package dev.sluice.flinkfraud;

import dev.sluice.flinkfraud.logic.CardState;
import dev.sluice.flinkfraud.logic.DecodeError;
import dev.sluice.flinkfraud.logic.Decoder;
import dev.sluice.flinkfraud.logic.Event;
import dev.sluice.flinkfraud.logic.Features;
import dev.sluice.flinkfraud.logic.Model;
import dev.sluice.flinkfraud.logic.Output;
import dev.sluice.flinkfraud.logic.RawRecord;
import dev.sluice.flinkfraud.logic.Topic;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The fraud job per card (keyed by card_id).
 *
 * <p>Sluice processes each partition's three topics merged by the event time of the queue heads
 * (ties to the lower topic index), never running ahead of a topic that may still deliver an earlier
 * record. Flink cannot see Sluice's queues, so this function rebuilds that order per card: valid
 * on-time events wait in keyed state in three FIFO queues (arrival = offset order per topic) and are
 * released by the same head merge once the operator's watermark has passed them, i.e. once no
 * on-time record of any topic can still sort before them. A record behind
 * {@code watermark - allowedLateness} on arrival goes to {@code late}; a malformed one to the DLQ.
 * The features, score, TTL and pruning then follow sluice-core exactly.
 */
public final class FraudFunction extends KeyedProcessFunction<String, RawRecord, Output> {
    private static final long serialVersionUID = 1L;

    private final long allowedLatenessMs;
    private final long stateTtlMs;
    private transient Model model;
    private transient ValueState<byte[]> card;
    private transient ListState<Event> pending;
    /** The last real watermark this subtask saw: used instead of the end-of-input MAX watermark. */
    private transient long lastFiniteWatermark;

    public FraudFunction(long allowedLatenessMs, long stateTtlMs) {
        this.allowedLatenessMs = allowedLatenessMs;
        this.stateTtlMs = stateTtlMs;
    }

    @Override
    public void open(OpenContext ctx) {
        model = Model.fraudV1();
        lastFiniteWatermark = Long.MIN_VALUE;
        card = getRuntimeContext().getState(
                new ValueStateDescriptor<>("card", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        pending = getRuntimeContext().getListState(
                new ListStateDescriptor<>("pending", TypeInformation.of(Event.class)));
    }

    /** The event-time watermark in Sluice's sense (null before any), remembering the last finite one. */
    private Long semanticWatermark(long raw) {
        if (raw != Long.MAX_VALUE && raw != Long.MIN_VALUE) {
            lastFiniteWatermark = Math.max(lastFiniteWatermark, raw);
        }
        return lastFiniteWatermark == Long.MIN_VALUE || raw == Long.MIN_VALUE ? null : lastFiniteWatermark;
    }

    @Override
    public void processElement(RawRecord r, Context ctx, Collector<Output> out) throws Exception {
        long raw = ctx.timerService().currentWatermark();
        Long w = semanticWatermark(raw);
        Event e;
        try {
            e = Decoder.decode(Topic.fromIndex(r.topic), r.key, r.value);
        } catch (DecodeError err) {
            out.collect(Output.dlq(r, err));
            return;
        }
        e.partition = r.partition;
        e.offset = r.offset;
        e.timestamp = r.timestamp;
        if (w != null && e.eventTimeMs < CardState.satSub(w, allowedLatenessMs)) {
            out.collect(Output.late(r, e, w));
            return;
        }
        pending.add(e);
        if (raw != Long.MIN_VALUE && e.eventTimeMs <= raw) {
            drain(raw, w, out);
        } else {
            ctx.timerService().registerEventTimeTimer(e.eventTimeMs);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Output> out) throws Exception {
        long raw = ctx.timerService().currentWatermark();
        drain(raw, semanticWatermark(raw), out);
    }

    /** Releases queue heads up to {@code bound} in (event time, topic index) order; {@code w} drives TTL and pruning. */
    private void drain(long bound, Long w, Collector<Output> out) throws Exception {
        List<Event> queued = new ArrayList<>();
        for (Event e : pending.get()) {
            queued.add(e);
        }
        CardState state = null;
        List<Output> outputs = new ArrayList<>(2);
        while (true) {
            int best = nextHead(queued);
            if (best < 0 || queued.get(best).eventTimeMs > bound) {
                break;
            }
            Event e = queued.remove(best);
            if (state == null) {
                state = load(w);
            }
            if (e.topic() == Topic.AUTHORIZATIONS) {
                Features f = Features.compute(state, e);
                Output.decision(e, f, model.score(f), model.version, outputs);
            }
            state.apply(e);
            if (w != null) {
                state.prune(CardState.satSub(CardState.satSub(w, allowedLatenessMs), Features.WINDOW_1H_MS));
            }
        }
        if (state == null) {
            return;
        }
        card.update(state.encode());
        if (queued.isEmpty()) {
            pending.clear();
        } else {
            pending.update(queued);
        }
        for (Output o : outputs) {
            out.collect(o);
        }
    }

    /** Index of the earliest head among the three per-topic FIFO queues (ties: lower topic index), or -1. */
    static int nextHead(List<Event> queued) {
        boolean[] seen = new boolean[3];
        int best = -1;
        for (int i = 0; i < queued.size(); i++) {
            Event e = queued.get(i);
            if (seen[e.topic]) {
                continue;
            }
            seen[e.topic] = true;
            Event b = best < 0 ? null : queued.get(best);
            if (b == null || e.eventTimeMs < b.eventTimeMs || (e.eventTimeMs == b.eventTimeMs && e.topic < b.topic)) {
                best = i;
            }
        }
        return best;
    }

    /** The card's state with TTL applied: expired state is indistinguishable from none. */
    private CardState load(Long w) throws Exception {
        byte[] bytes = card.value();
        if (bytes == null) {
            return new CardState();
        }
        CardState s = CardState.decode(bytes);
        return s.isExpired(w, stateTtlMs) ? new CardState() : s;
    }
}
