//! HTTPS: the server's certificate, from files the operator gives (read again on SIGHUP) or
//! one coffer makes for itself in the data dir (`--tls-self-signed`).
//!
//! rustls with the aws-lc-rs provider, which coffer already uses for its database
//! connections. The certificate in use sits behind a resolver that a reload swaps, so new
//! handshakes get the new certificate while connections already open keep theirs; a pair
//! that does not load (unreadable, not PEM, key and certificate that do not match, a key
//! others may read) leaves the one in use in place.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The self-signed certificate and its key, in the data dir.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls-key.pem";

/// How long a self-signed certificate is valid: 825 days, the longest some clients (Apple's)
/// accept for a server certificate. One with less than [`RENEW_BEFORE`] left is replaced at
/// start.
const SELF_SIGNED_DAYS: u64 = 825;
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Where the certificate comes from.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A certificate and key as loaded, with what the log says about them.
struct Loaded {
    key: Arc<CertifiedKey>,
    fingerprint: String,
    not_after: Option<SystemTime>,
}

/// SHA-256 of a certificate's DER, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// When the certificate stops being valid, if its DER can be read.
fn not_after(der: &[u8]) -> Option<SystemTime> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    Some(SystemTime::UNIX_EPOCH + after)
}

fn describe_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} (Unix time)"))
}

/// Refuses a private key file that others may read or anyone but its owner may write, as
/// coffer does for its root key: a key others could read may have been copied already.
/// Group read (e.g. an `ssl-cert` group) is allowed with a warning.
fn check_key_mode(path: &Path, file: &std::fs::File) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o026 != 0 {
            bail!(
                "the TLS private key {} has mode {mode:04o}: others may read it or others than \
                 its owner may change it; run `chmod 600 {}` (and get a new key if it may have \
                 been copied)",
                path.display(),
                path.display()
            );
        }
        if mode & 0o040 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:04o}"),
                "the TLS private key may be read by the file's group"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
    Ok(())
}

fn load(files: &CertFiles, provider: &CryptoProvider) -> anyhow::Result<Loaded> {
    let cert_pem = std::fs::read(&files.cert)
        .with_context(|| format!("reading the TLS certificate {}", files.cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    let Some(leaf) = chain.first() else {
        bail!(
            "{} holds no certificate (a PEM block -----BEGIN CERTIFICATE-----)",
            files.cert.display()
        );
    };
    let fingerprint = fingerprint(leaf);
    let not_after = not_after(leaf);
    let key_pem = {
        use std::io::Read;
        let mut file = std::fs::File::open(&files.key)
            .with_context(|| format!("reading the TLS private key {}", files.key.display()))?;
        check_key_mode(&files.key, &file)?;
        let mut text = Zeroizing::new(Vec::new());
        file.read_to_end(&mut text)
            .with_context(|| format!("reading the TLS private key {}", files.key.display()))?;
        text
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow::anyhow!(
            "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            files.key.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        anyhow::anyhow!(
            "the key {} does not fit the certificate {}: {e}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    Ok(Loaded {
        key: Arc::new(certified),
        fingerprint,
        not_after,
    })
}

/// The certificate handshakes get; swapped by a reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// The server's TLS: the acceptor's config, and what a reload needs.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    current: Arc<Current>,
    files: CertFiles,
    provider: Arc<CryptoProvider>,
}

fn log_loaded(what: &str, files: &CertFiles, loaded: &Loaded) {
    let expires = loaded.not_after.map(describe_time);
    tracing::info!(
        cert = %files.cert.display(),
        key = %files.key.display(),
        sha256 = %loaded.fingerprint,
        expires = expires.as_deref().unwrap_or("unknown"),
        "{what}"
    );
    if let Some(t) = loaded.not_after {
        let now = SystemTime::now();
        if t <= now {
            tracing::warn!(cert = %files.cert.display(), expires = %describe_time(t), "the TLS certificate has expired: clients will refuse it");
        } else if t.duration_since(now).unwrap_or_default() < RENEW_BEFORE {
            tracing::warn!(cert = %files.cert.display(), expires = %describe_time(t), "the TLS certificate expires within 30 days");
        }
    }
}

impl Tls {
    /// Loads the pair; a failure here stops the start.
    pub fn from_files(files: CertFiles) -> anyhow::Result<Tls> {
        let provider = provider();
        let loaded = load(&files, &provider)?;
        log_loaded("serving HTTPS", &files, &loaded);
        let current = Arc::new(Current(RwLock::new(loaded.key)));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // HTTP/1.1 only (the accept loop speaks nothing else); a client offering h2 too
        // gets http/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            current,
            files,
            provider,
        })
    }

    /// Reads the files again and serves the new pair from the next handshake on; on any
    /// failure keeps the pair in use and says why.
    pub fn reload(&self) -> anyhow::Result<String> {
        let loaded = load(&self.files, &self.provider).context("the certificate in use is kept")?;
        log_loaded("TLS certificate reloaded", &self.files, &loaded);
        *self.current.0.write().unwrap_or_else(|p| p.into_inner()) = loaded.key;
        Ok(loaded.fingerprint)
    }

    /// Reloads on every SIGHUP until the task is dropped.
    #[cfg(unix)]
    pub fn spawn_reload_on_sighup(self: &Arc<Self>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups =
            signal(SignalKind::hangup()).context("listening for SIGHUP (certificate reloads)")?;
        let tls = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                if let Err(e) = tls.reload() {
                    tracing::error!(
                        cert = %tls.files.cert.display(),
                        key = %tls.files.key.display(),
                        error = format!("{e:#}"),
                        "SIGHUP: the TLS certificate could not be reloaded"
                    );
                }
            }
        }))
    }
}

