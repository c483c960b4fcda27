//! Probes that poll a target until a condition holds or a deadline passes, keeping every
//! sample with its time. Health checks and RTO measurements build on them.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

pub use crate::attachment::{ProbeReport, Sample};
use crate::error::{Error, Result};
use crate::guard::{self, Reach};

/// Most samples one probe run keeps; a run stops sampling past it.
pub const MAX_SAMPLES: usize = 100_000;

#[derive(Debug, Clone)]
enum Kind {
    Tcp {
        addr: String,
    },
    Http {
        url: String,
        expect: std::ops::RangeInclusive<u16>,
    },
}

/// A TCP or HTTP probe of a loopback target. The target is checked when the probe runs:
/// a setup error (a non-loopback or malformed target) is the `Err` of the run.
#[derive(Debug, Clone)]
#[must_use]
pub struct Probe {
    kind: Kind,
    interval: Duration,
    attempt_timeout: Duration,
    reach: Reach,
}

/// A probe ready to sample: the target checked, the HTTP client built.
#[derive(Debug)]
struct Armed<'a> {
    probe: &'a Probe,
    client: Option<reqwest::Client>,
}

impl Probe {
    /// Good when a TCP connection to `host:port` opens.
    pub fn tcp(addr: impl Into<String>) -> Self {
        Probe::with_kind(Kind::Tcp { addr: addr.into() })
    }

    /// Good when `GET url` answers with a 2xx status. Redirects are followed (up to 10),
    /// each hop checked by the loopback guard.
    pub fn http(url: impl Into<String>) -> Self {
        Probe::with_kind(Kind::Http {
            url: url.into(),
            expect: 200..=299,
        })
    }

    fn with_kind(kind: Kind) -> Self {
        Probe {
            kind,
            interval: Duration::from_millis(100),
            attempt_timeout: Duration::from_secs(2),
            reach: Reach::Loopback,
        }
    }

    /// Time between the starts of two attempts (the resolution of what the run measures).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }
    /// How long one attempt may take before it counts as bad.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }
    /// For HTTP: the statuses that count as good (default 200..=299).
    pub fn with_expected_status(mut self, statuses: std::ops::RangeInclusive<u16>) -> Self {
        if let Kind::Http { expect, .. } = &mut self.kind {
            *expect = statuses;
        }
        self
    }
    /// Lets the probe aim outside loopback (and follow redirects there).
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }

    /// What the probe targets, for evidence ("tcp 127.0.0.1:5432", "GET http://...").
    pub fn target(&self) -> String {
        match &self.kind {
            Kind::Tcp { addr } => format!("tcp {addr}"),
            Kind::Http { url, .. } => format!("GET {url}"),
        }
    }

    fn arm(&self) -> Result<Armed<'_>> {
        const OPT_IN: &str = "Probe::http(url).allow_non_loopback()";
        let client = match &self.kind {
            Kind::Tcp { addr } => {
                guard::check_target(addr, self.reach, "Probe::tcp(addr).allow_non_loopback()")?;
                None
            }
            Kind::Http { url, .. } => {
                guard::check_target(url, self.reach, OPT_IN)?;
                let reach = self.reach;
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(self.attempt_timeout)
                    .redirect(guard::redirect_policy(10, move |t| {
                        guard::check_target(t, reach, OPT_IN).map(|_| ())
                    }))
                    .build()
                    .map_err(|e| Error::Other(format!("failed to build an HTTP client: {e}")))?;
                Some(client)
            }
        };
        Ok(Armed {
            probe: self,
            client,
        })
    }

    /// One attempt: whether it was good and what was seen.
    pub async fn once(&self) -> Result<(bool, String)> {
        Ok(self.arm()?.once().await)
    }

    /// Samples until the first good attempt or until `deadline` has passed.
    pub async fn until_ok(&self, deadline: Duration) -> Result<ProbeReport> {
        Ok(self.arm()?.run(deadline, Duration::ZERO).await)
    }

    /// Samples until the probe has stayed good for `settle` (every attempt in the window
    /// good), or until `deadline` has passed. `condition_met_at` is the answer of the streak's first attempt.
    pub async fn until_stable(&self, settle: Duration, deadline: Duration) -> Result<ProbeReport> {
        Ok(self.arm()?.run(deadline, settle).await)
    }
}

/// What a TCP probe's connection says: connected, or refused — also when the socket was
/// joined to itself, which the kernel can do when nothing listens on a loopback port of
/// the ephemeral range (a simultaneous open): no one answered.
fn tcp_answer(connected: std::io::Result<tokio::net::TcpStream>) -> (bool, String) {
    match connected {
        Ok(s) if s.local_addr().ok() == s.peer_addr().ok() => (
            false,
            "connection refused (the socket was joined to itself: nothing listens there)"
                .to_owned(),
        ),
        Ok(_) => (true, "connected".to_owned()),
        Err(e) => (false, e.to_string()),
    }
}

