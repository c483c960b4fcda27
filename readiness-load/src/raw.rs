//! The lean HTTP/1.1 path for raw rate: one keep-alive connection per lane of the
//! executor, a request built once, a reused read buffer, `httparse`, no allocation per
//! request. It runs on the same executor as every load ([`crate::Load::run_raw`]): the
//! closed model keeps one connection per virtual user busy back to back; the open model
//! hands each arrival to an idle connection, opening one while fewer than
//! `max_in_flight` exist, and counts an arrival with none free as not started. Latency is
//! measured from the intended start (coordinated omission corrected).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use readiness_core::guard::{self, Reach};
use readiness_core::{Error, Result};

use crate::executor::Worker;
use crate::metrics::{BodyFailure, ErrorClass, Outcome};

/// A `GET` target of the lean HTTP/1.1 path, run by [`crate::Load::run_raw`]. Checked
/// (loopback guard, URL, name resolved once) when the load starts. Redirects are not
/// followed: a 3xx answer is the answer.
#[derive(Debug, Clone)]
#[must_use]
pub struct Target {
    url: String,
    timeout: Duration,
    reach: Reach,
}

impl Target {
    /// `GET url` (`http://host:port/path`), a timeout of 10 s per request.
    pub fn get(url: impl Into<String>) -> Self {
        Target {
            url: url.into(),
            timeout: Duration::from_secs(10),
            reach: Reach::Loopback,
        }
    }
    /// How long one request may take before it counts as a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Lets the load aim outside loopback.
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }

    /// The target checked and resolved, the request built.
    pub(crate) fn arm(&self) -> Result<Armed> {
        let url = &self.url;
        let (host, port) = guard::check_target(
            url,
            self.reach,
            "raw::Target::get(url).allow_non_loopback()",
        )?;
        let parsed = url::Url::parse(url)
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
        Ok(Armed {
            addr,
            url: url.clone(),
            request,
            timeout: self.timeout,
        })
    }
}

/// A checked target: what each connection sends.
#[derive(Debug)]
pub(crate) struct Armed {
    addr: SocketAddr,
    url: String,
    request: Vec<u8>,
    timeout: Duration,
}

impl Armed {
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Worker for Armed {
    type Lane = Conn;
    fn lane(&self) -> Conn {
        Conn::new()
    }
    fn part(&self, _: u64) -> usize {
        0
    }
    fn iterate<'a>(
        &'a self,
        conn: &'a mut Conn,
        _: u64,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        conn.send(self)
    }
}

/// One keep-alive connection with a read buffer allocated once: `buf[start..end]` holds
/// bytes read but not yet parsed; reads go into `buf[end..]`, never zeroing anything.
pub(crate) struct Conn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The head of the current answer arrived; its body is being read.
    in_body: bool,
}

/// Why a read gave no bytes.
enum ReadFailure {
    /// The peer closed the connection.
    Closed,
    /// The peer reset it.
    Reset,
    /// Any other error.
    Other,
}

impl Conn {
    fn new() -> Self {
        Conn {
            stream: None,
            buf: vec![0; 4096],
            start: 0,
            end: 0,
            in_body: false,
        }
    }

    async fn send(&mut self, target: &Armed) -> Outcome {
        self.in_body = false;
        let outcome = match tokio::time::timeout(target.timeout, self.exchange(target)).await {
            Ok(r) => r,
            // A body still arriving at the timeout is a body that failed.
            Err(_) if self.in_body => Err(ErrorClass::Body(BodyFailure::Timeout)),
            Err(_) => Err(ErrorClass::Timeout),
        };
        if outcome.is_err() {
            self.stream = None;
        }
        outcome
    }

    async fn exchange(&mut self, target: &Armed) -> Outcome {
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
                    // 1xx, 204 and 304 have no body; otherwise without a length the body
                    // lasts until the server closes the connection.
                    let bodiless = matches!(status, 100..=199 | 204 | 304);
                    let length = if bodiless { Some(0) } else { length };
                    self.in_body = true;
                    match length {
                        Some(length) => {
                            let total = head + length;
                            while self.end - self.start < total {
                                self.read_more(total).await.map_err(body_failure)?;
                            }
                            self.start += total;
                            if self.start == self.end {
                                (self.start, self.end) = (0, 0);
                            }
                            if close {
                                self.stream = None;
                            }
                        }
                        None => {
                            self.read_to_close().await?;
                            self.stream = None;
                        }
                    }
                    self.in_body = false;
                    return match status {
                        500..=599 => Err(ErrorClass::Status5xx),
                        400..=499 => Err(ErrorClass::Status4xx),
                        _ => Ok(()),
                    };
                }
                Ok(httparse::Status::Partial) => self
                    .read_more(self.end - self.start + 1)
                    .await
                    .map_err(|_| ErrorClass::Connect)?,
                Err(e) => return Err(ErrorClass::User(format!("bad HTTP response: {e}"))),
            }
        }
    }

    /// Reads a body that lasts until the server closes the connection (bounded by the
    /// request's timeout); a reset is a failed body.
    async fn read_to_close(&mut self) -> std::result::Result<(), ErrorClass> {
        loop {
            (self.start, self.end) = (0, 0);
            match self.read_more(1).await {
                Ok(()) => {}
                Err(ReadFailure::Closed) => return Ok(()),
                Err(e) => return Err(body_failure(e)),
            }
        }
    }

    /// Reads at least one more byte, making room for a message of `need` bytes first.
    async fn read_more(&mut self, need: usize) -> std::result::Result<(), ReadFailure> {
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
        let stream = self.stream.as_mut().ok_or(ReadFailure::Other)?;
        match stream.read(&mut self.buf[self.end..]).await {
            Ok(0) => Err(ReadFailure::Closed),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(ReadFailure::Reset),
            Err(_) => Err(ReadFailure::Other),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
        }
    }
}

/// A body that stopped coming: reset, or cut short.
fn body_failure(e: ReadFailure) -> ErrorClass {
    ErrorClass::Body(match e {
        ReadFailure::Reset => BodyFailure::Reset,
        ReadFailure::Closed | ReadFailure::Other => BodyFailure::CutShort,
    })
}
