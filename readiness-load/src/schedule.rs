//! Load models and the arrival schedule of the open model.

use std::fmt;
use std::time::Duration;

use readiness_core::{Error, Result};

/// Most iterations one run may schedule, whatever the rate and duration.
pub const MAX_ITERATIONS: u64 = 100_000_000;

/// One stage of a ramping arrival rate: over `duration`, the rate moves linearly to `target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// The rate (per second) at the end of the stage.
    pub target: f64,
}

/// How load is generated.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Model {
    /// Open model: iterations start at scheduled times whatever the target does; latency is
    /// measured from the scheduled time (coordinated omission corrected).
    Open {
        /// Rate at time zero.
        start_rate: f64,
        /// Stages, in order.
        stages: Vec<RateStage>,
    },
    /// Closed model: `users` virtual users, each starting its next iteration when the last
    /// one finished (and `think` after it).
    Closed {
        /// Virtual users.
        users: usize,
        /// How long they run.
        duration: Duration,
        /// What each user waits after an iteration before the next (a person reading what
        /// came back); zero: at once.
        think: Duration,
    },
    /// Closed model with ramping stages: the number of active virtual users moves linearly
    /// from `start` to each stage's target over the stage.
    RampingUsers {
        /// Users at time zero.
        start: usize,
        /// (duration, users at the end of the stage), in order.
        stages: Vec<(Duration, usize)>,
    },
}

fn check_rate(rate: f64, what: &str) -> Result<()> {
    if !rate.is_finite() || rate < 0.0 {
        return Err(Error::InvalidInput(format!(
            "{what} must be a finite rate of 0/s or more, got {rate}"
        )));
    }
    Ok(())
}

