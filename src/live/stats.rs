//! Small bounded measurements kept per stream.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// The most recent samples of a duration, for quantiles in /metrics. Bounded.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    samples: Mutex<VecDeque<Duration>>,
}

const KEPT: usize = 2048;

impl Recent {
    pub(crate) fn record(&self, d: Duration) {
        if let Ok(mut s) = self.samples.lock() {
            if s.len() == KEPT {
                s.pop_front();
            }
            s.push_back(d);
        }
    }

    /// Nearest-rank quantiles, plus the sample count.
    pub(crate) fn quantiles(&self, qs: &[f64]) -> (Vec<Duration>, usize) {
        let Ok(s) = self.samples.lock() else {
            return (Vec::new(), 0);
        };
        let mut sorted: Vec<Duration> = s.iter().copied().collect();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return (Vec::new(), 0);
        }
        let pick = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        (qs.iter().map(|q| pick(*q)).collect(), sorted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank_over_a_bounded_window() {
        let r = Recent::default();
        for ms in 1..=100 {
            r.record(Duration::from_millis(ms));
        }
        let (q, n) = r.quantiles(&[0.5, 0.99]);
        assert_eq!(n, 100);
        assert_eq!(q, vec![Duration::from_millis(50), Duration::from_millis(99)]);
        for _ in 0..5000 {
            r.record(Duration::from_millis(7));
        }
        assert_eq!(r.quantiles(&[0.5]).1, KEPT);
    }
}
