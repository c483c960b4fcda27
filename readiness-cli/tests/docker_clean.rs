//! `readiness clean` removes the containers of a SIGKILLed test run (which no drop and no
//! signal handler could remove) and keeps those of tests still running.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use readiness_core::containers::{self, LABEL_PID, LABEL_RUN};

async fn exists(id: &str) -> bool {
    let docker = containers::docker().await.expect("docker");
    docker
        .inspect_container(
            id,
            None::<
                readiness_core::testcontainers::bollard::query_parameters::InspectContainerOptions,
            >,
        )
        .await
        .is_ok()
}

/// Starts Redis and checks its labels name this process; as the child of the test below
/// (`READINESS_CLEAN_CHILD=1`) it then prints the container id and waits to be killed.
#[tokio::test(flavor = "multi_thread")]
async fn docker_a_container_carries_the_labels_clean_needs() {
    let redis = containers::start(containers::redis().expect("request"))
        .await
        .expect("redis starts");
    let docker = containers::docker().await.expect("docker");
    let inspect = docker
        .inspect_container(
            redis.id(),
            None::<
                readiness_core::testcontainers::bollard::query_parameters::InspectContainerOptions,
            >,
        )
        .await
        .expect("inspect");
    let labels = inspect.config.and_then(|c| c.labels).expect("labels");
    assert_eq!(labels.get(LABEL_PID), Some(&std::process::id().to_string()));
    assert_eq!(
        labels.get(LABEL_RUN).map(String::as_str),
        Some(readiness_core::run_id())
    );
    if std::env::var_os("READINESS_CLEAN_CHILD").is_some() {
        eprintln!("HOLDING {}", redis.id());
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_clean_removes_what_a_killed_run_left_and_keeps_live_tests_containers() {
    let run = format!("clean-check-{}", std::process::id());
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "docker_a_container_carries_the_labels_clean_needs",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("READINESS_CLEAN_CHILD", "1")
        .env("READINESS_RUN_ID", &run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child");
    let stderr = child.stderr.take().expect("stderr");
    let id = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take(200)
        .find_map(|l| l.strip_prefix("HOLDING ").map(str::to_owned))
        .expect("the child holds a container");
    // SIGKILL: no drop, no watchdog; the container stays.
    child.kill().expect("kill the child by its pid");
    let _ = child.wait();
    assert!(exists(&id).await, "a killed run leaves its container");

    // A container of a test that is still running (this one).
    let live = containers::start(containers::redis().expect("request"))
        .await
        .expect("redis starts");

    let out = Command::new(env!("CARGO_BIN_EXE_readiness"))
        .arg("clean")
        .output()
        .expect("readiness clean");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("removed"), "{text}");
    assert!(
        !exists(&id).await,
        "clean removed the killed run's container"
    );
    assert!(
        exists(live.id()).await,
        "clean kept the container of a live test"
    );
    let left = containers::containers_with_label(LABEL_RUN, &run)
        .await
        .expect("list");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn clean_without_docker_names_docker_host_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_readiness"))
        .arg("clean")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("readiness clean");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("DOCKER_HOST=unix:///nonexistent/docker.sock"),
        "{err}"
    );
}
