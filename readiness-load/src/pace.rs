//! Waiting for an open model's intended start times.
//!
//! Tokio's timer has a 1 ms tick: a sleep ends on the first tick after its deadline, so
//! the scheduling lag (actual minus intended start) has a p99 of about 1–2 ms whatever the
//! machine does. [`Timer::Fine`] waits on a Linux `timerfd` instead: the kernel's
//! high-resolution timer wakes the runtime's event loop at the deadline, for one
//! `timerfd_settime` and one `read` per arrival (a few µs of CPU each) and no spinning.

use std::time::Duration;

use tokio::time::Instant;

use readiness_core::{Error, Result};

/// How a load waits for each intended start time of the open model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timer {
    /// Tokio's timer: no extra CPU, start times late by up to about 2 ms.
    #[default]
    Tokio,
    /// A `timerfd` per waiter (Linux): start times late by tens of µs when the generator
    /// has CPU to spare, at two system calls per arrival. Elsewhere: Tokio's timer to 1 ms
    /// before, then yielding in a loop (costs CPU).
    Fine,
}

/// One waiter's clock; each task that waits for start times owns one.
#[derive(Debug)]
pub(crate) struct Pacer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    #[cfg(not(target_os = "linux"))]
    fine: bool,
}

impl Pacer {
    /// A pacer for `timer`; [`Timer::Fine`] opens a timerfd (an error names the limit hit).
    pub(crate) fn new(timer: Timer) -> Result<Pacer> {
        #[cfg(target_os = "linux")]
        {
            let fd = match timer {
                Timer::Tokio => None,
                Timer::Fine => {
                    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
                    let fd = timerfd_create(
                        TimerfdClockId::Monotonic,
                        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
                    )
                    .map_err(|e| {
                        Error::Other(format!(
                            "the fine timer needs a timerfd per connection: {e} \
                             (raise the open-files limit with `ulimit -n`, or use Timer::Tokio)"
                        ))
                    })?;
                    Some(register(fd)?)
                }
            };
            Ok(Pacer { fd })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(Pacer {
                fine: timer == Timer::Fine,
            })
        }
    }

    /// Waits until `due` (returns at once when it has passed).
    pub(crate) async fn until(&mut self, due: Instant) {
        let now = Instant::now();
        if due <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        match &self.fd {
            None => tokio::time::sleep_until(due).await,
            Some(fd) => {
                if timerfd_wait(fd, due - now).await.is_err() {
                    // A timerfd that fails mid-run falls back to the coarse timer.
                    tokio::time::sleep_until(due).await;
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            if !self.fine {
                tokio::time::sleep_until(due).await;
                return;
            }
            if due - now > Duration::from_millis(2) {
                tokio::time::sleep_until(due - Duration::from_millis(1)).await;
            }
            while Instant::now() < due {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Registers the timerfd with the runtime's event loop.
#[cfg(target_os = "linux")]
#[expect(
    deprecated,
    reason = "AsyncFd::register is the same call made unsafe: its contract is that the \
              descriptor stays open for the AsyncFd's life, which an OwnedFd moved into it \
              guarantees; the workspace forbids unsafe code"
)]
fn register(fd: std::os::fd::OwnedFd) -> Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)
        .map_err(|e| Error::Other(format!("the fine timer could not be registered: {e}")))
}

#[cfg(target_os = "linux")]
async fn timerfd_wait(
    fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    after: Duration,
) -> std::io::Result<()> {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let after = after.max(Duration::from_nanos(1));
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos() as _,
        },
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    loop {
        let mut ready = fd.readable().await?;
        let mut expirations = [0u8; 8];
        match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
            Ok(result) => return result.map(|_| ()),
            // Woken without an expiration (spurious readiness): wait again.
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_timers_wait_until_the_deadline_and_not_before() {
        for timer in [Timer::Tokio, Timer::Fine] {
            let mut pacer = Pacer::new(timer).expect("pacer");
            for step in [0u64, 1, 3, 250, 1_500] {
                let due = Instant::now() + Duration::from_micros(step);
                pacer.until(due).await;
                assert!(Instant::now() >= due, "{timer:?} woke before the deadline");
            }
            // A deadline in the past returns at once, several times in a row.
            let past = Instant::now();
            for _ in 0..3 {
                pacer.until(past).await;
            }
        }
    }
}
