//! A FUSE filesystem for fault tests: a directory tree held in memory, mounted over a
//! *backing* directory, that keeps two versions of everything:
//!
//! - what processes see (every write, create, rename, at once), and
//! - what would survive a power cut: a file's bytes as of its last `fsync`/`fdatasync`, a
//!   directory's entries as of its last `fsync` on the directory.
//!
//! [`TestFs::lose_power`] drops the first and writes the second into the backing directory,
//! so that the backing directory then holds exactly what a disk would hold after the machine
//! lost power at that instant; every later operation on the mount fails with `EIO`, as on a
//! machine that is gone. [`TestFs::unmount`] without a power cut writes what processes saw
//! (a clean shutdown flushes everything).
//!
//! The model is the one POSIX promises and Jepsen's LazyFS enforces for file data, made
//! strict for names as well: `fsync(2)` of a file "does not necessarily ensure that the entry
//! in the directory containing the file has also reached disk. For that an explicit fsync() on
//! a file descriptor for the directory is also needed." So a file created (or renamed, or
//! unlinked) and whose directory was not synced is, after the cut, as it was at the directory's
//! last sync: a new file vanishes with everything in it even if its data was synced. ext4
//! usually persists such names with the next journal commit; this filesystem never does, so a
//! program that passes here does not depend on that luck. File sizes and contents are synced
//! together (`fdatasync` persists the size it needs, as Linux does); permissions, owners and
//! times are not modelled as lossy.
//!
//! Two more faults, switched on and off while mounted:
//! - [`TestFs::fill`]: the disk is full. Writing past the end of a file (or past the space
//!   `fallocate` reserved for it), extending it, and creating files answer `ENOSPC`;
//!   overwriting bytes a file already has still works, as on a real filesystem (SQLite reuses
//!   its write-ahead log this way). [`TestFs::make_room`] gives the space back.
//! - [`TestFs::set_read_only`]: every change answers `EROFS`, as a filesystem that the kernel
//!   remounted read-only after an error; opening for writing too. Syncing a file that has
//!   unsynced changes answers `EROFS` (they cannot reach the disk); reads keep working.
//!
//! Memory-mapped files work (SQLite maps the `-shm` file of its write-ahead log): the mount
//! uses the kernel's page cache (no `direct_io`) with write-through writes, so every `write`
//! reaches this filesystem before the call returns, and pages dirtied through a mapping are
//! written back by the kernel. File locks are left to the kernel (it keeps POSIX and `flock`
//! locks of a FUSE mount locally when the filesystem does not implement them), which is right
//! for processes on one machine.
//!
//! Mounting needs root (or `CAP_SYS_ADMIN`) and `/dev/fuse`; no `fusermount` is needed, the
//! `fuser` crate mounts with `mount(2)` directly. Everything lives in memory, twice: it is for
//! test data directories of a few tens of megabytes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Config, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, LockOwner, MountOption, OpenAccMode, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// Granularity of the record of unsynced bytes.
const PAGE: u64 = 4096;
/// How long the kernel may cache names and attributes. Every change goes through the kernel,
/// which updates its cache itself, so this only bounds how stale a cached `stat` can be.
const TTL: Duration = Duration::from_secs(1);
const ROOT: u64 = 1;
/// What a directory or an empty file costs in [`TestFs::fill`]'s accounting.
const INODE_COST: u64 = 4096;

/// Counts of what the filesystem was asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `fsync`/`fdatasync` calls on files that succeeded.
    pub file_syncs: u64,
    /// `fsync` calls on directories that succeeded.
    pub dir_syncs: u64,
    /// Writes that succeeded.
    pub writes: u64,
    /// Operations refused with `ENOSPC`.
    pub enospc: u64,
    /// Operations refused with `EROFS`.
    pub erofs: u64,
}

