//! Fresh PostgreSQL databases for tests, one per test, dropped afterwards.

use tokio_postgres::NoTls;
use uuid::Uuid;

/// A database of its own for one test, dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database on the server of `DATABASE_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`). Without a server it
    /// says so and gives `None` — except under `CI=true`, where a missing
    /// PostgreSQL is a failure.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL cannot be reached.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("gw_test_{}", Uuid::now_v7().simple());
        let created = async {
            let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await?;
            let driver = tokio::spawn(connection);
            client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
            driver.abort();
            Ok::<(), tokio_postgres::Error>(())
        };
        if let Err(e) = created.await {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL at {admin_url} is required under CI: {e}"
            );
            eprintln!("skipped: PostgreSQL at {admin_url} is not reachable ({e})");
            return None;
        }
        Some(Self { url: with_database(&admin_url, &name), admin_url, name })
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async code: a thread of its own does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.ok()?;
                let driver = tokio::spawn(connection);
                let result = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                driver.abort();
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("test database {} was not dropped", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_url_keeps_everything_but_the_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "t2"), "postgres://u:p@h/t2?sslmode=disable");
        assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
    }
}
