//! Which tier this server serves from, for `/health`, and what `baton start` found when it
//! chose it (issue 12): tier 1 is PostgreSQL, tier 2 the embedded SQLite file. A server on
//! tier 2 because its configured PostgreSQL could not be reached carries a [`Fallback`],
//! which the background check updates when PostgreSQL comes back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The tier a backend name stands for.
pub fn tier_of(backend: &str) -> u8 {
    if backend == "postgres" {
        1
    } else {
        2
    }
}

/// What `/health` tells about the server's start and tier.
#[derive(Debug)]
pub struct TierStatus {
    started: Instant,
    fallback: Option<Fallback>,
}

impl Default for TierStatus {
    fn default() -> Self {
        TierStatus::new(None)
    }
}

impl TierStatus {
    pub fn new(fallback: Option<Fallback>) -> Self {
        TierStatus {
            started: Instant::now(),
            fallback,
        }
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }
}

/// Serving from SQLite although a PostgreSQL URL is configured.
#[derive(Debug)]
pub struct Fallback {
    /// The PostgreSQL URL with any password hidden.
    pub primary: String,
    /// Why it was not used at start.
    pub reason: String,
    /// The `sqlite://` URL served from instead, for the `baton migrate` hint.
    pub sqlite_url: String,
    primary_reachable: AtomicBool,
}

impl Fallback {
    pub fn new(primary: String, reason: String, sqlite_url: String) -> Self {
        Fallback {
            primary,
            reason,
            sqlite_url,
            primary_reachable: AtomicBool::new(false),
        }
    }

    pub fn primary_reachable(&self) -> bool {
        self.primary_reachable.load(Ordering::Relaxed)
    }

    /// Records the latest check; true if that changed what was known.
    pub fn set_primary_reachable(&self, reachable: bool) -> bool {
        self.primary_reachable.swap(reachable, Ordering::Relaxed) != reachable
    }

    /// The `baton migrate` command that moves the fallback's work into PostgreSQL.
    pub fn migrate_command(&self) -> String {
        format!(
            "baton migrate --from {} --to {}",
            self.sqlite_url, self.primary
        )
    }

    /// The `/health` object describing this fallback.
    pub fn to_json(&self) -> serde_json::Value {
        let reachable = self.primary_reachable();
        let advice = if reachable {
            format!(
                "PostgreSQL is reachable again; stop this server, run `{}` to move the work done here, then `baton start` again",
                self.migrate_command()
            )
        } else {
            "PostgreSQL is still unreachable; serving from the SQLite file".to_string()
        };
        serde_json::json!({
            "primary": self.primary,
            "reason": self.reason,
            "servingFrom": self.sqlite_url,
            "primaryReachable": reachable,
            "advice": advice,
        })
    }
}
