//! Envelope encryption for coffer.
//!
//! Three layers, each AES-256-GCM:
//! - the **root key** (never stored in the database) wraps the material of every key (CMK);
//! - a **key** (CMK) wraps a fresh data key per secret version;
//! - the **data key** encrypts the value.
//!
//! Every layer binds associated data (AAD) that names where the blob belongs, so a blob copied
//! to another row, key or account fails authentication instead of decrypting.
//! Plaintext keys live only in [`Zeroizing`] buffers and are wiped on drop.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

/// Length in bytes of every key this crate handles (AES-256).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// First byte of every blob this crate writes; a later format gets a new number.
const FORMAT_V1: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The blob is malformed, was encrypted under another key, or was moved to a place whose
    /// associated data differs. Deliberately one variant: telling these apart helps attackers.
    #[error("ciphertext failed authentication")]
    Authentication,
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    #[error("root key file: {0}")]
    RootKeyFile(String),
}

/// A 256-bit secret key held in memory that is zeroed on drop. Used for the root key, the
/// material of CMKs and data keys alike; the type does not care which layer it is.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("a key must be exactly 32 bytes"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// Parses base64 (standard alphabet, padding optional) holding exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()))
                .map_err(|_| CryptoError::InvalidKey("not valid base64"))?,
        );
        Self::from_slice(&raw)
    }

    /// Whether two keys are the same, in constant time.
    pub fn ct_eq(&self, other: &SecretKey) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_slice(), other.0.as_slice()).into()
    }

    /// A key for another purpose, derived from this one: HMAC-SHA256 of `label` under this
    /// key. Different labels give unrelated keys, and the derived key reveals nothing of this
    /// one, so a key handed to one purpose (say, keying the audit log) cannot open what this
    /// key wraps.
    pub fn derive(&self, label: &[u8]) -> SecretKey {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        out.copy_from_slice(&self.mac(&[label]));
        Self(out)
    }

    /// HMAC-SHA256 under this key of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::Mac;
        // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC-SHA256 of `parts` under this key, compared in constant time.
    pub fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.mac(parts).as_slice(), tag).into()
    }

    /// This key prepared for many MACs: see [`MacKey`].
    pub fn mac_key(&self) -> MacKey {
        use hmac::Mac;
        MacKey(
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_ref())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        )
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }

    /// Encrypts `plaintext` under this key with a random nonce. Output: version byte, nonce,
    /// ciphertext and tag.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self.cipher().encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        );
        // AES-GCM encryption only fails for inputs above 64 GiB; our values are bounded far
        // below that by the service's limits, so the empty fallback is unreachable in practice
        // and would fail authentication on read rather than store plaintext.
        let sealed = sealed.unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Reverses [`SecretKey::encrypt`]; fails unless key and `aad` are the ones used to seal.
    pub fn decrypt(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != FORMAT_V1 {
            return Err(CryptoError::Authentication);
        }
        let (nonce, body) = blob[1..].split_at(NONCE_LEN);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Wraps another key under this one (key-encryption key use).
    pub fn wrap(&self, aad: &[u8], key: &SecretKey) -> Vec<u8> {
        self.encrypt(aad, key.0.as_ref())
    }

    pub fn unwrap_key(&self, aad: &[u8], blob: &[u8]) -> Result<SecretKey, CryptoError> {
        let raw = self.decrypt(aad, blob)?;
        SecretKey::from_slice(&raw).map_err(|_| CryptoError::Authentication)
    }

    /// Reads a root key file (base64 text or 32 raw bytes), or creates one with mode 0600 when
    /// it does not exist. Returns the key and whether it was created. An existing file that
    /// group or others may read or write is refused (see [`read_key_file`]).
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), CryptoError> {
        match read_key_file(path)? {
            Some(key) => Ok((key, false)),
            None => {
                let key = Self::generate();
                write_private_file(path, key.to_base64().as_bytes())
                    .map_err(|e| CryptoError::RootKeyFile(format!("{}: {e}", path.display())))?;
                Ok((key, true))
            }
        }
    }

    /// Reads an existing key file; a missing file is an error, and so is one that group or
    /// others may read or write.
    pub fn load_file(path: &Path) -> Result<Self, CryptoError> {
        read_key_file(path)?
            .ok_or_else(|| CryptoError::RootKeyFile(format!("{}: no such file", path.display())))
    }

    fn from_file_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(bytes.to_vec());
        if bytes.len() == KEY_LEN {
            return Self::from_slice(&bytes);
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CryptoError::InvalidKey("root key file is neither 32 bytes nor base64"))?;
        Self::from_base64(text)
    }
}

