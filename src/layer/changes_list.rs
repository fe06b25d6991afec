//! `hako diff`: what a container changed, read from its overlay upper directory, in
//! Docker's A (added), C (changed) and D (deleted) form.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Added,
    Changed,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        }
    }
}

/// Every change under `upper`, sorted by path. `in_lower(path)` says whether the image
/// (the lower layers) has that path: present there means changed, absent means added.
pub fn list(
    upper: &Path,
    in_lower: &dyn Fn(&Path) -> bool,
) -> std::io::Result<Vec<(Kind, PathBuf)>> {
    let mut out = vec![];
    walk(upper, Path::new("/"), in_lower, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn walk(
    dir: &Path,
    at: &Path,
    in_lower: &dyn Fn(&Path) -> bool,
    out: &mut Vec<(Kind, PathBuf)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = at.join(entry.file_name());
        let meta = std::fs::symlink_metadata(entry.path())?;
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        // fuse-overlayfs writes whiteouts and opaque markers as OCI-style `.wh.` files
        // where it cannot make devices, and a device of its own beside them.
        if let Some(hidden) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(".wh."))
        {
            if !whiteout && !hidden.starts_with(".wh.") && meta.is_file() {
                out.push((Kind::Deleted, at.join(hidden)));
            }
            continue;
        }
        // Overlay's whiteout: a 0:0 character device hides the lower file.
        if whiteout {
            out.push((Kind::Deleted, path));
            continue;
        }
        let kind = if in_lower(&path) {
            Kind::Changed
        } else {
            Kind::Added
        };
        out.push((kind, path.clone()));
        // A directory new to the container: everything in it is new too.
        if meta.is_dir() {
            walk(&entry.path(), &path, in_lower, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_overlayfs_markers_read_as_overlay_s() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        std::fs::create_dir_all(u.join("etc/d")).unwrap();
        std::fs::write(u.join("etc/d/.wh..wh..opq"), "").unwrap();
        std::fs::write(u.join("etc/d/x"), "").unwrap();
        std::fs::write(u.join("etc/.wh.motd"), "").unwrap();
        let lower = |p: &Path| p == Path::new("/etc") || p == Path::new("/etc/motd");
        let got: Vec<String> = list(u, &lower)
            .unwrap()
            .into_iter()
            .map(|(k, p)| format!("{} {}", k.letter(), p.display()))
            .collect();
        assert_eq!(got, ["C /etc", "A /etc/d", "A /etc/d/x", "D /etc/motd"]);
    }

    #[test]
    fn added_changed_and_deleted() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        std::fs::create_dir_all(u.join("etc")).unwrap();
        std::fs::write(u.join("etc/hosts"), "x").unwrap();
        std::fs::create_dir_all(u.join("new/dir")).unwrap();
        std::fs::write(u.join("new/dir/f"), "y").unwrap();
        let lower = |p: &Path| p == Path::new("/etc") || p == Path::new("/etc/hosts");
        let got: Vec<String> = list(u, &lower)
            .unwrap()
            .into_iter()
            .map(|(k, p)| format!("{} {}", k.letter(), p.display()))
            .collect();
        assert_eq!(
            got,
            [
                "C /etc",
                "C /etc/hosts",
                "A /new",
                "A /new/dir",
                "A /new/dir/f"
            ]
        );
    }
}
