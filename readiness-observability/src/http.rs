//! The in-process HTTP endpoints (exporter, webhook receiver, OTLP receiver): hyper's
//! HTTP/1 server on a loopback port, closed when dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use readiness_core::{Error, Result};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A request as a handler sees it: method, path (with query) and the whole body.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: hyper::Method,
    pub(crate) path: String,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Self {
        Answer {
            status,
            content_type,
            body,
        }
    }
    pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Answer::new(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }
}

type Handler = Arc<dyn Fn(Call) -> Answer + Send + Sync>;

/// A server on `127.0.0.1:<free port>`; stops accepting when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Binds a free loopback port and answers every request with `handler`.
    pub(crate) async fn start(
        what: &str,
        handler: impl Fn(Call) -> Answer + Send + Sync + 'static,
    ) -> Result<Server> {
        Server::start_on(what, IpAddr::from([127, 0, 0, 1]), handler).await
    }

    /// Binds a free port of `ip` (an address of this host) and answers with `handler`.
    pub(crate) async fn start_on(
        what: &str,
        ip: IpAddr,
        handler: impl Fn(Call) -> Answer + Send + Sync + 'static,
    ) -> Result<Server> {
        let listener = TcpListener::bind((ip, 0))
            .await
            .map_err(|e| Error::Other(format!("{what}: cannot bind a port of {ip}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("{what}: {e}")))?;
        let handler: Handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            // Ends when the server is dropped (aborted) or the listener fails.
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        async move { Ok::<_, hyper::Error>(answer(&handler, req).await) }
                    });
                    // A client that goes away mid-request is its own business.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Server { addr, task })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn answer(handler: &Handler, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let answer = match body.collect().await {
        Ok(body) => handler(Call {
            method: parts.method,
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
            content_type: parts
                .headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: body.to_bytes(),
        }),
        Err(e) => Answer::text(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")),
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = answer.status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(answer.content_type),
    );
    response
}
