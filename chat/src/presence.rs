//! Presence: who is watching a room, counted once per viewer key, with expiry.
//!
//! A viewer key is an identity id for a chat socket; the HLS side will use the same key for a
//! player session, so someone with both a chat socket and a player counts once. Entries expire
//! `presence_ttl` after their last touch, so a crashed node's viewers disappear on their own.
//! [`LocalPresence`] is what one node holds (its own sockets, refcounted, refreshed by the
//! service); [`PresenceTable`] is the shared table of the in-process backend (the Redis backend
//! keeps the same thing in a sorted set scored by expiry).

use std::collections::HashMap;

use tokio::time::Instant;

use crate::protocol::Viewers;

/// Sockets of this node, per room and viewer key (one user may have several tabs open).
#[derive(Debug, Default)]
pub struct LocalPresence {
    rooms: HashMap<String, HashMap<String, usize>>,
}

impl LocalPresence {
    /// Returns true for the first socket of this key in this room.
    pub fn join(&mut self, room: &str, key: &str) -> bool {
        let count = self.rooms.entry(room.to_owned()).or_default().entry(key.to_owned()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Returns true when the last socket of this key in this room left.
    pub fn leave(&mut self, room: &str, key: &str) -> bool {
        let Some(keys) = self.rooms.get_mut(room) else {
            return false;
        };
        let last = match keys.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                keys.remove(key);
                true
            }
            None => false,
        };
        if keys.is_empty() {
            self.rooms.remove(room);
        }
        last
    }

    /// Every room with its present keys, for the periodic refresh.
    pub fn snapshot(&self) -> Vec<(String, Vec<String>)> {
        self.rooms.iter().map(|(room, keys)| (room.clone(), keys.keys().cloned().collect())).collect()
    }
}

/// Keys with expiry plus the peak count: one room's presence in the in-process backend.
#[derive(Debug, Default)]
pub struct PresenceTable {
    expiries: HashMap<String, Instant>,
    peak: u64,
}

impl PresenceTable {
    pub fn touch(&mut self, key: &str, expires: Instant) {
        let e = self.expiries.entry(key.to_owned()).or_insert(expires);
        *e = (*e).max(expires);
    }

    pub fn remove(&mut self, key: &str) {
        self.expiries.remove(key);
    }

    /// Drops expired keys and returns the counts (updating the peak).
    pub fn count(&mut self, now: Instant) -> Viewers {
        self.expiries.retain(|_, e| *e > now);
        let current = self.expiries.len() as u64;
        self.peak = self.peak.max(current);
        Viewers { current, peak: self.peak }
    }

    /// True when nothing is present and nothing worth keeping is left (peak aside).
    pub fn is_empty(&self) -> bool {
        self.expiries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn local_presence_refcounts_tabs() {
        let mut p = LocalPresence::default();
        assert!(p.join("r", "u"));
        assert!(!p.join("r", "u"));
        assert!(p.join("r", "v"));
        assert!(!p.leave("r", "u"));
        assert!(p.leave("r", "u"));
        assert!(!p.leave("r", "u"));
        assert_eq!(p.snapshot(), vec![("r".to_owned(), vec!["v".to_owned()])]);
        assert!(p.leave("r", "v"));
        assert!(p.snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn table_expires_and_keeps_peak() {
        let mut t = PresenceTable::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(30);
        t.touch("a", now + ttl);
        t.touch("b", now + ttl);
        t.touch("b", now + ttl); // same key counts once
        assert_eq!(t.count(now), Viewers { current: 2, peak: 2 });
        t.touch("a", now + ttl * 2);
        assert_eq!(t.count(now + ttl), Viewers { current: 1, peak: 2 });
        t.remove("a");
        assert_eq!(t.count(now + ttl), Viewers { current: 0, peak: 2 });
        assert!(t.is_empty());
    }
}
