//! The lean HTTP/1.1 path for raw rate: one keep-alive connection per virtual user, a
//! request built once, a reused read buffer, `httparse`, no allocation per request.
//!
//! The closed model runs `connections` users back to back. The open model gives connection
//! k the arrivals k, k + N, k + 2N, ... of the schedule (wrk2's design): a connection that
//! falls behind starts its next request late, and the latency is still measured from the
//! intended start (coordinated omission corrected); in-flight work is bounded by the
//! connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use readiness_core::{Error, Result, guard};

use crate::engine::Report;
use crate::metrics::{ErrorClass, Metrics};
use crate::schedule::Model;

/// A `GET` target on loopback (or anywhere, with the explicit opt-in).
#[derive(Debug, Clone)]
pub struct Target {
    addr: SocketAddr,
    url: String,
    request: Vec<u8>,
}

impl Target {
    /// Parses `http://host:port/path`; refuses non-loopback hosts unless
    /// `allow_non_loopback`; resolves the host once.
    pub fn get(url: &str, allow_non_loopback: bool) -> Result<Self> {
        let (host, port) = guard::check_target(url, allow_non_loopback)?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::InvalidInput(format!("{url:?} is not a URL: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(Error::InvalidInput(format!(
                "the raw HTTP path speaks plain http://, not {}://",
                parsed.scheme()
            )));
        }
        let port = port.unwrap_or(80);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(
            host.trim_matches(|c| c == '[' || c == ']'),
            port,
        ))
        .map_err(|e| Error::InvalidInput(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| Error::InvalidInput(format!("{host} resolves to no address")))?;
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: readiness-load\r\n\r\n"
        )
        .into_bytes();
        Ok(Target {
            addr,
            url: url.to_owned(),
            request,
        })
    }
}

/// One keep-alive connection with a read buffer allocated once: `buf[start..end]` holds
/// bytes read but not yet parsed; reads go into `buf[end..]`, never zeroing anything.
struct Conn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn {
    fn new() -> Self {
        Conn {
            stream: None,
            buf: vec![0; 4096],
            start: 0,
            end: 0,
        }
    }

    async fn send(
        &mut self,
        target: &Target,
        timeout: Duration,
    ) -> std::result::Result<(), ErrorClass> {
        match tokio::time::timeout(timeout, self.exchange(target)).await {
            Ok(r) => {
                if r.is_err() {
                    self.stream = None;
                }
                r
            }
            Err(_) => {
                self.stream = None;
                Err(ErrorClass::Timeout)
            }
        }
    }

    async fn exchange(&mut self, target: &Target) -> std::result::Result<(), ErrorClass> {
        if self.stream.is_none() {
            let s = TcpStream::connect(target.addr)
                .await
                .map_err(|_| ErrorClass::Connect)?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
            (self.start, self.end) = (0, 0);
        }
        let stream = self.stream.as_mut().ok_or(ErrorClass::Connect)?;
        stream
            .write_all(&target.request)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        loop {
            // Parse what is buffered; read more until one whole response is there.
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(head)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut length = None;
                    let mut close = false;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok());
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close = h.value.eq_ignore_ascii_case(b"close");
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err(ErrorClass::User(
                                "chunked responses are not supported by the raw path; use http::get".into(),
                            ));
                        }
                    }
                    let total = head + length.unwrap_or(0);
                    while self.end - self.start < total {
                        self.read_more(total).await?;
                    }
                    self.start += total;
                    if self.start == self.end {
                        (self.start, self.end) = (0, 0);
                    }
                    if close || length.is_none() {
                        self.stream = None;
                    }
                    return match status {
                        500..=599 => Err(ErrorClass::Status5xx),
                        400..=499 => Err(ErrorClass::Status4xx),
                        _ => Ok(()),
                    };
                }
                Ok(httparse::Status::Partial) => self.read_more(self.end - self.start + 1).await?,
                Err(e) => return Err(ErrorClass::User(format!("bad HTTP response: {e}"))),
            }
        }
    }

    /// Reads at least one more byte, making room for a message of `need` bytes first.
    async fn read_more(&mut self, need: usize) -> std::result::Result<(), ErrorClass> {
        if self.buf.len() - self.start < need || self.end == self.buf.len() {
            // Move the unparsed bytes to the front; grow only for a message larger than
            // the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() < need.max(self.end + 1) {
                self.buf
                    .resize(need.max(self.end + 1).next_power_of_two(), 0);
            }
        }
        let stream = self.stream.as_mut().ok_or(ErrorClass::Connect)?;
        match stream.read(&mut self.buf[self.end..]).await {
            Ok(0) | Err(_) => Err(ErrorClass::Connect),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
        }
    }
}

