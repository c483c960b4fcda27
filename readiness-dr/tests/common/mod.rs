//! What readiness-dr's self-tests share: where their evidence goes (never the user's
//! evidence directory) and the failure block with that place redacted.
#![expect(unreachable_pub, reason = "the module is private to each test binary")]
#![expect(dead_code, reason = "each test binary uses a part of it")]

use std::path::PathBuf;

use readiness_core::{Failure, Recorder};

/// `<target>/readiness-self-test`: the self-tests' evidence.
pub fn self_test_dir() -> PathBuf {
    readiness_core::settings::target_dir().join("readiness-self-test")
}

/// The recorder every self-test judges with.
pub fn recorder() -> Recorder {
    Recorder::new(self_test_dir())
}

/// The failure block as a user sees it, with the evidence path and the numbers that
/// change from run to run left as they are: tests assert on its lines.
pub fn block(f: &Failure) -> String {
    format!("{f}")
}
