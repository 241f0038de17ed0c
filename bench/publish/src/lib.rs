//! Many RTMP publishers of one pre-encoded FLV file, in real time, for publisher load runs
//! (`bench/publishers.sh`): the file is read once, every connection sends the same tags at
//! their times (see [`publisher`]), and the run sums up how many publishers were held, how
//! far any fell behind real time, and why any stopped.
//!
//! It is its own process so that what it costs is not counted as the server's; one thread
//! drives hundreds of connections because each one only sleeps and writes.

pub mod flv;
pub mod publisher;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use flv::{FlvError, Tag};
pub use publisher::{Outcome, Target};

/// A run: `keys.len()` publishers joining evenly over `ramp`, all stopping after `ramp + seconds`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub address: String,
    pub app: String,
    pub keys: Vec<String>,
    pub ramp: Duration,
    pub seconds: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub publishers: usize,
    /// `publish` accepted.
    pub published: usize,
    /// Still publishing at the end.
    pub held: usize,
    /// Why the others stopped, by message.
    pub errors: BTreeMap<String, usize>,
    pub tags_sent: u64,
    pub bytes_sent: u64,
    /// Sent bit rate over all publishers (Mb/s).
    pub megabits_per_second: f64,
    /// The worst lag behind real time of the publishers, p50/p99/max (ms).
    pub max_lag_ms_p50: u64,
    pub max_lag_ms_p99: u64,
    pub max_lag_ms_max: u64,
}

impl Summary {
    pub fn of(outcomes: &[Outcome], wall: Duration) -> Self {
        let mut s = Summary { publishers: outcomes.len(), ..Summary::default() };
        let mut lags: Vec<u64> = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            s.published += usize::from(o.published);
            s.held += usize::from(o.held);
            if let Some(e) = &o.error {
                *s.errors.entry(e.clone()).or_default() += 1;
            }
            s.tags_sent += o.tags_sent;
            s.bytes_sent += o.bytes_sent;
            lags.push(o.max_lag_ms);
        }
        lags.sort_unstable();
        let at = |q: f64| lags.get(((lags.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
        (s.max_lag_ms_p50, s.max_lag_ms_p99, s.max_lag_ms_max) = (at(0.5), at(0.99), at(1.0));
        if wall > Duration::ZERO {
            s.megabits_per_second = (s.bytes_sent as f64 * 8.0 / 1e6 / wall.as_secs_f64() * 10.0).round() / 10.0;
        }
        s
    }
}

/// Runs every publisher of `options` with `tags`; returns each one's outcome, in key order.
pub async fn run(tags: Vec<Tag>, options: &RunOptions) -> Vec<Outcome> {
    let tags = Arc::new(tags);
    let start = Instant::now();
    let until = start + options.ramp + options.seconds;
    let count = options.keys.len().max(1);
    let gap = options.ramp.checked_div(u32::try_from(count).unwrap_or(u32::MAX)).unwrap_or_default();
    let mut tasks = Vec::with_capacity(options.keys.len());
    for key in &options.keys {
        let target = Target { address: options.address.clone(), app: options.app.clone(), key: key.clone(), until };
        tasks.push(tokio::spawn(publisher::publish(tags.clone(), target)));
        tokio::time::sleep(gap).await;
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes
            .push(task.await.unwrap_or_else(|e| Outcome { error: Some(format!("task: {e}")), ..Outcome::default() }));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_who_held_and_why_the_others_stopped() {
        let ok = Outcome {
            published: true,
            held: true,
            tags_sent: 10,
            bytes_sent: 1_000_000,
            max_lag_ms: 3,
            ..Outcome::default()
        };
        let refused = Outcome { error: Some("the server closed the connection".into()), ..Outcome::default() };
        let late = Outcome { max_lag_ms: 900, ..ok.clone() };
        let s = Summary::of(&[ok.clone(), refused.clone(), late, refused], Duration::from_secs(1));
        assert_eq!((s.publishers, s.published, s.held), (4, 2, 2));
        assert_eq!(s.errors.get("the server closed the connection"), Some(&2));
        assert_eq!(s.bytes_sent, 2_000_000);
        assert_eq!(s.megabits_per_second, 16.0);
        assert_eq!(s.max_lag_ms_max, 900);
    }
}
