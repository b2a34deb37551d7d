//! A cheap look at a record's event time without a full decode, used only to *choose* which buffered
//! record of a task to process next (the earliest in event time, as Kafka Streams does across partitions).
//! The choice is recorded in the progress log, so it never affects determinism; a wrong or missing answer
//! only changes the order, never the validation (the processor still decodes strictly).

/// The integer after the first `"event_time_ms":` in `value`, if it looks like one.
pub fn peek_event_time_ms(value: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"event_time_ms\"";
    let start = value.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = value.get(start..)?;
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    std::str::from_utf8(rest.get(..digits)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::peek_event_time_ms;

    #[test]
    fn finds_the_field() {
        assert_eq!(
            peek_event_time_ms(br#"{"a":1,"event_time_ms": 1767225600000}"#),
            Some(1_767_225_600_000)
        );
        assert_eq!(peek_event_time_ms(br#"{"event_time_ms":5,"x":2}"#), Some(5));
    }

    #[test]
    fn gives_up_quietly_on_anything_odd() {
        for bad in [
            &b""[..],
            b"{}",
            br#"{"event_time_ms":-5}"#,
            br#"{"event_time_ms":"7"}"#,
            br#"{"event_time_ms""#,
            b"\xff\xfe",
        ] {
            assert_eq!(peek_event_time_ms(bad), None);
        }
    }
}
