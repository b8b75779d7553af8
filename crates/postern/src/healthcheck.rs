//! `postern healthcheck`: exit 0 when postern answers 200 on its health endpoint. Speaks HTTP
//! and HTTPS. Over HTTPS it does not verify the certificate: it asks its own, local listener
//! whether the process is alive, sends no credentials, and reads only the status line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::cli::{ConfigArgs, HealthcheckArgs};
use crate::config_file;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: &HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| default_url(&args.config));
    match probe(&url) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("postern: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(why) => {
            eprintln!("postern: {url}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `/api/healthcheck` on the configured listener (unspecified addresses become loopback).
fn default_url(args: &ConfigArgs) -> String {
    let (listen, tls) = match config_file::load(args.config.as_deref(), &[]) {
        Ok(config) => (config.server.listen, config.server.tls.is_some()),
        Err(problems) => {
            eprintln!(
                "postern: no usable configuration ({} problem(s)); asking the default 127.0.0.1:3000",
                problems.0.len()
            );
            (SocketAddr::from(([127, 0, 0, 1], 3000)), false)
        }
    };
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        ip if ip.is_ipv6() => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}/api/healthcheck", listen.port())
}

fn probe(url: &str) -> Result<u16, String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = authority
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {authority}: {err}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|err| err.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|err| err.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    if tls {
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|err| err.to_string())?;
        let connection = ClientConnection::new(Arc::new(liveness_tls_config()?), name)
            .map_err(|err| err.to_string())?;
        status_of(StreamOwned::new(connection, stream), &request)
    } else {
        status_of(stream, &request)
    }
}

fn status_of(mut stream: impl Read + Write, request: &str) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .map_err(|err| err.to_string())?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|err| err.to_string())?;
    String::from_utf8_lossy(&head[..read])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())
}

fn liveness_tls_config() -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(Arc::clone(&provider)));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any certificate (see the module doc) but still checks the handshake signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
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
