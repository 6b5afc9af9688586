//! A single node's replay records across a restart (the SQLite store; on PostgreSQL the records
//! are rows every node shares, and nothing here runs).
//!
//! The records (Alibaba nonces, Tencent nonces and TC3 signatures) live in the process's memory:
//! writing each one down would cost a write per signed request, reads included. Instead:
//!
//! - **A clean stop** (SIGTERM, SIGINT), once the last request is answered, writes what the
//!   caches hold to `<data-dir>/replay-state` ([`save`]): per dialect, the caches' fingerprint
//!   keys sealed under a key derived from the root key, and the live entries (keyed
//!   fingerprints, expiries, and for signatures the fingerprints of their first use; never a
//!   request, key id, nonce or signature), then an HMAC-SHA256 of everything under another key
//!   derived from the root key. Written to a temporary file (0600), synced, renamed, the
//!   directory synced: the file is whole or absent.
//! - **The next start** ([`take`]) reads it, refuses it unless the MAC holds under the root key
//!   (or the key of an unfinished rotation), restores the caches from it and deletes it before
//!   the server listens, so that a crash later never finds a file that misses what came after.
//! - **No file** means the last stop lost the records (a kill, a crash, a power loss, a stop
//!   whose write failed) unless the data dir is new: the server then refuses every request
//!   signed before it started (`ReplayStart::Lost`). A request signed later cannot have been
//!   seen by the process that is gone; one signed earlier might, and the client signs it again.
//!   A file that does not verify or read counts as no file, and is removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use coffer_auth::replay::{GuardState, ReplayStart};
use coffer_core::Timestamp;
use coffer_crypto::SecretKey;

/// Takes the replay records the last clean stop left in `data_dir` and says so in the log.
/// When there are none, requests signed before the next whole second are refused; the server
/// waits for that second before it goes on to listen, so that no client that signs after the
/// server is ready is ever refused.
pub async fn start(
    data_dir: &Path,
    new_data_dir: bool,
    keys: &[FileKeys],
    service: &coffer_core::Service,
) -> anyhow::Result<Handover> {
    let (handover, found) = take(data_dir, new_data_dir, keys, service.now().as_millis())?;
    match found {
        Found::NewDataDir => {}
        Found::Records {
            entries,
            written_at,
        } => tracing::info!(
            entries,
            written_at = %Timestamp::from_secs(written_at).to_iso8601_seconds(),
            "replay records of the last clean stop restored"
        ),
        Found::Lost { why, signed_from } => {
            tracing::warn!(
                reason = %why,
                signed_from = %Timestamp::from_secs(signed_from).to_iso8601_seconds(),
                "the replay records of the previous run are lost: requests signed before this start are refused (clients sign them again); this ends by itself within the clock window"
            );
            let wait = signed_from
                .saturating_mul(1000)
                .saturating_sub(service.now().as_millis());
            if wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
            }
        }
    }
    Ok(handover)
}

/// Writes each dialect's replay caches (`None`: it keeps none) to the data dir at a clean
/// stop, once every request is answered. A failure is logged, and the next start then treats
/// the stop as unclean.
pub fn stop<const N: usize>(
    data_dir: &Path,
    service: &coffer_core::Service,
    states: [(&str, Option<GuardState>); N],
) {
    let sections: Vec<(&str, GuardState)> = states
        .into_iter()
        .filter_map(|(name, s)| s.map(|s| (name, s)))
        .collect();
    let entries: usize = sections.iter().map(|(_, s)| s.len()).sum();
    match save(data_dir, &FileKeys::current(service), &sections, service.now().as_secs()) {
        Ok((path, bytes)) => tracing::info!(
            path = %path.display(),
            entries,
            bytes,
            "replay records written for the next start"
        ),
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "could not write the replay records: the next start will refuse requests signed before it"
        ),
    }
}

/// The file, in the data dir.
pub const FILE_NAME: &str = "replay-state";
/// Where it is written before the rename.
const TEMP_NAME: &str = "replay-state.tmp";

const MAGIC: &[u8; 20] = b"coffer replay state\n";
const VERSION: u32 = 1;
/// Labels of the keys derived from the root key (one per purpose).
const MAC_LABEL: &[u8] = b"coffer/replay-state/hmac-sha256/v1";
const SEAL_LABEL: &[u8] = b"coffer/replay-state/seal/v1";
const MAC_LEN: usize = 32;

/// The two keys of the file, derived from one root key.
pub struct FileKeys {
    mac: SecretKey,
    seal: SecretKey,
}