/// A root key kept in a file that a root key rotation may replace. The rotation writes the
/// new key beside the old one (`<path>.next`) before anything is wrapped with it, and renames
/// it over the old file once nothing wrapped by the old key is left; a start that finds both
/// files resumes the rotation with both keys.
#[derive(Clone, Debug)]
pub struct RootKeyFile {
    path: PathBuf,
}

impl RootKeyFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the key of an unfinished rotation waits.
    pub fn next_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".next");
        PathBuf::from(name)
    }

    /// The key of an unfinished rotation, if one was begun. Whoever can write the directory
    /// could have left a `.next` there, and the server would then wrap every key under it; so
    /// it is trusted only when it has the same owner and mode as the root key file, and like
    /// that file it must be private.
    pub fn load_next(&self) -> Result<Option<SecretKey>, CryptoError> {
        let next = self.next_path();
        let Some((key, meta)) = open_key_file(&next)? else {
            return Ok(None);
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let root = std::fs::metadata(&self.path)
                .map_err(|e| CryptoError::RootKeyFile(format!("{}: {e}", self.path.display())))?;
            let (next_mode, root_mode) = (meta.mode() & 0o7777, root.mode() & 0o7777);
            if meta.uid() != root.uid() || next_mode != root_mode {
                return Err(CryptoError::RootKeyFile(format!(
                    "{} (owner uid {}, mode {next_mode:04o}) does not match {} (owner uid {}, \
                     mode {root_mode:04o}); the key of an unfinished rotation is used only when \
                     its file has the root key file's owner and mode. If this rotation is yours, \
                     give it the same owner and `chmod 600` both; otherwise remove it",
                    next.display(),
                    meta.uid(),
                    self.path.display(),
                    root.uid(),
                )));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        Ok(Some(key))
    }

    /// The next root key: the one an unfinished rotation began with, else a new one, written
    /// (0600, synced) before it is returned.
    pub fn prepare_next(&self) -> Result<SecretKey, CryptoError> {
        if let Some(key) = self.load_next()? {
            return Ok(key);
        }
        let key = SecretKey::generate();
        let next = self.next_path();
        write_private_file(&next, key.to_base64().as_bytes())
            .and_then(|()| sync_parent(&next))
            .map_err(|e| CryptoError::RootKeyFile(format!("{}: {e}", next.display())))?;
        Ok(key)
    }

    /// Makes the next key the root key: renames it over the old file, which is gone after.
    pub fn commit_next(&self) -> Result<(), CryptoError> {
        let next = self.next_path();
        std::fs::rename(&next, &self.path)
            .and_then(|()| sync_parent(&self.path))
            .map_err(|e| CryptoError::RootKeyFile(format!("{}: {e}", self.path.display())))
    }
}

/// Reads a key file, or `None` when it does not exist. The mode is read from the opened file,
/// so the file checked is the file read.
fn read_key_file(path: &Path) -> Result<Option<SecretKey>, CryptoError> {
    Ok(open_key_file(path)?.map(|(key, _)| key))
}

fn open_key_file(path: &Path) -> Result<Option<(SecretKey, std::fs::Metadata)>, CryptoError> {
    use std::io::Read;
    let fail = |e: std::io::Error| CryptoError::RootKeyFile(format!("{}: {e}", path.display()));
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let meta = file.metadata().map_err(fail)?;
    check_private(path, &meta)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(64));
    file.read_to_end(&mut bytes).map_err(fail)?;
    Ok(Some((SecretKey::from_file_bytes(&bytes)?, meta)))
}

