//! The HTTP API: routes, auth, rate limiting, metrics and request ids.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, Path, Query, Request, State};
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
        .route("/openapi.json", get(openapi_json))
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/search", get(search_orders))
        .route("/orders/{id}", get(get_order));
    if config.debug_endpoints {
        app = app.route("/debug/sleep", get(debug_sleep));
    }
    let allowed = if config.defects.has("cors_allow_all") {
        AllowOrigin::any()
    } else {
        let origins: Vec<HeaderValue> = config
            .cors_allowed_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        AllowOrigin::list(origins)
    };
    let cors = CorsLayer::new()
        .allow_origin(allowed)
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

/// What the `unchecked_text` defect answers for a database error: its own words.
fn leaky(e: DbError) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

impl From<DbError> for ApiError {
    /// The detail goes to the log; the answer says what kind of failure it was and
    /// nothing of the database's own words (no SQL, no driver message).
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database call failed");
        let (status, text) = match e {
            DbError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
            DbError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timed out"),
            DbError::Query(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        ApiError(status, text.into())
    }
}

/// Whether `text` holds a control character (NUL among them): PostgreSQL's text refuses
/// NUL, and no customer or item name has one.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
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
    if path.starts_with("/health/") || path == "/metrics" || path == "/openapi.json" {
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

/// A text without control characters ([`has_control`]), as a schema pattern.
const PRINTABLE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// [`PRINTABLE`] and not blank.
const NOT_BLANK: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// The OpenAPI 3.0.3 description of the API, served at `GET /openapi.json`: every status
/// each operation answers, and the constraints the handlers enforce.
pub fn openapi() -> serde_json::Value {
    let error = json!({
        "type": "object",
        "properties": { "error": { "type": "string" } },
        "required": ["error"]
    });
    let answer = |what: &str| json!({ "description": what, "content": { "application/json": { "schema": error.clone() } } });
    // A query or path the extractor refuses is answered in axum's own words, as text.
    let refused = |what: &str| {
        json!({ "description": what, "content": {
        "application/json": { "schema": error.clone() },
        "text/plain": { "schema": { "type": "string" } }
    } })
    };
    let order = json!({
        "type": "object",
        "properties": {
            "id": { "type": "integer", "format": "int64" },
            "customer": { "type": "string" },
            "item": { "type": "string" },
            "quantity": { "type": "integer", "format": "int32" },
            "amount_cents": { "type": "integer", "format": "int64" }
        },
        "required": ["id", "customer", "item", "quantity", "amount_cents"]
    });
    let orders = json!({
        "type": "object",
        "properties": { "orders": { "type": "array", "items": { "$ref": "#/components/schemas/Order" } } }
    });
    let text = |what: &str| json!({ "description": what, "content": { "application/json": {} } });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "reference-service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A small orders service for the readiness harness to judge."
        },
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "summary": "Create an order (write token).",
                    "security": [{ "bearer": [] }],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/NewOrder" },
                            "example": { "customer": "alice", "item": "widget", "quantity": 1, "amount_cents": 100 }
                        } }
                    },
                    "responses": {
                        "201": { "description": "created", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Order" } } } },
                        "400": answer("the body is not JSON"),
                        "401": answer("no bearer token, or an unknown one"),
                        "403": answer("a read-only token"),
                        "413": answer("the body is over the body limit"),
                        "415": answer("the body is not application/json"),
                        "422": answer("the body is JSON but not a valid order"),
                        "429": answer("rate limit exceeded (see Retry-After)"),
                        "503": answer("the database is unavailable or timed out")
                    }
                },
                "get": {
                    "operationId": "listOrders",
                    "summary": "A page of orders, keyset pagination.",
                    "parameters": [
                        { "name": "after", "in": "query", "schema": { "type": "integer", "format": "int64" } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }
                    ],
                    "responses": {
                        "200": { "description": "a page", "content": { "application/json": { "schema": {
                            "type": "object",
                            "properties": {
                                "orders": { "type": "array", "items": { "$ref": "#/components/schemas/Order" } },
                                "next_after": { "type": "integer", "format": "int64", "nullable": true }
                            }
                        } } } },
                        "400": refused("limit or after is not a number in range"),
                        "429": answer("rate limit exceeded (see Retry-After)"),
                        "503": answer("the database is unavailable or timed out")
                    }
                }
            },
            "/orders/{id}": {
                "get": {
                    "operationId": "getOrder",
                    "summary": "One order, read through the cache (x-cache: hit, miss or bypass).",
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } }
                    ],
                    "responses": {
                        "200": { "description": "the order", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Order" } } } },
                        "400": refused("the id is not an integer"),
                        "404": answer("no such order"),
                        "429": answer("rate limit exceeded (see Retry-After)"),
                        "503": answer("the database is unavailable or timed out")
                    }
                }
            },
            "/orders/search": {
                "get": {
                    "operationId": "searchOrders",
                    "summary": "Orders of one customer.",
                    "parameters": [
                        { "name": "customer", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": PRINTABLE } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }
                    ],
                    "responses": {
                        "200": { "description": "the orders", "content": { "application/json": { "schema": orders } } },
                        "400": refused("customer is missing, over 200 characters or holds a control character; limit out of range"),
                        "429": answer("rate limit exceeded (see Retry-After)"),
                        "503": answer("the database is unavailable or timed out")
                    }
                }
            },
            "/health/live": { "get": { "operationId": "live", "summary": "Liveness.", "responses": { "200": text("live") } } },
            "/health/ready": { "get": {
                "operationId": "ready",
                "summary": "Readiness: PostgreSQL answers (Redis down is degraded, still 200).",
                "responses": { "200": text("ready or degraded"), "503": text("unready") }
            } },
            "/metrics": { "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (OpenMetrics text).",
                "responses": { "200": { "description": "the metrics", "content": { "application/openmetrics-text": {} } } }
            } },
            "/openapi.json": { "get": {
                "operationId": "openapi",
                "summary": "This document (OpenAPI 3.1).",
                "responses": { "200": { "description": "the API document", "content": { "application/json": {} } } }
            } }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "NewOrder": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "customer": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK },
                        "item": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK },
                        "quantity": { "type": "integer", "format": "int32", "minimum": 1, "maximum": 10000 },
                        "amount_cents": { "type": "integer", "format": "int64", "minimum": 0, "default": 0 }
                    },
                    "required": ["customer", "item", "quantity"]
                },
                "Order": order
            }
        }
    })
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi())
}

