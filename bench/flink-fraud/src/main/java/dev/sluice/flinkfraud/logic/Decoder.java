package dev.sluice.flinkfraud.logic;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Strict decoding and validation of input records, rule for rule as sluice-core's
 * {@code event::decode}: the same checks in the same order, so the same records reach the DLQ with
 * the same error kind. Reason texts match for every domain rule; messages of the JSON parser itself
 * (kind {@code invalid_json}) are Jackson's, not serde_json's.
 */
public final class Decoder {
    public static final long MAX_EVENT_TIME_MS = 32_503_680_000_000L;
    public static final long MAX_AMOUNT_MINOR = 10_000_000_000_000L;
    public static final int MAX_ID_BYTES = 64;
    private static final int MAX_ECHO_CHARS = 40;
    private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    private static final List<String> AUTH_FIELDS = Arrays.asList("txn_id", "card_id", "account_id",
            "merchant_id", "mcc", "amount_minor", "currency", "country", "device_id", "channel",
            "event_time_ms");
    private static final List<String> TELEMETRY_FIELDS =
            Arrays.asList("card_id", "device_id", "trusted", "event_time_ms");
    private static final List<String> ACCOUNT_FIELDS = Arrays.asList("card_id", "status",
            "home_country", "credit_limit_minor", "event_time_ms");

    private static final JsonFactory FACTORY = new JsonFactory();
    private static final Object NULL = new Object();
    private static final Object ARRAY = new Object();
    private static final Object OBJECT = new Object();

    private Decoder() {}

    /** Decodes {@code value} of {@code topic}; the source position fields are left to the caller. */
    public static Event decode(Topic topic, byte[] key, byte[] value) throws DecodeError {
        if (value == null) {
            throw new DecodeError("missing_value", "value: missing (tombstone record)");
        }
        String text = utf8(value);
        List<String> keys = new ArrayList<>(12);
        List<Object> values = new ArrayList<>(12);
        parse(text, keys, values);
        Fields f = new Fields(keys, values);
        Event e = new Event();
        e.topic = topic.index();
        switch (topic) {
            case AUTHORIZATIONS -> {
                f.checkKeys(AUTH_FIELDS, topic);
                e.txnId = f.id("txn_id");
                e.cardId = f.id("card_id");
                e.accountId = f.id("account_id");
                e.merchantId = f.id("merchant_id");
                e.mcc = f.mcc("mcc");
                e.amountMinor = f.intIn("amount_minor", 1, MAX_AMOUNT_MINOR);
                e.currency = f.upperLetters("currency", 3, "ISO 4217");
                e.country = f.upperLetters("country", 2, "ISO 3166-1 alpha-2");
                e.deviceId = f.id("device_id");
                e.channel = f.oneOf("channel", "pos|ecom|atm|moto");
                e.eventTimeMs = f.intIn("event_time_ms", 0, MAX_EVENT_TIME_MS);
            }
            case DEVICE_TELEMETRY -> {
                f.checkKeys(TELEMETRY_FIELDS, topic);
                e.cardId = f.id("card_id");
                e.deviceId = f.id("device_id");
                e.trusted = f.bool("trusted");
                e.eventTimeMs = f.intIn("event_time_ms", 0, MAX_EVENT_TIME_MS);
            }
            case ACCOUNT_CHANGES -> {
                f.checkKeys(ACCOUNT_FIELDS, topic);
                e.cardId = f.id("card_id");
                e.blocked = f.oneOf("status", "active|blocked").equals("blocked");
                e.homeCountry = f.upperLetters("home_country", 2, "ISO 3166-1 alpha-2");
                e.creditLimitMinor = f.intIn("credit_limit_minor", 0, Long.MAX_VALUE);
                e.eventTimeMs = f.intIn("event_time_ms", 0, MAX_EVENT_TIME_MS);
            }
            default -> throw new IllegalStateException("unknown topic " + topic);
        }
        if (key != null && !Arrays.equals(key, e.cardId.getBytes(StandardCharsets.UTF_8))) {
            throw new DecodeError("key_mismatch",
                    "key: must equal card_id " + echo(e.cardId) + ", got " + echoBytes(key));
        }
        return e;
    }

