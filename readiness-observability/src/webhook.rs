//! The webhook receiver the harness runs in-process: every receiver of the Alertmanager
//! config sends here (`/<receiver>`), so a notification that arrives proves the route.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::Instant;

use hyper::{Method, StatusCode};
use readiness_core::Result;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::http::{Answer, Server};

/// One alert in a notification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NotifiedAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels (`alertname`, `severity`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl NotifiedAlert {
    /// Its `alertname`.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

#[derive(Debug, Deserialize)]
struct Payload {
    receiver: String,
    status: String,
    #[serde(default)]
    alerts: Vec<NotifiedAlert>,
}

/// A notification as it arrived.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Notification {
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, wall clock.
    pub wall: OffsetDateTime,
    /// The receiver Alertmanager routed it to (the payload's `receiver`).
    pub receiver: String,
    /// The group's status: `firing` or `resolved`.
    pub status: String,
    /// The alerts it carries.
    pub alerts: Vec<NotifiedAlert>,
}

#[derive(Debug, Default)]
struct Inbox {
    notifications: Vec<Notification>,
    /// Requests that were not a webhook payload (kept to say what went wrong).
    rejected: Vec<String>,
}

/// The receiver. Dropping it closes the endpoint.
#[derive(Debug, Clone)]
pub struct Webhook {
    server: Arc<Server>,
    inbox: Arc<Mutex<Inbox>>,
    arrived: Arc<Notify>,
}

fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|e| e.into_inner())
}

impl Webhook {
    /// Listens on a free loopback port.
    pub async fn start() -> Result<Webhook> {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let arrived = Arc::new(Notify::new());
        let (into, wake) = (inbox.clone(), arrived.clone());
        let server = Server::start("webhook receiver", move |call| {
            if call.method != Method::POST {
                return Answer::text(StatusCode::METHOD_NOT_ALLOWED, "POST a webhook payload");
            }
            match serde_json::from_slice::<Payload>(&call.body) {
                Ok(p) => {
                    lock(&into).notifications.push(Notification {
                        at: Instant::now(),
                        wall: OffsetDateTime::now_utc(),
                        receiver: p.receiver,
                        status: p.status,
                        alerts: p.alerts,
                    });
                    wake.notify_waiters();
                    Answer::text(StatusCode::OK, "ok")
                }
                Err(e) => {
                    let why = format!("{} {}: {e}", call.method, call.path);
                    lock(&into).rejected.push(why.clone());
                    Answer::text(StatusCode::BAD_REQUEST, why)
                }
            }
        })
        .await?;
        Ok(Webhook {
            server: Arc::new(server),
            inbox,
            arrived,
        })
    }

    /// The URL a receiver named `receiver` sends to.
    pub fn url_for(&self, receiver: &str) -> String {
        let path: String = receiver
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("http://{}/{path}", self.server.addr())
    }

    /// Every notification so far, in arrival order.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.inbox).notifications.clone()
    }

    /// Requests that were not webhook payloads.
    pub fn rejected(&self) -> Vec<String> {
        lock(&self.inbox).rejected.clone()
    }

    /// Waits until a notification arrives or `deadline` passes; whether one did.
    pub(crate) async fn wait_for_any(&self, deadline: Instant) -> bool {
        let notified = self.arrived.notified();
        let before = lock(&self.inbox).notifications.len();
        tokio::select! {
            () = notified => true,
            () = tokio::time::sleep_until(deadline) => lock(&self.inbox).notifications.len() > before,
        }
    }
}
