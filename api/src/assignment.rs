//! Which input partitions each worker owns. Kafka Streams' model: a task per partition; rescaling moves whole
//! partitions (and their state stores) between workers, never keys.

/// Splits partitions `0..partitions` over `workers` workers as contiguous, balanced ranges: the first
/// `partitions % workers` workers get one extra. Returns one list per worker ordinal; empty if `workers` is 0.
/// More workers than partitions leaves the extra workers idle (empty lists), which callers should reject.
pub fn assign_partitions(partitions: u32, workers: u32) -> Vec<Vec<i32>> {
    if workers == 0 {
        return Vec::new();
    }
    let base = partitions / workers;
    let extra = partitions % workers;
    let mut next = 0u32;
    (0..workers)
        .map(|w| {
            let n = base + u32::from(w < extra);
            let owned: Vec<i32> = (next..next + n)
                .filter_map(|p| i32::try_from(p).ok())
                .collect();
            next += n;
            owned
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::assign_partitions;

    #[test]
    fn every_partition_exactly_once_and_balanced() {
        for partitions in 0..20u32 {
            for workers in 1..8u32 {
                let a = assign_partitions(partitions, workers);
                assert_eq!(a.len(), workers as usize);
                let mut all: Vec<i32> = a.iter().flatten().copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..partitions as i32).collect::<Vec<_>>());
                let sizes: Vec<usize> = a.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{partitions}/{workers}: {sizes:?}");
            }
        }
    }

    #[test]
    fn six_partitions_over_four_workers() {
        assert_eq!(
            assign_partitions(6, 4),
            vec![vec![0, 1], vec![2, 3], vec![4], vec![5]]
        );
    }
}