impl FileKeys {
    pub fn from_root(root: &SecretKey) -> Self {
        Self {
            mac: root.derive(MAC_LABEL),
            seal: root.derive(SEAL_LABEL),
        }
    }

    /// The keys of the root key the service uses now (a rotation's new one once it began).
    pub fn current(service: &coffer_core::Service) -> Self {
        Self {
            mac: service.root_derived_key(MAC_LABEL),
            seal: service.root_derived_key(SEAL_LABEL),
        }
    }
}

fn seal_aad(dialect: &str) -> Vec<u8> {
    [
        b"coffer/replay-state/v1/keys/".as_slice(),
        dialect.as_bytes(),
    ]
    .concat()
}

/// What the previous process left for each dialect, and how it went (for the log).
pub struct Handover {
    pub alibaba: ReplayStart,
    pub tencent: ReplayStart,
}

/// How [`take`] found things.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A new data dir: nothing can have been signed for it.
    NewDataDir,
    /// The last stop was clean: `entries` records written at `written_at` (Unix seconds).
    Records { entries: usize, written_at: i64 },
    /// The records are lost (`why`): requests signed before `signed_from` are refused.
    Lost { why: String, signed_from: i64 },
}

/// Reads and deletes the file in `data_dir` at `now_ms` (Unix milliseconds), with the keys
/// of each root key that may have written it. `new_data_dir`: the data dir held neither a
/// store nor an audit log before this start. Fails only when a file that was read cannot be
/// deleted (serving with it still there would let a later start trust it).
pub fn take(
    data_dir: &Path,
    new_data_dir: bool,
    keys: &[FileKeys],
    now_ms: i64,
) -> anyhow::Result<(Handover, Found)> {
    let path = data_dir.join(FILE_NAME);
    // Requests signed in the second the records begin might be older than this start: the
    // first whole second after now is the first one no earlier process can have seen.
    let signed_from = now_ms.div_euclid(1000).saturating_add(1);
    let lost = |why: String| {
        (
            Handover {
                alibaba: ReplayStart::Lost { signed_from },
                tencent: ReplayStart::Lost { signed_from },
            },
            Found::Lost { why, signed_from },
        )
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(if new_data_dir {
                (
                    Handover {
                        alibaba: ReplayStart::Fresh,
                        tencent: ReplayStart::Fresh,
                    },
                    Found::NewDataDir,
                )
            } else {
                lost(format!(
                    "no {FILE_NAME} in the data dir: the last stop was not clean (killed, crashed or lost power)"
                ))
            });
        }
        Err(e) => {
            remove(&path)?;
            return Ok(lost(format!("{} could not be read: {e}", path.display())));
        }
    };
    let read = read_file(&bytes, keys);
    // Whatever it held, it is used at most once.
    remove(&path)?;
    Ok(match read {
        Ok((written_at, mut sections)) => {
            let mut take = |name: &str| match sections.iter().position(|(n, _)| n == name) {
                Some(i) => ReplayStart::Continued(sections.swap_remove(i).1),
                // A dialect the writer had no records for (none of its requests came).
                None => ReplayStart::Fresh,
            };
            let (alibaba, tencent) = (take("alibaba"), take("tencent"));
            let entries = [&alibaba, &tencent]
                .iter()
                .map(|s| match s {
                    ReplayStart::Continued(state) => state.len(),
                    _ => 0,
                })
                .sum();
            (
                Handover { alibaba, tencent },
                Found::Records {
                    entries,
                    written_at,
                },
            )
        }
        Err(why) => lost(format!("{} was refused: {why}", path.display())),
    })
}

/// Each dialect's name and state.
type Sections = Vec<(String, GuardState)>;

