//! Latency samples in microseconds and their percentiles.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Nearest-rank percentile of unsorted samples; `None` without samples.
pub fn percentile(samples: &mut [u32], p: f64) -> Option<u32> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

pub fn micros(duration: Duration) -> u32 {
    duration.as_micros().min(u32::MAX as u128) as u32
}

/// p50, p99 and max of one distribution, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub samples: usize,
    pub p50: Option<u32>,
    pub p99: Option<u32>,
    pub max: Option<u32>,
}

impl Spread {
    pub fn of(samples: &mut [u32]) -> Spread {
        Spread {
            samples: samples.len(),
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
            max: samples.iter().copied().max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut samples, 50.0), Some(50));
        assert_eq!(percentile(&mut samples, 99.0), Some(99));
        assert_eq!(percentile(&mut samples, 100.0), Some(100));
        assert_eq!(percentile(&mut [7], 99.0), Some(7));
        assert_eq!(percentile(&mut [], 50.0), None);
        let spread = Spread::of(&mut [3, 1, 2]);
        assert_eq!(
            (spread.samples, spread.p50, spread.max),
            (3, Some(2), Some(3))
        );
    }
}
