//! What the review's tests share: the stack they judge, with the defect under review.
#![expect(unreachable_pub, reason = "the module is private to each test binary")]
#![allow(
    dead_code,
    reason = "each test binary uses some of what the review shares"
)]

use reference_service::stack::{Stack, StackOptions};
use rstest::fixture;

/// PostgreSQL, Redis and the reference service in containers, with the defects named in
/// `READINESS_RUN_DEFECT` switched on (the defect matrix sets it; comma-separated), the
/// rate limit out of the way of the loads.
pub fn options() -> StackOptions {
    let mut opts = StackOptions::new().with_env("RATE_LIMIT_PER_MINUTE", "1000000");
    for defect in defects() {
        opts = opts.with_defect(&defect);
    }
    opts
}

/// The defects under review, from `READINESS_RUN_DEFECT` (comma-separated; none when unset).
pub fn defects() -> Vec<String> {
    std::env::var("READINESS_RUN_DEFECT")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is among the defects under review: those of the deployment (its
/// monitoring and backup files, `reference_service::defects::DEPLOYMENT`) are the review's
/// to apply.
pub fn under_review(name: &str) -> bool {
    defects().iter().any(|d| d == name)
}

/// `n` orders of 4 customers written through the service, then one more read back (at
/// most 10 s): its URL. A write acknowledged before it is stored is the continuity
/// review's to judge (`dr.no_ack_write_lost`), not a read load's.
pub async fn orders(stack: &Stack, n: usize) -> String {
    assert!(
        n == 0 || !stack.create_orders(n).await.is_empty(),
        "the service acknowledged none of {n} orders"
    );
    stack
        .readable_order()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A stack of its own for each test: a test that pauses or kills part of it disturbs no
/// other test. It is removed when the test ends, also when it panics.
#[fixture]
pub async fn stack() -> Stack {
    Stack::start_containers(options())
        .await
        .unwrap_or_else(|e| panic!("the stack did not start: {e}"))
}
