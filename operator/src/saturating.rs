//! Conversions from the spec's durations and counts to the signed numbers of clock arithmetic and status
//! fields. They saturate instead of failing: a duration beyond `i64::MAX` milliseconds (292 million years)
//! means "never", and a count beyond `i32::MAX` cannot occur for pods, partitions or savepoints.

use sluice_crds::Millis;

/// `d` in milliseconds for arithmetic with timestamps; `i64::MAX` (never) when it does not fit.
pub fn millis(d: Millis) -> i64 {
    i64::try_from(d.0).unwrap_or(i64::MAX)
}

/// The count `n` (never negative) as the `i32` of a status field or Kubernetes object; `i32::MAX` when it
/// does not fit.
pub fn to_i32<T: TryInto<i32>>(n: T) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// The count `n` (never negative) as an `i64` (byte counts in status); `i64::MAX` when it does not fit.
pub fn to_i64<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_fit_saturate() {
        assert_eq!(millis(Millis(1_500)), 1_500);
        assert_eq!(millis(Millis(u64::MAX)), i64::MAX);
        assert_eq!(to_i32(7usize), 7);
        assert_eq!(to_i32(u32::MAX), i32::MAX);
        assert_eq!(to_i64(u64::MAX), i64::MAX);
    }
}
