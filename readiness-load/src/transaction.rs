//! What a load runs: any async closure over the iteration number, the built-in HTTP
//! transaction ([`crate::http::get`]), or a [`Mix`] of named ones with weights.

use std::future::Future;
use std::sync::Arc;

use readiness_core::Result;
use readiness_core::guard::Staging;

use crate::metrics::{BoxedIteration, Outcome};

/// One iteration of a load, called with the iteration's id (unique within the run, also
/// across shards). Every `Fn(u64) -> impl Future<Output = Outcome>` is one.
pub trait Transaction: Send + Sync + 'static {
    /// Runs one iteration.
    fn call(&self, i: u64) -> impl Future<Output = Outcome> + Send;
    /// Checks, before any traffic, that the transaction may run (a target on loopback, a
    /// valid URL): a load that cannot run is refused with the reason.
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// What it targets, for evidence ("GET http://127.0.0.1:8080/orders/1").
    fn target(&self) -> Option<String> {
        None
    }
    /// The environment beyond loopback it aims at on purpose (`http::get(url).on_staging(..)`):
    /// a load of it is held to the staging caps, and a stress refused unless told twice.
    fn staging(&self) -> Option<&Staging> {
        None
    }
}

impl<F, Fut> Transaction for F
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn call(&self, i: u64) -> impl Future<Output = Outcome> + Send {
        self(i)
    }
}

/// A transaction boxed for a [`Mix`].
pub(crate) type Boxed = Box<dyn Fn(u64) -> BoxedIteration + Send + Sync>;

/// Boxes `t`, keeping its check and target.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) weight: u32,
    pub(crate) call: Boxed,
    pub(crate) check: Box<dyn Fn() -> Result<()> + Send + Sync>,
    pub(crate) target: Option<String>,
    /// Whether it aims at staging (a mix of such is refused: its caps are a single load's).
    pub(crate) on_staging: bool,
}

/// Named transactions with weights, run together by [`crate::Load::run_mix`] (k6's
/// scenarios with several requests, Locust's tasks with weights). Iteration `i` runs the
/// transaction its weight picks; every model and every shard gets the weights' shares.
#[derive(Default)]
#[must_use]
pub struct Mix {
    pub(crate) entries: Vec<Entry>,
}

impl std::fmt::Debug for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.name, e.weight)))
            .finish()
    }
}

impl Mix {
    /// An empty mix.
    pub fn new() -> Self {
        Mix::default()
    }
    /// Adds transaction `name` with `weight` (out of the sum of the weights).
    pub fn with(
        mut self,
        name: impl Into<String>,
        weight: u32,
        transaction: impl Transaction,
    ) -> Self {
        let t = Arc::new(transaction);
        let (c, target, on_staging) = (t.clone(), t.target(), t.staging().is_some());
        self.entries.push(Entry {
            name: name.into(),
            weight,
            call: Box::new(move |i| {
                let t = t.clone();
                Box::pin(async move { t.call(i).await })
            }),
            check: Box::new(move || c.check()),
            target,
            on_staging,
        });
        self
    }
}

/// Which transaction of a mix iteration `i` runs. Iteration ids are spread over the
/// weights with a Weyl sequence (i·φ mod 1): every arithmetic progression of ids (one
/// shard's arrivals, one closed-model user's turns) gets each transaction's share, which
/// `i mod total` does not when a stride divides the total.
#[derive(Debug, Clone)]
pub(crate) struct Picker {
    cumulative: Vec<u64>,
    total: u64,
}

impl Picker {
    /// A picker for `weights`; `None` when they add up to zero.
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for w in weights {
            total += u64::from(w);
            cumulative.push(total);
        }
        (total > 0).then_some(Picker { cumulative, total })
    }

    /// The index of the transaction for iteration `i`.
    pub(crate) fn pick(&self, i: u64) -> usize {
        const PHI: u64 = 0x9E37_79B9_7F4A_7C15;
        let x = ((u128::from(i.wrapping_mul(PHI)) * u128::from(self.total)) >> 64) as u64;
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stride_of_ids_gets_each_weights_share() {
        let picker = Picker::new([3, 1]).expect("weights");
        // Strides that divide 10^6 or the total (the old ids n * 1_000_000 + user and
        // i mod 4) and ordinary ones.
        for (first, stride) in [(0u64, 1u64), (1, 2), (0, 4), (3, 4), (7, 1_000_000), (5, 3)] {
            let n = 10_000u64;
            let a = (0..n)
                .filter(|k| picker.pick(first + k * stride) == 0)
                .count() as f64;
            let share = a / n as f64;
            assert!(
                (share - 0.75).abs() < 0.01,
                "stride {stride} from {first}: {share} of the iterations ran the 3/4 transaction"
            );
        }
        let one = Picker::new([0, 5, 0]).expect("weights");
        assert!(
            (0..1000).all(|i| one.pick(i) == 1),
            "zero weights never run"
        );
        assert!(Picker::new([0, 0]).is_none());
    }
}
