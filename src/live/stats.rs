//! Small bounded measurements kept per stream.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
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

/// One stream's part ready delays: all renditions together and each rendition on its own (an
/// encoded rung that falls behind shows in its own line, not averaged into the source's).
#[derive(Debug, Default)]
pub(crate) struct PartDelays {
    all: Recent,
    by_rendition: Mutex<BTreeMap<String, Arc<Recent>>>,
}

impl PartDelays {
    pub(crate) fn record(&self, rendition: &str, d: Duration) {
        self.all.record(d);
        let one = match self.by_rendition.lock() {
            Ok(mut map) => match map.get(rendition) {
                Some(r) => r.clone(),
                None => map.entry(rendition.to_owned()).or_default().clone(),
            },
            Err(_) => return,
        };
        one.record(d);
    }

    /// Quantiles over every rendition's parts.
    pub(crate) fn all(&self) -> &Recent {
        &self.all
    }

    /// Each rendition's window, by rendition id.
    pub(crate) fn by_rendition(&self) -> Vec<(String, Arc<Recent>)> {
        match self.by_rendition.lock() {
            Ok(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => Vec::new(),
        }
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

    #[test]
    fn part_delays_keep_each_rendition_apart_and_all_together() {
        let d = PartDelays::default();
        for ms in 1..=10 {
            d.record("video", Duration::from_millis(ms));
            d.record("360p", Duration::from_millis(100 + ms));
        }
        assert_eq!(d.all().quantiles(&[0.5]), (vec![Duration::from_millis(10)], 20));
        let by: Vec<(String, Vec<Duration>)> =
            d.by_rendition().into_iter().map(|(id, r)| (id, r.quantiles(&[0.99]).0)).collect();
        assert_eq!(
            by,
            vec![
                ("360p".to_owned(), vec![Duration::from_millis(110)]),
                ("video".to_owned(), vec![Duration::from_millis(10)]),
            ]
        );
    }
}