/// Per-second metrics shared by the connections in a few lock stripes, so memory does not
/// grow with the number of connections.
struct Stripes(Vec<std::sync::Mutex<Metrics>>);

impl Stripes {
    fn new(n: usize) -> Self {
        Stripes(
            (0..n.max(1))
                .map(|_| std::sync::Mutex::new(Metrics::default()))
                .collect(),
        )
    }
    fn with<R>(&self, k: usize, f: impl FnOnce(&mut Metrics) -> R) -> R {
        let mut m = self.0[k % self.0.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut m)
    }
    fn merged(&self) -> Metrics {
        let mut total = Metrics::default();
        for s in &self.0 {
            total.merge(&s.lock().unwrap_or_else(|p| p.into_inner()));
        }
        total
    }
}

/// Runs `GET target` with `connections` keep-alive connections under `model` (closed: one
/// user per connection, `users` ignored; open: the schedule split over the connections).
pub async fn run(
    target: &Target,
    connections: usize,
    model: &Model,
    timeout: Duration,
    timer: crate::Timer,
) -> Result<Report> {
    if connections == 0 {
        return Err(Error::InvalidInput(
            "at least 1 connection is needed".into(),
        ));
    }
    if let Model::RampingUsers { .. } = model {
        return Err(Error::InvalidInput(
            "the raw path runs a constant number of connections; use Load for ramping users".into(),
        ));
    }
    let started_at = OffsetDateTime::now_utc();
    let start = Instant::now();
    let duration = model.duration();
    let schedule = model.schedule();
    let stripes = std::sync::Arc::new(Stripes::new(
        std::thread::available_parallelism()
            .map(|n| n.get() * 2)
            .unwrap_or(4)
            .min(connections),
    ));
    let mut tasks = Vec::with_capacity(connections);
    for k in 0..connections {
        let (target, schedule, stripes) = (target.clone(), schedule.clone(), stripes.clone());
        let mut pacer = match schedule {
            Some(_) => Some(crate::pace::Pacer::new(timer)?),
            None => None,
        };
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new();
            match (schedule, pacer.as_mut()) {
                (Some(schedule), Some(pacer)) => {
                    let mut i = k as u64;
                    while let Some(at) = schedule.intended(i) {
                        let due = start + at;
                        pacer.until(due).await;
                        let lag = Instant::now().saturating_duration_since(due);
                        let outcome = conn.send(&target, timeout).await;
                        // Coordinated omission corrected: from the intended start.
                        let latency = due.elapsed();
                        stripes.with(k, |m| {
                            m.record_lag(lag);
                            m.record(at, latency, &outcome);
                        });
                        i += connections as u64;
                    }
                }
                _ => {
                    let end = start + duration;
                    let mut n = 0u64;
                    while Instant::now() < end && n < crate::schedule::MAX_ITERATIONS {
                        let began = Instant::now();
                        let outcome = conn.send(&target, timeout).await;
                        let latency = began.elapsed();
                        stripes.with(k, |m| m.record(began - start, latency, &outcome));
                        n += 1;
                    }
                }
            }
        }));
    }
    let mut unfinished = 0;
    let deadline =
        tokio::time::Instant::from_std(start + duration + timeout + Duration::from_secs(1));
    for t in tasks {
        if !matches!(tokio::time::timeout_at(deadline, t).await, Ok(Ok(()))) {
            unfinished += 1;
        }
    }
    let mut metrics = stripes.merged();
    metrics.unfinished = unfinished;
    let scenario = match model {
        Model::Closed { .. } => format!(
            "{connections} connections back to back for {}",
            readiness_core::Quantity::duration(duration)
        ),
        open => format!("{open} over {connections} connections"),
    };
    Ok(Report {
        name: "http_get".into(),
        scenario,
        target: Some(format!("GET {}", target.url)),
        started_at,
        elapsed: start.elapsed(),
        by_name: Vec::new(),
        metrics,
        shard: None,
        aborted: None,
    })
}
