//! Time as a dependency, so tests can control it.

use chrono::{DateTime, SubsecRound, Utc};

/// Where the service reads the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, at microsecond precision (what both databases store).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
