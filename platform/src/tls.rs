//! TLS for every server and for the calls between services: rustls on ring, with certificates
//! and keys read from the PEM files the configuration names.
//!
//! A server serves TLS when `[server.tls]` names a certificate and its key, and then asks every
//! client for a certificate signed by `client_ca_file` when that is set (mutual TLS between
//! services). A service calls an `https://` peer with `[internal.tls]`: the CA it trusts, and the
//! certificate it presents to peers that ask for one.
//!
//! Files are read once, at start, so a missing or wrong file stops the service with a message
//! naming it. Errors about a key file never quote the file.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, bail};
use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use serde::Deserialize;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// How long a client may take to complete its TLS handshake before its connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `[server.tls]` section: TLS on the port a service (or the gateway) serves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// The server's certificate chain (PEM), its own certificate first. With `key_file`, the
    /// port serves TLS only; unset, plaintext.
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM). Set: every client must present a certificate signed by one of them
    /// (mutual TLS), else its connection is refused during the handshake.
    pub client_ca_file: Option<PathBuf>,
}

impl ServerTlsSettings {
    /// Tells whether the port serves TLS (`https://`).
    pub fn is_enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// The rustls configuration the server accepts connections with; `None` for plaintext.
    ///
    /// `http1` also offers HTTP/1.1 during the handshake (ALPN), for gRPC-Web; HTTP/2 is always
    /// offered.
    pub fn server_config(&self, http1: bool) -> anyhow::Result<Option<Arc<ServerConfig>>> {
        let (cert_file, key_file) = match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => (cert_file, key_file),
            (None, None) if self.client_ca_file.is_some() => bail!(
                "server.tls.client_ca_file is set without server.tls.cert_file and key_file: \
                 client certificates are only asked for over TLS"
            ),
            (None, None) => return Ok(None),
            (Some(_), None) => bail!("server.tls.cert_file is set without server.tls.key_file"),
            (None, Some(_)) => bail!("server.tls.key_file is set without server.tls.cert_file"),
        };
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &self.client_ca_file {
            Some(path) => {
                let roots = Arc::new(root_store(path)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .build()
                    .with_context(|| format!("client CA file {}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(read_certificates(cert_file)?, read_key(key_file)?)
            .with_context(|| {
                format!(
                    "the key in {} does not go with the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        if http1 {
            config.alpn_protocols.push(b"http/1.1".to_vec());
        }
        Ok(Some(Arc::new(config)))
    }
}

/// The `[internal.tls]` section: how a service calls its `https://` peers (peers named
/// `http://` are called in plaintext).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// CA certificates (PEM) the peers' certificates must be signed by. Unset: the system's
    /// trusted roots.
    pub ca_file: Option<PathBuf>,
    /// Certificate (PEM) presented to peers that require one (mutual TLS); with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<PathBuf>,
}

impl ClientTlsSettings {
    /// Tells whether any TLS setting is given.
    pub fn is_configured(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// tonic's configuration for connections to `https://` peers. The files are read and checked
    /// now, so a wrong one fails at start rather than at the first call.
    pub fn client_config(&self) -> anyhow::Result<ClientTlsConfig> {
        let config = ClientTlsConfig::new();
        let config = match &self.ca_file {
            Some(path) => {
                root_store(path)?;
                config.ca_certificate(Certificate::from_pem(read(path, "CA file")?))
            }
            None => config.with_native_roots(),
        };
        match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                read_certificates(cert_file)?;
                read_key(key_file)?;
                Ok(config.identity(Identity::from_pem(
                    read(cert_file, "certificate file")?,
                    read(key_file, "key file")?,
                )))
            }
            (None, None) => Ok(config),
            (Some(_), None) => bail!("a client certificate file is set without its key file"),
            (None, Some(_)) => bail!("a client key file is set without its certificate file"),
        }
    }
}

/// The one crypto provider of the suite (kube's TLS uses ring too), named explicitly so that no
/// process-wide default has to be installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// The certificates of a PEM file; at least one.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, "certificate file")?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certificates.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certificates)
}

/// The private key of a PEM file. The parser's error is left out: it may quote the file.
fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path, "key file")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        anyhow::anyhow!(
            "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            path.display()
        )
    })
}

fn root_store(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .with_context(|| format!("{} holds an unusable CA certificate", path.display()))?;
    }
    Ok(roots)
}

/// Accepts connections on `listener` and runs their TLS handshakes concurrently, so a slow or
/// silent client holds up no one else; a failed handshake drops only its own connection.
///
/// The stream never ends by itself; dropping it closes the listener.
pub(crate) fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl Stream<Item = io::Result<TlsStream<TcpStream>>> {
    let (sender, receiver) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: give the process a moment rather
                    // than spinning on the same error.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Ok(tls)).await;
                    }
                    Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        file
    }

    #[test]
    fn without_a_certificate_the_port_stays_plaintext() {
        let settings = ServerTlsSettings::default();
        assert!(!settings.is_enabled());
        assert!(settings.server_config(true).unwrap().is_none());
        assert_eq!(crate::ServerSettings::default().scheme(), "http");
    }

    #[test]
    fn half_a_server_identity_is_refused_naming_what_is_missing() {
        let cases = [
            (Some("cert.pem"), None, None, "server.tls.key_file"),
            (None, Some("key.pem"), None, "server.tls.cert_file"),
            (None, None, Some("ca.pem"), "server.tls.client_ca_file"),
        ];
        for (cert_file, key_file, client_ca_file, named) in cases {
            let settings = ServerTlsSettings {
                cert_file: cert_file.map(PathBuf::from),
                key_file: key_file.map(PathBuf::from),
                client_ca_file: client_ca_file.map(PathBuf::from),
            };
            let err = settings.server_config(false).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
        let client = ClientTlsSettings {
            cert_file: Some("client.pem".into()),
            ..ClientTlsSettings::default()
        };
        let err = client.client_config().unwrap_err().to_string();
        assert!(err.contains("without its key file"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let settings = ServerTlsSettings {
            cert_file: Some("/nonexistent/server.pem".into()),
            key_file: Some("/nonexistent/server.key".into()),
            client_ca_file: None,
        };
        let err = format!("{:#}", settings.server_config(false).unwrap_err());
        assert!(err.contains("/nonexistent/server.pem"), "{err}");

        let empty = file("no certificate here\n");
        let client = ClientTlsSettings {
            ca_file: Some(empty.path().to_owned()),
            ..ClientTlsSettings::default()
        };
        let err = format!("{:#}", client.client_config().unwrap_err());
        assert!(err.contains("holds no PEM certificate"), "{err}");
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
    }

    #[test]
    fn a_bad_key_file_is_refused_without_quoting_it() {
        let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n";
        let key = file(secret);
        let err = format!("{:#}", read_key(key.path()).unwrap_err());
        assert!(err.contains("holds no PEM private key"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}
