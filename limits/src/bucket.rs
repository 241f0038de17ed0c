//! A token bucket: holds up to `burst` tokens and refills `burst` tokens per `period`,
//! continuously. Time comes from `tokio::time::Instant`, so tests drive it with a paused clock.
//! The chat's Redis backend implements the same arithmetic in a Lua script so that a user's
//! budget is shared across nodes (see `chat/src/backend/redis/post.lua`).

use std::time::Duration;

use tokio::time::Instant;

/// `burst` messages per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    pub burst: u32,
    pub period: Duration,
}

impl RateSpec {
    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }

    pub fn is_valid(&self) -> bool {
        self.burst > 0 && !self.period.is_zero()
    }

    /// Time to refill one token.
    fn per_token(&self) -> Duration {
        self.period / self.burst.max(1)
    }
}

/// A token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    spec: RateSpec,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(spec: RateSpec, now: Instant) -> Self {
        Self { spec, tokens: f64::from(spec.burst), last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        let per_token = self.spec.per_token().as_secs_f64();
        if per_token > 0.0 {
            self.tokens = (self.tokens + elapsed.as_secs_f64() / per_token).min(f64::from(self.spec.burst));
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(self.spec.per_token().mul_f64(missing))
        }
    }

    /// True when the bucket is full (so forgetting it changes nothing).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.spec.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill_on_paused_clock() {
        let spec = RateSpec::new(5, Duration::from_secs(10));
        let mut b = TokenBucket::new(spec, Instant::now());
        for _ in 0..5 {
            b.try_take(Instant::now()).unwrap();
        }
        let wait = b.try_take(Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2));
        tokio::time::advance(Duration::from_secs(1)).await;
        let wait = b.try_take(Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        b.try_take(Instant::now()).unwrap();
        assert!(b.try_take(Instant::now()).is_err());
        // A long pause refills to the burst, never beyond.
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(b.is_full(Instant::now()));
        for _ in 0..5 {
            b.try_take(Instant::now()).unwrap();
        }
        assert!(b.try_take(Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn sustained_rate_is_burst_per_period() {
        let spec = RateSpec::new(8, Duration::from_secs(10));
        let mut b = TokenBucket::new(spec, Instant::now());
        let mut sent = 0;
        // Try every 100 ms for 60 s: 8 initial + 6 * 8 refilled.
        for _ in 0..600 {
            if b.try_take(Instant::now()).is_ok() {
                sent += 1;
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert!((55..=57).contains(&sent), "{sent}");
    }
}
