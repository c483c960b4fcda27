//! Fault plans: proptest strategies that generate sequences of faults (which target,
//! which fault, when, for how long), a way to apply a plan to the test's own containers and
//! proxies ([`PlanTargets`]), and a runner ([`PlanRunner`]) that checks the test's
//! invariants after each plan. A failing plan shrinks (proptest) to the smallest plan that
//! still breaks an invariant, and the runner says the seed that replays it
//! (`READINESS_FAULT_PLAN_SEED`). [`PlanRunner::search`] keeps what the search did as a
//! [`PlanSearch`], judged by [`try_assert_fault_plans_hold`] (`dr.fault_plan`).
//!
//! ```no_run
//! use std::time::Duration;
//! use readiness_dr::plan::{PlanFault, PlanRunner, PlanSpace};
//!
//! # async fn demo() -> readiness_core::Result<()> {
//! let space = PlanSpace::new(["redis"])
//!     .with_faults([PlanFault::Pause, PlanFault::Restart])
//!     .with_times([Duration::from_millis(100), Duration::from_millis(500)]);
//! let outcome = PlanRunner::new()
//!     .with_cases(8)
//!     .run(&space, |plan| async move {
//!         // apply `plan` while writing (a setup error is `Err`, with `?`), then check
//!         // the invariants: `Ok(Err(reason))` when one broke
//!         Ok(if plan.steps.len() > 5 { Err("too many".to_owned()) } else { Ok(()) })
//!     })
//!     .await?;
//! assert!(outcome.is_ok());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use readiness_core::testcontainers::{ContainerAsync, Image};
use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation,
    Quantity, Recorder, Result, Threshold, settings,
};

use crate::fault::{Fault, FaultTarget, Faults};
use crate::proxy::{Proxy, Toxic};

/// One kind of fault a plan may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanFault {
    /// Pause the container for the hold time, then unpause it.
    Pause,
    /// Add latency (this much, downstream) to the target's proxy for the hold time.
    Latency(Duration),
    /// Disable the target's proxy (connections refused) for the hold time.
    Down,
    /// Kill the container (SIGKILL), start it again after the hold time, and point its
    /// proxy (if any) at the new host port.
    Restart,
}

impl fmt::Display for PlanFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanFault::Pause => f.write_str("pause"),
            PlanFault::Latency(d) => write!(f, "latency {d:?}"),
            PlanFault::Down => f.write_str("down"),
            PlanFault::Restart => f.write_str("restart (kill -9, start)"),
        }
    }
}

/// One step of a plan: at `at` from the start, `fault` on `target` for `hold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// When, from the start of the plan (steps run in order; one whose time has passed
    /// runs at once).
    pub at: Duration,
    /// The target's name.
    pub target: String,
    /// The fault.
    pub fault: PlanFault,
    /// How long the fault holds before it is undone.
    pub hold: Duration,
}

/// A sequence of faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// The steps, by time.
    pub steps: Vec<PlanStep>,
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("at {:?}: {} {} for {:?}", s.at, s.fault, s.target, s.hold))
            .collect();
        write!(f, "[{}]", steps.join("; "))
    }
}

/// What plans are made of: the targets, the faults, the times, the holds and how many
/// steps. Earlier faults, times and holds are "smaller": a failing plan shrinks towards
/// them.
#[derive(Debug, Clone)]
#[must_use]
pub struct PlanSpace {
    targets: Vec<String>,
    faults: Vec<PlanFault>,
    times: Vec<Duration>,
    holds: Vec<Duration>,
    steps: std::ops::RangeInclusive<usize>,
}

