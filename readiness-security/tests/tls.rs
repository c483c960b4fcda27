//! `sec.tls_protocol` and `sec.tls_certificate` against TLS servers on loopback that this
//! test starts (`openssl s_server`, with certificates it makes): a front that speaks only
//! TLS 1.2 and 1.3 with a certificate of 90 days passes both; one that still accepts TLS 1.0
//! and 1.1 fails the protocol check naming them; a certificate of 5 days fails the
//! certificate check with the days it has left; a port that does not speak TLS, one that
//! never answers, a closed port and a host off loopback are verdict `error`. Needs OpenSSL 3's `openssl`.
#![expect(clippy::unwrap_used, reason = "tests")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use readiness_core::{Error, Recorder, Verdict};
use readiness_security::{
    Tls, TlsVersion, probe_tls_certificate, self_signed_pem, try_assert_tls_certificate,
    try_assert_tls_protocol,
};

/// A self-signed certificate for `orders.localhost` valid `days` days, with its key, in
/// one file of `dir` (`s_server -cert` reads the key from it too).
async fn certificate(dir: &Path, days: u32) -> String {
    let pem = self_signed_pem("orders.localhost", days).await.unwrap();
    let path = dir.join(format!("front-{days}.pem"));
    std::fs::write(&path, pem).unwrap();
    path.to_string_lossy().into_owned()
}

/// An `openssl s_server` on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(pem: &str, extra: &[&str]) -> Server {
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:0", "-www", "-cert", pem])
        .args(extra)
        .env("OPENSSL_CONF", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("ACCEPT ").map(str::to_owned))
        .expect("s_server says where it listens");
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

fn tls(addr: &str, dir: &Path) -> Tls {
    Tls::new(addr)
        .with_server_name("orders.localhost")
        .with_timeout(Duration::from_secs(20))
        .with_recorder(Recorder::new(dir))
}

#[tokio::test]
async fn a_front_of_tls_1_2_and_later_with_90_days_left_passes_both() {
    let dir = tempfile::tempdir().unwrap();
    let front = server(&certificate(dir.path(), 90).await, &[]);
    let evidence = try_assert_tls_protocol(&tls(&front.addr, dir.path()))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verdict, Verdict::Pass);
    assert_eq!(evidence.verify(), Ok(()));
    let summary = evidence.summary.clone().unwrap_or_default();
    assert_eq!(
        summary,
        "every version before TLS 1.2 refused; TLS 1.3 accepted"
    );

    let evidence = try_assert_tls_certificate(&tls(&front.addr, dir.path()))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(evidence.verify(), Ok(()));
    let summary = evidence.summary.clone().unwrap_or_default();
    assert!(summary.starts_with("valid until "), "{summary}");
    assert!(
        summary.contains("(89d 23h left)") || summary.contains("(90d left)"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_front_that_still_accepts_tls_1_0_fails_naming_the_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = ["-cipher", "DEFAULT:@SECLEVEL=0", "-min_protocol", "TLSv1"];
    let front = server(&certificate(dir.path(), 90).await, &legacy);
    let failure = try_assert_tls_protocol(&tls(&front.addr, dir.path()))
        .await
        .expect_err("TLS 1.0 and 1.1 are accepted");
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert_eq!(failure.evidence().verify(), Ok(()));
    let text = failure.to_string();
    for part in [
        "sec.tls_protocol",
        "2 of 4 probes failed",
        "a TLS 1.0 handshake",
        "a TLS 1.1 handshake",
        "accepted (",
        "sslVersionMin = TLSv1.2",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // With TLS 1.0 allowed by the test, the same front passes.
    let allowed = tls(&front.addr, dir.path()).with_min_version(TlsVersion::Tls1_0);
    try_assert_tls_protocol(&allowed)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
}

#[tokio::test]
async fn a_certificate_with_5_days_left_fails_with_the_days_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let front = server(&certificate(dir.path(), 5).await, &[]);
    let failure = probe_tls_certificate(&tls(&front.addr, dir.path()))
        .await
        .judge()
        .expect_err("5 days is less than 30");
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert_eq!(failure.evidence().verify(), Ok(()));
    let text = failure.to_string();
    for part in [
        "sec.tls_certificate",
        "CN=orders.localhost",
        "valid now and for at least 30d more",
        "left)",
        "renew the certificate",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    assert!(
        text.contains("(4d 23h left)") || text.contains("(5d left)"),
        "{text}"
    );
    let week = tls(&front.addr, dir.path()).with_min_validity(Duration::from_secs(86_400));
    try_assert_tls_certificate(&week)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
}

#[tokio::test]
async fn a_port_without_tls_a_closed_port_and_a_remote_host_judge_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Plain HTTP: every handshake ends in "wrong version number", none completes.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for _ in 0..64 {
            let Ok((mut s, _)) = plain.accept().await else {
                return;
            };
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    for failure in [
        try_assert_tls_protocol(&tls(&plain_addr, dir.path()))
            .await
            .unwrap_err(),
        try_assert_tls_certificate(&tls(&plain_addr, dir.path()))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(failure.verdict(), Verdict::Error, "{failure}");
    }

    // A port that takes the connection and never answers: a handshake that timed out was
    // neither refused nor accepted.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let quick = tls(&silent_addr, dir.path()).with_timeout(Duration::from_secs(1));
    let failure = try_assert_tls_protocol(&quick).await.unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        failure.to_string().contains("no answer within 1s"),
        "{failure}"
    );
    held.abort();

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let failure = try_assert_tls_protocol(&tls(&closed_addr, dir.path()))
        .await
        .unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(
        failure.to_string().contains("never reached the front"),
        "{failure}"
    );

    let remote = try_assert_tls_protocol(&tls("192.0.2.1:443", dir.path()))
        .await
        .unwrap_err();
    assert_eq!(remote.verdict(), Verdict::Error);
    assert!(
        matches!(remote.cause(), Some(Error::NonLoopbackTarget { .. })),
        "{remote}"
    );
    let no_port = try_assert_tls_protocol(&tls("127.0.0.1", dir.path()))
        .await
        .unwrap_err();
    assert!(no_port.to_string().contains("host:port"), "{no_port}");
}