/// Verifies and parses a whole file: when it was written, and each dialect's state.
fn read_file(bytes: &[u8], keys: &[FileKeys]) -> Result<(i64, Sections), &'static str> {
    let body_len = bytes.len().checked_sub(MAC_LEN).ok_or("it is too short")?;
    let (body, mac) = bytes.split_at(body_len);
    if !body.starts_with(MAGIC) {
        return Err("it is not a replay state file");
    }
    // The MAC first: nothing of the body is read before it holds.
    let key = keys
        .iter()
        .find(|k| k.mac.verify_mac(&[body], mac))
        .ok_or("its MAC does not hold under this root key (damaged, edited, or written under another root key)")?;
    let mut input = &body[MAGIC.len()..];
    let version = u32::from_le_bytes(take_array(&mut input).ok_or("truncated")?);
    if version != VERSION {
        return Err("it has a format version this server does not read");
    }
    let written_at = i64::from_le_bytes(take_array(&mut input).ok_or("truncated")?);
    let count = u32::from_le_bytes(take_array(&mut input).ok_or("truncated")?);
    let mut sections = Vec::new();
    for _ in 0..count {
        let [name_len] = take_array::<1>(&mut input).ok_or("truncated")?;
        let name = take_bytes(&mut input, usize::from(name_len)).ok_or("truncated")?;
        let name = std::str::from_utf8(name)
            .map_err(|_| "a section name is not UTF-8")?
            .to_string();
        let sealed_len = u32::from_le_bytes(take_array(&mut input).ok_or("truncated")?);
        let sealed = take_bytes(&mut input, sealed_len as usize).ok_or("truncated")?;
        let opened = key
            .seal
            .decrypt(&seal_aad(&name), sealed)
            .map_err(|_| "a section's keys do not open")?;
        let state_keys: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| "a section's keys have the wrong length")?;
        let state = GuardState::decode(state_keys, &mut input).ok_or("a section does not read")?;
        sections.push((name, state));
    }
    if !input.is_empty() {
        return Err("it has bytes after its last section");
    }
    Ok((written_at, sections))
}

fn take_bytes<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let out = input.get(..n)?;
    *input = &input[n..];
    Some(out)
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    take_bytes(input, N)?.try_into().ok()
}

/// Removes `path` and syncs its directory, so that the removal survives a crash.
fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "removing {} (a start must not leave the previous stop's replay records for the next one)",
                    path.display()
                )
            })
        }
    }
    sync_dir(path)
}

fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Writes `sections` (a dialect's name and its state) to the file in `data_dir` under `keys`,
/// at `now` (Unix seconds). Returns the file's path and size.
pub fn save(
    data_dir: &Path,
    keys: &FileKeys,
    sections: &[(&str, GuardState)],
    now: i64,
) -> anyhow::Result<(PathBuf, usize)> {
    let mut body = Vec::new();
    body.extend_from_slice(MAGIC);
    body.extend_from_slice(&VERSION.to_le_bytes());
    body.extend_from_slice(&now.to_le_bytes());
    let count = u32::try_from(sections.len()).context("too many sections")?;
    body.extend_from_slice(&count.to_le_bytes());
    for (name, state) in sections {
        let name_len = u8::try_from(name.len()).context("a section name is too long")?;
        body.push(name_len);
        body.extend_from_slice(name.as_bytes());
        let sealed = keys.seal.encrypt(&seal_aad(name), &state.keys());
        let sealed_len = u32::try_from(sealed.len()).context("sealed keys too long")?;
        body.extend_from_slice(&sealed_len.to_le_bytes());
        body.extend_from_slice(&sealed);
        state.encode_entries(&mut body);
    }
    let mac = keys.mac.mac(&[&body]);
    let temp = data_dir.join(TEMP_NAME);
    let path = data_dir.join(FILE_NAME);
    // A temporary file left by a stop that died while writing: made again, so that its mode
    // is the one asked for below.
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", temp.display()))
        }
        _ => {}
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = opts.open(&temp)?;
        f.write_all(&body)?;
        f.write_all(&mac)?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    sync_dir(&path)?;
    Ok((path, body.len() + MAC_LEN))
}

