//! `readiness report --push URL`: the scorecard as OpenMetrics text to a Prometheus
//! Pushgateway.

use std::time::Duration;

use readiness_core::{Error, Result};
use readiness_report::{Scorecard, openmetrics};

/// How long one push may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// PUTs the scorecard to `gateway` as the group of `job` (replacing what the group held,
/// so the gateway keeps the latest run) and gives back the URL pushed to.
pub(crate) fn to_gateway(gateway: &str, job: &str, card: &Scorecard) -> Result<String> {
    let url = group_url(gateway, job)?;
    let body = openmetrics::text(card);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("no tokio runtime: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Other(format!("http client: {e}")))?;
        let response = client
            .put(&url)
            .header("content-type", openmetrics::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "the scorecard was written, but the push to {url} failed: {e} (is the \
                     Pushgateway up at {gateway}? plain http only)"
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(url);
        }
        let text = response.text().await.unwrap_or_default();
        Err(Error::Other(format!(
            "the scorecard was written, but the Pushgateway at {url} answered {status}: {}",
            text.trim()
        )))
    })
}

/// `{gateway}/metrics/job/{job}`, the job name base64url-encoded when it holds a `/`.
fn group_url(gateway: &str, job: &str) -> Result<String> {
    let base = gateway.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
        return Err(Error::InvalidInput(format!(
            "--push {gateway:?}: give the Pushgateway's URL, as http://host:9091"
        )));
    }
    if job.is_empty() {
        return Err(Error::InvalidInput(
            "--push-job cannot be empty: it is the Pushgateway's grouping key".into(),
        ));
    }
    let job = if job.contains('/') {
        format!("job@base64/{}", base64url(job.as_bytes()))
    } else {
        format!("job/{job}")
    };
    Ok(format!("{base}/metrics/{job}"))
}

/// Base64 with the URL-safe alphabet and padding, as the Pushgateway reads `@base64`.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_the_job() {
        assert_eq!(
            group_url("http://127.0.0.1:9091/", "readiness").unwrap(),
            "http://127.0.0.1:9091/metrics/job/readiness"
        );
        assert_eq!(
            group_url("http://gw:9091", "team/svc").unwrap(),
            "http://gw:9091/metrics/job@base64/dGVhbS9zdmM="
        );
        let e = group_url("127.0.0.1:9091", "r").unwrap_err().to_string();
        assert!(e.contains("http://host:9091"), "{e}");
        assert!(group_url("http://gw", "").is_err());
    }

    #[test]
    fn base64url_pads() {
        assert_eq!(base64url(b"a"), "YQ==");
        assert_eq!(base64url(b"ab"), "YWI=");
        assert_eq!(base64url(b"abc"), "YWJj");
        assert_eq!(base64url(b"\xfb\xff"), "-_8=");
    }
}
