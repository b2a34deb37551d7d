package dev.sluice.flinkfraud.logic;

/** Why a record goes to the DLQ: sluice-core's {@code DecodeError} kind and its reason text. */
public final class DecodeError extends Exception {
    private final String kind;

    public DecodeError(String kind, String reason) {
        super(reason, null, false, false);
        this.kind = kind;
    }

    public String kind() {
        return kind;
    }

    public String reason() {
        return getMessage();
    }
}