struct FileBody {
    /// What readers see.
    data: Vec<u8>,
    /// What the disk holds: the bytes as of the last sync.
    durable: Vec<u8>,
    /// Pages of `data` that differ from `durable` (or may).
    dirty: BTreeSet<u64>,
    /// The length `data` had at the last sync differs from now.
    resized: bool,
    /// End of the space reserved with `fallocate(FALLOC_FL_KEEP_SIZE)`; writes below it need
    /// no new space.
    reserved: u64,
}

impl FileBody {
    fn new(data: Vec<u8>) -> Self {
        FileBody {
            durable: data.clone(),
            data,
            dirty: BTreeSet::new(),
            resized: false,
            reserved: 0,
        }
    }

    fn unsynced(&self) -> bool {
        self.resized || !self.dirty.is_empty()
    }

    /// The space the file takes: its bytes or its reservation, whichever ends later.
    fn footprint(&self) -> u64 {
        (self.data.len() as u64).max(self.reserved).max(INODE_COST)
    }

    fn mark(&mut self, from: u64, to: u64) {
        if to > from {
            for page in from / PAGE..=(to - 1) / PAGE {
                self.dirty.insert(page);
            }
        }
    }

    fn resize(&mut self, len: u64) {
        let old = self.data.len() as u64;
        if len != old {
            self.data.resize(len as usize, 0);
            self.mark(old.min(len), old.max(len));
            self.resized = true;
        }
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        if end > self.data.len() as u64 {
            self.resize(end);
        }
        self.data[offset as usize..end as usize].copy_from_slice(bytes);
        self.mark(offset, end);
    }

    fn sync(&mut self) {
        let len = self.data.len();
        self.durable.resize(len, 0);
        for page in std::mem::take(&mut self.dirty) {
            let start = (page * PAGE) as usize;
            if start >= len {
                break;
            }
            let end = (start + PAGE as usize).min(len);
            self.durable[start..end].copy_from_slice(&self.data[start..end]);
        }
        self.resized = false;
    }
}

struct DirBody {
    entries: BTreeMap<OsString, u64>,
    /// The entries as of the last sync of this directory.
    durable: BTreeMap<OsString, u64>,
    parent: u64,
}

enum Body {
    File(FileBody),
    Dir(DirBody),
}

struct Inode {
    body: Body,
    perm: u16,
    uid: u32,
    gid: u32,
    nlink: u32,
    /// Open handles; an unlinked file lives (and takes space) while it has any.
    open: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Inode {
    fn new(body: Body, perm: u16, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        Inode {
            body,
            perm,
            uid,
            gid,
            nlink: 1,
            open: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, size, nlink) = match &self.body {
            Body::File(f) => (FileType::RegularFile, f.data.len() as u64, self.nlink),
            Body::Dir(d) => (FileType::Directory, INODE_COST, 2 + d.entries.len() as u32),
        };
        let blocks = match &self.body {
            Body::File(f) => f.footprint().div_ceil(512),
            Body::Dir(_) => INODE_COST / 512,
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind,
            perm: self.perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        }
    }

    fn live(&self) -> bool {
        self.nlink > 0 || self.open > 0
    }
}

struct State {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// Bytes the disk holds at most; `None`: unlimited.
    capacity: Option<u64>,
    read_only: bool,
    /// Power was lost: nothing works any more.
    dead: bool,
    stats: Stats,
}

type Res<T> = Result<T, Errno>;

impl State {
    fn used(&self) -> u64 {
        self.inodes
            .values()
            .filter(|i| i.live())
            .map(|i| match &i.body {
                Body::File(f) => f.footprint(),
                Body::Dir(_) => INODE_COST,
            })
            .sum()
    }

