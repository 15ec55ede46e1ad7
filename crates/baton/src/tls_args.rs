//! `baton server --tls-cert FILE --tls-key FILE`: HTTPS with rustls, the files read again on
//! SIGHUP (a renewed certificate without a restart; a reload that fails keeps the old one).

use anyhow::Context;
use baton_server::tls::TlsFiles;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Read again
    /// on SIGHUP.
    #[arg(long, env = "BATON_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BATON_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Loads the files (None without --tls-cert) and, on Unix, reloads them on every SIGHUP
    /// for the life of the process.
    pub fn load(&self) -> anyhow::Result<Option<Arc<TlsFiles>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let files = TlsFiles::load(cert, key).context("loading the TLS certificate")?;
        tracing::info!(cert = %cert.display(), key = %key.display(), "TLS on; SIGHUP reloads the files");
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
            let reloading = files.clone();
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    match reloading.reload() {
                        Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                        Err(e) => tracing::error!(
                            error = %e,
                            "SIGHUP: could not reload the TLS files; still serving the previous certificate"
                        ),
                    }
                }
            });
        }
        Ok(Some(files))
    }
}
