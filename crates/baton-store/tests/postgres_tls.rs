//! TLS to PostgreSQL as the URL's `sslmode` and `sslrootcert` ask, against the real server
//! (Debian's clusters serve TLS with the machine's "snakeoil" certificate, made for
//! `localhost`). What is checked is what the server saw: `pg_stat_ssl` of the store's own
//! connections.

use baton_model::TaskDef;
use baton_store::{PostgresOptions, PostgresStore, Store};

#[path = "support/pg.rs"]
mod pg;

/// The admin connection, and the server's certificate file; `None` if the test cannot run
/// here (no PostgreSQL, or one without TLS, and CI not requiring them).
async fn server() -> Option<(tokio_postgres::Client, String)> {
    let (client, conn) =
        match tokio_postgres::connect(&pg::admin_url(), tokio_postgres::NoTls).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var_os("BATON_REQUIRE_PG").is_none(),
                    "BATON_REQUIRE_PG is set but PostgreSQL is unreachable: {e}"
                );
                eprintln!("SKIPPED: no PostgreSQL reachable ({e})");
                return None;
            }
        };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let show = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    if show("ssl").await != "on" {
        assert!(
            std::env::var_os("BATON_REQUIRE_PG").is_none(),
            "BATON_REQUIRE_PG is set but the PostgreSQL server does not serve TLS (ssl = off)"
        );
        eprintln!("SKIPPED: the PostgreSQL server does not serve TLS (ssl = off)");
        return None;
    }
    let cert = show("ssl_cert_file").await;
    Some((client, cert))
}

/// Whether each of the server's connections to `database` is encrypted.
async fn encrypted(admin: &tokio_postgres::Client, database: &str) -> Vec<bool> {
    admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1",
            &[&database],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Opens a store on `url` and writes and reads through it.
async fn open_and_use(url: &str) -> Result<PostgresStore, String> {
    let store = PostgresStore::open(PostgresOptions::new(url))
        .await
        .map_err(|e| e.to_string())?;
    let def: TaskDef = serde_json::from_value(serde_json::json!({"name": "tls_probe"})).unwrap();
    store.put_task_defs(vec![def]).await.unwrap();
    assert!(store.get_task_def("tls_probe").await.unwrap().is_some());
    Ok(store)
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

#[tokio::test]
async fn require_encrypts_and_disable_does_not() {
    let Some((admin, _)) = server().await else {
        return;
    };
    let Some(db) = pg::PgDb::create("tls_require").await else {
        return;
    };
    let store = open_and_use(&with_params(&db.url, "sslmode=require"))
        .await
        .unwrap();
    let seen = encrypted(&admin, &db.name).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| *e), "{seen:?}");
    drop(store);

    let Some(plain) = pg::PgDb::create("tls_disable").await else {
        return;
    };
    let _store = open_and_use(&with_params(&plain.url, "sslmode=disable"))
        .await
        .unwrap();
    let seen = encrypted(&admin, &plain.name).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| !*e), "{seen:?}");
}

/// A loopback URL without `sslmode` connects in the clear (ADR 40); `prefer` there encrypts
/// as libpq does, since this server offers TLS.
#[tokio::test]
async fn loopback_without_a_mode_is_plain_and_prefer_encrypts() {
    let Some((admin, _)) = server().await else {
        return;
    };
    let Some(db) = pg::PgDb::create("tls_loopback").await else {
        return;
    };
    assert!(
        db.url.contains("127.0.0.1") && !db.url.contains("sslmode"),
        "{}",
        db.url
    );
    let store = open_and_use(&db.url).await.unwrap();
    let seen = encrypted(&admin, &db.name).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| !*e), "{seen:?}");
    drop(store);

    let Some(preferred) = pg::PgDb::create("tls_prefer").await else {
        return;
    };
    let _store = open_and_use(&with_params(&preferred.url, "sslmode=prefer"))
        .await
        .unwrap();
    let seen = encrypted(&admin, &preferred.name).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| *e), "{seen:?}");
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_name() {
    let Some((admin, cert)) = server().await else {
        return;
    };
    let Some(db) = pg::PgDb::create("tls_verify_full").await else {
        return;
    };
    // The certificate names localhost: by that name it passes.
    let by_name = db.url.replace("@127.0.0.1:", "@localhost:");
    assert_ne!(
        by_name, db.url,
        "the test database is expected on 127.0.0.1"
    );
    let _store = open_and_use(&with_params(
        &by_name,
        &format!("sslmode=verify-full&sslrootcert={cert}"),
    ))
    .await
    .unwrap();
    let seen = encrypted(&admin, &db.name).await;
    assert!(!seen.is_empty() && seen.iter().all(|e| *e), "{seen:?}");

    // By address it does not name: refused, saying why.
    let err = open_and_use(&with_params(
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={cert}"),
    ))
    .await
    .err()
    .unwrap_or_else(|| panic!("a certificate for another name was accepted"));
    assert!(err.contains("certificate"), "{err}");

    // verify-ca checks the chain only: the address passes.
    let _store = open_and_use(&with_params(
        &db.url,
        &format!("sslmode=verify-ca&sslrootcert={cert}"),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_certificate_from_another_authority_is_refused() {
    let Some(_) = server().await else {
        return;
    };
    let Some(db) = pg::PgDb::create("tls_other_ca").await else {
        return;
    };
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile_dir();
    let path = dir.join("other-ca.pem");
    std::fs::write(&path, other.cert.pem()).unwrap();
    for mode in ["verify-ca", "verify-full", "require"] {
        // With a root file, require checks the chain as libpq does.
        let url = with_params(
            &db.url.replace("@127.0.0.1:", "@localhost:"),
            &format!("sslmode={mode}&sslrootcert={}", path.display()),
        );
        let err = open_and_use(&url)
            .await
            .err()
            .unwrap_or_else(|| panic!("{mode}: a certificate of another authority was accepted"));
        assert!(err.contains("certificate"), "{mode}: {err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bad_tls_settings_are_named() {
    let err = open_and_use("postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full")
        .await
        .err()
        .unwrap_or_else(|| panic!("verify-full without a root file was accepted"));
    assert!(err.contains("sslrootcert"), "{err}");
    let err = open_and_use("postgres://postgres@127.0.0.1:5432/postgres?sslmode=maybe")
        .await
        .err()
        .unwrap_or_else(|| panic!("an unknown sslmode was accepted"));
    assert!(err.contains("sslmode=maybe"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