impl Model {
    /// A constant arrival rate (per second) for `duration`.
    pub fn constant_rate(rate: f64, duration: Duration) -> Result<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Error::InvalidInput(format!(
                "an arrival rate must be greater than 0/s, got {rate}; for no load, do not run one"
            )));
        }
        Model::ramping_rate(
            rate,
            &[RateStage {
                duration,
                target: rate,
            }],
        )
    }

    /// A rate that starts at `start_rate` and follows `stages` (each linear to its target).
    pub fn ramping_rate(start_rate: f64, stages: &[RateStage]) -> Result<Self> {
        check_rate(start_rate, "the start rate")?;
        if stages.is_empty() {
            return Err(Error::InvalidInput(
                "a ramping rate needs at least one stage".into(),
            ));
        }
        for (i, s) in stages.iter().enumerate() {
            check_rate(s.target, &format!("the target of stage {}", i + 1))?;
            if s.duration.is_zero() {
                return Err(Error::InvalidInput(format!(
                    "stage {} has a zero duration",
                    i + 1
                )));
            }
        }
        let model = Model::Open {
            start_rate,
            stages: stages.to_vec(),
        };
        if model.expected_iterations() < 1.0 {
            return Err(Error::InvalidInput(format!(
                "{model} schedules no iteration at all"
            )));
        }
        if model.expected_iterations() > MAX_ITERATIONS as f64 {
            return Err(Error::InvalidInput(format!(
                "{model} would schedule {:.0} iterations; the limit is {MAX_ITERATIONS}",
                model.expected_iterations()
            )));
        }
        Ok(model)
    }

    /// `users` virtual users for `duration`.
    pub fn closed(users: usize, duration: Duration) -> Result<Self> {
        if users == 0 {
            return Err(Error::InvalidInput(
                "a closed model needs at least 1 virtual user".into(),
            ));
        }
        if duration.is_zero() {
            return Err(Error::InvalidInput(
                "a load needs a duration greater than zero".into(),
            ));
        }
        Ok(Model::Closed {
            users,
            duration,
            think: Duration::ZERO,
        })
    }

    /// `users` virtual users for `duration`, each waiting `think` after every iteration
    /// before its next, as people reading a page do: the users' throughput is at most
    /// `users / think`, and it grows with the users only while the service keeps up (the
    /// seeds' "linear throughput scaling: 35 req/s (50 users) → 140 req/s (200 users)";
    /// see [`crate::try_assert_scales_linearly`]). The latency of an iteration does not
    /// include the wait.
    pub fn closed_with_think_time(
        users: usize,
        duration: Duration,
        think: Duration,
    ) -> Result<Self> {
        if think >= duration {
            return Err(Error::InvalidInput(format!(
                "a think time of {} is not shorter than the run ({}): each user would run once",
                readiness_core::Quantity::duration(think),
                readiness_core::Quantity::duration(duration)
            )));
        }
        Self::closed(users, duration)?;
        Ok(Model::Closed {
            users,
            duration,
            think,
        })
    }

    /// What a virtual user waits between iterations (zero for every other model).
    pub fn think_time(&self) -> Duration {
        match self {
            Model::Closed { think, .. } => *think,
            _ => Duration::ZERO,
        }
    }

    /// Virtual users ramping from `start` through `stages` of (duration, users).
    pub fn ramping_users(start: usize, stages: &[(Duration, usize)]) -> Result<Self> {
        if stages.is_empty() {
            return Err(Error::InvalidInput(
                "ramping users need at least one stage".into(),
            ));
        }
        if let Some(i) = stages.iter().position(|(d, _)| d.is_zero()) {
            return Err(Error::InvalidInput(format!(
                "stage {} has a zero duration",
                i + 1
            )));
        }
        if start == 0 && stages.iter().all(|(_, u)| *u == 0) {
            return Err(Error::InvalidInput(
                "ramping users never have a user; give a stage at least 1".into(),
            ));
        }
        Ok(Model::RampingUsers {
            start,
            stages: stages.to_vec(),
        })
    }

    /// The most virtual users at any time (closed models).
    pub fn max_users(&self) -> usize {
        match self {
            Model::Open { .. } => 0,
            Model::Closed { users, .. } => *users,
            Model::RampingUsers { start, stages } => {
                stages.iter().map(|s| s.1).fold(*start, usize::max)
            }
        }
    }

    /// Active virtual users at time `t` (closed models).
    pub fn users_at(&self, t: Duration) -> usize {
        match self {
            Model::Open { .. } => 0,
            Model::Closed { users, .. } => *users,
            Model::RampingUsers { start, stages } => {
                let (mut from, mut t0) = (*start as f64, Duration::ZERO);
                for (d, to) in stages {
                    if t < t0 + *d {
                        let x = (t - t0).as_secs_f64() / d.as_secs_f64();
                        return (from + (*to as f64 - from) * x).round() as usize;
                    }
                    t0 += *d;
                    from = *to as f64;
                }
                from as usize
            }
        }
    }

    /// Total duration.
    pub fn duration(&self) -> Duration {
        match self {
            Model::Open { stages, .. } => stages.iter().map(|s| s.duration).sum(),
            Model::Closed { duration, .. } => *duration,
            Model::RampingUsers { stages, .. } => stages.iter().map(|s| s.0).sum(),
        }
    }

    /// The highest rate the open model reaches (per second); 0 for closed models.
    pub fn peak_rate(&self) -> f64 {
        match self {
            Model::Open { start_rate, stages } => {
                stages.iter().map(|s| s.target).fold(*start_rate, f64::max)
            }
            Model::Closed { .. } | Model::RampingUsers { .. } => 0.0,
        }
    }

    /// The iterations the open model schedules (the integral of the rate); 0 for closed.
    pub fn expected_iterations(&self) -> f64 {
        match self {
            Model::Open { start_rate, stages } => {
                let mut from = *start_rate;
                stages
                    .iter()
                    .map(|s| {
                        let n = (from + s.target) / 2.0 * s.duration.as_secs_f64();
                        from = s.target;
                        n
                    })
                    .sum()
            }
            Model::Closed { .. } | Model::RampingUsers { .. } => 0.0,
        }
    }

    /// The schedule of the open model (`None` for the closed model).
    pub fn schedule(&self) -> Option<Schedule> {
        match self {
            Model::Open { start_rate, stages } => Some(Schedule::new(*start_rate, stages)),
            Model::Closed { .. } | Model::RampingUsers { .. } => None,
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: Duration| readiness_core::Quantity::duration(d).to_string();
        match self {
            Model::Open { start_rate, stages }
                if stages.len() == 1 && stages[0].target == *start_rate =>
            {
                write!(
                    f,
                    "constant arrival rate {}/s for {}",
                    start_rate,
                    secs(stages[0].duration)
                )
            }
            Model::Open { start_rate, stages } => {
                write!(f, "ramping arrival rate from {start_rate}/s")?;
                for s in stages {
                    write!(f, ", to {}/s over {}", s.target, secs(s.duration))?;
                }
                Ok(())
            }
            Model::Closed {
                users,
                duration,
                think,
            } => {
                write!(f, "{users} virtual users for {}", secs(*duration))?;
                if !think.is_zero() {
                    write!(f, ", each waiting {} between iterations", secs(*think))?;
                }
                Ok(())
            }
            Model::RampingUsers { start, stages } => {
                write!(f, "virtual users from {start}")?;
                for (d, u) in stages {
                    write!(f, ", to {u} over {}", secs(*d))?;
                }
                Ok(())
            }
        }
    }
}

/// Intended start times of the open model: the i-th iteration starts when the integral of
/// the rate reaches i (iteration 0 at time 0).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// (start time s, start rate, end rate, duration s, iterations before the segment)
    segments: Vec<(f64, f64, f64, f64, f64)>,
    total: f64,
    end: f64,
}

impl Schedule {
    fn new(start_rate: f64, stages: &[RateStage]) -> Self {
        let (mut t, mut n, mut from) = (0.0, 0.0, start_rate);
        let mut segments = Vec::with_capacity(stages.len());
        for s in stages {
            let d = s.duration.as_secs_f64();
            segments.push((t, from, s.target, d, n));
            n += (from + s.target) / 2.0 * d;
            t += d;
            from = s.target;
        }
        Schedule {
            segments,
            total: n,
            end: t,
        }
    }

