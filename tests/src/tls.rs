//! Certificates made at test time: a CA, a server certificate for `localhost` and `127.0.0.1`,
//! and a client certificate, written as PEM files the services' `[server.tls]` and
//! `[internal.tls]` settings name.

use std::path::{Path, PathBuf};

use eyrie_platform::tls::{ClientTlsSettings, ServerTlsSettings};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A CA and the certificates it signed, as files in a temporary folder.
pub struct TestPki {
    /// The CA certificate (PEM): what servers and clients trust.
    pub ca_file: PathBuf,
    /// The server's certificate, for `localhost` and `127.0.0.1`.
    pub server_cert_file: PathBuf,
    /// The server's key.
    pub server_key_file: PathBuf,
    /// A client certificate signed by the CA (what a service presents to its peers).
    pub client_cert_file: PathBuf,
    /// The client's key.
    pub client_key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Makes a fresh CA named `name` and its server and client certificates.
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, common_name: &str| {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(names)?;
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca)?;
            anyhow::Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "localhost",
        )?;
        let (client_cert, client_key) = leaf(
            vec!["eyrie-service".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "eyrie-service",
        )?;

        let write = |file: &str, contents: &str| -> anyhow::Result<PathBuf> {
            let path = dir.path().join(file);
            std::fs::write(&path, contents)?;
            Ok(path)
        };
        Ok(Self {
            ca_file: write("ca.pem", &ca_cert.pem())?,
            server_cert_file: write("server.pem", &server_cert)?,
            server_key_file: write("server.key", &server_key)?,
            client_cert_file: write("client.pem", &client_cert)?,
            client_key_file: write("client.key", &client_key)?,
            dir,
        })
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `[server.tls]` serving the server certificate; with `mutual`, clients must present a
    /// certificate of this CA.
    pub fn server_settings(&self, mutual: bool) -> ServerTlsSettings {
        ServerTlsSettings {
            cert_file: Some(self.server_cert_file.clone()),
            key_file: Some(self.server_key_file.clone()),
            client_ca_file: mutual.then(|| self.ca_file.clone()),
        }
    }

    /// `[internal.tls]` trusting this CA, presenting the client certificate.
    pub fn client_settings(&self) -> ClientTlsSettings {
        ClientTlsSettings {
            ca_file: Some(self.ca_file.clone()),
            cert_file: Some(self.client_cert_file.clone()),
            key_file: Some(self.client_key_file.clone()),
        }
    }

    /// A test client's TLS trusting this CA, without a client certificate.
    pub fn trusting_client(&self) -> ClientTlsConfig {
        let ca = std::fs::read(&self.ca_file).expect("the CA file was just written");
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca))
    }

    /// A test client's TLS trusting this CA and presenting the client certificate.
    pub fn client_with_certificate(&self) -> ClientTlsConfig {
        let read = |path: &Path| std::fs::read(path).expect("the file was just written");
        self.trusting_client().identity(Identity::from_pem(
            read(&self.client_cert_file),
            read(&self.client_key_file),
        ))
    }

    /// The TOML of `[server.tls]` as [`TestPki::server_settings`] has it.
    pub fn server_toml(&self, mutual: bool) -> String {
        let mut toml = format!(
            "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            self.server_cert_file.display(),
            self.server_key_file.display()
        );
        if mutual {
            toml.push_str(&format!(
                "client_ca_file = \"{}\"\n",
                self.ca_file.display()
            ));
        }
        toml
    }

    /// The TOML of `[internal.tls]` as [`TestPki::client_settings`] has it.
    pub fn internal_toml(&self) -> String {
        format!(
            "[internal.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            self.ca_file.display(),
            self.client_cert_file.display(),
            self.client_key_file.display()
        )
    }
}
