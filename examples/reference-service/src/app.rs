//! The HTTP API: routes, auth, rate limiting, metrics and request ids.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;

use crate::cache::{Cache, Lookup};
use crate::config::Config;
use crate::db::{DbError, NewOrder, Order, Store};
use crate::metrics::{self, Metrics, PoolLabels, RequestLabels, RouteLabels};

/// Everything a handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub cache: Cache,
    pub metrics: Arc<Metrics>,
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    leaked: Arc<Mutex<Vec<Vec<u8>>>>,
    write_buffer: Option<mpsc::Sender<Order>>,
}

impl AppState {
    /// The state; `write_buffer` is the `unacked_write_loss` defect's queue.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        cache: Cache,
        metrics: Arc<Metrics>,
        write_buffer: Option<mpsc::Sender<Order>>,
    ) -> Self {
        let limiter = (!config.defects.has("no_rate_limit")).then(|| {
            let per_minute =
                NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute)))
        });
        AppState {
            config,
            store,
            cache,
            metrics,
            limiter,
            leaked: Arc::default(),
            write_buffer,
        }
    }
}

/// The router with every layer.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let mut app = Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/search", get(search_orders))
        .route("/orders/{id}", get(get_order));
    if config.debug_endpoints {
        app = app.route("/debug/sleep", get(debug_sleep));
    }
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    app.layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(cors)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// An error answer: status and `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let status = match e {
            DbError::Unavailable(_) | DbError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            DbError::Query(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

/// Runs an idempotent read, retrying it (twice at most, exponential backoff with jitter)
/// when the database was unavailable; other errors and timeouts are not retried.
async fn read_with_retries<T, F, Fut>(read: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(200))
        .with_max_times(2)
        .with_jitter();
    read.retry(policy).when(DbError::retryable).await
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

fn new_request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:012x}{:04x}",
        (nanos as u64) & 0xffff_ffff_ffff,
        REQUEST_SEQ.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// Request id, JSON log line, metrics; the `leak` defect.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    if state.config.defects.has("leak") {
        let mut leaked = state.leaked.lock().unwrap_or_else(|p| p.into_inner());
        leaked.push(vec![0xAB; 64 * 1024]);
    }
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1e3,
                "request failed"
            );
        } else {
            tracing::info!(
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1e3,
                "request"
            );
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: status.as_u16().to_string(),
        })
        .inc();
    state
        .metrics
        .durations
        .get_or_create(&RouteLabels { method, route })
        .observe(elapsed.as_secs_f64());
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Per client token (or client address) rate limit; 429 with Retry-After.
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path.starts_with("/health/") || path == "/metrics" {
        return next.run(request).await;
    }
    let key = match bearer(request.headers()) {
        Some(token) => format!("token:{token}"),
        None => {
            let addr = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string());
            format!("addr:{}", addr.unwrap_or_default())
        }
    };
    match limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response =
                ApiError(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded".into())
                    .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            response
        }
    }
}

