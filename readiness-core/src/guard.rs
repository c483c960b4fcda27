//! The loopback guard: load and faults go only to loopback unless a test opts in.

use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, Result};

/// Whether `host` (an IP literal, `[::1]`, or a name) is on loopback: 127.0.0.0/8, `::1`,
/// `localhost` or a name under `.localhost`. Other names are not resolved: a name that
/// points at loopback today may not tomorrow.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.to_canonical().is_loopback(),
        Err(_) => {
            let h = host.trim_end_matches('.').to_ascii_lowercase();
            h == "localhost" || h.ends_with(".localhost")
        }
    }
}

/// Where a probe, load or fault may aim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Only loopback: 127.0.0.0/8, `::1`, `localhost` (the default everywhere).
    #[default]
    Loopback,
    /// Anywhere: the test opted in explicitly (`allow_non_loopback()`).
    Anywhere,
}

/// Refuses `target` (a URL or `host:port`) unless its host is on loopback or `reach` is
/// [`Reach::Anywhere`]; returns the host and port. `opt_in` names the call that opts in,
/// for the error message (`http::get(url).allow_non_loopback()`).
pub fn check_target(target: &str, reach: Reach, opt_in: &str) -> Result<(String, Option<u16>)> {
    let (host, port) = split_host_port(target)?;
    if reach == Reach::Loopback && !is_loopback_host(&host) {
        return Err(Error::NonLoopbackTarget {
            target: target.to_owned(),
            opt_in: format!("`{opt_in}`"),
        });
    }
    Ok((host, port))
}

/// A redirect policy that lets the guard see every hop: at most `max` redirects, each to a
/// target `check` accepts (`|t| check_target(t, reach, opt_in)`, or staging's own
/// [`Staging::check_target`]); a hop it refuses ends the request with that error
/// (reqwest's `is_redirect()`), before any connection to it.
#[cfg(feature = "probes")]
pub fn redirect_policy(
    max: usize,
    check: impl Fn(&str) -> Result<()> + Send + Sync + 'static,
) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            let e = Error::Other(format!("more than {max} redirects"));
            return attempt.error(e);
        }
        match check(attempt.url().as_str()) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

/// A host as staging compares it: without IPv6 brackets, in lower case.
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn split_host_port(target: &str) -> Result<(String, Option<u16>)> {
    if target.contains("://") {
        let url = url::Url::parse(target).map_err(|e| {
            Error::InvalidInput(format!("target {target:?} is not a valid URL: {e}"))
        })?;
        let host = url
            .host_str()
            .ok_or_else(|| Error::InvalidInput(format!("target {target:?} has no host")))?;
        return Ok((host.to_owned(), url.port_or_known_default()));
    }
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), Some(addr.port())));
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port = port.parse().map_err(|_| {
                Error::InvalidInput(format!("target {target:?}: port {port:?} is not a number"))
            })?;
            Ok((host.to_owned(), Some(port)))
        }
        _ => Err(Error::InvalidInput(format!(
            "target {target:?} is neither a URL nor host:port (e.g. http://127.0.0.1:8080/ or 127.0.0.1:5432)"
        ))),
    }
}

/// The setting that names a staging URL: a smoke run may aim there, on purpose.
pub const STAGING_URL: &str = "READINESS_STAGING_URL";
/// The setting that, with [`Staging::allow_faults_and_stress`] in the test, lets faults and
/// stress run on staging: told twice, once in the code and once in the run's settings.
pub const STAGING_DESTRUCTIVE: &str = "READINESS_STAGING_DESTRUCTIVE";

/// A remote environment a test aims at on purpose: a staging URL, with a smoke's limits.
///
/// Everything else of the harness goes only to loopback. A smoke run on staging needs the
/// URL named (`READINESS_STAGING_URL`, or [`Staging::new`] in the test) and the load
/// marked for it (`http::get(url).on_staging(&staging)`); it is capped by default at 5
/// requests a second for at most a minute, an open model only (a closed model's rate is
/// not capped by anything), and every record says where it ran. Faults and stress there
/// are refused unless told twice: [`Staging::allow_faults_and_stress`] in the test and
/// `READINESS_STAGING_DESTRUCTIVE=yes` in the run.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::guard::Staging;
///
/// let staging = Staging::new("https://staging.example.com")?
///     .with_max_rate(2.0)?
///     .with_max_duration(Duration::from_secs(30));
/// assert!(staging.covers("https://staging.example.com/orders/1"));
/// assert!(!staging.covers("https://prod.example.com/orders/1"));
/// assert!(staging.check_load(5.0, Duration::from_secs(10)).is_err());
/// # Ok::<(), readiness_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Staging {
    url: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    max_rate: f64,
    max_duration: std::time::Duration,
    destructive: bool,
}

