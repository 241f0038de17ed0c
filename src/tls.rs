//! TLS for the HTTPS listener: the certificate and key files named in `[tls]`, served through
//! rustls with ALPN (`h2`, then `http/1.1`), and reloaded when either file changes.
//!
//! Why a resolver rather than a fixed certificate: certificates are renewed (ACME clients
//! replace the files every few weeks), and a restart to pick them up would drop every viewer and
//! publisher. [`ReloadingCertificate`] answers each handshake with the certificate it holds; a
//! watcher task looks at the files' modification time and size every few seconds and swaps in
//! the new pair once both parse and the key matches the certificate. A pair that does not (a
//! half-written renewal, a key for another certificate) is logged and the previous one stays in
//! service, so a bad renewal never takes HTTPS down; the watcher tries again when a file changes
//! again.
//!
//! The crypto provider is named explicitly (aws-lc-rs, which signing keys use too): the build
//! also carries ring through sqlx, and rustls refuses to guess between two providers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The PEM files of one certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the watcher compares to notice a renewal: each file's modification time and size.
type Stamp = [(Option<SystemTime>, u64); 2];

/// The certificate handshakes get; replaced in place when its files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as last looked at (loaded or refused), so one bad pair is logged once.
    seen: Mutex<Stamp>,
}

impl ReloadingCertificate {
    /// Loads the pair; an error here stops the server from starting.
    pub fn load(files: CertificateFiles) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let seen = stamp(&files);
        let key = load_pair(&files, &provider)?;
        Ok(Arc::new(Self { files, provider, current: RwLock::new(Arc::new(key)), seen: Mutex::new(seen) }))
    }

    /// Loads the files again if they changed since last looked at. `Ok(true)`: a new certificate
    /// is in service; `Ok(false)`: nothing changed; `Err`: they changed but cannot be used (the
    /// previous certificate stays).
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = stamp(&self.files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let key = load_pair(&self.files, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(true)
    }

    /// The rustls acceptor for the HTTPS listener: TLS 1.3 and 1.2, no client certificates,
    /// ALPN offering HTTP/2 first.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Checks the files every `every` until `shutdown`, logging each reload and each refusal.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.reload_if_changed()).await {
                Ok(Ok(true)) => tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(cert = %self.files.cert.display(), error = format!("{e:#}"),
                    "TLS certificate files changed but cannot be used; still serving the previous certificate"),
                Err(e) => tracing::error!(error = %e, "TLS certificate check failed"),
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn stamp(files: &CertificateFiles) -> Stamp {
    let one = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    };
    [one(&files.cert), one(&files.key)]
}

/// Reads the chain and the key and checks that they belong together.
fn load_pair(files: &CertificateFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading {}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("{} holds no PEM private key", files.key.display()))?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!("{} and {} are not a certificate and its key", files.cert.display(), files.key.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (CertificateFiles, rcgen::CertifiedKey<rcgen::KeyPair>) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let files = CertificateFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.cert, made.cert.pem()).unwrap();
        std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
        (files, made)
    }

    fn served(cert: &ReloadingCertificate) -> Vec<u8> {
        cert.current.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_renewal_is_picked_up_and_a_broken_one_keeps_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (files, first) = write_pair(dir.path(), "one.test");
        let cert = ReloadingCertificate::load(files.clone()).unwrap();
        assert_eq!(served(&cert), first.cert.der().to_vec());
        assert!(!cert.reload_if_changed().unwrap(), "nothing changed");

        let (_, second) = write_pair(dir.path(), "second-name.test");
        assert!(cert.reload_if_changed().unwrap());
        assert_eq!(served(&cert), second.cert.der().to_vec());

        // A key for another certificate: refused once, the second certificate stays.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&files.key, other.serialize_pem()).unwrap();
        let err = cert.reload_if_changed().unwrap_err();
        assert!(format!("{err:#}").contains("not a certificate and its key"), "{err:#}");
        assert_eq!(served(&cert), second.cert.der().to_vec());
        assert!(!cert.reload_if_changed().unwrap(), "the same bad pair is not tried again");

        // Garbage where the certificate was.
        std::fs::write(&files.cert, "not pem at all, and longer than before").unwrap();
        assert!(cert.reload_if_changed().is_err());
        assert_eq!(served(&cert), second.cert.der().to_vec());
    }

    #[test]
    fn a_missing_or_mismatched_pair_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = write_pair(dir.path(), "one.test");
        let missing = CertificateFiles { cert: dir.path().join("nope.pem"), key: files.key.clone() };
        assert!(format!("{:#}", ReloadingCertificate::load(missing).unwrap_err()).contains("nope.pem"));
        std::fs::write(&files.key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        assert!(ReloadingCertificate::load(files).is_err());
    }
}
