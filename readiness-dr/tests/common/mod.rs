//! What readiness-dr's self-tests share: where their evidence goes (never the user's
//! evidence directory).
#![expect(unreachable_pub, reason = "the module is private to each test binary")]

use std::path::PathBuf;

use readiness_core::Recorder;

/// `<target>/readiness-self-test`: the self-tests' evidence.
pub fn self_test_dir() -> PathBuf {
    readiness_core::settings::target_dir().join("readiness-self-test")
}

/// The recorder every self-test judges with.
pub fn recorder() -> Recorder {
    Recorder::new(self_test_dir())
}
