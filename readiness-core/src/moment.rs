//! The moment something was done or happened, shared by every crate that times one: a
//! fault injected or undone (readiness-dr), a cause induced or cleared
//! (readiness-observability), a recovery action. One type, so a fault can start an alert's
//! timeline and a proxy's toxic can end an RPO window without conversion.
//!
//! The monotonic instant is tokio's ([`tokio::time::Instant`]): a test on a paused clock
//! (`#[tokio::test(start_paused = true)]`) moves it with `tokio::time::advance`.

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::DrillEvent;

/// When something was done, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    /// What was done (`kill SIGKILL 3f2a9c1b0d4e`, `queue depth 500`).
    pub what: String,
    /// When (monotonic, tokio's clock): time zero of a recovery timeline or an alert's,
    /// the end of an RPO window.
    pub at: Instant,
    /// When (wall clock), for the evidence.
    pub wall: OffsetDateTime,
}

impl Moment {
    /// Now.
    pub fn now(what: impl Into<String>) -> Self {
        Moment {
            what: what.into(),
            at: Instant::now(),
            wall: OffsetDateTime::now_utc(),
        }
    }

    /// At an instant already taken.
    pub fn at(at: Instant, wall: OffsetDateTime, what: impl Into<String>) -> Self {
        Moment {
            what: what.into(),
            at,
            wall,
        }
    }

    /// What was done.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// This moment as an event `since` a start (ms; negative when before it).
    pub fn event_since(&self, start: Instant) -> DrillEvent {
        DrillEvent::new(ms_between(start, self.at), self.what.clone())
    }
}

/// Milliseconds from `start` to `at` (negative when `at` is earlier).
pub fn ms_between(start: Instant, at: Instant) -> f64 {
    match at.checked_duration_since(start) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(start.duration_since(at).as_secs_f64() * 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// On a paused clock the moments move only when the test moves time.
    #[tokio::test(start_paused = true)]
    async fn moments_follow_a_paused_clock() {
        let fault = Moment::now("kill");
        tokio::time::advance(Duration::from_millis(1_500)).await;
        let back = Moment::now("start");
        assert_eq!(back.event_since(fault.at).at_ms, 1_500.0);
        assert_eq!(fault.event_since(back.at).at_ms, -1_500.0);
        assert_eq!(back.what(), "start");
    }
}