/// The names a self-signed certificate is for: the listen address (or, listening on every
/// address, the host name), localhost and the loopback addresses.
fn self_signed_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip = listen.ip();
    if ip.is_unspecified() {
        let host = crate::cluster::host_name();
        if host != "localhost" && host.parse::<IpAddr>().is_err() {
            names.push(host);
        }
    } else if !ip.is_loopback() || !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    names.dedup();
    names
}

/// `<data-dir>/tls-cert.pem` and `tls-key.pem`: made on first start, reused afterwards, and
/// made again when expired or about to. Returns the files and whether they were just made.
pub fn self_signed(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<(CertFiles, bool)> {
    let files = CertFiles {
        cert: data_dir.join(SELF_SIGNED_CERT),
        key: data_dir.join(SELF_SIGNED_KEY),
    };
    match (files.cert.exists(), files.key.exists()) {
        (true, true) => {
            let pem = std::fs::read(&files.cert)
                .with_context(|| format!("reading {}", files.cert.display()))?;
            let expires = CertificateDer::pem_slice_iter(&pem)
                .next()
                .and_then(|c| c.ok())
                .and_then(|c| not_after(&c));
            let renew = expires.is_some_and(|t| {
                t.duration_since(SystemTime::now()).unwrap_or_default() < RENEW_BEFORE
            });
            if !renew {
                return Ok((files, false));
            }
            tracing::warn!(
                cert = %files.cert.display(),
                "the self-signed certificate has expired or expires within 30 days; making a new one (clients that trusted the old one must be given the new tls-cert.pem)"
            );
        }
        (false, false) => {}
        _ => bail!(
            "{} and {} go together: one of them is missing (remove the other to have a new \
             self-signed certificate made)",
            files.cert.display(),
            files.key.display()
        ),
    }
    let names = self_signed_names(listen);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("making a key for the self-signed certificate")?;
    let mut params = rcgen::CertificateParams::new(names.clone())
        .context("the self-signed certificate's names")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "coffer (self-signed)");
    let now = time::OffsetDateTime::now_utc();
    // A day back, for clients whose clocks are a little behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS as i64);
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    // No key usage extension: the certificate is its own trust anchor, and OpenSSL takes a
    // self-signed certificate whose key usage lacks certificate signing for no anchor at all.
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key)
        .context("signing the self-signed certificate")?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    // The key first: a certificate without its key would stop the next start.
    coffer_crypto::write_private_file(&files.key, key_pem.as_bytes())
        .with_context(|| format!("writing {}", files.key.display()))?;
    coffer_crypto::write_private_file(&files.cert, cert.pem().as_bytes())
        .with_context(|| format!("writing {}", files.cert.display()))?;
    tracing::info!(
        cert = %files.cert.display(),
        names = %names.join(","),
        "made a self-signed TLS certificate"
    );
    Ok((files, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_the_listen_address_and_loopback() {
        let n = self_signed_names("10.1.2.3:7080".parse().expect("addr"));
        assert!(n.contains(&"10.1.2.3".to_string()));
        assert!(n.contains(&"localhost".to_string()));
        assert!(n.contains(&"127.0.0.1".to_string()));
        let n = self_signed_names("127.0.0.1:7080".parse().expect("addr"));
        assert_eq!(n.iter().filter(|s| *s == "127.0.0.1").count(), 1);
    }

    #[test]
    fn fingerprint_is_colon_separated_upper_hex() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF"));
    }

    #[test]
    fn made_reused_and_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listen: SocketAddr = "127.0.0.1:7443".parse().expect("addr");
        let (files, made) = self_signed(dir.path(), listen).expect("make");
        assert!(made);
        let first = std::fs::read(&files.cert).expect("cert");
        let (_, made) = self_signed(dir.path(), listen).expect("reuse");
        assert!(!made);
        assert_eq!(std::fs::read(&files.cert).expect("cert"), first);
        let tls = Tls::from_files(files.clone()).expect("load");
        let fp = tls.reload().expect("reload");
        let der = CertificateDer::pem_slice_iter(&first)
            .next()
            .expect("one")
            .expect("der");
        assert_eq!(fp, fingerprint(&der));
        let expires = not_after(&der).expect("validity");
        let days = expires
            .duration_since(SystemTime::now())
            .expect("future")
            .as_secs()
            / 86_400;
        assert!((SELF_SIGNED_DAYS - 1..=SELF_SIGNED_DAYS).contains(&days));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key)
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_others_may_read_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (files, _) =
            self_signed(dir.path(), "127.0.0.1:1".parse().expect("addr")).expect("make");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
            let Err(e) = Tls::from_files(files.clone()) else {
                panic!("a key others may read was loaded");
            };
            assert!(format!("{e:#}").contains("chmod 600"), "{e:#}");
        }
    }

    #[test]
    fn one_file_without_the_other_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (files, _) =
            self_signed(dir.path(), "127.0.0.1:1".parse().expect("addr")).expect("make");
        std::fs::remove_file(&files.key).expect("rm");
        let e = self_signed(dir.path(), "127.0.0.1:1".parse().expect("addr")).expect_err("refused");
        assert!(format!("{e}").contains("go together"), "{e}");
    }
}
