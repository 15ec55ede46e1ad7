//! Back-off for failed authentication, per client address: after `free_failures` failures in
//! a row an address is refused (429 with `Retry-After`) without its credentials being
//! checked, for a time that doubles with each further failure up to `max_block`. A success
//! clears the address. At most `max_addresses` are tracked; past that the entry seen least
//! recently is forgotten.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct BackoffConfig {
    pub free_failures: u32,
    pub first_block: Duration,
    pub max_block: Duration,
    pub max_addresses: usize,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            free_failures: 10,
            first_block: Duration::from_secs(1),
            max_block: Duration::from_secs(300),
            max_addresses: 10_000,
        }
    }
}

struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

pub struct Backoff {
    config: BackoffConfig,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(wait)` while `addr` is blocked.
    pub fn blocked(&self, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries.lock();
        let until = entries.get(&addr)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    pub fn failed(&self, addr: IpAddr) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if !entries.contains_key(&addr) && entries.len() >= self.config.max_addresses {
            // Bounded memory: forget the address seen least recently.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(a, _)| *a)
            {
                entries.remove(&oldest);
            }
        }
        let e = entries.entry(addr).or_insert(Entry {
            failures: 0,
            blocked_until: None,
            last_seen: now,
        });
        e.failures = e.failures.saturating_add(1);
        e.last_seen = now;
        if e.failures >= self.config.free_failures {
            let doublings = (e.failures - self.config.free_failures).min(20);
            let block = self
                .config
                .first_block
                .saturating_mul(1u32 << doublings)
                .min(self.config.max_block);
            e.blocked_until = Some(now + block);
        }
    }

    pub fn succeeded(&self, addr: IpAddr) {
        self.entries.lock().remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_free_failures_and_doubles() {
        let b = Backoff::new(BackoffConfig {
            free_failures: 3,
            first_block: Duration::from_secs(10),
            max_block: Duration::from_secs(25),
            max_addresses: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        b.failed(a);
        b.failed(a);
        assert_eq!(b.blocked(a), None);
        b.failed(a);
        let first = b.blocked(a).expect("blocked after 3");
        assert!(first <= Duration::from_secs(10) && first > Duration::from_secs(5));
        b.failed(a);
        let second = b.blocked(a).expect("still blocked");
        assert!(second > Duration::from_secs(15), "doubled: {second:?}");
        b.failed(a);
        assert!(b.blocked(a).unwrap() <= Duration::from_secs(25), "capped");
        b.succeeded(a);
        assert_eq!(b.blocked(a), None);
        // Bounded: a third address pushes out the least recently seen.
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
            "10.0.0.4".parse().unwrap(),
        );
        for ip in [x, y, z] {
            for _ in 0..3 {
                b.failed(ip);
            }
        }
        assert!(b.entries.lock().len() <= 2);
        assert_eq!(b.blocked(x), None, "the oldest was forgotten");
        assert!(b.blocked(z).is_some());
    }
}
