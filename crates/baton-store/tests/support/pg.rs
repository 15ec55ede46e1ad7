//! A fresh PostgreSQL database per test, dropped when the test ends (even by a panic).
//!
//! The server is `BATON_TEST_PG` (a libpq URL of a database to connect to for `CREATE
//! DATABASE`), by default the local one with trust auth. When no server answers, a test
//! prints why and passes without running, unless `BATON_REQUIRE_PG` is set (CI sets it), in
//! which case it fails.

#![allow(dead_code)]

use baton_store::{PostgresOptions, PostgresStore, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("BATON_TEST_PG").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// The URL of database `name` on the admin URL's server (same host, user and options).
fn url_of(name: &str) -> String {
    let admin = admin_url();
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (admin.clone(), String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

pub async fn admin() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A database that exists for one test.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    /// Creates `baton_t_<pid>_<n>_<test>`; `None` (after saying so) if no server answers.
    pub async fn create(test: &str) -> Option<PgDb> {
        PgDb::create_from(test, false).await
    }

    /// [`PgDb::create`], but the database is a copy of a template this build's migrations
    /// were applied to once (`baton_schema_<fingerprint>`, made by the first test that asks),
    /// so opening a store on it migrates nothing. An empty database (which the store then
    /// migrates) if the template cannot be had.
    pub async fn create_migrated(test: &str) -> Option<PgDb> {
        PgDb::create_from(test, true).await
    }

    async fn create_from(test: &str, migrated: bool) -> Option<PgDb> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let client = match admin().await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var_os("BATON_REQUIRE_PG").is_some() {
                    panic!(
                        "BATON_REQUIRE_PG is set but PostgreSQL at {} is unreachable: {e}",
                        admin_url()
                    );
                }
                eprintln!(
                    "SKIPPED {test}: no PostgreSQL reachable at {} ({e}); set BATON_TEST_PG",
                    admin_url()
                );
                return None;
            }
        };
        sweep_leftovers(&client).await;
        let template = match migrated {
            true => match schema_template(&client).await {
                Ok(template) => format!(" TEMPLATE \"{template}\""),
                Err(e) => {
                    eprintln!("no migrated template database ({e}): {test} migrates on open");
                    String::new()
                }
            },
            false => String::new(),
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("baton_t_{}_{n}_{}", std::process::id(), test.to_lowercase());
        name.truncate(63);
        // Separate statements: several in one string would run as one transaction, which
        // these refuse. A copy fails if another build's run dropped the template meanwhile.
        let drop_first = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        client
            .batch_execute(&drop_first)
            .await
            .expect("drop a leftover of the same name");
        let create = format!("CREATE DATABASE \"{name}\"");
        let copied = !template.is_empty()
            && client
                .batch_execute(&format!("{create}{template}"))
                .await
                .inspect_err(|e| eprintln!("{test}: no copy of the template ({e}), migrating"))
                .is_ok();
        if !copied {
            client
                .batch_execute(&create)
                .await
                .expect("create the test database");
        }
        let url = url_of(&name);
        Some(PgDb { name, url })
    }

    /// A plain connection to the database, for a test's own statements.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store().await)
    }

    pub async fn store(&self) -> PostgresStore {
        let mut opts = PostgresOptions::new(self.url.clone());
        opts.max_connections = 8;
        PostgresStore::open(opts)
            .await
            .expect("open the PostgreSQL store")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        drop_database_blocking(&self.name);
    }
}

/// How long dropping one database may take, connecting included. A DROP DATABASE waits for a
/// checkpoint (seconds while other tests write); one stuck past this is left to a sweep.
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// Drops database `name`, closing its connections (FORCE); answers whether it is gone.
/// Never fails: an unreachable server or a timeout only leaves the database to a sweep.
pub async fn drop_database(name: &str) -> bool {
    let drop = async {
        let client = admin().await.ok()?;
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        client.batch_execute(&sql).await.ok()
    };
    matches!(tokio::time::timeout(DROP_TIMEOUT, drop).await, Ok(Some(())))
}

