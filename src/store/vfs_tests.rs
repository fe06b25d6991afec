use super::*;
use std::os::unix::ffi::OsStrExt;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = format!("{rel}/{}", e.file_name().to_string_lossy());
            out.push(rel.clone());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &rel, out);
            }
        }
    }
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// Two layers: the second deletes a file, empties a directory (opaque) and adds its own.
fn two_layers(t: &Path) -> Vec<PathBuf> {
    let (one, two) = (t.join("one"), t.join("two"));
    write(&one.join("a/f1"), "one");
    write(&one.join("a/f2"), "two");
    write(&one.join("b/old"), "old");
    write(&one.join("h1"), "linked");
    fs::hard_link(one.join("h1"), one.join("h2")).unwrap();
    std::os::unix::fs::symlink("a/f1", one.join("sym")).unwrap();
    fs::set_permissions(one.join("a/f1"), fs::Permissions::from_mode(0o751)).unwrap();
    write(&two.join("a/.wh.f2"), "");
    write(&two.join("b/.wh..wh..opq"), "");
    write(&two.join("b/new"), "new");
    write(&two.join("c"), "c");
    vec![one, two]
}

#[test]
fn layers_apply_bottom_up_with_whiteouts_opaque_dirs_and_links() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("ctr/rootfs");
    fs::create_dir(t.path().join("ctr")).unwrap();
    ensure_copied(&rootfs, &two_layers(t.path()), false).unwrap();
    assert_eq!(
        names(&rootfs),
        ["/a", "/a/f1", "/b", "/b/new", "/c", "/h1", "/h2", "/sym"]
    );
    let f1 = fs::symlink_metadata(rootfs.join("a/f1")).unwrap();
    assert_eq!(f1.mode() & 0o7777, 0o751);
    let src = fs::symlink_metadata(t.path().join("one/a/f1")).unwrap();
    assert_eq!(
        (f1.mtime(), f1.mtime_nsec()),
        (src.mtime(), src.mtime_nsec())
    );
    let (h1, h2) = (
        fs::metadata(rootfs.join("h1")).unwrap(),
        fs::metadata(rootfs.join("h2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino());
    assert_eq!(
        fs::read_link(rootfs.join("sym")).unwrap(),
        Path::new("a/f1")
    );
    assert!(!t.path().join("ctr/rootfs.tmp").exists());
    // A second call finds the copy made and keeps it.
    fs::write(rootfs.join("c"), "mine").unwrap();
    ensure_copied(&rootfs, &two_layers(&t.path().join("again")), false).unwrap();
    assert_eq!(fs::read_to_string(rootfs.join("c")).unwrap(), "mine");
}

#[test]
fn changes_are_written_in_the_upper_format() {
    let t = tempfile::tempdir().unwrap();
    let ctr = t.path().join("ctr");
    fs::create_dir(&ctr).unwrap();
    let rootfs = ctr.join("rootfs");
    ensure_copied(&rootfs, &two_layers(t.path()), false).unwrap();
    let upper = ctr.join("upper");
    changes(&rootfs, &upper, false).unwrap();
    assert!(names(&upper).is_empty(), "{:?}", names(&upper));

    fs::write(rootfs.join("a/f1"), "changed, and longer").unwrap();
    fs::remove_file(rootfs.join("c")).unwrap();
    fs::remove_dir_all(rootfs.join("b")).unwrap();
    write(&rootfs.join("d/e"), "new dir");
    fs::set_permissions(rootfs.join("a"), fs::Permissions::from_mode(0o700)).unwrap();
    changes(&rootfs, &upper, false).unwrap();
    assert_eq!(
        names(&upper),
        ["/.wh.b", "/.wh.c", "/a", "/a/f1", "/d", "/d/e"]
    );
    let (theirs, ours) = (
        fs::metadata(rootfs.join("a/f1")).unwrap(),
        fs::metadata(upper.join("a/f1")).unwrap(),
    );
    assert_eq!(theirs.ino(), ours.ino(), "changed files are hard links");
    assert_eq!(fs::metadata(upper.join("a")).unwrap().mode() & 0o777, 0o700);
    // Recomputed from scratch: what was undone is no longer a change.
    write(&rootfs.join("c"), "c");
    fs::remove_dir_all(rootfs.join("d")).unwrap();
    changes(&rootfs, &upper, false).unwrap();
    assert!(!upper.join("d").exists() && upper.join("c").exists());
    assert!(!ctr.join("upper.new").exists() && !ctr.join("upper.old").exists());
}

#[test]
fn the_base_record_round_trips_any_file_name() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    fs::create_dir(&root).unwrap();
    for name in [
        &b"plain"[..],
        b"new\nline",
        b"back\\slash\\x41",
        b"caf\xc3\xa9",
        b"bad\xff\x00"[..4].as_ref(),
    ] {
        fs::write(root.join(OsStr::from_bytes(name)), name).unwrap();
    }
    let base = Base::record(&root).unwrap();
    base.save(&t.path().join("base")).unwrap();
    assert_eq!(Base::load(&t.path().join("base")).unwrap(), base);
    fs::write(t.path().join("broken"), "1 2 3\tpath\n").unwrap();
    let err = Base::load(&t.path().join("broken")).unwrap_err();
    assert!(err.to_string().contains("line 1 is damaged"), "{err}");
}

use std::ffi::OsStr;
