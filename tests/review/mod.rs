//! What the review's tests share: the stack they judge, with the defect under review.
#![expect(unreachable_pub, reason = "the module is private to each test binary")]

use reference_service::stack::{Stack, StackOptions};
use rstest::fixture;

/// PostgreSQL, Redis and the reference service in containers, with the defects named in
/// `READINESS_RUN_DEFECT` switched on (the defect matrix sets it; comma-separated), the
/// rate limit out of the way of the loads.
pub fn options() -> StackOptions {
    let defects = std::env::var("READINESS_RUN_DEFECT").unwrap_or_default();
    let mut opts = StackOptions::new().with_env("RATE_LIMIT_PER_MINUTE", "1000000");
    for defect in defects.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        opts = opts.with_defect(defect);
    }
    opts
}

/// A stack of its own for each test: a test that pauses or kills part of it disturbs no
/// other test. It is removed when the test ends, also when it panics.
#[fixture]
pub async fn stack() -> Stack {
    Stack::start_containers(options())
        .await
        .unwrap_or_else(|e| panic!("the stack did not start: {e}"))
}
