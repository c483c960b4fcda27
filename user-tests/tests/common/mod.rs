//! What the security tests share: a loopback HTTP/1.1 server that answers with a closure
//! and sees every request whole (method, path, query, headers, body), and the helpers that
//! read a check's outcome as a user does.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use readiness::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the little server saw of a request.
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The query, still percent-encoded (empty without one).
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// `None`: read the request and never answer.
pub type Handler = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

pub fn answer(status: &str, headers: &[(&str, String)], body: &str) -> Option<String> {
    let mut text = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Some(text)
}

/// A loopback HTTP/1.1 server, one request per connection, answering with `handler`.
/// Bodies are read whole up to 4 MiB (more is read and dropped).
pub async fn server(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let held = Arc::new(Mutex::new(Vec::new()));
        while let Ok((mut s, _)) = listener.accept().await {
            let (handler, held) = (handler.clone(), held.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    if buf.len() > 64 * 1024 {
                        return;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_owned();
                let target = first.next().unwrap_or("").to_owned();
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_owned(), q.to_owned()),
                    None => (target, String::new()),
                };
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                // Read the body, so that closing never resets an unread upload.
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                let mut have = body.len();
                while have < length {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            have += n;
                            if body.len() < 4 << 20 {
                                body.extend_from_slice(&chunk[..n]);
                            }
                        }
                    }
                }
                let request = Request {
                    method,
                    path,
                    query,
                    headers,
                    body,
                };
                match handler(&request) {
                    Some(text) => {
                        let _ = s.write_all(text.as_bytes()).await;
                        let _ = s.shutdown().await;
                    }
                    None => held.lock().expect("lock").push(s),
                }
            });
        }
    });
    base
}

pub fn recorder(dir: &tempfile::TempDir) -> readiness::Recorder {
    readiness::Recorder::new(dir.path())
}

/// The failure's text; panics unless the check failed (and its evidence re-judges so).
#[track_caller]
pub fn failed(result: Result<readiness::Evidence, readiness::Failure>) -> String {
    match result {
        Ok(e) => panic!("passed: {:?}", e.summary),
        Err(f) => {
            assert_eq!(f.verdict(), Verdict::Fail, "{f}");
            assert_eq!(f.evidence().verify(), Ok(()));
            f.to_string()
        }
    }
}

/// The error's text; panics unless the check had nothing to judge.
#[track_caller]
pub fn errored(result: Result<readiness::Evidence, readiness::Failure>) -> String {
    match result {
        Ok(e) => panic!("passed: {:?}", e.summary),
        Err(f) => {
            assert_eq!(f.verdict(), Verdict::Error, "{f}");
            f.to_string()
        }
    }
}

/// The evidence; panics with the failure's text unless the check passed.
#[track_caller]
pub fn passed(result: Result<readiness::Evidence, readiness::Failure>) -> readiness::Evidence {
    match result {
        Ok(e) => e,
        Err(f) => panic!("expected a pass:\n{f}"),
    }
}

#[track_caller]
pub fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} missing from:\n{text}");
    }
}

/// Every file a recorder wrote under `dir`, read whole.
pub fn written(dir: &tempfile::TempDir) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.path().to_owned()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("list").flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    all
}
