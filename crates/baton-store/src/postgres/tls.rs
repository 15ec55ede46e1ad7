//! TLS to PostgreSQL, chosen by the URL as libpq chooses it: `sslmode` (`disable`, `prefer`,
//! the default, `require`, `verify-ca`, `verify-full`) and `sslrootcert` (the PEM file of the
//! certificates to trust).
//!
//! tokio-postgres itself knows `disable`, `prefer` and `require`, and encrypts whenever it is
//! given a TLS connector; which certificates are accepted is the connector's business. So the
//! URL is read here first: the verifying modes become `require` for tokio-postgres, and the
//! connector is built to check what the mode asks for:
//!
//! - `prefer` and `require` encrypt without checking the server's certificate (libpq does the
//!   same unless a root certificate file is given; with `sslrootcert`, `require` checks as
//!   `verify-ca` does);
//! - `verify-ca` checks that the certificate chains to one in `sslrootcert`;
//! - `verify-full` checks that too, and that it names the host connected to.
//!
//! One departure from libpq (ADR 40): a URL that names no `sslmode` and only loopback hosts
//! (`localhost`, 127.0.0.0/8, `::1`, a Unix socket) connects without TLS. Encryption there
//! hides nothing from anyone who could not read the machine's memory anyway, and on a node
//! beside its database it cost about a tenth of the throughput. `sslmode=prefer` or `require`
//! encrypts anyway.

use crate::{Result, StoreError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connection settings for tokio-postgres and the TLS connector that goes with them.
#[derive(Clone)]
pub(crate) struct DbConnect {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// What the server's certificate must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Encrypt, accept any certificate.
    None,
    /// The certificate chains to a trusted root; its names are not checked.
    Chain,
    /// The certificate chains to a trusted root and names the host.
    Full,
}

/// Reads a libpq-style URL (`postgres://user@host:port/db?sslmode=…&sslrootcert=…`) or
/// key-value string into tokio-postgres settings and a connector.
pub(crate) fn connect_settings(url: &str) -> Result<DbConnect> {
    // Conservative: "sslmode" anywhere (even inside a password) counts as a mode given.
    let mode_given = url.contains("sslmode");
    let (url, check, root) = split_tls_params(url)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
    if !mode_given && only_loopback(&config) {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    }
    let check = match (check, &root) {
        // libpq: `require` with a root certificate file verifies as `verify-ca`.
        (Check::None, Some(_)) => Check::Chain,
        (c, _) => c,
    };
    let tls = MakeRustlsConnect::new(client_config(check, root.as_deref())?);
    Ok(DbConnect { config, tls })
}

/// Whether every address `config` may connect to is on this machine: hosts named
/// `localhost`, loopback addresses and Unix sockets (and `hostaddr`s, where given, loopback).
fn only_loopback(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let host_local = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    };
    if !addrs.is_empty() {
        return addrs.iter().all(|ip| ip.is_loopback());
    }
    !hosts.is_empty() && hosts.iter().all(host_local)
}

/// The URL without the TLS parameters tokio-postgres does not read (the verifying modes become
/// `require`), what the mode asks of the certificate, and the `sslrootcert` path.
fn split_tls_params(raw: &str) -> Result<(String, Check, Option<String>)> {
    let is_url = raw.starts_with("postgres://") || raw.starts_with("postgresql://");
    let Some((base, query)) = raw.split_once('?').filter(|_| is_url) else {
        // Key-value strings and URLs without parameters go to tokio-postgres as given (it
        // names an sslmode it does not know).
        return Ok((raw.to_string(), Check::None, None));
    };
    let mut check = Check::None;
    let mut root = None;
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "sslmode" => {
                let (given, mode) = match value.as_ref() {
                    "disable" | "prefer" | "require" => (value.as_ref(), Check::None),
                    "verify-ca" => ("require", Check::Chain),
                    "verify-full" => ("require", Check::Full),
                    other => {
                        return Err(StoreError::Database(format!(
                            "invalid PostgreSQL URL: sslmode={other} is not one of disable, \
                             prefer, require, verify-ca, verify-full"
                        )))
                    }
                };
                check = mode;
                kept.append_pair("sslmode", given);
            }
            "sslrootcert" => root = Some(value.into_owned()),
            _ => {
                kept.append_pair(&key, &value);
            }
        }
    }
    if check != Check::None && root.is_none() {
        return Err(StoreError::Database(
            "invalid PostgreSQL URL: sslmode=verify-ca and verify-full need sslrootcert=PATH, \
             the PEM file of the certificate authorities to trust"
                .into(),
        ));
    }
    let query = kept.finish();
    let url = if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    };
    Ok((url, check, root))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(check: Check, root: Option<&str>) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Database(format!("TLS to PostgreSQL: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (check, root) {
        (Check::None, _) | (_, None) => Arc::new(AnyCertificate(provider)),
        (check, Some(path)) => {
            let roots = Arc::new(read_roots(path)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| StoreError::Database(format!("TLS to PostgreSQL: {e}")))?;
            if check == Check::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn read_roots(path: &str) -> Result<RootCertStore> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Database(format!("sslrootcert {path}: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    Ok(roots)
}

/// `prefer` and `require`: the connection is encrypted, the certificate is not checked (the
/// handshake's signatures still are, so the session key belongs to the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full check, except that a certificate for another name passes.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_modes_become_require_and_need_a_root() {
        let (url, check, root) = split_tls_params(
            "postgres://u@db:5432/x?application_name=b&sslmode=verify-full&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u@db:5432/x?application_name=b&sslmode=require"
        );
        assert_eq!(check, Check::Full);
        assert_eq!(root.as_deref(), Some("/ca.pem"));

        let (url, check, _) = split_tls_params("postgres://u@db/x?sslmode=disable").unwrap();
        assert_eq!(
            (url.as_str(), check),
            ("postgres://u@db/x?sslmode=disable", Check::None)
        );

        let err = split_tls_params("postgres://u@db/x?sslmode=verify-ca").unwrap_err();
        assert!(err.to_string().contains("need sslrootcert"), "{err}");
        let err = split_tls_params("postgres://u@db/x?sslmode=always").unwrap_err();
        assert!(err.to_string().contains("sslmode=always"), "{err}");
    }

    #[test]
    fn loopback_without_a_mode_skips_tls_and_a_given_mode_is_kept() {
        use tokio_postgres::config::SslMode;
        let mode = |url: &str| match connect_settings(url) {
            Ok(c) => c.config.get_ssl_mode(),
            Err(e) => panic!("{url}: {e}"),
        };
        for local in [
            "postgres://u@127.0.0.1:5432/x",
            "postgres://u@localhost/x",
            "postgres://u@[::1]:5432/x",
            "postgres://u@127.0.0.2/x?application_name=b",
            "host=localhost user=u dbname=x",
        ] {
            assert_eq!(mode(local), SslMode::Disable, "{local}");
        }
        for kept in [
            "postgres://u@db.example:5432/x",
            "postgres://u@10.0.0.5/x",
            "postgres://u@127.0.0.1,db.example/x",
            "postgres://u@127.0.0.1/x?sslmode=prefer",
            "postgres://u@localhost/x?sslmode=require",
            "host=localhost user=u dbname=x sslmode=prefer",
        ] {
            assert_ne!(mode(kept), SslMode::Disable, "{kept}");
        }
    }

    #[test]
    fn an_unreadable_root_file_is_named() {
        let err = match connect_settings(
            "postgres://u@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        ) {
            Err(e) => e,
            Ok(_) => panic!("a missing root file was accepted"),
        };
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