/// [`drop_database`] from synchronous code (a `Drop`, maybe while panicking, maybe inside a
/// runtime): on a thread of its own with a small runtime.
pub fn drop_database_blocking(name: &str) -> bool {
    let name = name.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .is_ok_and(|rt| rt.block_on(drop_database(&name)))
    })
    .join()
    .unwrap_or(false)
}

/// The advisory lock held while a schema template is made, so that concurrent test
/// processes make it once.
const TEMPLATE_LOCK: i64 = 0x0062_6174_6f6e_5f73; // "baton_s"

/// The name of this build's migrated template database, made if missing: a database the
/// store migrated, then closed to connections and marked as a template. Templates of other
/// fingerprints (older builds) are dropped when a new one is made; one stays per schema.
pub async fn schema_template(client: &tokio_postgres::Client) -> Result<String, String> {
    let name = format!("baton_schema_{}", PostgresStore::schema_fingerprint());
    if template_ready(client, &name).await? {
        return Ok(name);
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .map_err(|e| e.to_string())?;
    let made = async {
        // Another process may have made it while this one waited for the lock.
        if template_ready(client, &name).await? {
            return Ok(());
        }
        make_template(client, &name).await
    }
    .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await;
    made.map(|()| name)
}

async fn template_ready(client: &tokio_postgres::Client, name: &str) -> Result<bool, String> {
    client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1 AND datistemplate",
            &[&name],
        )
        .await
        .map(|row| row.get::<_, i64>(0) > 0)
        .map_err(|e| e.to_string())
}

/// Templates kept for other sets of migrations (other builds' test runs, which may still be
/// copying theirs); older ones are dropped when a new one is made.
const TEMPLATES_KEPT: usize = 3;

/// Drops the leftovers of a process killed while making a template and the templates past
/// the newest [`TEMPLATES_KEPT`], then migrates a new one under a building name and renames
/// it: a template exists under `name` only once it is whole.
async fn make_template(client: &tokio_postgres::Client, name: &str) -> Result<(), String> {
    let run =
        |sql: String| async move { client.batch_execute(&sql).await.map_err(|e| e.to_string()) };
    // Newest first: a database's oid grows with its creation.
    let old = client
        .query(
            "SELECT datname, datname LIKE '%\\_building' FROM pg_database
             WHERE datname LIKE 'baton\\_schema\\_%' ORDER BY oid DESC",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut kept = 0;
    for row in old {
        let (old, building): (String, bool) = (row.get(0), row.get(1));
        // Under the lock no other process is building: a building name is a leftover.
        if !building && kept < TEMPLATES_KEPT - 1 {
            kept += 1;
            continue;
        }
        run(format!("ALTER DATABASE \"{old}\" IS_TEMPLATE false")).await?;
        run(format!("DROP DATABASE IF EXISTS \"{old}\" WITH (FORCE)")).await?;
    }
    let building = format!("{name}_building");
    run(format!("CREATE DATABASE \"{building}\"")).await?;
    let store = PostgresStore::open(PostgresOptions::new(url_of(&building)))
        .await
        .map_err(|e| e.to_string())?;
    store.close();
    drop(store);
    // The pool's connections end after the close; a rename waits for none to remain.
    for _ in 0..100 {
        let open: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&building],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run(format!(
        "ALTER DATABASE \"{building}\" WITH ALLOW_CONNECTIONS false"
    ))
    .await?;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}'"
    ))
    .await?;
    run(format!(
        "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
    ))
    .await?;
    run(format!("ALTER DATABASE \"{name}\" IS_TEMPLATE true")).await?;
    Ok(())
}

/// Whether database `name` exists.
pub async fn database_exists(name: &str) -> bool {
    let client = admin().await.expect("connect to PostgreSQL");
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("read pg_database");
    row.get::<_, i64>(0) > 0
}

