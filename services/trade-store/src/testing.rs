//! Isolation for tests that need a database: [`TestSchema`](crate::testing::TestSchema) gives
//! each test its own PostgreSQL schema, reached through a URL whose connections have it as
//! their `search_path`, so tests run in parallel against one server. SQLite tests use a
//! temporary file instead.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, postgres::PgConnection};

/// The PostgreSQL tests use: `LEVIBOT_TEST_DATABASE_URL`, by default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn test_database_url() -> String {
    std::env::var("LEVIBOT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its connections' `search_path` set to `schema` (libpq's `options` parameter,
/// which sqlx passes to the server at connect time).
pub fn url_with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// A fresh, uniquely named PostgreSQL schema, dropped (with everything in it) by
/// [`TestSchema::drop_schema`], or when this value is dropped if the test did not get there.
#[derive(Debug)]
pub struct TestSchema {
    server_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestSchema {
    /// Creates a schema on [`test_database_url`].
    pub async fn create() -> Result<Self, sqlx::Error> {
        Self::create_on(&test_database_url()).await
    }

    /// Creates a schema on the server and database of `server_url`.
    pub async fn create_on(server_url: &str) -> Result<Self, sqlx::Error> {
        let name = format!("test_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut conn = PgConnection::connect(server_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Self {
            url: url_with_search_path(server_url, &name),
            server_url: server_url.to_owned(),
            name,
            dropped: false,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A database URL whose connections work in this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(mut self) -> Result<(), sqlx::Error> {
        self.dropped = true;
        drop_schema(&self.server_url, &self.name).await
    }
}

async fn drop_schema(server_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(server_url).await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {name} CASCADE"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test that failed before cleaning up: drop the schema from a thread of its own, so
        // this works inside or outside an async runtime.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), drop_schema(&server_url, &name)).await
            });
        });
        let _ = cleanup.join();
    }
}
