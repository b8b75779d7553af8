//! Serving HTTPS directly: rustls with the ring provider, certificate and key from PEM files,
//! ALPN for HTTP/2 and HTTP/1.1.

use std::sync::Arc;

use postern_core::config::TlsConfig;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("reading the private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Loads the certificate and key as `serve` would; for `config check`.
pub fn check(tls: &TlsConfig) -> Result<(), TlsError> {
    acceptor(tls).map(drop)
}

pub fn acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let cert_path = tls.cert_file.display().to_string();
    let key_path = tls.key_file.display().to_string();
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| TlsError::Certificate {
            path: cert_path.clone(),
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_path,
            reason: "no certificate found in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|err| TlsError::Key {
        path: key_path,
        reason: err.to_string(),
    })?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