/// The `debug_port` defect's router: `GET /debug/config`, the service's settings without
/// secrets, on a port nobody asked for.
pub fn debug_router(config: &Config) -> Router {
    let body = json!({
        "defects": config.defects.to_string(),
        "bind": config.bind.to_string(),
        "rate_limit_per_minute": config.rate_limit_per_minute,
        "body_limit_bytes": config.body_limit_bytes,
        "db_pool_size": config.db_pool_size,
        "cache": config.redis_url.is_some(),
    });
    Router::new().route("/debug/config", get(move || async move { Json(body) }))
}

/// The `panic_on_crafted_body` defect: a careless look at `customer` before the typed
/// parse, which panics when the body is JSON but `customer` is missing or not a string.
/// Returns the request with its body buffered, for the typed parse.
async fn inspect_customer_carelessly(request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::new(body), &())
        .await
        .map_err(|e| ApiError(e.status(), e.body_text()))?;
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        let customer = value["customer"]
            .as_str()
            .expect("customer is a string (defect panic_on_crafted_body)");
        tracing::debug!(customer_len = customer.len(), "order for a customer");
    }
    Ok(Request::from_parts(parts, bytes.into()))
}

/// `POST /orders`: auth first (401/403), then the body as axum's `Json` reads it (415 for
/// another content type, 400 for bad JSON, 422 for JSON that is not an order; the body
/// limit layer answers 413), then the order's own rules (422).
async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    if !state.config.defects.has("no_auth") {
        require_write(&state, &headers)?;
    }
    let request = if state.config.defects.has("panic_on_crafted_body") {
        inspect_customer_carelessly(request).await?
    } else {
        request
    };
    let Json(new) = Json::<NewOrder>::from_request(request, &state)
        .await
        .map_err(|e| ApiError(e.status(), e.body_text()))?;
    let unchecked = state.config.defects.has("unchecked_text");
    if new.customer.trim().is_empty()
        || new.customer.chars().count() > 200
        || (has_control(&new.customer) && !unchecked)
    {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "customer must be 1 to 200 characters, none a control character".into(),
        ));
    }
    if new.item.trim().is_empty() || new.item.chars().count() > 200 || has_control(&new.item) {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "item must be 1 to 200 characters, none a control character".into(),
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
        None => state
            .store
            .insert(&new)
            .await
            .map_err(|e| if unchecked { leaky(e) } else { e.into() })?,
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
    let unchecked = state.config.defects.has("unchecked_text");
    if (has_control(&customer) && !unchecked) || customer.chars().count() > 200 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "customer must be at most 200 characters, none a control character".into(),
        ));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 500".into(),
        ));
    }
    let delay = state
        .config
        .defects
        .has("slow_search")
        .then_some(Duration::from_millis(600));
    let orders = read_with_retries(|| state.store.search(&customer, limit, delay))
        .await
        .map_err(|e| if unchecked { leaky(e) } else { e.into() })?;
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