    private static String utf8(byte[] value) throws DecodeError {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(value);
        CharBuffer out = CharBuffer.allocate(value.length);
        CoderResult r = d.decode(in, out, true);
        if (r.isError()) {
            throw new DecodeError("invalid_utf8", "value: invalid UTF-8 at byte " + in.position());
        }
        r = d.flush(out);
        if (r.isError()) {
            throw new DecodeError("invalid_utf8", "value: invalid UTF-8 at byte " + in.position());
        }
        out.flip();
        return out.toString();
    }

    private static void parse(String text, List<String> keys, List<Object> values) throws DecodeError {
        try (JsonParser p = FACTORY.createParser(text)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                throw invalidJson("EOF while parsing a value");
            }
            String got = null;
            if (t == JsonToken.START_OBJECT) {
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    keys.add(p.currentName());
                    values.add(value(p, p.nextToken()));
                }
            } else {
                Object v = value(p, t);
                got = v == NULL ? "null" : v == ARRAY ? "array" : v instanceof Boolean ? "boolean"
                        : v instanceof String ? "string" : "number";
            }
            if (p.nextToken() != null) {
                throw invalidJson("trailing characters");
            }
            if (got != null) {
                throw new DecodeError("not_an_object", "value: expected a JSON object, got " + got);
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw invalidJson(e.getOriginalMessage());
        } catch (IOException e) {
            throw invalidJson(String.valueOf(e.getMessage()));
        }
    }

    private static DecodeError invalidJson(String message) {
        return new DecodeError("invalid_json", "value: invalid JSON: " + message);
    }

    /** Reads the value starting at {@code t}; nested containers are skipped (only their type matters). */
    private static Object value(JsonParser p, JsonToken t) throws IOException {
        switch (t) {
            case VALUE_STRING:
                return p.getText();
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return NULL;
            case VALUE_NUMBER_INT: {
                BigInteger n = p.getBigIntegerValue();
                if (n.bitLength() < 64) {
                    return n.longValue();
                }
                // serde_json: integers up to u64::MAX stay integers, anything wider becomes an f64.
                return n.signum() > 0 && n.compareTo(U64_MAX) <= 0 ? n : (Object) n.doubleValue();
            }
            case VALUE_NUMBER_FLOAT:
                return p.getDoubleValue();
            case START_ARRAY:
                p.skipChildren();
                return ARRAY;
            case START_OBJECT:
                p.skipChildren();
                return OBJECT;
            default:
                throw new IOException("unexpected token " + t);
        }
    }

    /** Rust's {@code {:?}} of a string, cut to 40 characters with an ellipsis (sluice-core's echo). */
    static String echo(String s) {
        int cut = s.offsetByCodePoints(0, Math.min(MAX_ECHO_CHARS, s.codePointCount(0, s.length())));
        String shown = s.substring(0, cut) + (cut < s.length() ? "…" : "");
        StringBuilder out = new StringBuilder(shown.length() + 2).append('"');
        shown.codePoints().forEach(c -> {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case 0 -> out.append("\\0");
                default -> {
                    if (Character.isISOControl(c)) {
                        out.append("\\u{").append(Integer.toHexString(c)).append('}');
                    } else {
                        out.appendCodePoint(c);
                    }
                }
            }
        });
        return out.append('"').toString();
    }

    private static String echoBytes(byte[] bytes) {
        try {
            String s = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
            return echo(s);
        } catch (CharacterCodingException e) {
            byte[] head = Arrays.copyOf(bytes, Math.min(bytes.length, MAX_ECHO_CHARS / 2));
            return bytes.length + " non-UTF-8 bytes (hex " + Json.hex(head) + ")";
        }
    }

    private static String typeName(Object v) {
        if (v == NULL) {
            return "null";
        } else if (v instanceof Boolean) {
            return "boolean";
        } else if (v instanceof Long || v instanceof BigInteger) {
            return "integer";
        } else if (v instanceof Double d) {
            return "number " + rustFloat(d);
        } else if (v instanceof String) {
            return "string";
        } else if (v == ARRAY) {
            return "array";
        }
        return "object";
    }

    /** f64 Display as serde_json prints it ("5.0", "1e20"), close enough for error texts. */
    private static String rustFloat(double d) {
        String s = Double.toString(d);
        int e = s.indexOf('E');
        if (e < 0) {
            return s;
        }
        String mantissa = s.substring(0, e);
        if (mantissa.endsWith(".0")) {
            mantissa = mantissa.substring(0, mantissa.length() - 2);
        }
        return mantissa + "e" + s.substring(e + 1);
    }

    /** The object's entries in document order, with the field accessors of sluice-core. */
    private record Fields(List<String> keys, List<Object> values) {
        void checkKeys(List<String> allowed, Topic topic) throws DecodeError {
            for (int i = 0; i < keys.size(); i++) {
                String k = keys.get(i);
                if (!allowed.contains(k)) {
                    throw new DecodeError("unknown_field",
                            "field " + echo(k) + ": unknown field for topic " + topic.wireName());
                }
                if (keys.subList(0, i).contains(k)) {
                    throw new DecodeError("duplicate_field", "field " + echo(k) + ": appears more than once");
                }
            }
        }

        Object get(String field) throws DecodeError {
            int i = keys.indexOf(field);
            if (i < 0) {
                throw new DecodeError("missing_field", "field " + field + ": missing");
            }
            return values.get(i);
        }

        String str(String field) throws DecodeError {
            Object v = get(field);
            if (v instanceof String s) {
                return s;
            }
            throw wrongType(field, "string", v);
        }

        boolean bool(String field) throws DecodeError {
            Object v = get(field);
            if (v instanceof Boolean b) {
                return b;
            }
            throw wrongType(field, "boolean", v);
        }

        long intIn(String field, long min, long max) throws DecodeError {
            Object v = get(field);
            if (v instanceof BigInteger n) {
                throw invalid(field, "must be <= " + max + ", got " + n);
            }
            if (!(v instanceof Long)) {
                throw wrongType(field, "integer", v);
            }
            long x = (Long) v;
            if (x < min) {
                throw invalid(field, "must be " + (min == 1 ? "> 0" : ">= " + min) + ", got " + x);
            }
            if (x > max) {
                throw invalid(field, "must be <= " + max + ", got " + x);
            }
            return x;
        }

        String id(String field) throws DecodeError {
            String s = str(field);
            if (s.isEmpty()) {
                throw invalid(field, "must not be empty");
            }
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            if (utf8.length > MAX_ID_BYTES) {
                throw invalid(field, "must be at most " + MAX_ID_BYTES + " bytes, got " + utf8.length);
            }
            int bytePos = 0;
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                if (Character.isISOControl(c)) {
                    throw invalid(field, String.format(
                            "must not contain control characters, found U+%04X at byte %d", c, bytePos));
                }
                bytePos += new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8).length;
                i += Character.charCount(c);
            }
            return s;
        }

        String upperLetters(String field, int len, String standard) throws DecodeError {
            String s = str(field);
            boolean ok = s.length() == len && s.chars().allMatch(c -> c >= 'A' && c <= 'Z');
            if (!ok) {
                throw invalid(field, "must be " + len + " uppercase ASCII letters (" + standard + "), got "
                        + echo(s));
            }
            return s;
        }

        String mcc(String field) throws DecodeError {
            String s = str(field);
            if (s.length() == 4 && s.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return s;
            }
            throw invalid(field, "must be exactly 4 ASCII digits, got " + echo(s));
        }

        String oneOf(String field, String choices) throws DecodeError {
            String s = str(field);
            for (String c : choices.split("\\|")) {
                if (c.equals(s)) {
                    return c;
                }
            }
            throw invalid(field, "must be one of " + choices + ", got " + echo(s));
        }

        private static DecodeError invalid(String field, String reason) {
            return new DecodeError("invalid_field", "field " + field + ": " + reason);
        }

        private static DecodeError wrongType(String field, String expected, Object got) {
            return new DecodeError("wrong_type",
                    "field " + field + ": expected " + expected + ", got " + typeName(got));
        }
    }
}
