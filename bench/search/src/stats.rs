//! Latency percentiles and CPU time of a run.

use serde_json::{Value, json};

/// One timed query.
pub struct Sample {
    pub kind: String,
    pub micros: u64,
    pub hits: usize,
}

/// The value at `p` (0 to 100) of sorted `values`, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(samples: &[&Sample]) -> Value {
    let mut micros: Vec<u64> = samples.iter().map(|s| s.micros).collect();
    micros.sort_unstable();
    let ms = |p: f64| percentile(&micros, p) as f64 / 1000.0;
    let hits: usize = samples.iter().map(|s| s.hits).sum();
    json!({
        "queries": samples.len(),
        "p50_ms": ms(50.0), "p90_ms": ms(90.0), "p99_ms": ms(99.0), "p999_ms": ms(99.9),
        "max_ms": micros.last().copied().unwrap_or(0) as f64 / 1000.0,
        "mean_results": if samples.is_empty() { 0.0 } else { hits as f64 / samples.len() as f64 },
        "zero_results": samples.iter().filter(|s| s.hits == 0).count(),
    })
}

/// Overall and per-kind summaries.
pub fn report(samples: &[Sample]) -> Value {
    let mut kinds: Vec<&str> = samples.iter().map(|s| s.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let per_kind: serde_json::Map<String, Value> = kinds
        .iter()
        .map(|k| (k.to_string(), summary(&samples.iter().filter(|s| s.kind == *k).collect::<Vec<_>>())))
        .collect();
    json!({"all": summary(&samples.iter().collect::<Vec<_>>()), "per_kind": per_kind})
}

/// CPU seconds (user + system) a process has used, from /proc; 0 when it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line: 11 and 12 counting from the state (3).
    // Clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!((percentile(&v, 50.0), percentile(&v, 99.0), percentile(&v, 100.0)), (50, 99, 100));
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