/// Fails when the data dir holds a file `save` would need to replace but cannot: a directory
/// in the file's place. Checked at start, so that a stop finds out nothing new.
pub fn check_writable(data_dir: &Path) -> anyhow::Result<()> {
    for name in [FILE_NAME, TEMP_NAME] {
        let path = data_dir.join(name);
        if path.is_dir() {
            bail!(
                "{} is a directory; coffer keeps its replay records there at a clean stop",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_auth::replay::{MemoryReplayGuard, ReplayGuard};
    use std::time::Duration;

    fn guard_with(nonces: &[&str], now: i64) -> MemoryReplayGuard {
        let g = MemoryReplayGuard::new(Duration::from_secs(1800), Duration::ZERO, 100);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for n in nonces {
            rt.block_on(g.admit_nonce("ak", n, now, now))
                .expect("admit");
        }
        g
    }

    fn state(g: &MemoryReplayGuard, now: i64) -> GuardState {
        g.export(now).expect("a memory guard exports")
    }

    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_saved_file_is_taken_once_and_then_gone() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = SecretKey::generate();
        let g = guard_with(&["n1", "n2"], NOW);
        let (path, size) = save(
            dir.path(),
            &FileKeys::from_root(&root),
            &[("alibaba", state(&g, NOW))],
            NOW,
        )?;
        assert_eq!(std::fs::metadata(&path)?.len() as usize, size);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(!dir.path().join(TEMP_NAME).exists());
        let (handover, found) = take(
            dir.path(),
            false,
            &[FileKeys::from_root(&root)],
            NOW * 1000 + 5_000,
        )?;
        assert_eq!(
            found,
            Found::Records {
                entries: 2,
                written_at: NOW
            }
        );
        assert!(matches!(handover.alibaba, ReplayStart::Continued(ref s) if s.len() == 2));
        assert!(matches!(handover.tencent, ReplayStart::Fresh));
        assert!(!path.exists(), "the file is deleted once read");
        // The next start finds nothing: the records are lost unless it is a new data dir.
        let (_, found) = take(
            dir.path(),
            false,
            &[FileKeys::from_root(&root)],
            NOW * 1000 + 5_500,
        )?;
        assert_eq!(
            found,
            Found::Lost {
                why: format!("no {FILE_NAME} in the data dir: the last stop was not clean (killed, crashed or lost power)"),
                signed_from: NOW + 6
            }
        );
        let (h, found) = take(dir.path(), true, &[FileKeys::from_root(&root)], NOW * 1000)?;
        assert_eq!(found, Found::NewDataDir);
        assert!(matches!(h.alibaba, ReplayStart::Fresh));
        Ok(())
    }

    /// Any changed byte, another root key, or a cut file is refused, and refused means lost.
    #[test]
    fn a_damaged_or_foreign_file_counts_as_lost() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = SecretKey::generate();
        let keys = || vec![FileKeys::from_root(&root)];
        let g = guard_with(&["n1"], NOW);
        let (path, _) = save(dir.path(), &keys()[0], &[("tencent", state(&g, NOW))], NOW)?;
        let good = std::fs::read(&path)?;
        let mut variants: Vec<Vec<u8>> = (0..good.len())
            .step_by(7)
            .map(|i| {
                let mut b = good.clone();
                b[i] ^= 0x01;
                b
            })
            .collect();
        variants.push(good[..good.len() - 1].to_vec());
        variants.push(Vec::new());
        for bytes in variants {
            std::fs::write(&path, &bytes)?;
            let (h, found) = take(dir.path(), false, &keys(), NOW * 1000)?;
            assert!(matches!(found, Found::Lost { .. }), "{found:?}");
            assert!(
                matches!(h.tencent, ReplayStart::Lost { signed_from } if signed_from == NOW + 1)
            );
            assert!(!path.exists());
        }
        // Another root key; then the same file with the key of an unfinished rotation too.
        std::fs::write(&path, &good)?;
        let other = SecretKey::generate();
        let (_, found) = take(
            dir.path(),
            false,
            &[FileKeys::from_root(&other)],
            NOW * 1000,
        )?;
        assert!(
            matches!(found, Found::Lost { ref why, .. } if why.contains("MAC")),
            "{found:?}"
        );
        std::fs::write(&path, &good)?;
        let (_, found) = take(
            dir.path(),
            false,
            &[FileKeys::from_root(&other), FileKeys::from_root(&root)],
            NOW * 1000,
        )?;
        assert!(
            matches!(found, Found::Records { entries: 1, .. }),
            "{found:?}"
        );
        Ok(())
    }

    /// What the file holds tells nothing of the requests: no key id, no nonce.
    #[test]
    fn the_file_holds_no_request_content() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = SecretKey::generate();
        let g = guard_with(&["a-very-distinctive-nonce"], NOW);
        let (path, _) = save(
            dir.path(),
            &FileKeys::from_root(&root),
            &[("alibaba", state(&g, NOW))],
            NOW,
        )?;
        let bytes = std::fs::read(path)?;
        for needle in [b"a-very-distinctive-nonce".as_slice(), b"ak\0", b"\0ak"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        // Nor the fingerprint keys in the clear.
        let keys = state(&g, NOW).keys();
        assert!(!bytes
            .windows(16)
            .any(|w| w == &keys[..16] || w == &keys[16..]));
        Ok(())
    }

    #[test]
    fn a_stale_temporary_file_does_not_stop_a_save() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(TEMP_NAME), b"half written")?;
        let root = SecretKey::generate();
        save(dir.path(), &FileKeys::from_root(&root), &[], NOW)?;
        let (_, found) = take(dir.path(), false, &[FileKeys::from_root(&root)], NOW * 1000)?;
        assert_eq!(
            found,
            Found::Records {
                entries: 0,
                written_at: NOW
            }
        );
        std::fs::create_dir(dir.path().join(FILE_NAME))?;
        assert!(check_writable(dir.path()).is_err());
        Ok(())
    }
}
