//! One token bucket per key, in a map whose size is bounded: when it is full, buckets that have
//! refilled completely are forgotten (forgetting a full bucket changes nothing), and if that is
//! not enough, the least recently used go until a quarter of the room is free. So a flood of
//! distinct keys (addresses of a botnet, guessed names) costs bounded memory and one sweep per
//! quarter of the map; the price is that a key idle for longest may be forgotten while still
//! limited (its next request starts with a full bucket). Keys longer than [`MAX_KEY_BYTES`] are
//! cut to it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::{RateSpec, TokenBucket};

/// Keys kept by default before old ones are swept.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// Longest key kept (a longer one is cut; keys are addresses, ids and names).
pub const MAX_KEY_BYTES: usize = 128;

fn bounded(key: &str) -> &str {
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let mut end = MAX_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Buckets by key, all with the same [`RateSpec`].
#[derive(Debug)]
pub struct KeyedLimiter {
    spec: RateSpec,
    max_keys: usize,
    buckets: Mutex<HashMap<String, (TokenBucket, Instant)>>,
}

impl KeyedLimiter {
    pub fn new(spec: RateSpec) -> Self {
        Self::with_max_keys(spec, DEFAULT_MAX_KEYS)
    }

    pub fn with_max_keys(spec: RateSpec, max_keys: usize) -> Self {
        Self { spec, max_keys: max_keys.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    pub fn spec(&self) -> RateSpec {
        self.spec
    }

    /// Takes one token from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let key = bounded(key);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            Self::sweep(&mut buckets, now, self.max_keys);
        }
        let (bucket, used) = buckets.entry(key.to_owned()).or_insert_with(|| (TokenBucket::new(self.spec, now), now));
        *used = now;
        bucket.try_take(now)
    }

    /// Whether `key` has a token now, without taking it (for limits that count only failures).
    pub fn peek(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        match buckets.get_mut(bounded(key)) {
            Some((bucket, _)) => {
                let mut probe = bucket.clone();
                probe.try_take(now)
            }
            None => Ok(()),
        }
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sweep(buckets: &mut HashMap<String, (TokenBucket, Instant)>, now: Instant, max_keys: usize) {
        let target = max_keys - max_keys / 4;
        buckets.retain(|_, (bucket, _)| !bucket.is_full(now));
        if buckets.len() > target {
            let mut by_use: Vec<Instant> = buckets.values().map(|(_, used)| *used).collect();
            by_use.sort_unstable();
            let cutoff = by_use[buckets.len() - target];
            buckets.retain(|_, (_, used)| *used >= cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_key_has_its_own_budget() {
        let limiter = KeyedLimiter::new(RateSpec::new(2, Duration::from_secs(10)));
        assert!(limiter.check("a").is_ok() && limiter.check("a").is_ok());
        assert_eq!(limiter.check("a"), Err(Duration::from_secs(5)));
        assert!(limiter.check("b").is_ok(), "another key is not affected");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(limiter.check("a").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_keys_stays_bounded_and_limited_keys_stay_limited() {
        let limiter = KeyedLimiter::with_max_keys(RateSpec::new(1, Duration::from_secs(60)), 100);
        limiter.check("victim").unwrap();
        assert!(limiter.check("victim").is_err());
        for i in 0..1000 {
            let _ = limiter.check(&format!("k{i}"));
            tokio::time::advance(Duration::from_millis(1)).await;
            assert!(limiter.len() <= 100, "{}", limiter.len());
        }
        // Full buckets are forgotten first, recently used ones last: a key that just used its
        // budget and is checked again is still refused.
        limiter.check("fresh").unwrap();
        assert!(limiter.check("fresh").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn peeking_takes_nothing_and_long_keys_are_cut() {
        let limiter = KeyedLimiter::new(RateSpec::new(1, Duration::from_secs(60)));
        assert!(limiter.peek("a").is_ok() && limiter.peek("a").is_ok());
        limiter.check("a").unwrap();
        assert!(limiter.peek("a").is_err());
        let long = "x".repeat(10_000);
        limiter.check(&long).unwrap();
        assert!(limiter.check(&format!("{long}y")).is_err(), "the same key once cut to 128 bytes");
    }
}