impl Staging {
    /// Staging at `url` (`https://staging.example.com`), with the default limits: 5
    /// requests a second, a minute.
    pub fn new(url: &str) -> Result<Staging> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::InvalidInput(format!(
                "the staging URL {url:?} is not a URL ({e}); give its base, as \
                 https://staging.example.com"
            ))
        })?;
        let host = parsed
            .host_str()
            .filter(|_| matches!(parsed.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the staging URL {url:?} needs http(s) and a host, as https://staging.example.com"
                ))
            })?;
        Ok(Staging {
            url: url.trim_end_matches('/').to_owned(),
            scheme: parsed.scheme().to_owned(),
            host: bare_host(host),
            port: parsed.port_or_known_default(),
            max_rate: 5.0,
            max_duration: std::time::Duration::from_secs(60),
            destructive: false,
        })
    }

    /// Staging at the URL of `READINESS_STAGING_URL`; an error saying how to opt in when
    /// it is not set.
    pub fn from_settings() -> Result<Staging> {
        match crate::settings::get(STAGING_URL)?.filter(|u| !u.trim().is_empty()) {
            Some(url) => Staging::new(url.trim()),
            None => Err(Error::InvalidInput(format!(
                "no staging URL: a run aims at staging only on purpose; set {STAGING_URL}=https://… \
                 (or a key of that name in [settings] of readiness.toml)"
            ))),
        }
    }

    /// Another cap of the request rate (per second; default 5).
    pub fn with_max_rate(mut self, per_second: f64) -> Result<Staging> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(Error::InvalidInput(format!(
                "the staging rate cap must be a positive number of requests a second, got {per_second}"
            )));
        }
        self.max_rate = per_second;
        Ok(self)
    }

    /// Another bound of a load's length (default a minute).
    #[must_use]
    pub fn with_max_duration(mut self, duration: std::time::Duration) -> Staging {
        self.max_duration = duration;
        self
    }

    /// Faults and stress on staging, once `READINESS_STAGING_DESTRUCTIVE=yes` says so too.
    #[must_use]
    pub fn allow_faults_and_stress(mut self) -> Staging {
        self.destructive = true;
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `path` on staging (`/orders/1` → `https://staging.example.com/orders/1`).
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }

    /// Whether `target` (a URL) is on staging: its scheme, host and port.
    pub fn covers(&self, target: &str) -> bool {
        url::Url::parse(target).is_ok_and(|u| u.scheme() == self.scheme)
            && self.covers_address(target)
    }

    /// Whether `host:port` (or a URL's) is staging's host and port (a proxy's upstream).
    pub fn covers_address(&self, address: &str) -> bool {
        split_host_port(address)
            .is_ok_and(|(host, port)| bare_host(&host) == self.host && port == self.port)
    }

    /// Refuses `target` unless it is on staging.
    pub fn check_target(&self, target: &str) -> Result<()> {
        if self.covers(target) {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "{target} is not on staging ({}): a load marked for staging goes there only",
                self.url
            )))
        }
    }

    /// Refuses a load that would pass the caps: a rate above the cap, a length above the
    /// bound, or no rate at all (`peak_rate` 0: a closed model).
    pub fn check_load(&self, peak_rate: f64, duration: std::time::Duration) -> Result<()> {
        if peak_rate <= 0.0 {
            return Err(Error::InvalidInput(format!(
                "a load on staging ({}) needs an open model (a rate): a closed model's rate is \
                 not capped by anything",
                self.url
            )));
        }
        if peak_rate > self.max_rate + 1e-9 {
            return Err(Error::InvalidInput(format!(
                "a load of {peak_rate}/s on staging ({}) passes its cap of {}/s; lower the rate \
                 or raise the cap on purpose (Staging::with_max_rate)",
                self.url, self.max_rate
            )));
        }
        if duration > self.max_duration {
            return Err(Error::InvalidInput(format!(
                "a load of {:?} on staging ({}) is longer than its bound of {:?}; shorten it or \
                 raise the bound on purpose (Staging::with_max_duration)",
                duration, self.url, self.max_duration
            )));
        }
        Ok(())
    }

    /// Refuses `what` (a stress, a fault) on staging unless told twice: in the test
    /// ([`Staging::allow_faults_and_stress`]) and in the run (`READINESS_STAGING_DESTRUCTIVE=yes`).
    pub fn check_destructive(&self, what: &str) -> Result<()> {
        let in_run = crate::settings::get(STAGING_DESTRUCTIVE)?
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"));
        match (self.destructive, in_run) {
            (true, true) => Ok(()),
            (code, run) => Err(Error::InvalidInput(format!(
                "{what} on staging ({}) is refused: faults and stress there need to be asked for \
                 twice, Staging::allow_faults_and_stress() in the test ({}) and \
                 {STAGING_DESTRUCTIVE}=yes in the run ({})",
                self.url,
                if code { "given" } else { "missing" },
                if run { "given" } else { "missing" },
            ))),
        }
    }

    /// What the evidence says: where, that it was on purpose, and the limits.
    pub fn describe(&self) -> String {
        format!(
            "staging {} (opted in; at most {}/s for {}; {})",
            self.url,
            self.max_rate,
            crate::Quantity::duration(self.max_duration),
            if self.destructive {
                "faults and stress asked for in the test"
            } else {
                "no faults, no stress"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_allowed_and_the_rest_refused() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "127.0.0.9:5432",
            "http://[::1]:80/",
            "localhost:6379",
            "http://LOCALHOST/",
            "http://db.localhost:1/",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(check_target(ok, Reach::Loopback, "x").is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "192.168.1.1:80",
            "http://example.com/",
            "8.8.8.8:53",
            "http://localhost.example.com/",
            "[2001:db8::1]:80",
        ] {
            let err = check_target(
                bad,
                Reach::Loopback,
                "Probe::http(url).allow_non_loopback()",
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(
                err.contains("is not on loopback")
                    && err.contains("opts in with `Probe::http(url).allow_non_loopback()`"),
                "{bad}: {err}"
            );
            assert!(
                check_target(bad, Reach::Anywhere, "x").is_ok(),
                "{bad} with opt-in"
            );
        }
        let err = check_target("nonsense", Reach::Loopback, "x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("neither a URL nor host:port"), "{err}");
    }
}
