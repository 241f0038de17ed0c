//! Connection caps per client address, for the listeners (HTTP and RTMP): one address must not
//! be able to take every slot of a server. IPv6 clients count by their /64 (one host usually has
//! a whole /64), IPv4-mapped addresses as the IPv4 address they are. A slot is held by the
//! [`ConnectionSlot`] guard and given back when it drops. Also [`ThrottledLog`]: refusals come in
//! floods, so their log lines are written at most once per interval with a count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The key an address counts under.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// At most `max_per_address` connections per address.
#[derive(Debug, Clone)]
pub struct PerAddressCap {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place under its address's cap.
#[derive(Debug)]
pub struct ConnectionSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl PerAddressCap {
    pub fn new(max_per_address: usize) -> Self {
        Self { max: max_per_address.max(1), open: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// A slot for a connection from `ip`, or `None` when its address has the maximum open.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let key = key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { key, open: self.open.clone() })
    }

    /// Connections open from `ip`'s address.
    pub fn open(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(&key(ip)).copied().unwrap_or(0)
    }
}

/// Lets a kind of log line through at most once per `every`, counting the ones held back.
#[derive(Debug)]
pub struct ThrottledLog {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl ThrottledLog {
    pub const fn new(every: Duration) -> Self {
        Self { every, state: Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a line should be written now, `n` being how many were held back since the
    /// last one; `None` to stay quiet.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held) = &mut *state;
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_slots_come_back() {
        let cap = PerAddressCap::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let first = cap.try_acquire(a);
        let second = cap.try_acquire(a);
        assert!(first.is_some() && second.is_some());
        assert!(cap.try_acquire(a).is_none(), "a third from one address is refused");
        assert!(cap.try_acquire("10.0.0.2".parse().unwrap_or(a)).is_some(), "another address is not");
        drop(first);
        assert!(cap.try_acquire(a).is_some(), "a closed connection frees its slot");
        // One /64 is one client; a v4-mapped address is its IPv4 address.
        let cap = PerAddressCap::new(1);
        let _held = cap.try_acquire("2001:db8:1:2::1".parse().unwrap_or(a));
        assert!(cap.try_acquire("2001:db8:1:2::ffff".parse().unwrap_or(a)).is_none());
        let _v4 = cap.try_acquire("192.0.2.7".parse().unwrap_or(a));
        assert!(cap.try_acquire("::ffff:192.0.2.7".parse().unwrap_or(a)).is_none());
    }

    #[test]
    fn a_flood_of_lines_becomes_one_per_interval_with_a_count() {
        let log = ThrottledLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.allow_at(t0), Some(0));
        for i in 1..100 {
            assert_eq!(log.allow_at(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.allow_at(t0 + Duration::from_secs(10)), Some(99), "the next line says how many were held");
    }
}