impl PlanSpace {
    /// Plans over `targets`: pause or restart, at 0.1/0.3/0.6/0.9 s, held 0.2 or 0.4 s,
    /// 1 to 3 steps.
    pub fn new<S: Into<String>>(targets: impl IntoIterator<Item = S>) -> Self {
        let ms = Duration::from_millis;
        PlanSpace {
            targets: targets.into_iter().map(Into::into).collect(),
            faults: vec![PlanFault::Pause, PlanFault::Restart],
            times: vec![ms(100), ms(300), ms(600), ms(900)],
            holds: vec![ms(200), ms(400)],
            steps: 1..=3,
        }
    }
    /// The faults to choose from.
    pub fn with_faults(mut self, faults: impl IntoIterator<Item = PlanFault>) -> Self {
        self.faults = faults.into_iter().collect();
        self
    }
    /// The start times to choose from.
    pub fn with_times(mut self, times: impl IntoIterator<Item = Duration>) -> Self {
        self.times = times.into_iter().collect();
        self
    }
    /// The hold times to choose from.
    pub fn with_holds(mut self, holds: impl IntoIterator<Item = Duration>) -> Self {
        self.holds = holds.into_iter().collect();
        self
    }
    /// How many steps a plan has.
    pub fn with_steps(mut self, steps: std::ops::RangeInclusive<usize>) -> Self {
        self.steps = steps;
        self
    }

    fn validate(&self) -> Result<()> {
        let empty = [
            ("targets", self.targets.is_empty()),
            ("faults", self.faults.is_empty()),
            ("times", self.times.is_empty()),
            ("holds", self.holds.is_empty()),
            ("steps", self.steps.is_empty() || *self.steps.start() == 0),
        ];
        match empty.iter().find(|(_, e)| *e) {
            Some((what, _)) => Err(Error::InvalidInput(format!(
                "a fault plan space with no {what} generates nothing; give at least one"
            ))),
            None => Ok(()),
        }
    }

    /// The proptest strategy of this space.
    pub fn strategy(&self) -> impl Strategy<Value = FaultPlan> + use<> {
        let step = (
            prop::sample::select(self.times.clone()),
            prop::sample::select(self.targets.clone()),
            prop::sample::select(self.faults.clone()),
            prop::sample::select(self.holds.clone()),
        )
            .prop_map(|(at, target, fault, hold)| PlanStep {
                at,
                target,
                fault,
                hold,
            });
        prop::collection::vec(step, self.steps.clone()).prop_map(|mut steps| {
            steps.sort_by_key(|s| s.at);
            FaultPlan { steps }
        })
    }
}

impl fmt::Display for PlanSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: Vec<String>| items.join("/");
        write!(
            f,
            "{}–{} steps of {} on {}, at {}, held {}",
            self.steps.start(),
            self.steps.end(),
            list(self.faults.iter().map(ToString::to_string).collect()),
            self.targets.join(", "),
            list(self.times.iter().map(|t| format!("{t:?}")).collect()),
            list(self.holds.iter().map(|t| format!("{t:?}")).collect()),
        )
    }
}

/// A plan that broke an invariant, shrunk, with the seed that replays the search.
#[derive(Debug, Clone)]
pub struct PlanFailure {
    /// The smallest plan found that still breaks the invariant.
    pub minimal: FaultPlan,
    /// What the invariant said.
    pub reason: String,
    /// The seed of the search (`READINESS_FAULT_PLAN_SEED=<seed>` replays it).
    pub seed: u64,
}

impl fmt::Display for PlanFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fault plan {} breaks an invariant: {}; replay with READINESS_FAULT_PLAN_SEED={}",
            self.minimal, self.reason, self.seed
        )
    }
}

/// What a search of fault plans did ([`PlanRunner::search`]): the space and the seed, how
/// many generated plans ran, every plan run (shrinking included) with what broke, and the
/// shrunk failure if a plan broke an invariant. Judged by [`try_assert_fault_plans_hold`].
#[derive(Debug, Clone)]
pub struct PlanSearch {
    /// What the invariants are of (`orders service`).
    pub name: String,
    /// The space, in words.
    pub space: String,
    /// The seed of the search.
    pub seed: u64,
    /// Generated plans that ran (the search stops at the first that breaks).
    pub cases: u32,
    /// Every plan run, in order, with the invariant it broke (`None`: all held).
    pub tried: Vec<(FaultPlan, Option<String>)>,
    /// The smallest failing plan found, if any broke.
    pub failure: Option<PlanFailure>,
    recorder: Option<Recorder>,
}

impl PlanSearch {
    /// Where the evidence of [`try_assert_fault_plans_hold`] goes.
    #[must_use]
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
}