/// Leftover databases dropped at once: each DROP waits for a checkpoint, and concurrent
/// ones share it.
const SWEEP_CONNECTIONS: usize = 8;
/// A sweep starts no drop after this; what is left waits for the next sweep.
const SWEEP_BUDGET: Duration = Duration::from_secs(20);
/// The advisory lock a sweeping process holds, so concurrent test processes do not sweep
/// the same databases.
const SWEEP_LOCK: i64 = 0x0062_6174_6f6e_5f74; // "baton_t"

/// Drops test databases left by test processes that no longer run (a crash, a SIGKILL, a
/// timeout). Once per process; skipped while another process sweeps. Answers how many it
/// dropped.
pub async fn sweep_leftovers(client: &tokio_postgres::Client) -> usize {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    SWEPT.call_once(|| first = true);
    if !first {
        return 0;
    }
    sweep_now(client).await
}

/// [`sweep_leftovers`] without the once-per-process guard.
pub async fn sweep_now(client: &tokio_postgres::Client) -> usize {
    let locked = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SWEEP_LOCK])
        .await
        .is_ok_and(|row| row.get::<_, bool>(0));
    if !locked {
        return 0;
    }
    let dropped = drop_dead(client).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&SWEEP_LOCK])
        .await;
    dropped
}

/// Drops the test databases whose process is gone, several at once, within the budget.
async fn drop_dead(client: &tokio_postgres::Client) -> usize {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'baton\\_t\\_%'",
            &[],
        )
        .await
    else {
        return 0;
    };
    let dead: Vec<String> = rows
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| {
            let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
            !pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        })
        .collect();
    if dead.is_empty() {
        return 0;
    }
    let queue = Arc::new(std::sync::Mutex::new(dead));
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut drops = tokio::task::JoinSet::new();
    for _ in 0..SWEEP_CONNECTIONS {
        let (queue, dropped) = (queue.clone(), dropped.clone());
        drops.spawn(async move {
            let Ok(client) = admin().await else { return };
            while let Some(name) = queue.lock().ok().and_then(|mut q| q.pop()) {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                if client.batch_execute(&sql).await.is_ok() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // Past the budget the set is dropped, which aborts the drops still waiting.
    let _ = tokio::time::timeout(SWEEP_BUDGET, async {
        while drops.join_next().await.is_some() {}
    })
    .await;
    dropped.load(Ordering::Relaxed)
}

/// A TCP proxy in front of the PostgreSQL server whose connections can all be cut at once:
/// takes the database away from a store (or a server process) without stopping the
/// PostgreSQL server other tests share.
pub struct Proxy {
    pub port: u16,
    pub target: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on `port` (0: any free one) and forwards every connection to `target`.
    pub async fn start(port: u16, target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let task = tokio::spawn(async move {
            // Aborting this task drops the set, which aborts every forwarded connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { port, target, task }
    }

    /// A proxy to `db`'s server and the URL of `db` through it; `None` if the server is
    /// not reached over TCP.
    pub async fn in_front_of(db: &PgDb) -> Option<(Proxy, String)> {
        let config: tokio_postgres::Config = db.url.parse().expect("test URL");
        let (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) =
            (config.get_hosts().first(), config.get_ports().first())
        else {
            return None;
        };
        let target = tokio::net::lookup_host((host.as_str(), *port))
            .await
            .expect("resolve the server")
            .next()
            .expect("an address");
        let proxy = Proxy::start(0, target).await;
        let url = format!(
            "postgres://{}@127.0.0.1:{}/{}",
            config.get_user().unwrap_or("postgres"),
            proxy.port,
            db.name
        );
        Some((proxy, url))
    }

    /// Closes every connection and stops listening; answers the port, to start again on.
    pub async fn cut(self) -> u16 {
        self.task.abort();
        let _ = self.task.await;
        self.port
    }
}
