//! How often each workflow's state was asked for lately: the state cache's admission test
//! (ADR 44). Counts are kept per workflow (by a 64-bit hash of its id), up to a bound on
//! the workflows counted; every `sample` recordings all counts are halved and the zeros
//! dropped, so the counts follow recent use and old bursts fade.
//!
//! Exact counts rather than a count-min sketch: the workflows in flight are typically asked
//! for equally often (served in turn), and a sketch's collisions then decide admissions.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Counts saturate here: enough to tell hot from cold, and halving keeps them apart.
const MAX_COUNT: u8 = 15;

pub(super) struct Frequencies {
    counts: HashMap<u64, u8>,
    /// Most workflows counted; past it, a workflow not counted yet stays at zero.
    max_ids: usize,
    recorded: usize,
    sample: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl Frequencies {
    /// Counts for up to twice `capacity` workflows (16 bytes or so each), halved every ten
    /// recordings per workflow of `capacity`.
    pub(super) fn new(capacity: usize) -> Self {
        let max_ids = capacity.clamp(64, 1 << 20) * 2;
        Frequencies {
            counts: HashMap::new(),
            max_ids,
            recorded: 0,
            sample: 5 * max_ids,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn key(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub(super) fn record(&mut self, id: &str) {
        let key = self.key(id);
        let room = self.counts.len() < self.max_ids;
        match self.counts.get_mut(&key) {
            Some(c) => *c = (*c + 1).min(MAX_COUNT),
            None if room => {
                self.counts.insert(key, 1);
            }
            None => {}
        }
        self.recorded += 1;
        if self.recorded >= self.sample {
            self.counts.retain(|_, c| {
                *c /= 2;
                *c > 0
            });
            self.recorded = 0;
        }
    }

    pub(super) fn estimate(&self, id: &str) -> u8 {
        self.counts.get(&self.key(id)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_was_recorded_up_to_the_bound() {
        let mut f = Frequencies::new(64);
        for i in 0..128 {
            for _ in 0..(i % 4) {
                f.record(&format!("w{i}"));
            }
        }
        for i in 0..128 {
            assert_eq!(f.estimate(&format!("w{i}")), (i % 4) as u8, "w{i}");
        }
        assert_eq!(f.estimate("never"), 0);
        // 96 of 128 counted so far; room for 32 more, and no more.
        for i in 0..64 {
            f.record(&format!("late{i}"));
        }
        let counted = (0..64)
            .filter(|i| f.estimate(&format!("late{i}")) > 0)
            .count();
        assert_eq!(counted, 32);
    }

    #[test]
    fn counts_saturate_and_fade_with_the_sample() {
        let mut f = Frequencies::new(64);
        for _ in 0..100 {
            f.record("hot");
        }
        assert_eq!(f.estimate("hot"), MAX_COUNT);
        // 128 workflows counted at most: every 640 recordings halve the counts.
        for i in 0..600 {
            f.record(&format!("other{}", i % 8));
        }
        assert_eq!(f.estimate("hot"), MAX_COUNT / 2);
        assert!(f.estimate("other1") > 0);
    }
}