/// `dr.fault_plan`: every generated fault plan kept the invariants. The failure names the
/// shrunk plan, what it broke and the seed that replays the search; a search that ran no
/// plan is nothing measured.
pub fn try_assert_fault_plans_hold(search: &PlanSearch) -> Result<Evidence, Failure> {
    let mut check = Check::new(
        "dr.fault_plan",
        format!("every fault plan keeps the invariants of {}", search.name),
        Category::RECOVERY,
    )
    .with_subject(format!("{}/dr.fault_plan", search.name))
    .with_combine(Combine::VerdictOnly)
    .with_threshold(Threshold::at_most(Count(0)))
    .with_scenario(format!(
        "{} generated plans ({} run in all, shrinking included) of {}; seed {} \
         (READINESS_FAULT_PLAN_SEED={} replays them)",
        search.cases,
        search.tried.len(),
        search.space,
        search.seed,
        search.seed
    ))
    .with_hint(
        "replay the minimal plan (READINESS_FAULT_PLAN_SEED) and fix what its broken \
         invariant names: a plan is a few faults, so the fix is usually one retry, timeout \
         or reconnect",
    );
    if let Some(r) = &search.recorder {
        check = check.with_recorder(r.clone());
    }
    if search.cases == 0 {
        return Err(check.nothing_measured("no fault plan ran; give the runner at least one case"));
    }
    let (broken, summary) = match &search.failure {
        None => (
            0,
            format!(
                "all {} plans kept the invariants: {}",
                search.cases,
                search
                    .tried
                    .iter()
                    .map(|(plan, _)| plan.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(f) => (
            1,
            format!(
                "{f} (the smallest of {} failing plans tried)",
                search.tried.iter().filter(|(_, r)| r.is_some()).count()
            ),
        ),
    };
    check.judge(Observation::new(Quantity::count(broken)).with_summary(summary))
}

/// Panics unless [`try_assert_fault_plans_hold`] passes.
#[track_caller]
pub fn assert_fault_plans_hold(search: &PlanSearch) -> Evidence {
    try_assert_fault_plans_hold(search).or_panic()
}

/// Runs plans of a [`PlanSpace`] through the test's invariants.
#[derive(Debug, Clone)]
#[must_use]
pub struct PlanRunner {
    cases: u32,
    max_shrink_iters: u32,
    seed: Option<u64>,
}

impl Default for PlanRunner {
    fn default() -> Self {
        PlanRunner::new()
    }
}

impl PlanRunner {
    /// 8 plans, at most 32 shrink steps, the seed from `READINESS_FAULT_PLAN_SEED` (else
    /// a new one, printed on failure).
    pub fn new() -> Self {
        PlanRunner {
            cases: 8,
            max_shrink_iters: 32,
            seed: None,
        }
    }
    /// How many plans to try.
    pub fn with_cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }
    /// The most plans tried while shrinking a failure.
    pub fn with_max_shrink_iters(mut self, n: u32) -> Self {
        self.max_shrink_iters = n;
        self
    }
    /// The seed of the search (overrides `READINESS_FAULT_PLAN_SEED`).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn seed(&self) -> Result<u64> {
        if let Some(s) = self.seed {
            return Ok(s);
        }
        settings::seed("READINESS_FAULT_PLAN_SEED")
    }

    /// Tries plans of `space`; `case` applies one and checks the invariants. A case
    /// answers `Ok(Ok(()))` when every invariant held, `Ok(Err(reason))` when one broke,
    /// and `Err(error)` when it could not run (Docker refused, a container did not
    /// start): that ends the search as an `error`, never as a broken invariant. Returns
    /// the shrunk failure, or `Ok` when every plan held. The cases run on the caller's
    /// runtime, one at a time, so a case may await anything the test holds.
    ///
    /// A space that generates nothing, a bad seed, or a case that could not run is an
    /// `Err` of the outer result.
    pub async fn run<F, Fut>(
        &self,
        space: &PlanSpace,
        case: F,
    ) -> Result<std::result::Result<(), PlanFailure>>
    where
        F: FnMut(FaultPlan) -> Fut,
        Fut: std::future::Future<Output = Result<std::result::Result<(), String>>>,
    {
        let search = self.search("the system", space, case).await?;
        Ok(search.failure.map_or(Ok(()), Err))
    }

    /// As [`PlanRunner::run`], keeping what the search did for
    /// [`try_assert_fault_plans_hold`]: `name` says what the invariants are of.
    pub async fn search<F, Fut>(
        &self,
        name: &str,
        space: &PlanSpace,
        mut case: F,
    ) -> Result<PlanSearch>
    where
        F: FnMut(FaultPlan) -> Fut,
        Fut: std::future::Future<Output = Result<std::result::Result<(), String>>>,
    {
        space.validate()?;
        let seed = self.seed()?;
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&seed.to_le_bytes());
        }
        let config = Config {
            cases: self.cases,
            max_shrink_iters: self.max_shrink_iters,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        let strategy = space.strategy();
        let mut search = PlanSearch {
            name: name.to_owned(),
            space: space.to_string(),
            seed,
            cases: 0,
            tried: Vec::new(),
            failure: None,
            recorder: None,
        };
        let mut try_plan = async |plan: FaultPlan, search: &mut PlanSearch| {
            let outcome = case(plan.clone()).await.map_err(|e| {
                Error::Other(format!(
                    "fault plan {plan} could not run, so nothing was judged: {e}"
                ))
            })?;
            let broken = outcome.err();
            search.tried.push((plan, broken.clone()));
            Ok::<_, Error>(broken)
        };
        // proptest's own loop, on this runtime: a case, then on a failure simplify while
        // it still fails and complicate when it passed, within the shrink budget.
        for _ in 0..self.cases {
            let mut tree = strategy
                .new_tree(&mut runner)
                .map_err(|r| Error::Other(format!("the fault plan search stopped: {r}")))?;
            let plan = tree.current();
            search.cases += 1;
            let Some(reason) = try_plan(plan.clone(), &mut search).await? else {
                continue;
            };
            let mut failure = PlanFailure {
                minimal: plan,
                reason,
                seed,
            };
            let mut budget = self.max_shrink_iters;
            let mut more = tree.simplify();
            while more && budget > 0 {
                budget -= 1;
                let plan = tree.current();
                more = match try_plan(plan.clone(), &mut search).await? {
                    Some(reason) => {
                        failure.minimal = plan;
                        failure.reason = reason;
                        tree.simplify()
                    }
                    None => tree.complicate(),
                };
            }
            search.failure = Some(failure);
            break;
        }
        Ok(search)
    }
}

