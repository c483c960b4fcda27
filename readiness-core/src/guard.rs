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
/// target [`check_target`] accepts; a hop it refuses ends the request with that error
/// (reqwest's `is_redirect()`), before any connection to it.
#[cfg(feature = "probes")]
pub fn redirect_policy(
    reach: Reach,
    max: usize,
    opt_in: &'static str,
) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            let e = Error::Other(format!("more than {max} redirects"));
            return attempt.error(e);
        }
        match check_target(attempt.url().as_str(), reach, opt_in) {
            Ok(_) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
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
