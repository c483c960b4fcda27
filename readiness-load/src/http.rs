//! The HTTP convenience: a transaction that sends one request and classifies the answer.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use readiness_core::guard::{self, Reach, Staging};
use readiness_core::{Error, Result};

use crate::metrics::{BodyFailure, ErrorClass, Outcome};
use crate::transaction::Transaction;

const OPT_IN: &str = "http::get(url).allow_non_loopback()";

/// `GET url` as a transaction: keep-alive connections, a timeout per request (default
/// 10 s), redirects followed up to 10 with every hop checked by the loopback guard. The
/// target is checked when the load starts ([`crate::Load::run`]): off loopback it is
/// refused unless [`HttpGet::allow_non_loopback`].
///
/// ```no_run
/// # async fn demo() -> readiness_core::Result<()> {
/// use std::time::Duration;
/// use readiness_load::{Load, Model, http};
///
/// let get = http::get("http://127.0.0.1:8080/orders/1").with_timeout(Duration::from_secs(5));
/// let model = Model::constant_rate(100.0, Duration::from_secs(10))?;
/// let report = Load::new("get_order", model).run(get).await?;
/// # Ok(()) }
/// ```
pub fn get(url: impl Into<String>) -> HttpGet {
    HttpGet {
        url: url.into(),
        timeout: Duration::from_secs(10),
        reach: Reach::Loopback,
        max_redirects: 10,
        keep_alive: true,
        expected: Vec::new(),
        staging: None,
        client: OnceLock::new(),
    }
}

/// A `GET` transaction; see [`get`].
#[derive(Debug)]
#[must_use]
pub struct HttpGet {
    url: String,
    timeout: Duration,
    reach: Reach,
    max_redirects: usize,
    keep_alive: bool,
    expected: Vec<u16>,
    staging: Option<Staging>,
    client: OnceLock<std::result::Result<reqwest::Client, String>>,
}

impl HttpGet {
    /// How long one request may take before it counts as a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Most redirects one request follows (default 10; 0: a 3xx answer is the answer).
    pub fn with_max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }
    /// A new connection for every request instead of keep-alive: each request meets the
    /// target's accept path, as a client behind a switching proxy or load balancer does
    /// (a kept-alive connection stays with the instance it was opened to).
    pub fn with_new_connection_per_request(mut self) -> Self {
        self.keep_alive = false;
        self
    }
    /// Statuses that are the expected answer too, besides 2xx and 3xx: a 503 from a
    /// service that sheds load fast, when that is what the test asks of it. Their latency is
    /// judged with the other answers.
    pub fn expecting_status(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.expected.extend(statuses);
        self
    }
    /// Lets the load aim outside loopback, and its redirects go there.
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }
    /// Aims the load at `staging` on purpose: the URL must be on it (redirects too, and
    /// nowhere else), a load of it is held to its caps (an open model at most its rate,
    /// for at most its length), a stress is refused unless told twice, and the evidence
    /// says where it ran ([`Staging`]).
    pub fn on_staging(mut self, staging: &Staging) -> Self {
        self.staging = Some(staging.clone());
        self
    }

    /// The guard's verdict on the URL: on staging when marked for it, else on loopback
    /// unless allowed anywhere.
    fn check_url(&self) -> Result<()> {
        match &self.staging {
            Some(s) => s.check_target(&self.url),
            None => guard::check_target(&self.url, self.reach, OPT_IN).map(|_| ()),
        }
    }

    /// The client, built once after the guard accepted the URL.
    fn client(&self) -> Result<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                self.check_url().map_err(|e| e.to_string())?;
                let policy = match (&self.staging, self.max_redirects) {
                    (_, 0) => reqwest::redirect::Policy::none(),
                    (Some(s), max) => {
                        let s = s.clone();
                        guard::redirect_policy(max, move |t| s.check_target(t))
                    }
                    (None, max) => {
                        let reach = self.reach;
                        guard::redirect_policy(max, move |t| {
                            guard::check_target(t, reach, OPT_IN).map(|_| ())
                        })
                    }
                };
                reqwest::Client::builder()
                    .no_proxy()
                    .timeout(self.timeout)
                    .redirect(policy)
                    .pool_max_idle_per_host(if self.keep_alive { 1024 } else { 0 })
                    .build()
                    .map_err(|e| format!("failed to build an HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| Error::InvalidInput(e.clone()))
    }
}

impl Transaction for HttpGet {
    fn call(&self, _i: u64) -> impl Future<Output = Outcome> + Send {
        let request = self.client().map(|c| c.get(&self.url));
        let expected = self.expected.clone();
        async move {
            match request {
                Ok(r) => classify(r.send().await, &expected).await,
                Err(e) => Err(ErrorClass::User(e.to_string())),
            }
        }
    }
    fn check(&self) -> Result<()> {
        // The guard's own error (with the opt-in it names) rather than the cached text.
        self.check_url()?;
        self.client().map(|_| ())
    }
    fn target(&self) -> Option<String> {
        Some(format!("GET {}", self.url))
    }
    fn staging(&self) -> Option<&Staging> {
        self.staging.as_ref()
    }
}

/// The answer's class: a status is an answer only once its body arrived whole; a body cut
/// short, reset or still arriving at the timeout is a failure of its own
/// ([`ErrorClass::Body`]), whatever the status said.
async fn classify(result: reqwest::Result<reqwest::Response>, expected: &[u16]) -> Outcome {
    match result {
        Ok(resp) => {
            let status = resp.status();
            // The whole body is read: a success needs it, and the connection is reused.
            if let Err(e) = resp.bytes().await {
                return Err(ErrorClass::Body(body_failure(&e)));
            }
            if expected.contains(&status.as_u16()) {
                Ok(())
            } else if status.is_server_error() {
                Err(ErrorClass::Status5xx)
            } else if status.is_client_error() {
                Err(ErrorClass::Status4xx)
            } else {
                Ok(())
            }
        }
        Err(e) if e.is_redirect() => Err(ErrorClass::Redirect),
        Err(e) if e.is_timeout() => Err(ErrorClass::Timeout),
        Err(e) if e.is_connect() => Err(ErrorClass::Connect),
        Err(e) => Err(ErrorClass::User(e.to_string())),
    }
}

/// How reading a body failed: past the timeout, reset, or cut short.
fn body_failure(e: &reqwest::Error) -> BodyFailure {
    if e.is_timeout() {
        return BodyFailure::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    for _ in 0..16 {
        let Some(s) = source else { break };
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionReset
        {
            return BodyFailure::Reset;
        }
        source = s.source();
    }
    BodyFailure::CutShort
}
