//! What a run's logs add up to: request counts by kind and outcome, distinct objects, and the
//! delays, as percentiles. Everything counts from `measured_from` (once all viewers joined).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;

use crate::RunLog;
use crate::viewer::{Fetch, Kind};

/// Percentiles of a list of milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut values: Vec<f64>) -> Self {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((values.len() as f64 - 1.0) * q).round() as usize;
            (values[i.min(values.len() - 1)] * 10.0).round() / 10.0
        };
        Self { count: values.len(), p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: at(1.0) }
    }
}

/// A run, summed up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub viewers: usize,
    pub seconds: f64,
    pub requests: usize,
    pub requests_per_second: f64,
    pub by_kind: BTreeMap<Kind, usize>,
    /// Answers other than 200, by status, or by why there was none (`timeout`, `connect`,
    /// `closed`, `other`).
    pub failures: BTreeMap<String, usize>,
    /// Requests sent again after their connection failed (counted in `failures` only when the
    /// second try failed too).
    pub retried: usize,
    /// Distinct objects (keys) the viewers asked for, by kind.
    pub distinct: BTreeMap<Kind, usize>,
    /// Distinct objects over the whole run, the ramp included (what an origin behind a
    /// perfect cache would be asked for).
    pub distinct_whole_run: usize,
    /// Requests the probe made over the whole run (straight to the origin).
    pub probe_requests: usize,
    pub bytes: u64,
    /// A part's last byte at a viewer after the part's media ended at capture (ms): capture to
    /// delivery, packaging included.
    pub part_after_capture_ms: Percentiles,
    /// A blocking playlist or hinted part at a viewer after the probe got the same object from
    /// the origin (ms): what the path in between (a cache) adds.
    pub after_probe_ms: Percentiles,
    /// The probe's own part delivery after capture (ms).
    pub probe_part_after_capture_ms: Percentiles,
}

fn counted(f: &Fetch, from: Option<Instant>) -> bool {
    from.is_none_or(|t| f.sent >= t)
}

fn part_delays<'a>(
    fetches: impl Iterator<Item = &'a Fetch>,
    ends: &HashMap<String, std::time::SystemTime>,
) -> Vec<f64> {
    fetches
        .filter(|f| matches!(f.kind, Kind::HintedPart | Kind::Part) && f.status == Some(200))
        .filter_map(|f| {
            let end = ends.get(&f.key)?;
            let ms = match f.done_wall.duration_since(*end) {
                Ok(d) => d.as_secs_f64() * 1e3,
                Err(e) => -e.duration().as_secs_f64() * 1e3,
            };
            Some(ms)
        })
        .collect()
}

impl Summary {
    pub fn of(log: &RunLog) -> Self {
        let from = log.measured_from;
        let fetches: Vec<&Fetch> = log.viewers.iter().flat_map(|v| &v.fetches).filter(|f| counted(f, from)).collect();
        let mut s = Summary { viewers: log.viewers.len(), requests: fetches.len(), ..Summary::default() };
        let (first, last) = (fetches.iter().map(|f| f.sent).min(), fetches.iter().map(|f| f.done).max());
        if let (Some(a), Some(b)) = (first, last) {
            s.seconds = (b - a).as_secs_f64();
            s.requests_per_second = if s.seconds > 0.0 { (fetches.len() as f64 / s.seconds).round() } else { 0.0 };
        }
        let mut distinct: BTreeMap<Kind, HashSet<&str>> = BTreeMap::new();
        for f in &fetches {
            *s.by_kind.entry(f.kind).or_default() += 1;
            distinct.entry(f.kind).or_default().insert(&f.key);
            s.bytes += f.bytes;
            match f.status {
                Some(200) => {}
                Some(status) => *s.failures.entry(status.to_string()).or_default() += 1,
                None => *s.failures.entry(f.error.unwrap_or("other").to_owned()).or_default() += 1,
            }
            s.retried += usize::from(f.retried);
        }
        s.distinct = distinct.into_iter().map(|(k, v)| (k, v.len())).collect();
        s.distinct_whole_run =
            log.viewers.iter().flat_map(|v| &v.fetches).map(|f| f.key.as_str()).collect::<HashSet<_>>().len();
        s.probe_requests = log.probe.as_ref().map_or(0, |p| p.fetches.len());
        let mut ends = HashMap::new();
        for v in log.viewers.iter().chain(&log.probe) {
            ends.extend(v.part_ends.iter().map(|(k, t)| (k.clone(), *t)));
        }
        s.part_after_capture_ms = Percentiles::of(part_delays(fetches.iter().copied(), &ends));
        if let Some(probe) = &log.probe {
            let first: HashMap<&str, Instant> = probe
                .fetches
                .iter()
                .filter(|f| f.status == Some(200) && matches!(f.kind, Kind::BlockingPlaylist | Kind::HintedPart))
                .map(|f| (f.key.as_str(), f.done))
                .collect();
            let behind = fetches
                .iter()
                .filter(|f| f.status == Some(200) && matches!(f.kind, Kind::BlockingPlaylist | Kind::HintedPart))
                .filter_map(|f| {
                    let probe_done = *first.get(f.key.as_str())?;
                    // Negative when the viewer had it before the probe did.
                    Some(if f.done >= probe_done {
                        (f.done - probe_done).as_secs_f64() * 1e3
                    } else {
                        -((probe_done - f.done).as_secs_f64() * 1e3)
                    })
                })
                .collect();
            s.after_probe_ms = Percentiles::of(behind);
            s.probe_part_after_capture_ms =
                Percentiles::of(part_delays(probe.fetches.iter().filter(|f| counted(f, from)), &ends));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 51.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        assert_eq!(Percentiles::of(vec![f64::NAN, 2.0]).count, 1);
    }
}
