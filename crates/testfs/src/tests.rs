//! The model checked through a real mount (root only; see [`TestFs::available`]).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

use super::*;

struct Mounted {
    _tmp: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
    fs: Option<TestFs>,
}

fn mounted(prepare: impl FnOnce(&Path)) -> Mounted {
    if let Err(why) = TestFs::available() {
        panic!("coffer-testfs needs FUSE: {why}");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let backing = tmp.path().join("backing");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&backing).expect("backing");
    std::fs::create_dir(&mnt).expect("mountpoint");
    prepare(&backing);
    let fs = TestFs::mount(&backing, &mnt).expect("mount");
    Mounted {
        _tmp: tmp,
        backing,
        mnt,
        fs: Some(fs),
    }
}

impl Mounted {
    fn fs(&self) -> &TestFs {
        self.fs.as_ref().expect("mounted")
    }

    fn lose_power(&mut self) {
        self.fs
            .take()
            .expect("mounted")
            .lose_power()
            .expect("lose power");
    }

    fn unmount(&mut self) {
        self.fs.take().expect("mounted").unmount().expect("unmount");
    }
}

fn sync_dir(path: &Path) {
    File::open(path)
        .expect("open dir")
        .sync_all()
        .expect("sync dir");
}

#[test]
fn power_loss_keeps_only_what_was_synced() {
    let mut m = mounted(|b| std::fs::write(b.join("old"), b"before the mount").expect("seed"));
    // Synced data, then more that is not.
    let mut f = OpenOptions::new()
        .append(true)
        .open(m.mnt.join("old"))
        .expect("open");
    f.write_all(b" +synced").expect("write");
    f.sync_data().expect("sync");
    f.write_all(b" +lost").expect("write");
    // A new file synced and its directory synced after: kept whole.
    let mut h = File::create(m.mnt.join("named")).expect("create");
    h.write_all(b"kept").expect("write");
    h.sync_all().expect("sync");
    sync_dir(&m.mnt);
    h.write_all(b" and lost").expect("write");
    // A new file, synced, in a directory that is not: its name is lost.
    let mut g = File::create(m.mnt.join("unnamed")).expect("create");
    g.write_all(b"data").expect("write");
    g.sync_all().expect("sync");
    // A rename not followed by a directory sync does not happen.
    std::fs::rename(m.mnt.join("named"), m.mnt.join("renamed")).expect("rename");
    assert!(m.fs().has_unsynced());
    let stats = m.fs().stats();
    assert!(stats.file_syncs >= 3 && stats.dir_syncs >= 1, "{stats:?}");
    m.lose_power();
    assert_eq!(
        std::fs::read(m.backing.join("old")).expect("old"),
        b"before the mount +synced"
    );
    assert!(!m.backing.join("unnamed").exists());
    assert!(!m.backing.join("renamed").exists());
    assert_eq!(
        std::fs::read(m.backing.join("named")).expect("named"),
        b"kept"
    );
    // The process that held files open sees a dead disk.
    assert!(f.write_all(b"x").and_then(|()| f.sync_data()).is_err());
}

#[test]
fn a_clean_unmount_keeps_everything() {
    let mut m = mounted(|_| {});
    std::fs::create_dir(m.mnt.join("d")).expect("mkdir");
    std::fs::write(m.mnt.join("d/f"), b"never synced").expect("write");
    m.unmount();
    assert_eq!(
        std::fs::read(m.backing.join("d/f")).expect("f"),
        b"never synced"
    );
}

#[test]
fn a_full_disk_refuses_growth_and_takes_overwrites() {
    let m = mounted(|b| std::fs::write(b.join("f"), vec![1u8; 8192]).expect("seed"));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.mnt.join("f"))
        .expect("open");
    // Space reserved before the disk fills stays usable.
    reserve(&f, 8192, 4096);
    m.fs().fill();
    f.seek(SeekFrom::Start(8192 + 4096)).expect("seek");
    let err = f.write_all(b"more").expect_err("growth on a full disk");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(&[2u8; 100]).expect("overwrite");
    f.seek(SeekFrom::Start(8192)).expect("seek");
    f.write_all(&[3u8; 4096]).expect("into the reservation");
    f.sync_data().expect("sync");
    let err = File::create(m.mnt.join("new")).expect_err("create on a full disk");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(m.fs().stats().enospc >= 2);
    m.fs().make_room();
    f.seek(SeekFrom::End(0)).expect("seek");
    f.write_all(b"more").expect("growth after make_room");
    File::create(m.mnt.join("new")).expect("create after make_room");
}

fn reserve(f: &File, offset: u64, len: u64) {
    rustix::fs::fallocate(f, rustix::fs::FallocateFlags::KEEP_SIZE, offset, len)
        .expect("fallocate(FALLOC_FL_KEEP_SIZE)");
}

#[test]
fn a_read_only_disk_refuses_changes_and_serves_reads() {
    let m = mounted(|b| std::fs::write(b.join("f"), b"content").expect("seed"));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.mnt.join("f"))
        .expect("open");
    f.write_all(b"C").expect("write");
    m.fs().set_read_only(true);
    let err = f
        .sync_data()
        .expect_err("unsynced data cannot reach a read-only disk");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    let err = f.write_all(b"x").expect_err("write");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    let err = File::create(m.mnt.join("new")).expect_err("create");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    let err = OpenOptions::new()
        .write(true)
        .open(m.mnt.join("f"))
        .expect_err("open for writing");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    let mut text = String::new();
    File::open(m.mnt.join("f"))
        .expect("open for reading")
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text, "Content");
    m.fs().set_read_only(false);
    f.sync_data().expect("sync once writable again");
    let err = std::fs::read(m.mnt.join("missing")).expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