    fn alive(&self) -> Res<()> {
        if self.dead {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    /// A change is about to be made: refused on a read-only filesystem.
    fn writable(&mut self) -> Res<()> {
        self.alive()?;
        if self.read_only {
            self.stats.erofs += 1;
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// `growth` more bytes are about to be taken.
    fn room(&mut self, growth: u64) -> Res<()> {
        if growth == 0 {
            return Ok(());
        }
        if let Some(cap) = self.capacity {
            if self.used() + growth > cap {
                self.stats.enospc += 1;
                return Err(Errno::ENOSPC);
            }
        }
        Ok(())
    }

    fn inode(&self, ino: u64) -> Res<&Inode> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn inode_mut(&mut self, ino: u64) -> Res<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: u64) -> Res<&DirBody> {
        match &self.inode(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Res<&mut DirBody> {
        match &mut self.inode_mut(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Res<&mut FileBody> {
        match &mut self.inode_mut(ino)?.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    fn child(&self, parent: u64, name: &OsStr) -> Res<u64> {
        self.dir(parent)?
            .entries
            .get(name)
            .copied()
            .ok_or(Errno::ENOENT)
    }

    fn touch(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            let now = SystemTime::now();
            i.mtime = now;
            i.ctime = now;
        }
    }

    /// Adds a new inode named `name` in `parent`.
    fn add(&mut self, parent: u64, name: &OsStr, inode: Inode) -> Res<u64> {
        self.writable()?;
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.room(INODE_COST)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        self.dir_mut(parent)?.entries.insert(name.to_owned(), ino);
        self.touch(parent);
        Ok(ino)
    }

    /// Removes the name `name` from `parent`; `dir` says which kind it must be.
    fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Res<()> {
        self.writable()?;
        let ino = self.child(parent, name)?;
        match (&self.inode(ino)?.body, dir) {
            (Body::Dir(d), true) if !d.entries.is_empty() => return Err(Errno::ENOTEMPTY),
            (Body::Dir(_), true) | (Body::File(_), false) => {}
            (Body::Dir(_), false) => return Err(Errno::EISDIR),
            (Body::File(_), true) => return Err(Errno::ENOTDIR),
        }
        self.dir_mut(parent)?.entries.remove(name);
        let node = self.inode_mut(ino)?;
        node.nlink = node.nlink.saturating_sub(1);
        node.ctime = SystemTime::now();
        self.touch(parent);
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Res<()> {
        self.writable()?;
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let ino = self.child(parent, name)?;
        let moving_dir = matches!(self.inode(ino)?.body, Body::Dir(_));
        if let Ok(target) = self.child(new_parent, new_name) {
            if target == ino {
                return Ok(());
            }
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            match (&self.inode(target)?.body, moving_dir) {
                (Body::Dir(d), true) if !d.entries.is_empty() => return Err(Errno::ENOTEMPTY),
                (Body::Dir(_), false) => return Err(Errno::EISDIR),
                (Body::File(_), true) => return Err(Errno::ENOTDIR),
                _ => {}
            }
            let t = self.inode_mut(target)?;
            t.nlink = t.nlink.saturating_sub(1);
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.dir_mut(new_parent)?
            .entries
            .insert(new_name.to_owned(), ino);
        if let Body::Dir(d) = &mut self.inode_mut(ino)?.body {
            d.parent = new_parent;
        }
        self.touch(parent);
        self.touch(new_parent);
        Ok(())
    }

    /// Writes the tree into `backing`: what survives a power cut (`durable`) or what
    /// processes saw. `backing` is emptied first.
    fn materialize(&self, backing: &Path, durable: bool) -> io::Result<()> {
        for entry in std::fs::read_dir(backing)? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        let mut seen = HashSet::new();
        self.write_dir(ROOT, backing, durable, &mut seen)?;
        // Back on the real disk, for good.
        std::fs::File::open(backing)?.sync_all()
    }

    fn write_dir(
        &self,
        ino: u64,
        path: &Path,
        durable: bool,
        seen: &mut HashSet<u64>,
    ) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        // A directory renamed after its old parent was synced may be named twice; write it
        // once.
        if !seen.insert(ino) {
            return Ok(());
        }
        let Some(Inode {
            body: Body::Dir(d), ..
        }) = self.inodes.get(&ino)
        else {
            return Ok(());
        };
        let entries = if durable { &d.durable } else { &d.entries };
        for (name, child) in entries {
            let Some(node) = self.inodes.get(child) else {
                continue;
            };
            let target = path.join(name);
            match &node.body {
                Body::Dir(_) => {
                    std::fs::create_dir(&target)?;
                    self.write_dir(*child, &target, durable, seen)?;
                }
                Body::File(f) => {
                    let bytes = if durable { &f.durable } else { &f.data };
                    std::fs::write(&target, bytes)?;
                }
            }
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(node.perm.into()))?;
        }
        Ok(())
    }
}

fn load(state: &mut State, ino: u64, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        let body = if meta.is_dir() {
            Body::Dir(DirBody {
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                parent: ino,
            })
        } else if meta.is_file() {
            Body::File(FileBody::new(std::fs::read(entry.path())?))
        } else {
            // Symlinks, sockets, devices: nothing a data dir holds.
            continue;
        };
        let child = state.next_ino;
        state.next_ino += 1;
        let mut node = Inode::new(body, (meta.mode() & 0o7777) as u16, meta.uid(), meta.gid());
        node.mtime = meta.modified().unwrap_or(node.mtime);
        state.inodes.insert(child, node);
        if let Some(Inode {
            body: Body::Dir(d), ..
        }) = state.inodes.get_mut(&ino)
        {
            d.entries.insert(entry.file_name(), child);
            d.durable.insert(entry.file_name(), child);
        }
        if meta.is_dir() {
            load(state, child, &entry.path())?;
        }
    }
    Ok(())
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside an operation leaves the tree as it was at some step; keep serving it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A mounted test filesystem. Dropping it without [`TestFs::unmount`] or
/// [`TestFs::lose_power`] unmounts it and leaves the backing directory as it was mounted.
pub struct TestFs {
    shared: Arc<Shared>,
    session: Option<fuser::BackgroundSession>,
    backing: PathBuf,
    mountpoint: PathBuf,
}

impl TestFs {
    /// Whether this process can mount FUSE filesystems: `Err` says why not.
    pub fn available() -> Result<(), String> {
        if !Path::new("/dev/fuse").exists() {
            return Err("/dev/fuse does not exist (load the fuse module)".into());
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map(|_| ())
            .map_err(|e| format!("/dev/fuse cannot be opened: {e} (mounting needs root)"))
    }

    /// Loads `backing` (a directory) into memory and mounts it at `mountpoint` (an empty
    /// directory). Until power is lost, everything in it counts as synced.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<TestFs> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(backing)?;
        let mut state = State {
            inodes: HashMap::new(),
            next_ino: ROOT + 1,
            capacity: None,
            read_only: false,
            dead: false,
            stats: Stats::default(),
        };
        state.inodes.insert(
            ROOT,
            Inode::new(
                Body::Dir(DirBody {
                    entries: BTreeMap::new(),
                    durable: BTreeMap::new(),
                    parent: ROOT,
                }),
                (meta.mode() & 0o7777) as u16,
                meta.uid(),
                meta.gid(),
            ),
        );
        load(&mut state, ROOT, backing)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
        });
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("coffer-testfs".into()),
            MountOption::DefaultPermissions,
            MountOption::RW,
        ];
        config.n_threads = Some(2);
        let session = fuser::spawn_mount(Fs(shared.clone()), mountpoint, &config)?;
        Ok(TestFs {
            shared,
            session: Some(session),
            backing: backing.to_path_buf(),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats
    }

    /// The disk is full from now on: nothing more may be allocated (see the module docs).
    pub fn fill(&self) {
        let mut s = self.shared.lock();
        s.capacity = Some(s.used());
    }

    /// Space returns: nothing is refused for want of it any more.
    pub fn make_room(&self) {
        self.shared.lock().capacity = None;
    }

    /// Every change is refused with `EROFS` while `on`.
    pub fn set_read_only(&self, on: bool) {
        self.shared.lock().read_only = on;
    }

    /// Whether some file holds changes that were never synced.
    pub fn has_unsynced(&self) -> bool {
        self.shared.lock().inodes.values().any(|i| match &i.body {
            Body::File(f) => i.live() && f.unsynced(),
            Body::Dir(d) => d.entries != d.durable,
        })
    }

    /// The power goes: from this instant every operation fails with `EIO`, and the backing
    /// directory gets what was synced before it, nothing else. An `fsync` that returned
    /// success before this call is in; one that had not is not. Then unmounts.
    pub fn lose_power(mut self) -> io::Result<()> {
        {
            let mut s = self.shared.lock();
            s.dead = true;
            s.materialize(&self.backing, true)?;
        }
        self.detach()
    }

    /// Unmounts after a clean shutdown: the backing directory gets everything processes saw.
    pub fn unmount(mut self) -> io::Result<()> {
        {
            let mut s = self.shared.lock();
            if !s.dead {
                s.dead = true;
                s.materialize(&self.backing, false)?;
            }
        }
        self.detach()
    }

    fn detach(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // Processes may still hold files open (a server killed after the cut is being
        // reaped): detach lazily rather than fail with EBUSY.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
        drop(session);
        Ok(())
    }
}

impl Drop for TestFs {
    fn drop(&mut self) {
        self.shared.lock().dead = true;
        let _ = self.detach();
    }
}

struct Fs(Arc<Shared>);

impl Fs {
    fn entry(&self, result: Res<(u64, FileAttr)>, reply: ReplyEntry) {
        match result {
            Ok((_, attr)) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }
}

fn perm_of(mode: u32, umask: u32) -> u16 {
    ((mode & !umask) & 0o7777) as u16
}

fn time_of(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let s = self.0.lock();
        let result = s.alive().and_then(|()| {
            let ino = s.child(parent.0, name)?;
            Ok((ino, s.inode(ino)?.attr(ino)))
        });
        self.entry(result, reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.0.lock();
        match s.alive().and_then(|()| s.inode(ino.0)) {
            Ok(node) => reply.attr(&TTL, &node.attr(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.0.lock();
        let result = (|| -> Res<FileAttr> {
            let ino = ino.0;
            s.inode(ino)?;
            if mode.is_some() || uid.is_some() || gid.is_some() || size.is_some() {
                s.writable()?;
            }
            if let Some(len) = size {
                let f = s.file_mut(ino)?;
                let growth = len.saturating_sub((f.data.len() as u64).max(f.reserved));
                s.room(growth)?;
                s.file_mut(ino)?.resize(len);
                s.touch(ino);
            }
            let node = s.inode_mut(ino)?;
            if let Some(mode) = mode {
                node.perm = (mode & 0o7777) as u16;
            }
            if let Some(uid) = uid {
                node.uid = uid;
            }
            if let Some(gid) = gid {
                node.gid = gid;
            }
            if let Some(t) = atime {
                node.atime = time_of(t);
            }
            if let Some(t) = mtime {
                node.mtime = time_of(t);
            }
            node.ctime = SystemTime::now();
            Ok(node.attr(ino))
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let mut s = self.0.lock();
        let node = Inode::new(
            Body::File(FileBody::new(Vec::new())),
            perm_of(mode, umask),
            req.uid(),
            req.gid(),
        );
        let result = s.add(parent.0, name, node).and_then(|ino| {
            let attr = s.inode(ino)?.attr(ino);
            Ok((ino, attr))
        });
        self.entry(result, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.0.lock();
        let node = Inode::new(
            Body::Dir(DirBody {
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                parent: parent.0,
            }),
            perm_of(mode, umask),
            req.uid(),
            req.gid(),
        );
        let result = s.add(parent.0, name, node).and_then(|ino| {
            let attr = s.inode(ino)?.attr(ino);
            Ok((ino, attr))
        });
        self.entry(result, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.0.lock().remove(parent.0, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.0.lock().remove(parent.0, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        match self
            .0
            .lock()
            .rename(parent.0, name, newparent.0, newname, flags)
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.0.lock();
        let result = (|| -> Res<()> {
            s.alive()?;
            if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
                s.writable()?;
            }
            s.inode_mut(ino.0)?.open += 1;
            Ok(())
        })();
        match result {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.0.lock();
        let result = s.alive().and_then(|()| match &s.inode(ino.0)?.body {
            Body::File(f) => {
                let start = (offset as usize).min(f.data.len());
                let end = (start + size as usize).min(f.data.len());
                Ok(&f.data[start..end])
            }
            Body::Dir(_) => Err(Errno::EISDIR),
        });
        match result {
            Ok(bytes) => reply.data(bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.0.lock();
        let result = (|| -> Res<()> {
            s.writable()?;
            let f = s.file_mut(ino.0)?;
            let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
            let growth = end.saturating_sub((f.data.len() as u64).max(f.reserved));
            s.room(growth)?;
            s.file_mut(ino.0)?.write(offset, data);
            s.touch(ino.0);
            s.stats.writes += 1;
            Ok(())
        })();
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.0.lock().alive() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Some(node) = self.0.lock().inodes.get_mut(&ino.0) {
            node.open = node.open.saturating_sub(1);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.0.lock();
        let result = (|| -> Res<()> {
            s.alive()?;
            let read_only = s.read_only;
            match &mut s.inode_mut(ino.0)?.body {
                Body::File(f) if f.unsynced() && read_only => Err(Errno::EROFS),
                Body::File(f) => {
                    f.sync();
                    Ok(())
                }
                Body::Dir(d) => {
                    d.durable = d.entries.clone();
                    Ok(())
                }
            }
        })();
        match result {
            Ok(()) => {
                s.stats.file_syncs += 1;
                reply.ok()
            }
            Err(e) => {
                if e == Errno::EROFS {
                    s.stats.erofs += 1;
                }
                reply.error(e)
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let s = self.0.lock();
        match s.alive().and_then(|()| s.dir(ino.0).map(|_| ())) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let s = self.0.lock();
        let listing = s.alive().and_then(|()| {
            let d = s.dir(ino.0)?;
            let mut all: Vec<(u64, FileType, OsString)> = vec![
                (ino.0, FileType::Directory, ".".into()),
                (d.parent, FileType::Directory, "..".into()),
            ];
            for (name, child) in &d.entries {
                let kind = match s.inodes.get(child).map(|i| &i.body) {
                    Some(Body::Dir(_)) => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                all.push((*child, kind, name.clone()));
            }
            Ok(all)
        });
        match listing {
            Ok(all) => {
                for (i, (child, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.0.lock();
        let result = s.alive().and_then(|()| {
            let d = s.dir_mut(ino.0)?;
            d.durable = d.entries.clone();
            Ok(())
        });
        match result {
            Ok(()) => {
                s.stats.dir_syncs += 1;
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.0.lock();
        let used = s.used() / PAGE;
        let total = s.capacity.map(|c| c / PAGE).unwrap_or(used + (1 << 20));
        let free = total.saturating_sub(used);
        reply.statfs(
            total,
            free,
            free,
            1 << 20,
            1 << 20,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        let s = self.0.lock();
        match s.alive().and_then(|()| s.inode(ino.0).map(|_| ())) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.0.lock();
        let mut node = Inode::new(
            Body::File(FileBody::new(Vec::new())),
            perm_of(mode, umask),
            req.uid(),
            req.gid(),
        );
        node.open = 1;
        let result = s
            .add(parent.0, name, node)
            .and_then(|ino| s.inode(ino).map(|n| n.attr(ino)));
        match result {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = self.0.lock();
        let result = (|| -> Res<()> {
            s.writable()?;
            if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            let f = s.file_mut(ino.0)?;
            let growth = end.saturating_sub((f.data.len() as u64).max(f.reserved));
            s.room(growth)?;
            let f = s.file_mut(ino.0)?;
            if mode & libc::FALLOC_FL_KEEP_SIZE != 0 {
                f.reserved = f.reserved.max(end);
            } else if end > f.data.len() as u64 {
                f.resize(end);
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests;