/// 401 without a token or with an unknown one, 403 with a read-only token.
fn require_write(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers) {
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token".into(),
        )),
        Some(t) if state.config.write_tokens.contains(t) => Ok(()),
        Some(t) if state.config.read_tokens.contains(t) => Err(ApiError(
            StatusCode::FORBIDDEN,
            "this token may read but not write".into(),
        )),
        Some(_) => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unknown bearer token".into(),
        )),
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.config.defects.has("always_ready") {
        return Json(json!({ "status": "ready" })).into_response();
    }
    let postgres = tokio::time::timeout(Duration::from_secs(1), state.store.ping())
        .await
        .unwrap_or(Err(DbError::Timeout(Duration::from_secs(1))));
    let redis = match state.cache.ping().await {
        None if !state.cache.enabled() => "disabled".to_owned(),
        None => "bypassed (circuit open)".to_owned(),
        Some(Ok(())) => "up".to_owned(),
        Some(Err(e)) => format!("down: {e}"),
    };
    let breaker = state.cache.state().name();
    match postgres {
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unready", "postgres": format!("down: {e}"), "redis": redis, "breaker": breaker })),
        )
            .into_response(),
        Ok(()) => {
            let status = if redis == "up" || redis == "disabled" { "ready" } else { "degraded" };
            let body = json!({
                "status": status,
                "postgres": "up",
                "redis": redis,
                "breaker": breaker,
                "note": if status == "degraded" { "redis is down: reads go to postgres directly" } else { "" },
            });
            Json(body).into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let status = state.store.pool.status();
    let in_use = status.size.saturating_sub(status.available);
    m.pool
        .get_or_create(&PoolLabels {
            state: "in_use".into(),
        })
        .set(in_use as i64);
    m.pool
        .get_or_create(&PoolLabels {
            state: "idle".into(),
        })
        .set(status.available as i64);
    m.pool_max.set(status.max_size as i64);
    m.breaker
        .get_or_create(&metrics::DependencyLabels {
            dependency: "redis".into(),
        })
        .set(state.cache.state() as i64);
    m.resident_memory
        .set(metrics::resident_memory_bytes() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewOrder>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    require_write(&state, &headers)?;
    let Json(new) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    if new.customer.trim().is_empty() || new.customer.len() > 200 {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "customer must be 1 to 200 characters".into(),
        ));
    }
    if new.item.trim().is_empty() || new.item.len() > 200 {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "item must be 1 to 200 characters".into(),
        ));
    }
    if !(1..=10_000).contains(&new.quantity) || new.amount_cents < 0 {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity must be 1 to 10000 and amount_cents not negative".into(),
        ));
    }
    let order = match &state.write_buffer {
        // Defect `unacked_write_loss`: acknowledge first, write later.
        Some(buffer) => {
            let id = state.store.next_id().await?;
            let order = Order {
                id,
                customer: new.customer,
                item: new.item,
                quantity: new.quantity,
                amount_cents: new.amount_cents,
            };
            buffer.send(order.clone()).await.map_err(|_| {
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "write buffer closed".into(),
                )
            })?;
            order
        }
        None => state.store.insert(&new).await?,
    };
    Ok((StatusCode::CREATED, Json(order)).into_response())
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let lookup = state.cache.get(id).await;
    let source = match lookup {
        Lookup::Hit(order) => return Ok(([("x-cache", "hit")], Json(order)).into_response()),
        Lookup::Miss => "miss",
        Lookup::Bypass => "bypass",
    };
    let found = read_with_retries(|| state.store.get(id)).await?;
    match found {
        Some(order) => {
            if source == "miss" {
                state.cache.put(&order).await;
            }
            Ok(([("x-cache", source)], Json(order)).into_response())
        }
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no order {id}"))),
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn list_orders(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Response, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 500".into(),
        ));
    }
    let after = page.after.unwrap_or(0);
    let orders = read_with_retries(|| state.store.list(after, limit)).await?;
    let next = (orders.len() as i64 == limit)
        .then(|| orders.last().map(|o| o.id))
        .flatten();
    Ok(Json(json!({ "orders": orders, "next_after": next })).into_response())
}

#[derive(Debug, Deserialize)]
struct Search {
    customer: Option<String>,
    limit: Option<i64>,
}

async fn search_orders(
    State(state): State<AppState>,
    Query(q): Query<Search>,
) -> Result<Response, ApiError> {
    let customer = q
        .customer
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "customer is required".into()))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let delay = state
        .config
        .defects
        .has("slow_search")
        .then_some(Duration::from_millis(200));
    let orders = read_with_retries(|| state.store.search(&customer, limit, delay)).await?;
    Ok(Json(json!({ "orders": orders })).into_response())
}

#[derive(Debug, Deserialize)]
struct Sleep {
    ms: u64,
}

async fn debug_sleep(Query(s): Query<Sleep>) -> Json<serde_json::Value> {
    let ms = s.ms.min(30_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "slept_ms": ms }))
}
