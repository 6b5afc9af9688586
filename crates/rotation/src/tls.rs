//! TLS to the databases, with rustls (aws-lc-rs): the client configuration of each mode, and
//! the guard that keeps a PostgreSQL password from being sent in cleartext to a server that
//! coffer has not verified.
//!
//! Modes (`DbTarget::tls`): `verify-full` checks the certificate chain against the instance's
//! CA (or the public web roots) and the host name; `require` encrypts but accepts any
//! certificate, which stops a listener and not a man in the middle; `disable` sends
//! everything in the clear.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use coffer_core::{DbFailure, DbTarget, TlsMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// mysql_async builds its rustls configuration with the process-wide provider; this makes it
/// ours (once; a second install is refused harmlessly).
pub(crate) fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The certificates of a PEM bundle, refusing a bundle that holds none.
pub(crate) fn pem_certificates(pem: &str) -> DbResultLocal<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refused(format!("the instance's CA bundle is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(refused("the instance's CA bundle holds no certificate"));
    }
    Ok(certs)
}

type DbResultLocal<T> = Result<T, DbFailure>;

fn refused(reason: impl Into<String>) -> DbFailure {
    DbFailure::Refused(reason.into())
}

/// The rustls configuration for a target whose mode is `require` or `verify-full`.
pub(crate) fn client_config(t: &DbTarget) -> DbResultLocal<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(format!("TLS setup: {e}")))?;
    let config = match t.tls {
        TlsMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match &t.ca_pem {
                Some(pem) => {
                    for cert in pem_certificates(pem)? {
                        roots
                            .add(cert)
                            .map_err(|e| refused(format!("the instance's CA: {e}")))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsMode::Require | TlsMode::Disable => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `require`: any certificate is accepted, but the handshake signatures are still checked,
/// so the session is at least with whoever holds the presented certificate's key.
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

/// Whether a PostgreSQL connection to `t` must refuse a request for the password in
/// cleartext: unless the operator allowed it, only a verified server may have it.
pub(crate) fn refuses_cleartext(t: &DbTarget) -> bool {
    !(t.allow_cleartext_password || t.tls == TlsMode::VerifyFull)
}

/// Reads PostgreSQL's server messages until authentication is over, and fails the read when
/// the server asks for the password in cleartext (`AuthenticationCleartextPassword`,
/// message `R` with code 3) while `refuse` is set: tokio-postgres would answer it with the
/// password, and has no setting to say no. `refused` records why the connection failed.
///
/// It sits above TLS when there is TLS, so it reads the same plaintext protocol either way.
pub(crate) struct AuthGuard<S> {
    inner: S,
    refuse: bool,
    refused: Arc<AtomicBool>,
    scan: Scan,
}

impl<S> AuthGuard<S> {
    pub(crate) fn new(inner: S, refuse: bool, refused: Arc<AtomicBool>) -> Self {
        AuthGuard {
            inner,
            refuse,
            refused,
            scan: Scan::default(),
        }
    }
}

/// Where the scan is in the stream of server messages (type byte, 4-byte length that counts
/// itself, body).
#[derive(Default)]
struct Scan {
    /// Header bytes of the current message: type, length and, for `R`, the 4-byte code.
    head: Vec<u8>,
    /// Body bytes of the current message still to pass over.
    skip: usize,
    /// Authentication is over (or the stream is not what we expect): nothing more to read.
    done: bool,
}

/// The authentication request code for a cleartext password.
const AUTH_CLEARTEXT: i32 = 3;
const AUTH_OK: i32 = 0;

impl Scan {
    /// Feeds bytes the server sent; `Err` when it asked for a cleartext password.
    fn feed(&mut self, mut data: &[u8]) -> Result<(), ()> {
        while !self.done && !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let want = match self.head.first() {
                Some(b'R') => 9,
                _ => 5,
            };
            let n = (want - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
            // The type is known after the first byte; an `R` needs its code too.
            let want = match self.head.first() {
                Some(b'R') => 9,
                _ => 5,
            };
            if self.head.len() < want {
                continue;
            }
            let len = u32::from_be_bytes([self.head[1], self.head[2], self.head[3], self.head[4]])
                as usize;
            if len < 4 || (self.head[0] == b'R' && len < 8) {
                // Not the protocol we know: tokio-postgres will fail on it by itself.
                self.done = true;
                break;
            }
            let mut body_read = 0;
            if self.head[0] == b'R' {
                let code =
                    i32::from_be_bytes([self.head[5], self.head[6], self.head[7], self.head[8]]);
                if code == AUTH_CLEARTEXT {
                    return Err(());
                }
                if code == AUTH_OK {
                    self.done = true;
                }
                body_read = 4;
            }
            self.skip = len - 4 - body_read;
            self.head.clear();
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let me = &mut *self;
        match Pin::new(&mut me.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if me.refuse && !me.scan.done => {
                if me.scan.feed(&buf.filled()[before..]).is_err() {
                    me.refused.store(true, Ordering::SeqCst);
                    buf.set_filled(before);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "the server asked for the password in cleartext",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: tokio_postgres::tls::TlsStream + Unpin> tokio_postgres::tls::TlsStream for AuthGuard<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose stream is wrapped in an [`AuthGuard`].
pub(crate) struct GuardedTls<T> {
    pub(crate) inner: T,
    pub(crate) refuse: bool,
    pub(crate) refused: Arc<AtomicBool>,
}

impl<S, T> tokio_postgres::tls::TlsConnect<S> for GuardedTls<T>
where
    T: tokio_postgres::tls::TlsConnect<S>,
    T::Future: Send + 'static,
    T::Stream: Send + 'static,
    T::Error: Send + 'static,
{
    type Stream = AuthGuard<T::Stream>;
    type Error = T::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<AuthGuard<T::Stream>, T::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let (refuse, refused) = (self.refuse, self.refused);
        let connecting = self.inner.connect(stream);
        Box::pin(async move {
            let stream = connecting.await?;
            Ok(AuthGuard::new(stream, refuse, refused))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn auth(code: i32, rest: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(rest);
        message(b'R', &body)
    }

    /// Fed in every split, the scan sees the same.
    fn verdict(stream: &[u8]) -> Vec<Result<(), ()>> {
        (1..=stream.len().max(1))
            .map(|chunk| {
                let mut s = Scan::default();
                stream.chunks(chunk).try_for_each(|c| s.feed(c))
            })
            .collect()
    }

    #[test]
    fn a_cleartext_request_is_found_however_the_bytes_arrive() {
        let mut stream = message(b'N', b"SNOTICE\0\0");
        stream.extend(auth(AUTH_CLEARTEXT, b""));
        assert!(verdict(&stream).iter().all(Result::is_err));
    }

    #[test]
    fn scram_md5_and_trust_pass_and_later_bytes_are_not_read() {
        // SCRAM: SASL (10) with its mechanism list, SASLContinue (11), SASLFinal (12), Ok.
        let mut scram = auth(10, b"SCRAM-SHA-256\0\0");
        scram.extend(auth(11, b"r=abc,s=xyz,i=4096"));
        scram.extend(auth(12, b"v=sig"));
        scram.extend(auth(AUTH_OK, b""));
        // After Ok, a row that happens to look like a cleartext request is not a request.
        scram.extend(auth(AUTH_CLEARTEXT, b""));
        assert!(verdict(&scram).iter().all(Result::is_ok));
        let mut md5 = auth(5, b"salt");
        md5.extend(auth(AUTH_OK, b""));
        assert!(verdict(&md5).iter().all(Result::is_ok));
        assert!(verdict(&auth(AUTH_OK, b"")).iter().all(Result::is_ok));
    }

    #[test]
    fn the_guard_applies_unless_verified_or_allowed() {
        let mut t = DbTarget::new(
            "i",
            coffer_core::DbEngine::Postgres,
            "db.example",
            5432,
            "admin",
            String::new().into(),
        );
        for (mode, allowed, refuses) in [
            (TlsMode::Disable, false, true),
            (TlsMode::Require, false, true),
            (TlsMode::VerifyFull, false, false),
            (TlsMode::Disable, true, false),
        ] {
            t.tls = mode;
            t.allow_cleartext_password = allowed;
            assert_eq!(refuses_cleartext(&t), refuses, "{mode:?} {allowed}");
        }
    }
}
