//! A one-connection check that a PostgreSQL server answers, for `baton start` (choosing the
//! tier) and for its background check while it serves from the SQLite fallback.

use crate::{Result, StoreError};
use std::time::Duration;

/// Connects to `url` and runs `SELECT 1`, all within `timeout`. `Unavailable` if the server
/// cannot be reached in time; `Database` for an invalid URL or a refusal by the server
/// (unknown database, authentication), whose message says which.
pub async fn probe(url: &str, timeout: Duration) -> Result<()> {
    let mut connect = super::tls::connect_settings(url)?;
    connect.config.connect_timeout(timeout);
    let attempt = async {
        let (client, connection) = connect.config.connect(connect.tls.clone()).await?;
        let driver = tokio::spawn(connection);
        let answered = client.simple_query("SELECT 1").await;
        drop(client);
        let _ = driver.await;
        answered.map(|_| ())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
