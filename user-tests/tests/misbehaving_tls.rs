//! A team's TLS checks, written as a user of `readiness` writes them, against fronts that
//! are not the textbook one: a front that speaks only TLS 1.3 (the certificate is then
//! encrypted in the handshake, and must still be read), and a front that takes the
//! connection and never answers (a handshake that timed out was neither refused nor
//! accepted: no verdict). Needs OpenSSL 3's `openssl`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use readiness::Verdict;
use readiness::security::{
    Tls, self_signed_pem, try_assert_tls_certificate, try_assert_tls_protocol,
};

use common::recorder;

/// `openssl s_server` on a free loopback port with `args`, killed when dropped.
struct Front(Child, String);

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn front(pem: &std::path::Path, args: &[&str]) -> Front {
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:0", "-www", "-cert"])
        .arg(pem)
        .args(args)
        .env("OPENSSL_CONF", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
    let addr = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("ACCEPT ").map(str::to_owned))
        .expect("s_server says where it listens");
    std::thread::spawn(move || lines.for_each(drop));
    Front(child, addr)
}

#[tokio::test]
async fn a_front_of_tls_1_3_only_passes_and_its_certificate_is_read_from_that_handshake() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pem = dir.path().join("front.pem");
    let made = self_signed_pem("shop.localhost", 60)
        .await
        .expect("a certificate");
    std::fs::write(&pem, made).expect("written");
    let only_13 = front(&pem, &["-tls1_3"]);
    let tls = Tls::new(&only_13.1)
        .with_server_name("shop.localhost")
        .with_recorder(recorder(&dir));
    let protocol = try_assert_tls_protocol(&tls)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        protocol.summary.as_deref(),
        Some("every version before TLS 1.2 refused; TLS 1.3 accepted")
    );
    let cert = try_assert_tls_certificate(&tls)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(cert.verdict, Verdict::Pass);
    let summary = cert.summary.unwrap_or_default();
    assert!(summary.contains("left)"), "{summary}");
    // 60 days is not 90: the same front fails a longer requirement, naming what it has.
    let longer = tls.with_min_validity(Duration::from_secs(90 * 86_400));
    let failure = try_assert_tls_certificate(&longer).await.unwrap_err();
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(
        failure.to_string().contains("CN=shop.localhost"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_front_that_never_answers_gets_no_verdict() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address").to_string();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let tls = Tls::new(&addr)
        .with_timeout(Duration::from_secs(1))
        .with_recorder(recorder(&dir));
    for failure in [
        try_assert_tls_protocol(&tls).await.unwrap_err(),
        try_assert_tls_certificate(&tls).await.unwrap_err(),
    ] {
        assert_eq!(failure.verdict(), Verdict::Error, "{failure}");
        assert!(
            failure.to_string().contains("no answer within 1s"),
            "{failure}"
        );
    }
    held.abort();
}
