//! PostgreSQL: pool, migrations, the orders queries.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

use crate::config::Config;

/// An order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub customer: String,
    pub item: String,
    pub quantity: i32,
    pub amount_cents: i64,
}

/// A new order, as posted. A field it does not know is an error (422), not ignored: a
/// client that misspells `amount_cents` learns it at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer: String,
    pub item: String,
    pub quantity: i32,
    #[serde(default)]
    pub amount_cents: i64,
}

/// A database failure, classified for retries and status codes.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No pooled connection within the acquire timeout, or no connection at all.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The query did not finish within the query timeout.
    #[error("database query timed out after {0:?}")]
    Timeout(Duration),
    /// The query failed.
    #[error("database error: {0}")]
    Query(String),
}

impl DbError {
    /// Whether an idempotent call may be retried.
    pub fn retryable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// The migrations, applied in order at start under an advisory lock.
const MIGRATIONS: [(i32, &str); 2] = [
    (
        1,
        "CREATE TABLE orders (
            id BIGSERIAL PRIMARY KEY,
            customer TEXT NOT NULL,
            item TEXT NOT NULL,
            quantity INT NOT NULL CHECK (quantity > 0),
            amount_cents BIGINT NOT NULL DEFAULT 0,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ),
    (
        2,
        "CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders (customer)",
    ),
];

/// Builds the pool (connections are opened lazily).
pub fn pool(config: &Config) -> Result<Pool, String> {
    let pg: tokio_postgres::Config = config
        .database_url
        .parse()
        .map_err(|e| format!("DATABASE_URL is not a PostgreSQL URL: {e}"))?;
    let mut pg = pg;
    pg.connect_timeout(Duration::from_secs(2));
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.db_pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.db_acquire_timeout))
        .create_timeout(Some(Duration::from_secs(2)))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .build()
        .map_err(|e| format!("failed to build the database pool: {e}"))
}

/// Runs the pending migrations; with `slow_search` the customer index is dropped instead.
pub async fn migrate(pool: &Pool, slow_search: bool) -> Result<(), DbError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    let tx = client.transaction().await.map_err(query)?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(724242);
         CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(query)?;
    for (version, sql) in MIGRATIONS {
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(query)?
            .is_some();
        if !done {
            tx.batch_execute(sql).await.map_err(query)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(query)?;
        }
    }
    if slow_search {
        tx.batch_execute("DROP INDEX IF EXISTS orders_customer_idx")
            .await
            .map_err(query)?;
    } else {
        tx.batch_execute("CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders (customer)")
            .await
            .map_err(query)?;
    }
    tx.commit().await.map_err(query)
}