#[cfg(test)]
mod tests {
    //! The router without a database: the pool connects lazily, and every request here is
    //! answered before an order would be written.

    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    use crate::breaker::Breaker;

    fn app(defects: &str) -> Router {
        app_with(&[("REFERENCE_DEFECT", defects)])
    }

    fn app_with(env: &[(&str, &str)]) -> Router {
        let config = Config::from_lookup(|key| {
            let set = env
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned());
            set.or_else(|| match key {
                // Nothing listens there: a request that reaches the database gets a 503.
                "DATABASE_URL" => Some("postgres://u:p@127.0.0.1:9/db".into()),
                "CORS_ALLOWED_ORIGINS" => Some("https://shop.example".into()),
                _ => None,
            })
        })
        .expect("test configuration");
        let store = Store {
            pool: crate::db::pool(&config).expect("a lazy pool"),
            query_timeout: config.db_query_timeout,
            leak_on_timeout: false,
        };
        let metrics = Arc::new(Metrics::new(false));
        let breaker = Breaker::new(5, Duration::from_secs(2), 2);
        let cache = Cache::new(
            None,
            breaker,
            Duration::from_millis(100),
            60,
            metrics.clone(),
        )
        .expect("no cache");
        router(AppState::new(Arc::new(config), store, cache, metrics, None))
    }

    fn post(token: Option<&str>, content_type: Option<&str>, body: impl Into<Body>) -> Request {
        let mut request = Request::builder().method(Method::POST).uri("/orders");
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(c) = content_type {
            request = request.header(header::CONTENT_TYPE, c);
        }
        request.body(body.into()).expect("a request")
    }

    fn json_post(body: &str) -> Request {
        post(
            Some("write-token"),
            Some("application/json"),
            body.to_owned(),
        )
    }

    async fn status(app: &Router, request: Request) -> u16 {
        app.clone()
            .oneshot(request)
            .await
            .expect("infallible")
            .status()
            .as_u16()
    }

    #[test]
    fn openapi_describes_the_write_route_and_its_bearer_auth() {
        let text = serde_json::to_string(&openapi()).expect("serialises");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let post = &doc["paths"]["/orders"]["post"];
        assert_eq!(post["security"], json!([{ "bearer": [] }]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"],
            json!({ "type": "http", "scheme": "bearer" })
        );
        let content = &post["requestBody"]["content"]["application/json"];
        assert_eq!(content["example"]["customer"], "alice");
        assert_eq!(
            content["schema"]["$ref"], "#/components/schemas/NewOrder",
            "{content}"
        );
        for status in ["201", "401", "403", "422", "429"] {
            assert!(post["responses"][status].is_object(), "no {status} answer");
        }
        for path in [
            "/orders/{id}",
            "/orders/search",
            "/health/live",
            "/health/ready",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "no GET {path}");
        }
        let example: NewOrder =
            serde_json::from_value(content["example"].clone()).expect("the example is an order");
        assert_eq!((example.quantity, example.amount_cents), (1, 100));
    }

    #[tokio::test]
    async fn openapi_is_served_and_not_rate_limited() {
        let app = app_with(&[("RATE_LIMIT_PER_MINUTE", "1")]);
        let get = |uri: &str| Request::get(uri).body(Body::empty()).expect("a request");
        for _ in 0..3 {
            let response = app
                .clone()
                .oneshot(get("/openapi.json"))
                .await
                .expect("infallible");
            assert_eq!(response.status(), StatusCode::OK);
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .expect("a body");
            let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(doc, openapi());
        }
        // The API itself is limited: the second search in the minute is refused.
        assert_eq!(status(&app, get("/orders/search")).await, 400);
        assert_eq!(status(&app, get("/orders/search")).await, 429);
    }

    #[tokio::test]
    async fn writes_need_a_write_token_unless_no_auth() {
        let healthy = app("");
        let invalid = "{}";
        for (token, expected) in [(None, 401), (Some("nope"), 401), (Some("read-token"), 403)] {
            assert_eq!(
                status(&healthy, post(token, Some("application/json"), invalid)).await,
                expected,
                "token {token:?}"
            );
        }
        // With the defect the request goes past auth to the body's validation.
        let defective = app("no_auth");
        for token in [None, Some("nope"), Some("read-token")] {
            assert_eq!(
                status(&defective, post(token, Some("application/json"), invalid)).await,
                422,
                "token {token:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_bodies_get_4xx_from_the_healthy_service() {
        let app = app("");
        let deep = "[".repeat(10_000);
        let cases: Vec<(&str, Request, u16)> = vec![
            (
                "customer a number",
                json_post(r#"{"customer":1,"item":"w","quantity":1}"#),
                422,
            ),
            (
                "customer null",
                json_post(r#"{"customer":null,"item":"w","quantity":1}"#),
                422,
            ),
            (
                "no customer",
                json_post(r#"{"item":"w","quantity":1}"#),
                422,
            ),
            ("an array", json_post("[1,2]"), 422),
            (
                "empty customer",
                json_post(r#"{"customer":"","item":"w","quantity":1}"#),
                422,
            ),
            (
                "quantity 0",
                json_post(r#"{"customer":"a","item":"w","quantity":0}"#),
                422,
            ),
            ("not JSON", json_post("customer=alice"), 400),
            ("empty body", json_post(""), 400),
            ("deep nesting", json_post(&deep), 422),
            (
                "not UTF-8",
                post(
                    Some("write-token"),
                    Some("application/json"),
                    vec![0xff, 0xfe, b'{'],
                ),
                400,
            ),
            (
                "no content type",
                post(Some("write-token"), None, "{}"),
                415,
            ),
            (
                "text/plain",
                post(Some("write-token"), Some("text/plain"), "{}"),
                415,
            ),
            ("too large", json_post(&" ".repeat(20 * 1024)), 413),
        ];
        for (what, request, expected) in cases {
            assert_eq!(status(&app, request).await, expected, "{what}");
        }
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_inside_a_string_are_a_400() {
        let app = app("");
        let body: Vec<u8> = [
            br#"{"customer":"alice","item":"widget","quantity":"ab"#.as_slice(),
            &[0xc0, 0xfe, 0xf5],
            b"\"}",
        ]
        .concat();
        let request = post(Some("write-token"), Some("application/json"), body);
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        assert_eq!(status, 400, "{bytes:?}");
    }

    #[tokio::test]
    async fn extra_fields_are_refused_by_the_healthy_service() {
        let app = app("");
        let body = r#"{"customer":"a","item":"w","quantity":1,"extra":[1,{"x":null}]}"#;
        assert_eq!(status(&app, json_post(body)).await, 422);
    }

    #[tokio::test]
    async fn panic_on_crafted_body_panics_only_on_json_without_a_string_customer() {
        let app = app("panic_on_crafted_body");
        for body in [
            r#"{"customer":1,"item":"w","quantity":1}"#,
            r#"{"customer":null}"#,
            r#"{"item":"w"}"#,
            "[1]",
        ] {
            let request = json_post(body);
            let outcome = tokio::spawn(app.clone().oneshot(request)).await;
            assert!(
                outcome.as_ref().is_err_and(|e| e.is_panic()),
                "{body}: {outcome:?}"
            );
        }
        // Not JSON, unauthorised, the wrong type elsewhere: the usual answers.
        assert_eq!(status(&app, json_post("customer=1")).await, 400);
        assert_eq!(status(&app, json_post(&"[".repeat(10_000))).await, 422);
        assert_eq!(
            status(&app, post(None, Some("application/json"), "{}")).await,
            401
        );
        assert_eq!(
            status(&app, json_post(r#"{"customer":"a","item":2,"quantity":1}"#)).await,
            422
        );
        assert_eq!(
            status(&app, post(Some("write-token"), Some("text/plain"), "x")).await,
            415
        );
    }

    #[tokio::test]
    async fn cors_allows_listed_origins_or_any_with_the_defect() {
        let preflight = |origin: &str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/orders")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(Body::empty())
                .expect("a request")
        };
        let allowed = |app: Router, origin: &'static str| async move {
            app.oneshot(preflight(origin))
                .await
                .expect("infallible")
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap_or("").to_owned())
        };
        let healthy = app("");
        assert_eq!(
            allowed(healthy.clone(), "https://shop.example")
                .await
                .as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(allowed(healthy, "https://evil.example").await, None);
        assert_eq!(
            allowed(app("cors_allow_all"), "https://evil.example")
                .await
                .as_deref(),
            Some("*")
        );
    }

    #[tokio::test]
    async fn debug_config_has_no_secrets() {
        let config = Config::from_lookup(|key| match key {
            "DATABASE_URL" => Some("postgres://u:secret-pw@127.0.0.1:9/db".into()),
            "WRITE_TOKENS" => Some("secret-write".into()),
            "REFERENCE_DEFECT" => Some("debug_port".into()),
            _ => None,
        })
        .expect("test configuration");
        let response = debug_router(&config)
            .oneshot(
                Request::get("/debug/config")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("debug_port"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