/// A target of a plan: a container (with the proxy in front of it, if any, and the port
/// the proxy forwards to) or a proxy alone.
enum Target<'a> {
    Container {
        id: String,
        follow: Option<(&'a Proxy, HostPort<'a>)>,
    },
    Proxy(&'a Proxy),
}

type PortFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u16>> + 'a>>;
/// Reads a container's current host port for the port its proxy forwards to.
type HostPort<'a> = Box<dyn Fn() -> PortFuture<'a> + 'a>;

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Container { id, follow } => f
                .debug_struct("Container")
                .field("id", id)
                .field("proxy", &follow.as_ref().map(|(p, _)| p.name()))
                .finish(),
            Target::Proxy(p) => f.debug_tuple("Proxy").field(&p.name()).finish(),
        }
    }
}

/// The test's containers and proxies, by the names a [`PlanSpace`] uses.
#[derive(Debug)]
pub struct PlanTargets<'a> {
    faults: &'a Faults,
    targets: BTreeMap<String, Target<'a>>,
}

struct Id(String);

impl FaultTarget for Id {
    fn container_id(&self) -> &str {
        &self.0
    }
}

impl<'a> PlanTargets<'a> {
    /// No targets yet; faults are injected (and recorded) through `faults`.
    pub fn new(faults: &'a Faults) -> Self {
        PlanTargets {
            faults,
            targets: BTreeMap::new(),
        }
    }
    /// A container named `name`.
    pub fn container<I: Image>(mut self, name: &str, container: &'a ContainerAsync<I>) -> Self {
        self.targets.insert(
            name.to_owned(),
            Target::Container {
                id: container.id().to_owned(),
                follow: None,
            },
        );
        self
    }
    /// A container named `name` behind `proxy`, which forwards to its `port`: after a
    /// restart the proxy follows the new host port; proxy faults apply to the proxy.
    pub fn container_behind<I: Image>(
        mut self,
        name: &str,
        container: &'a ContainerAsync<I>,
        port: u16,
        proxy: &'a Proxy,
    ) -> Self {
        let host_port: HostPort<'a> = Box::new(move || {
            Box::pin(async move { Ok(container.get_host_port_ipv4(port).await?) })
        });
        self.targets.insert(
            name.to_owned(),
            Target::Container {
                id: container.id().to_owned(),
                follow: Some((proxy, host_port)),
            },
        );
        self
    }
    /// A proxy named `name` (latency and down only).
    pub fn proxy(mut self, name: &str, proxy: &'a Proxy) -> Self {
        self.targets.insert(name.to_owned(), Target::Proxy(proxy));
        self
    }

    fn proxy_of(&self, step: &PlanStep) -> Result<&'a Proxy> {
        match self.targets.get(&step.target) {
            Some(Target::Proxy(p))
            | Some(Target::Container {
                follow: Some((p, _)),
                ..
            }) => Ok(p),
            _ => Err(Error::InvalidInput(format!(
                "fault plan step {} on {}: it has no proxy; register it with container_behind or proxy",
                step.fault, step.target
            ))),
        }
    }

    /// Applies `plan` from now: each step at its time (or at once when it has passed),
    /// held, then undone. Returns every fault and undo, timestamped. A step on a target
    /// that is not registered, or a container fault on a proxy, is refused before
    /// anything is injected.
    pub async fn apply(&self, plan: &FaultPlan) -> Result<Vec<Fault>> {
        for step in &plan.steps {
            match (self.targets.get(&step.target), step.fault) {
                (None, _) => {
                    return Err(Error::InvalidInput(format!(
                        "fault plan target {:?} is not registered; known: {}",
                        step.target,
                        self.targets.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                (Some(Target::Proxy(_)), PlanFault::Pause | PlanFault::Restart) => {
                    return Err(Error::InvalidInput(format!(
                        "fault plan step {} on {}: a proxy can only be slowed or taken down",
                        step.fault, step.target
                    )));
                }
                (Some(_), PlanFault::Latency(_) | PlanFault::Down) => {
                    self.proxy_of(step)?;
                }
                _ => {}
            }
        }
        let start = Instant::now();
        let mut done = Vec::new();
        for step in &plan.steps {
            tokio::time::sleep_until(start + step.at).await;
            done.extend(self.step(step).await?);
        }
        Ok(done)
    }

    async fn step(&self, step: &PlanStep) -> Result<Vec<Fault>> {
        let what = |s: &str| Fault::now(format!("{s} {} (plan)", step.target));
        Ok(match (step.fault, self.targets.get(&step.target)) {
            (PlanFault::Pause, Some(Target::Container { id, .. })) => {
                let id = Id(id.clone());
                let a = self.faults.pause(&id).await?;
                tokio::time::sleep(step.hold).await;
                vec![a, self.faults.unpause(&id).await?]
            }
            (PlanFault::Restart, Some(Target::Container { id, follow })) => {
                let id = Id(id.clone());
                let a = self.faults.kill(&id, "SIGKILL").await?;
                tokio::time::sleep(step.hold).await;
                let b = self.faults.start(&id).await?;
                if let Some((proxy, port)) = follow {
                    proxy
                        .set_upstream(format!("127.0.0.1:{}", port().await?))
                        .await?;
                }
                vec![a, b]
            }
            (PlanFault::Latency(d), _) => {
                let proxy = self.proxy_of(step)?;
                let name = format!("plan_latency_{}", step.target);
                proxy.add(Toxic::latency(d).with_name(&name))?;
                let a = what(&format!("latency {d:?} on"));
                tokio::time::sleep(step.hold).await;
                proxy.remove(&name)?;
                vec![a, what("latency removed from")]
            }
            (PlanFault::Down, _) => {
                let proxy = self.proxy_of(step)?;
                proxy.disable().await;
                let a = what("down");
                tokio::time::sleep(step.hold).await;
                proxy.enable();
                vec![a, what("up")]
            }
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> PlanSpace {
        PlanSpace::new(["db", "cache"])
            .with_faults([PlanFault::Pause, PlanFault::Restart])
            .with_steps(1..=3)
    }

    /// On `#[tokio::test]`'s own single-threaded runtime: the cases are awaited there.
    #[tokio::test]
    async fn an_async_case_is_searched_and_shrunk_on_the_callers_runtime() -> Result<()> {
        let found = PlanRunner::new()
            .with_cases(32)
            .with_seed(7)
            .run(&space(), |plan| async move {
                tokio::task::yield_now().await;
                let restarts = plan
                    .steps
                    .iter()
                    .filter(|s| s.fault == PlanFault::Restart)
                    .count();
                Ok(if restarts > 0 {
                    Err(format!("{restarts} restart(s) lost writes"))
                } else {
                    Ok(())
                })
            })
            .await?
            .expect_err("some plan restarts");
        assert_eq!(found.minimal.steps.len(), 1, "{found}");
        assert_eq!(found.minimal.steps[0].fault, PlanFault::Restart, "{found}");
        assert_eq!(found.reason, "1 restart(s) lost writes");
        Ok(())
    }

    /// A case that could not run (Docker refused, no runtime) is an error of the search,
    /// never an invariant broken, and no plan is shrunk for it.
    #[tokio::test]
    async fn a_case_that_cannot_run_is_an_error_not_a_broken_invariant() {
        let mut ran = 0;
        let e = PlanRunner::new()
            .with_seed(7)
            .run(&space(), |_| {
                ran += 1;
                async { Err(Error::Other("Docker refused the container".into())) }
            })
            .await
            .expect_err("a setup error ends the search");
        assert_eq!(ran, 1, "not retried or shrunk");
        let text = e.to_string();
        assert!(
            text.contains("could not run, so nothing was judged: Docker refused the container"),
            "{text}"
        );
    }

    /// `dr.fault_plan` on both verdicts and on nothing: the failing search names the
    /// shrunk plan, the broken invariant and the seed; the evidence re-judges.
    #[tokio::test]
    async fn a_search_is_judged_by_dr_fault_plan() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Other(e.to_string()))?;
        let recorder = Recorder::new(dir.path());
        let restarts_break = |plan: FaultPlan| async move {
            Ok(
                if plan.steps.iter().any(|s| s.fault == PlanFault::Restart) {
                    Err("an order written before the restart was not found".to_owned())
                } else {
                    Ok(())
                },
            )
        };
        let held = PlanRunner::new()
            .with_cases(5)
            .with_seed(7)
            .search(
                "orders",
                &space().with_faults([PlanFault::Pause]),
                restarts_break,
            )
            .await?
            .with_recorder(recorder.clone());
        assert_eq!((held.cases, held.tried.len()), (5, 5));
        let evidence =
            try_assert_fault_plans_hold(&held).map_err(|f| Error::Other(f.to_string()))?;
        let summary = evidence.summary.clone().unwrap_or_default();
        assert!(
            summary.contains("all 5 plans kept the invariants"),
            "{summary}"
        );
        evidence.verify().map_err(Error::Other)?;

        let broke = PlanRunner::new()
            .with_cases(32)
            .with_seed(7)
            .search("orders", &space(), restarts_break)
            .await?
            .with_recorder(recorder.clone());
        let failure = try_assert_fault_plans_hold(&broke).expect_err("a restart breaks it");
        assert_eq!(failure.verdict(), readiness_core::Verdict::Fail);
        let text = failure.to_string();
        for part in [
            "dr.fault_plan",
            "restart (kill -9, start)",
            "an order written before the restart was not found",
            "READINESS_FAULT_PLAN_SEED=7",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        assert_eq!(
            broke.failure.as_ref().map(|f| f.minimal.steps.len()),
            Some(1)
        );
        failure.evidence().verify().map_err(Error::Other)?;

        let none = PlanRunner::new()
            .with_cases(0)
            .with_seed(7)
            .search("orders", &space(), restarts_break)
            .await?
            .with_recorder(recorder);
        let nothing = try_assert_fault_plans_hold(&none).expect_err("no plan ran");
        assert_eq!(nothing.verdict(), readiness_core::Verdict::Error);
        assert!(
            nothing.to_string().contains("no fault plan ran"),
            "{nothing}"
        );
        Ok(())
    }
}