    /// The intended start of iteration `i`, from the start of the run; `None` past the end.
    pub fn intended(&self, i: u64) -> Option<Duration> {
        let target = i as f64;
        if target >= self.total {
            return None;
        }
        for &(t0, r0, r1, d, n0) in &self.segments {
            let n_seg = (r0 + r1) / 2.0 * d;
            if target < n0 + n_seg {
                let k = target - n0;
                // Solve r0*x + (r1-r0)/(2d)*x^2 = k for x in [0, d].
                let a = (r1 - r0) / (2.0 * d);
                let x = if a.abs() < 1e-12 {
                    k / r0
                } else {
                    let disc = (r0 * r0 + 4.0 * a * k).max(0.0);
                    (-r0 + disc.sqrt()) / (2.0 * a)
                };
                let at = (t0 + x.clamp(0.0, d)).min(self.end);
                return Some(Duration::from_secs_f64(at));
            }
        }
        None
    }

    /// How many iterations the schedule holds.
    pub fn len(&self) -> u64 {
        self.total.ceil() as u64
    }

    /// Whether it schedules nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_models_are_refused_before_any_traffic() {
        let msg = |r: Result<Model>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg(Model::constant_rate(0.0, Duration::from_secs(1))).contains("greater than 0/s")
        );
        assert!(
            msg(Model::constant_rate(-5.0, Duration::from_secs(1))).contains("greater than 0/s")
        );
        assert!(
            msg(Model::constant_rate(f64::NAN, Duration::from_secs(1)))
                .contains("greater than 0/s")
        );
        assert!(msg(Model::ramping_rate(1.0, &[])).contains("at least one stage"));
        assert!(
            msg(Model::ramping_rate(
                1.0,
                &[RateStage {
                    duration: Duration::ZERO,
                    target: 2.0
                }]
            ))
            .contains("zero duration")
        );
        assert!(
            msg(Model::ramping_rate(
                1.0,
                &[RateStage {
                    duration: Duration::from_secs(1),
                    target: -1.0
                }]
            ))
            .contains("stage 1")
        );
        assert!(msg(Model::closed(0, Duration::from_secs(1))).contains("at least 1 virtual user"));
        assert!(msg(Model::constant_rate(1e9, Duration::from_secs(3600))).contains("the limit is"));
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = Model::constant_rate(200.0, Duration::from_secs(2))
            .expect("valid")
            .schedule()
            .expect("open");
        assert_eq!(s.len(), 400);
        assert_eq!(s.intended(0), Some(Duration::ZERO));
        assert_eq!(s.intended(100), Some(Duration::from_millis(500)));
        assert_eq!(s.intended(400), None);
    }

    #[test]
    fn ramping_users_interpolate() {
        let m = Model::ramping_users(
            0,
            &[(Duration::from_secs(10), 10), (Duration::from_secs(10), 10)],
        )
        .expect("valid");
        assert_eq!(m.users_at(Duration::ZERO), 0);
        assert_eq!(m.users_at(Duration::from_secs(5)), 5);
        assert_eq!(m.users_at(Duration::from_secs(15)), 10);
        assert_eq!(m.max_users(), 10);
        assert_eq!(
            m.to_string(),
            "virtual users from 0, to 10 over 10s, to 10 over 10s"
        );
        assert!(Model::ramping_users(0, &[]).is_err());
        assert!(Model::ramping_users(0, &[(Duration::from_secs(1), 0)]).is_err());
    }

    #[test]
    fn describes_itself() {
        let m = Model::constant_rate(200.0, Duration::from_secs(30)).expect("valid");
        assert_eq!(m.to_string(), "constant arrival rate 200/s for 30s");
    }

    proptest! {
        /// The scheduler never starts more than the configured rate: in every window of one
        /// second there are at most ceil(max rate) + 1 intended starts, start times never go
        /// backwards, and the total is the integral of the rate.
        #[test]
        fn never_exceeds_the_configured_rate(
            start in 0.0f64..500.0,
            stages in proptest::collection::vec((1u64..4000, 0.0f64..500.0), 1..4),
        ) {
            let stages: Vec<RateStage> = stages.into_iter()
                .map(|(ms, target)| RateStage { duration: Duration::from_millis(ms), target })
                .collect();
            let Ok(model) = Model::ramping_rate(start, &stages) else { return Ok(()) };
            let sched = model.schedule().expect("open");
            let max_rate = stages.iter().map(|s| s.target).fold(start, f64::max);
            let times: Vec<f64> = (0..sched.len()).filter_map(|i| sched.intended(i)).map(|d| d.as_secs_f64()).collect();
            prop_assert!((times.len() as f64 - model.expected_iterations()).abs() <= 1.0);
            for w in times.windows(2) {
                prop_assert!(w[1] >= w[0]);
            }
            let mut lo = 0;
            for hi in 0..times.len() {
                while times[hi] - times[lo] >= 1.0 { lo += 1; }
                prop_assert!((hi - lo + 1) as f64 <= max_rate.ceil() + 1.0,
                    "{} starts within one second at a max rate of {}", hi - lo + 1, max_rate);
            }
            prop_assert!(times.last().copied().unwrap_or(0.0) <= model.duration().as_secs_f64() + 1e-9);
        }
    }
}
