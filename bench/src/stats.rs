//! Latency percentiles over recorded samples.

use serde::Serialize;

/// Percentiles of a latency sample, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Nearest-rank percentiles of `samples_ms` (sorted in place).
pub fn percentiles(samples_ms: &mut [f64]) -> Percentiles {
    if samples_ms.is_empty() {
        return Percentiles::default();
    }
    samples_ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = ((q * samples_ms.len() as f64).ceil() as usize).clamp(1, samples_ms.len());
        samples_ms[rank - 1]
    };
    Percentiles {
        samples: samples_ms.len(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: samples_ms[samples_ms.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!(
            (p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms),
            (500.0, 990.0, 999.0, 1000.0)
        );
        assert_eq!(percentiles(&mut []).samples, 0);
    }
}
