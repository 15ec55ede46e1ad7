//! The benchmark's own PostgreSQL database: created fresh for a run, dropped after it.

use anyhow::Context;

pub(crate) struct BenchDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// `VACUUM (ANALYZE)` of the database at `url`: what autovacuum does after a bulk load
/// (the search workload's fill), done at once so that the timings do not depend on whether
/// and when the server's autovacuum (off on some development servers) gets to it.
pub(crate) async fn vacuum_analyze(url: &str) -> anyhow::Result<()> {
    connect(url)
        .await?
        .batch_execute("VACUUM (ANALYZE)")
        .await
        .context("VACUUM (ANALYZE)")
}

impl BenchDb {
    /// Creates `baton_bench_<pid>` on the server of `admin` (a database URL to connect to).
    pub(crate) async fn create(admin: &str) -> anyhow::Result<BenchDb> {
        let name = format!("baton_bench_{}", std::process::id());
        let client = connect(admin).await?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("creating the benchmark database")?;
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin, String::new()),
        };
        let host_start = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[host_start..]
            .find('/')
            .map_or(base.len(), |i| host_start + i);
        let url = format!("{}/{name}{query}", &base[..host_end]);
        Ok(BenchDb {
            admin: admin.to_string(),
            name,
            url,
        })
    }

    pub(crate) async fn drop_db(self) {
        match connect(&self.admin).await {
            Ok(client) => {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = client.batch_execute(&sql).await {
                    eprintln!("could not drop {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("could not drop {}: {e}", self.name),
        }
    }
}
