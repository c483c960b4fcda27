//! What the end-to-end suite's binaries share: where their deliberate failures go and how
//! the stack starts.
#![expect(unreachable_pub, reason = "the module is private to each test binary")]

use readiness::Recorder;
use reference_service::stack::{Stack, StackOptions};
use rstest::fixture;

/// The suite's deliberate failures are self-tests: they write where a user's report never
/// looks.
pub fn self_test() -> Recorder {
    Recorder::new(readiness::settings::target_dir().join("readiness-self-test"))
}

/// The stack in containers, rate limit out of the way of the load: an rstest fixture
/// (`#[future(awt)] #[from(stack)] s: Stack` for the healthy service, with
/// `#[with(StackOptions::new().with_defect("leak"))]` for another). Removed when the test
/// ends, also when it panics.
#[fixture]
pub async fn stack(#[default(StackOptions::new())] opts: StackOptions) -> Stack {
    Stack::start_containers(opts.with_env("RATE_LIMIT_PER_MINUTE", "1000000"))
        .await
        .unwrap_or_else(|e| panic!("stack failed to start: {e}"))
}
