//! A failing `assert_*` panics at the test's line, not inside the harness. Alone in its
//! binary because it replaces the panic hook.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_load::{Load, Model, assert_p95_under};

#[test]
fn a_failing_assertion_points_at_the_callers_line() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime
        .block_on(
            Load::new(
                "slow",
                Model::constant_rate(50.0, Duration::from_millis(200)).expect("model"),
            )
            .with_recorder(common::recorder())
            .run(|_| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(())
            }),
        )
        .expect("run");
    let seen: Arc<Mutex<Option<(String, u32)>>> = Arc::default();
    let record = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            *record.lock().expect("lock") = Some((l.file().to_owned(), l.line()));
        }
    }));
    let line = line!() + 1;
    let result = std::panic::catch_unwind(|| assert_p95_under(&report, Duration::from_micros(1)));
    std::panic::set_hook(previous);
    assert!(result.is_err(), "5 ms is over 1 µs");
    let (file, at) = seen
        .lock()
        .expect("lock")
        .clone()
        .expect("a panic location");
    assert!(file.ends_with("track_caller.rs"), "panicked in {file}:{at}");
    assert_eq!(at, line);
}