impl Armed<'_> {
    async fn once(&self) -> (bool, String) {
        let attempt = async {
            match (&self.probe.kind, &self.client) {
                (Kind::Tcp { addr }, _) => {
                    tcp_answer(tokio::net::TcpStream::connect(addr.as_str()).await)
                }
                (Kind::Http { url, expect }, Some(client)) => match client.get(url).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        (expect.contains(&status), status.to_string())
                    }
                    Err(e) => (false, describe_reqwest_error(&e)),
                },
                (Kind::Http { .. }, None) => (false, "no HTTP client".to_owned()),
            }
        };
        let timeout = self.probe.attempt_timeout;
        match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => (false, format!("no answer within {timeout:?}")),
        }
    }

    async fn run(&self, deadline: Duration, settle: Duration) -> ProbeReport {
        let started_at = OffsetDateTime::now_utc();
        let start = Instant::now();
        let mut samples = Vec::new();
        let (mut first_ok, mut streak) = (None, None::<Duration>);
        let mut condition_met_at = None;
        while samples.len() < MAX_SAMPLES {
            let at = start.elapsed();
            let (ok, detail) = self.once().await;
            let latency = start.elapsed() - at;
            samples.push(Sample {
                at_ms: at.as_secs_f64() * 1e3,
                ok,
                latency_ms: latency.as_secs_f64() * 1e3,
                detail,
            });
            if ok {
                // Credited from the answer: an attempt that waited through the change saw
                // the target good only when it answered.
                let answered = at + latency;
                first_ok.get_or_insert(answered);
                let since = *streak.get_or_insert(answered);
                if answered - since >= settle {
                    condition_met_at = Some(since);
                    break;
                }
            } else {
                streak = None;
            }
            let next = at + self.probe.interval;
            if next > deadline {
                break;
            }
            tokio::time::sleep_until((start + next).into()).await;
        }
        ProbeReport {
            target: self.probe.target(),
            started_at,
            interval: self.probe.interval,
            samples,
            first_ok,
            condition_met_at,
            elapsed: start.elapsed(),
        }
    }
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect error"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "request error"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut root = e.to_string();
    while let Some(s) = source {
        root = s.to_string();
        source = s.source();
    }
    format!("{kind}: {root}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A socket joined to itself (what the kernel may make of a connection to a loopback
    /// port nothing listens on) is no answer; a listener's connection is one.
    #[tokio::test]
    async fn a_tcp_connection_joined_to_itself_is_no_answer() {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("its port");
        let joined = socket.connect(addr).await;
        let (good, seen) = tcp_answer(joined);
        assert!(!good, "{seen}");
        assert!(seen.contains("joined to itself"), "{seen}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let real = tokio::net::TcpStream::connect(listener.local_addr().expect("addr")).await;
        assert_eq!(tcp_answer(real), (true, "connected".to_owned()));
    }

    #[tokio::test]
    async fn tcp_probe_sees_a_listener_and_a_closed_port() -> Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(e.to_string()))?;
        let good = Probe::tcp(addr.to_string())
            .until_ok(Duration::from_secs(2))
            .await?;
        assert!(good.first_ok.is_some());
        assert_eq!(good.samples.len(), 1);
        drop(listener);
        let bad = Probe::tcp(addr.to_string())
            .with_interval(Duration::from_millis(20))
            .until_ok(Duration::from_millis(200))
            .await?;
        assert!(bad.first_ok.is_none());
        // Never more often than the interval, and at least one attempt: what the probe
        // promises whatever the machine does.
        assert!(
            (1..=11).contains(&bad.samples.len()),
            "{} samples in 200ms at 20ms",
            bad.samples.len()
        );
        for pair in bad.samples.windows(2) {
            assert!(pair[1].at_ms - pair[0].at_ms >= 20.0, "{pair:?}");
        }
        assert!(
            bad.samples
                .iter()
                .all(|s| !s.ok && s.detail.contains("refused")),
            "{:?}",
            bad.samples[0]
        );
        Ok(())
    }

    /// A server that answers 503 for its first `bad` requests and 200 after.
    async fn flapping_server(bad: usize) -> std::io::Result<std::net::SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            for n in 0..10_000 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let status = if n < bad {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let resp =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        Ok(addr)
    }

    #[tokio::test]
    async fn http_probe_waits_for_a_stable_good_streak() -> Result<()> {
        let addr = flapping_server(3)
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        let report = Probe::http(format!("http://{addr}/health"))
            .with_interval(Duration::from_millis(10))
            .until_stable(Duration::from_millis(50), Duration::from_secs(5))
            .await?;
        let statuses: Vec<&str> = report.samples.iter().map(|s| s.detail.as_str()).collect();
        assert_eq!(&statuses[..4], ["503", "503", "503", "200"]);
        let met = report.condition_met_at.expect("became stable");
        assert_eq!(Some(met), report.first_ok);
        // The streak that satisfied the run lasted the settle window, however many
        // samples a busy machine managed to take in it.
        let last = report.samples.last().expect("samples");
        let answered = |s: &crate::Sample| s.at_ms + s.latency_ms;
        assert!(
            answered(last) - answered(&report.samples[3]) >= 50.0,
            "{:?}",
            report.samples
        );
        assert!(report.samples[3..].iter().all(|s| s.ok));
        Ok(())
    }

    #[tokio::test]
    async fn refuses_non_loopback_targets_when_it_runs_and_names_the_opt_in() {
        let err = Probe::http("http://203.0.113.7/health")
            .until_ok(Duration::from_secs(1))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is not on loopback"), "{err}");
        assert!(
            err.contains("`Probe::http(url).allow_non_loopback()`"),
            "the opt-in named exists: {err}"
        );
    }
}
