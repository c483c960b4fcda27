//! The HTTP convenience: a transaction that sends one request and classifies the answer.

use std::time::Duration;

use readiness_core::{Error, Result, guard};

use crate::metrics::{BoxedIteration, ErrorClass};

/// A reusable `GET url` transaction (keep-alive connections, `timeout` per request).
/// Refuses non-loopback URLs unless `allow_non_loopback`.
pub fn get(
    url: &str,
    timeout: Duration,
    allow_non_loopback: bool,
) -> Result<impl Fn(u64) -> BoxedIteration + Send + Sync + 'static> {
    guard::check_target(url, allow_non_loopback)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| Error::Other(format!("failed to build an HTTP client: {e}")))?;
    let url = url.to_owned();
    Ok(move |_i: u64| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move { classify(client.get(&url).send().await).await }) as BoxedIteration
    })
}

async fn classify(
    result: reqwest::Result<reqwest::Response>,
) -> std::result::Result<(), ErrorClass> {
    match result {
        Ok(resp) => {
            let status = resp.status();
            // Read the body so the connection can be reused.
            let _ = resp.bytes().await;
            if status.is_server_error() {
                Err(ErrorClass::Status5xx)
            } else if status.is_client_error() {
                Err(ErrorClass::Status4xx)
            } else {
                Ok(())
            }
        }
        Err(e) if e.is_timeout() => Err(ErrorClass::Timeout),
        Err(e) if e.is_connect() => Err(ErrorClass::Connect),
        Err(e) => Err(ErrorClass::User(e.to_string())),
    }
}
