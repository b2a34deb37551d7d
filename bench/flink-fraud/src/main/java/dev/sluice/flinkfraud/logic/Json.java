package dev.sluice.flinkfraud.logic;

import java.nio.charset.StandardCharsets;

/**
 * A tiny JSON writer producing exactly serde_json's compact bytes, so decisions can be compared
 * byte-for-byte with Sluice's: no spaces, fields in the order written, strings escaped like
 * serde_json (only '"', '\\' and control characters below 0x20; lowercase hex; non-ASCII raw).
 */
public final class Json {
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    private final StringBuilder sb = new StringBuilder(512);
    private boolean needComma;

    public Json begin() {
        sb.append('{');
        needComma = false;
        return this;
    }

    public Json end() {
        sb.append('}');
        needComma = true;
        return this;
    }

    private void key(String k) {
        if (needComma) {
            sb.append(',');
        }
        string(sb, k);
        sb.append(':');
        needComma = true;
    }

    public Json str(String k, String v) {
        key(k);
        if (v == null) {
            sb.append("null");
        } else {
            string(sb, v);
        }
        return this;
    }

    public Json num(String k, long v) {
        key(k);
        sb.append(v);
        return this;
    }

    public Json optNum(String k, Long v) {
        key(k);
        sb.append(v == null ? "null" : v.toString());
        return this;
    }

    public Json bool(String k, boolean v) {
        key(k);
        sb.append(v);
        return this;
    }

    public Json strArray(String k, Iterable<String> values) {
        key(k);
        sb.append('[');
        boolean first = true;
        for (String v : values) {
            if (!first) {
                sb.append(',');
            }
            string(sb, v);
            first = false;
        }
        sb.append(']');
        return this;
    }

    /** Starts a nested object under {@code k}; close it with {@link #end()}. */
    public Json object(String k) {
        key(k);
        sb.append('{');
        needComma = false;
        return this;
    }

    public byte[] bytes() {
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return sb.toString();
    }

    static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Lowercase hex of raw bytes (DLQ/late records), or null. */
    public static String hex(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        char[] out = new char[bytes.length * 2];
        for (int i = 0; i < bytes.length; i++) {
            out[2 * i] = HEX[(bytes[i] >> 4) & 0xf];
            out[2 * i + 1] = HEX[bytes[i] & 0xf];
        }
        return new String(out);
    }
}
