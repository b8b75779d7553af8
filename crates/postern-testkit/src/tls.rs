//! A throwaway certificate authority for TLS tests: a CA certificate and leaf certificates it
//! signs, written as PEM files into a temp dir.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::TempDir;

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = TempDir::new("test-ca");
        dir.write("ca.pem", &issuer.pem());
        Self { issuer, dir }
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf certificate for `names`; returns (cert.pem, key.pem).
    pub fn issue_files(&self, label: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_path = self.dir.write(&format!("{label}.pem"), &cert.pem());
        let key_path = self
            .dir
            .write(&format!("{label}-key.pem"), &key.serialize_pem());
        (cert_path, key_path)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
