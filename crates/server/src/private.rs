//! Keeping the server's secrets to its own user: the file creation mask, the data dir's
//! modes, and secrets handed over in the environment.
//!
//! Everything in the data dir is either a secret (the root key, the bootstrap credentials) or
//! tells an attacker a lot (the database of sealed values and access keys, the audit log), so
//! the dir is 0700 and every file in it 0600, whoever made them. SQLite creates its files
//! (the database, `-wal`, `-shm`) with 0644 less the umask, so the umask is what decides.

use std::path::Path;

use anyhow::{bail, Context};
use zeroize::Zeroizing;

/// The files coffer keeps in its data dir, besides the root key files: those are checked
/// where they are read, and refused rather than repaired (see `coffer_crypto`).
const DATA_FILES: &[&str] = &[
    "coffer.db",
    "coffer.db-wal",
    "coffer.db-shm",
    "coffer.db-journal",
    "coffer.db.lock",
    "audit.log",
    "bootstrap-credentials",
    "huawei-project-id",
    "tls-cert.pem",
    "tls-key.pem",
    "replay-state",
];

/// Files created from now on are private to the server's user, whatever mode the code that
/// creates them asks for (SQLite asks for 0644).
pub fn restrict_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Makes the data dir 0700 and every file of coffer's in it 0600, and says which were wider.
/// A dir or file whose mode cannot be fixed (another user's) stops the start.
pub fn tighten_data_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |path: &Path, wanted: u32| -> anyhow::Result<()> {
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 == 0 {
                return Ok(());
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).with_context(
                || {
                    format!(
                        "{} has mode {mode:04o} and cannot be made {wanted:04o}; \
                         run `chmod {wanted:o} {}` as its owner",
                        path.display(),
                        path.display()
                    )
                },
            )?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:04o}"),
                now = format!("{wanted:04o}"),
                "group or others had access to a file of the data dir; restricted it to the server's user"
            );
            Ok(())
        };
        tighten(dir, 0o700)?;
        for name in DATA_FILES {
            tighten(&dir.join(name), 0o600)?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A secret taken out of the environment, and whether its original copy could be wiped.
pub struct EnvSecret {
    pub value: Zeroizing<String>,
    /// Why the copy the process was started with is still readable, when it is.
    pub left_behind: Option<String>,
}

/// Reads `name` from the environment and removes it, so that neither a child process nor a
/// look at `/proc/<pid>/environ` finds it. Must run before any other thread exists: changing
/// the environment while another thread reads it is undefined behaviour in libc, which is
/// why this runs first thing in `main`, before the async runtime starts its workers.
///
/// Removing a variable only drops it from libc's list; the text the kernel placed in memory
/// when the process started stays, and `/proc/<pid>/environ` shows that text. On Linux that
/// copy is overwritten with zero bytes too (see [`wipe_initial_copy`]).
pub fn take_env_secret(name: &str) -> anyhow::Result<Option<EnvSecret>> {
    let Some(raw) = std::env::var_os(name) else {
        return Ok(None);
    };
    std::env::remove_var(name);
    let left_behind = wipe_initial_copy(name).err();
    let Ok(text) = raw.into_string() else {
        bail!("{name} is not valid UTF-8");
    };
    Ok(Some(EnvSecret {
        value: Zeroizing::new(text),
        left_behind,
    }))
}

/// Overwrites `name=...` in the environment block the process was started with (which
/// `/proc/<pid>/environ` reads) with zero bytes, through `/proc/self/mem`: the process may
/// always write its own memory there. Nothing points into that block for this variable any
/// more once it was removed from libc's list.
#[cfg(target_os = "linux")]
fn wipe_initial_copy(name: &str) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Fields after the command name (which may hold spaces and parentheses): the first is
    // field 3 of proc(5), so env_start (field 50) and env_end (51) are at 47 and 48.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(start), Some(end)) = (field(47), field(48)) else {
        return Err("/proc/self/stat does not show where the environment is".into());
    };
    if end <= start || end - start > 16 << 20 {
        return Err("/proc/self/stat shows no usable environment block".into());
    }
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| format!("/proc/self/mem: {e}"))?;
    let mut block = Zeroizing::new(vec![0u8; (end - start) as usize]);
    mem.read_exact_at(&mut block, start)
        .map_err(|e| format!("reading the environment block: {e}"))?;
    let prefix = format!("{name}=");
    let mut offset = 0u64;
    for entry in block.split(|b| *b == 0) {
        if entry.starts_with(prefix.as_bytes()) {
            mem.write_all_at(&vec![0u8; entry.len()], start + offset)
                .map_err(|e| format!("wiping the environment block: {e}"))?;
        }
        offset += entry.len() as u64 + 1;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn wipe_initial_copy(_name: &str) -> Result<(), String> {
    Err("this system keeps the environment the process started with".into())
}
