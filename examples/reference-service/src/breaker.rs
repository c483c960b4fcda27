//! A circuit breaker: opens after N consecutive failures, lets a trial call through after
//! a timeout (half-open), closes after M consecutive successes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, as exported in `circuit_breaker_state` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed = 0,
    /// Calls are refused until the open period ends.
    Open = 1,
    /// Trial calls go through; successes close it, a failure opens it again.
    HalfOpen = 2,
}

impl State {
    /// Lowercase name for health bodies.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: u32,
    successes: u32,
    open_until: Option<Instant>,
}

/// A thread-safe circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
    failures_to_open: u32,
    open_for: Duration,
    successes_to_close: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(failures_to_open: u32, open_for: Duration, successes_to_close: u32) -> Self {
        Breaker {
            inner: Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
                successes: 0,
                open_until: None,
            }),
            failures_to_open,
            open_for,
            successes_to_close,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go through now (moves open to half-open when the period is over).
    pub fn allow(&self) -> bool {
        let mut s = self.lock();
        match s.state {
            State::Closed | State::HalfOpen => true,
            State::Open => {
                if s.open_until.is_some_and(|t| Instant::now() >= t) {
                    s.state = State::HalfOpen;
                    s.successes = 0;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records a successful call.
    pub fn success(&self) {
        let mut s = self.lock();
        s.failures = 0;
        if s.state == State::HalfOpen {
            s.successes += 1;
            if s.successes >= self.successes_to_close {
                s.state = State::Closed;
                s.open_until = None;
            }
        }
    }

    /// Records a failed call.
    pub fn failure(&self) {
        let mut s = self.lock();
        s.failures += 1;
        if s.state == State::HalfOpen || s.failures >= self.failures_to_open {
            s.state = State::Open;
            s.open_until = Some(Instant::now() + self.open_for);
            s.successes = 0;
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.lock().state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_half_opens_and_closes() {
        let b = Breaker::new(3, Duration::from_millis(30), 2);
        b.failure();
        b.failure();
        assert_eq!(b.state(), State::Closed);
        b.success();
        b.failure();
        b.failure();
        assert_eq!(b.state(), State::Closed, "a success resets the count");
        b.failure();
        assert_eq!(b.state(), State::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        assert_eq!(b.state(), State::HalfOpen);
        b.failure();
        assert_eq!(b.state(), State::Open, "a failed trial opens it again");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), State::HalfOpen);
        b.success();
        assert_eq!(b.state(), State::Closed);
    }
}