fn query(e: tokio_postgres::Error) -> DbError {
    if e.is_closed() {
        DbError::Unavailable(e.to_string())
    } else if let Some(db) = e.as_db_error() {
        // The driver's own text is only "db error"; the log wants the server's words.
        DbError::Query(format!(
            "db error: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        ))
    } else {
        DbError::Query(e.to_string())
    }
}

fn row_to_order(row: &tokio_postgres::Row) -> Order {
    Order {
        id: row.get("id"),
        customer: row.get("customer"),
        item: row.get("item"),
        quantity: row.get("quantity"),
        amount_cents: row.get("amount_cents"),
    }
}

/// The orders store: queries with a per-query timeout.
#[derive(Debug, Clone)]
pub struct Store {
    pub pool: Pool,
    pub query_timeout: Duration,
    /// The `pool_leak` defect: a search whose query times out never gives its connection
    /// back to the pool.
    pub leak_on_timeout: bool,
}

const COLUMNS: &str = "id, customer, item, quantity, amount_cents";

impl Store {
    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        use tracing::Instrument;
        let span = tracing::info_span!("db.query", db.system = "postgresql");
        tokio::time::timeout(self.query_timeout, f.instrument(span))
            .await
            .unwrap_or(Err(DbError::Timeout(self.query_timeout)))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        self.pool
            .get()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// `SELECT 1`.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.timed(async {
            self.client()
                .await?
                .query_one("SELECT 1", &[])
                .await
                .map(|_| ())
                .map_err(query)
        })
        .await
    }

    /// Inserts an order and returns it.
    pub async fn insert(&self, o: &NewOrder) -> Result<Order, DbError> {
        self.timed(async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    &format!("INSERT INTO orders (customer, item, quantity, amount_cents) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"),
                    &[&o.customer, &o.item, &o.quantity, &o.amount_cents],
                )
                .await
                .map_err(query)?;
            Ok(row_to_order(&row))
        })
        .await
    }

    /// Reserves an id (for the `unacked_write_loss` defect, which answers before writing).
    pub async fn next_id(&self) -> Result<i64, DbError> {
        self.timed(async {
            let row = self
                .client()
                .await?
                .query_one("SELECT nextval('orders_id_seq')", &[])
                .await
                .map_err(query)?;
            Ok(row.get(0))
        })
        .await
    }

    /// Inserts orders with ids already reserved.
    pub async fn insert_with_ids(&self, orders: &[Order]) -> Result<(), DbError> {
        self.timed(async {
            let c = self.client().await?;
            for o in orders {
                c.execute(
                    "INSERT INTO orders (id, customer, item, quantity, amount_cents) VALUES ($1, $2, $3, $4, $5)",
                    &[&o.id, &o.customer, &o.item, &o.quantity, &o.amount_cents],
                )
                .await
                .map_err(query)?;
            }
            Ok(())
        })
        .await
    }

    /// One order.
    pub async fn get(&self, id: i64) -> Result<Option<Order>, DbError> {
        self.timed(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM orders WHERE id = $1"),
                    &[&id],
                )
                .await
                .map_err(query)?;
            Ok(row.as_ref().map(row_to_order))
        })
        .await
    }

    /// A page of orders with ids above `after`, oldest first.
    pub async fn list(&self, after: i64, limit: i64) -> Result<Vec<Order>, DbError> {
        self.timed(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!("SELECT {COLUMNS} FROM orders WHERE id > $1 ORDER BY id LIMIT $2"),
                    &[&after, &limit],
                )
                .await
                .map_err(query)?;
            Ok(rows.iter().map(row_to_order).collect())
        })
        .await
    }

    /// Orders of one customer (the column that needs an index); `extra_delay` is the
    /// `slow_search` defect's added latency, spent inside PostgreSQL.
    pub async fn search(
        &self,
        customer: &str,
        limit: i64,
        extra_delay: Option<Duration>,
    ) -> Result<Vec<Order>, DbError> {
        if self.leak_on_timeout {
            let c = tokio::time::timeout(self.query_timeout, self.client())
                .await
                .unwrap_or(Err(DbError::Timeout(self.query_timeout)))?;
            let searched = tokio::time::timeout(
                self.query_timeout,
                search_with(&c, customer, limit, extra_delay),
            )
            .await;
            return searched.unwrap_or_else(|_| {
                // The defect: the connection is lost on the error path, never returned.
                std::mem::forget(c);
                Err(DbError::Timeout(self.query_timeout))
            });
        }
        self.timed(async {
            let c = self.client().await?;
            search_with(&c, customer, limit, extra_delay).await
        })
        .await
    }
}

/// A customer's orders, on `c`, after `extra_delay` (the `slow_search` defect).
async fn search_with(
    c: &deadpool_postgres::Object,
    customer: &str,
    limit: i64,
    extra_delay: Option<Duration>,
) -> Result<Vec<Order>, DbError> {
    if let Some(d) = extra_delay {
        c.execute("SELECT pg_sleep($1)", &[&d.as_secs_f64()])
            .await
            .map_err(query)?;
    }
    let rows = c
        .query(
            &format!("SELECT {COLUMNS} FROM orders WHERE customer = $1 ORDER BY id LIMIT $2"),
            &[&customer, &limit],
        )
        .await
        .map_err(query)?;
    Ok(rows.iter().map(row_to_order).collect())
}