/// Refuses a key file that group or others may read or write: readable, the key may already
/// have been copied; writable, anybody in the group could put their own key there. Fixing the
/// mode is the operator's call (and perhaps a rewrap to a new root key), not something to do
/// quietly.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o066 != 0 {
            return Err(CryptoError::RootKeyFile(format!(
                "{} has mode {mode:04o}: group or others may read or write this root key file; \
                 run `chmod 600 {}` (and, if others may have read it, rewrap to a new root key \
                 with `coffer admin rewrap`)",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// Syncs the directory holding `path`, so that a created or renamed file survives a crash.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => std::fs::File::open(".")?.sync_all(),
    }
}

/// Writes `contents` to a new file readable only by its owner (0600 on Unix). Fails if the file
/// exists, so a racing second start never overwrites a key. Returns once the file and its name
/// are on disk: a root key whose directory entry a power cut took away would leave every
/// secret wrapped under it unreadable.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    sync_parent(path)
}

/// A value sealed for storage: the data key wrapped by a CMK, and the value under the data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub wrapped_data_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Seals `plaintext` under a fresh data key that is itself wrapped by `cmk`. The same `aad`
/// binds both layers: it names account, region, secret and version.
pub fn seal(cmk: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Envelope {
    let data_key = SecretKey::generate();
    Envelope {
        wrapped_data_key: cmk.wrap(aad, &data_key),
        ciphertext: data_key.encrypt(aad, plaintext),
    }
}

pub fn open(
    cmk: &SecretKey,
    aad: &[u8],
    env: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let data_key = cmk.unwrap_key(aad, &env.wrapped_data_key)?;
    data_key.decrypt(aad, &env.ciphertext)
}

/// Re-wraps the data key of an envelope under another CMK (or another version of the same
/// CMK) without touching the value's ciphertext.
pub fn rewrap(
    from: &SecretKey,
    to: &SecretKey,
    aad: &[u8],
    env: &Envelope,
) -> Result<Envelope, CryptoError> {
    let data_key = from.unwrap_key(aad, &env.wrapped_data_key)?;
    Ok(Envelope {
        wrapped_data_key: to.wrap(aad, &data_key),
        ciphertext: env.ciphertext.clone(),
    })
}

/// An HMAC-SHA256 key with its padded blocks already hashed: [`SecretKey::mac`] hashes the
/// key's inner and outer blocks again on every call, two of the eleven SHA-256 blocks of a
/// 450-byte audit line. Each MAC starts from a copy of the prepared state instead. The state
/// stands for the key (whoever holds it can MAC), so it is kept as carefully: in memory only,
/// never printed.
#[derive(Clone)]
pub struct MacKey(hmac::Hmac<sha2::Sha256>);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// HMAC-SHA256 of the concatenation of `parts`, the same as [`SecretKey::mac`] gives.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::Mac;
        let mut m = self.0.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC-SHA256 of `parts`, compared in constant time.
    pub fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.mac(parts).as_slice(), tag).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let cmk = SecretKey::generate();
        let env = seal(&cmk, b"acct|region|secret|v1", b"hunter2");
        assert_eq!(
            &open(&cmk, b"acct|region|secret|v1", &env).unwrap()[..],
            b"hunter2"
        );
        // Another row's AAD, another key, or a flipped bit all fail the same way.
        assert_eq!(
            open(&cmk, b"acct|region|secret|v2", &env).unwrap_err(),
            CryptoError::Authentication
        );
        assert!(open(&SecretKey::generate(), b"acct|region|secret|v1", &env).is_err());
        let mut bad = env.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert!(open(&cmk, b"acct|region|secret|v1", &bad).is_err());
        assert!(!env.ciphertext.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn derived_keys_and_macs() {
        let root = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let a = root.derive(b"label a");
        assert!(a.ct_eq(&root.derive(b"label a")));
        assert!(!a.ct_eq(&root.derive(b"label b")));
        assert!(!a.ct_eq(&root));
        // The construction is plain HMAC-SHA256(root, label), so other tools can reproduce it.
        let direct = {
            use hmac::Mac;
            let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&[7u8; 32]).unwrap();
            m.update(b"label a");
            m.finalize().into_bytes()
        };
        assert!(a.ct_eq(&SecretKey::from_slice(&direct).unwrap()));
        let t = a.mac(&[b"ab", b"c"]);
        assert_eq!(t, a.mac(&[b"abc"]));
        assert!(a.verify_mac(&[b"abc"], &t));
        assert!(!a.verify_mac(&[b"abd"], &t));
        assert!(!root.verify_mac(&[b"abc"], &t));
        assert!(!a.verify_mac(&[b"abc"], &t[..31]));
    }

    #[test]
    fn a_prepared_mac_key_gives_the_same_macs_every_time() {
        let key = SecretKey::from_slice(&[9u8; 32]).unwrap();
        let prepared = key.mac_key();
        for msg in [&b""[..], b"abc", &[0x5a; 1000]] {
            assert_eq!(prepared.mac(&[msg]), key.mac(&[msg]));
            // Twice: one MAC leaves nothing behind in the prepared state.
            assert_eq!(prepared.mac(&[msg]), key.mac(&[msg]));
        }
        let t = prepared.mac(&[b"ab", b"c"]);
        assert!(prepared.verify_mac(&[b"abc"], &t));
        assert!(!prepared.verify_mac(&[b"abd"], &t));
        assert!(!SecretKey::from_slice(&[8u8; 32])
            .unwrap()
            .mac_key()
            .verify_mac(&[b"abc"], &t));
        assert_eq!(format!("{prepared:?}"), "MacKey(..)");
    }

    #[test]
    fn truncated_and_foreign_blobs_are_rejected() {
        let k = SecretKey::generate();
        assert!(k.decrypt(b"", b"").is_err());
        assert!(k.decrypt(b"", &[FORMAT_V1; 20]).is_err());
        assert!(k.decrypt(b"", &[9u8; 64]).is_err());
    }

    #[test]
    fn rewrap_keeps_value_ciphertext() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let env = seal(&a, b"x", b"value");
        let moved = rewrap(&a, &b, b"x", &env).unwrap();
        assert_eq!(moved.ciphertext, env.ciphertext);
        assert_eq!(&open(&b, b"x", &moved).unwrap()[..], b"value");
        assert!(open(&a, b"x", &moved).is_err());
    }

    #[test]
    fn root_key_file_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let (k1, created) = SecretKey::load_or_create_file(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, created) = SecretKey::load_or_create_file(&path).unwrap();
        assert!(!created);
        let blob = k1.encrypt(b"", b"x");
        assert_eq!(&k2.decrypt(b"", &blob).unwrap()[..], b"x");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_others_may_read_or_write_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        SecretKey::load_or_create_file(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = SecretKey::load_file(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
            assert!(SecretKey::load_or_create_file(&path).is_err());
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(SecretKey::load_file(&path).is_ok(), "{mode:o}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_next_key_is_trusted_only_with_the_root_key_files_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = RootKeyFile::new(dir.path().join("root.key"));
        SecretKey::load_or_create_file(file.path()).unwrap();
        assert!(file.load_next().unwrap().is_none());
        let next = file.prepare_next().unwrap();
        assert!(file.load_next().unwrap().unwrap().ct_eq(&next));
        std::fs::set_permissions(file.next_path(), std::fs::Permissions::from_mode(0o400)).unwrap();
        let err = file.load_next().unwrap_err().to_string();
        assert!(
            err.contains("root.key.next") && err.contains("0400"),
            "{err}"
        );
        assert!(file.prepare_next().is_err());
        std::fs::set_permissions(file.next_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(file
            .load_next()
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }

    #[test]
    fn base64_key_parsing() {
        assert!(SecretKey::from_base64("short").is_err());
        let k = SecretKey::generate();
        let again = SecretKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(
            &again.decrypt(b"", &k.encrypt(b"", b"z")).unwrap()[..],
            b"z"
        );
    }
}
