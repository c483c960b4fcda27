//! The container catalogue against a real Docker engine (these tests need Docker and fail
//! with the harness's message when it is missing). On a machine without a registry,
//! export the lines `images/build.sh` prints first.

use std::process::Command;
use std::time::Duration;

use readiness_core::containers::{self, LABEL_IMAGE_VARIABLE, LABEL_RUN};
use readiness_core::testcontainers::{ImageExt, runners::AsyncRunner};
use readiness_core::{Error, run_id};

/// Whether a container with this id still exists, asked of the Docker API.
async fn exists(id: &str) -> bool {
    let docker = containers::docker().await.expect("docker");
    docker.inspect_container(id, None).await.is_ok()
}

async fn run_labelled(id: &str) -> bool {
    containers::containers_with_label(LABEL_RUN, run_id())
        .await
        .expect("list")
        .iter()
        .any(|c| c == id)
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_postgres_answers_a_query_and_is_removed_after() {
    let pg = containers::start(containers::postgres().expect("request"))
        .await
        .expect("postgres starts");
    let id = pg.id().to_owned();
    assert!(run_labelled(&id).await, "container carries the run label");
    let port = pg
        .get_host_port_ipv4(containers::POSTGRES_PORT)
        .await
        .expect("port");
    let url = format!("host=127.0.0.1 port={port} user=postgres password=postgres dbname=postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let conn = tokio::spawn(conn);
    let row = client
        .query_one("SELECT 1 + 1, current_setting('fsync')", &[])
        .await
        .expect("query");
    assert_eq!(row.get::<_, i32>(0), 2);
    assert_eq!(
        row.get::<_, String>(1),
        "off",
        "the module's `-c fsync=off` reached the server"
    );
    client
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
        .await
        .expect("ddl");
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 2);
    drop(client);
    let _ = conn.await;
    drop(pg);
    assert!(!exists(&id).await, "container {id} is gone after drop");
    assert!(!run_labelled(&id).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_redis_answers_a_command_and_is_removed_after() {
    let redis = containers::start(containers::redis().expect("request"))
        .await
        .expect("redis starts");
    let id = redis.id().to_owned();
    assert!(run_labelled(&id).await);
    let port = redis
        .get_host_port_ipv4(containers::REDIS_PORT)
        .await
        .expect("port");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await
        .expect("set");
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut conn)
        .await
        .expect("get");
    assert_eq!(v, "v");
    drop(conn);
    drop(redis);
    assert!(!exists(&id).await, "container {id} is gone after drop");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_prometheus_and_alertmanager_become_ready() {
    let prom = containers::prometheus().expect("request");
    let am = containers::alertmanager().expect("request");
    let (prom, am) = tokio::join!(containers::start(prom), containers::start(am));
    let (prom, am) = (
        prom.expect("prometheus starts"),
        am.expect("alertmanager starts"),
    );
    let pport = prom
        .get_host_port_ipv4(containers::PROMETHEUS_PORT)
        .await
        .expect("port");
    let aport = am
        .get_host_port_ipv4(containers::ALERTMANAGER_PORT)
        .await
        .expect("port");
    for url in [
        format!("http://127.0.0.1:{pport}/-/ready"),
        format!("http://127.0.0.1:{aport}/-/ready"),
    ] {
        let report = readiness_core::Probe::http(&url)
            .until_ok(Duration::from_secs(10))
            .await
            .expect("a loopback probe");
        assert!(
            report.first_ok.is_some(),
            "{url}: {:?}",
            report.samples.last()
        );
    }
    let flags: serde_json::Value =
        reqwest_get(&format!("http://127.0.0.1:{pport}/api/v1/status/flags")).await;
    assert_eq!(flags["data"]["rules.alert.resend-delay"], "1s");
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    let body = reqwest::get(url)
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&body).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_a_missing_image_names_the_variable_and_the_build_command() {
    let request = containers::postgres()
        .expect("request")
        .with_name("readiness-local/postgres")
        .with_tag("no-such-tag");
    let err = containers::start(request).await.expect_err("missing image");
    assert!(matches!(err, Error::ImageMissing { .. }), "{err:?}");
    let msg = err.to_string();
    for needle in [
        "readiness-local/postgres:no-such-tag",
        "READINESS_IMAGE_POSTGRES",
        "images/build.sh",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    assert_eq!(
        containers::postgres()
            .expect("request")
            .labels()
            .get(LABEL_IMAGE_VARIABLE)
            .map(String::as_str),
        Some("READINESS_IMAGE_POSTGRES")
    );
}

/// Starts Redis, prints its id, and panics while holding it. Run alone it is a
/// `should_panic` test; the test below runs it in a child process and checks that the
/// container is gone afterwards.
#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "deliberate panic while holding a container")]
async fn docker_holds_a_container_and_panics() {
    let redis = containers::start(containers::redis().expect("request"))
        .await
        .expect("redis starts");
    eprintln!("HOLDING-CONTAINER {}", redis.id());
    assert!(exists(redis.id()).await);
    panic!("deliberate panic while holding a container");
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_a_panicking_test_leaves_no_container_behind() {
    let run = format!("panic-check-{}-{}", std::process::id(), time_nanos());
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "docker_holds_a_container_and_panics",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("READINESS_RUN_ID", &run)
        .output()
        .expect("run child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child should pass as should_panic:\n{stdout}\n{stderr}"
    );
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("HOLDING-CONTAINER "))
        .unwrap_or_else(|| panic!("child never held a container:\n{stderr}"));
    assert!(stderr.contains("deliberate panic while holding a container"));
    assert!(!exists(id).await, "container {id} survived the panic");
    let left = containers::containers_with_label(LABEL_RUN, &run)
        .await
        .expect("list");
    assert!(left.is_empty(), "containers left by run {run}: {left:?}");
}

fn time_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_generic_images_go_through_the_catalogue_too() {
    let image = readiness_core::testcontainers::GenericImage::new("redis", "7.0").with_wait_for(
        readiness_core::testcontainers::core::WaitFor::message_on_stdout(
            "Ready to accept connections",
        ),
    );
    let request = containers::catalogue(image, "redis").expect("request");
    assert_eq!(
        request
            .labels()
            .get(containers::LABEL_HARNESS)
            .map(String::as_str),
        Some(containers::HARNESS)
    );
    let c = request.start().await.expect("start");
    assert!(run_labelled(c.id()).await);
}

/// Every port a container of the harness publishes is on 127.0.0.1 only (Docker would
/// otherwise publish on 0.0.0.0 and [::], reachable from off the host), and the port still
/// answers there. A request that maps a port itself keeps its mapping, on loopback.
#[tokio::test(flavor = "multi_thread")]
async fn docker_every_published_port_is_on_loopback_only() {
    let pg = containers::start(containers::postgres().expect("request"))
        .await
        .expect("postgres starts");
    let docker = containers::docker().await.expect("docker");
    let inspect = docker
        .inspect_container(pg.id(), None)
        .await
        .expect("inspect");
    let ports = inspect
        .network_settings
        .and_then(|n| n.ports)
        .expect("published ports");
    let hosts: Vec<String> = ports
        .values()
        .flatten()
        .flatten()
        .filter_map(|b| b.host_ip.clone())
        .collect();
    assert!(!hosts.is_empty(), "{ports:?}");
    assert!(hosts.iter().all(|h| h == "127.0.0.1"), "{ports:?}");
    let port = pg
        .get_host_port_ipv4(containers::POSTGRES_PORT)
        .await
        .expect("the port is found on loopback");
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("it answers on loopback");
}
