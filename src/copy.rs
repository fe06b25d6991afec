//! `hako cp`: files between the host and a container's filesystem. The container side is
//! resolved inside its root (symlinks in the image never lead out of it), and trees are
//! copied as they are: symlinks stay symlinks, modes and owners are kept.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

/// Copies `src` (file, directory or symlink, never followed) to `dest`, which must not
/// exist yet; directories are copied with everything in them.
pub fn copy_tree(src: &Path, dest: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(src)?;
    let mut copied = 0;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dest)?;
    } else if meta.is_dir() {
        fs::create_dir(dest)?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            copied += copy_tree(&entry.path(), &dest.join(entry.file_name()))?;
        }
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else if meta.is_file() {
        copied += fs::copy(src, dest)?;
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: devices, sockets and FIFOs are not copied",
                src.display()
            ),
        ));
    }
    // Owners kept where we may set them (as root); otherwise the files are the caller's.
    let _ = lchown(dest, Some(meta.uid()), Some(meta.gid()));
    Ok(copied)
}

/// Docker's rule for the destination: into an existing directory the source keeps its
/// name; otherwise the destination is the copy's new name.
pub fn destination(src: &Path, dest: &Path) -> std::path::PathBuf {
    match (fs::metadata(dest), src.file_name()) {
        (Ok(m), Some(name)) if m.is_dir() => dest.join(name),
        _ => dest.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_keep_symlinks_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/f"), "data").unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", src.join("link")).unwrap();
        let dest = destination(&src, t.path());
        assert_eq!(dest, src);
        let into = t.path().join("copy");
        assert_eq!(copy_tree(&src, &into).unwrap(), 4);
        assert_eq!(fs::read_to_string(into.join("d/f")).unwrap(), "data");
        assert_eq!(
            fs::metadata(into.join("d/f")).unwrap().mode() & 0o777,
            0o751
        );
        assert_eq!(
            fs::read_link(into.join("link")).unwrap(),
            Path::new("/etc/shadow")
        );
    }
}
