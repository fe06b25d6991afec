//! Reading what an archive holds without trusting it. A `docker save` or OCI archive is
//! as untrusted as a layer: after it is unpacked into `tmp/`, its members are opened
//! beneath that directory (`sys::beneath`: a link to `/etc/shadow` or `/dev/zero` names
//! nothing), must be regular files (a FIFO would hang the load, a device never ends),
//! and are read no further than their size: a manifest's descriptor size when it gives
//! one, a fixed cap for JSON documents.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The most a manifest, index or image config may weigh (real ones are kilobytes;
/// containerd caps manifests at 4 MiB).
pub const MAX_DOCUMENT: u64 = 8 << 20;

/// An open member and its size.
pub struct Member {
    pub file: File,
    pub size: u64,
}

/// Opens member `name` of the archive unpacked at `dir`.
pub fn open(dir: &Path, name: &str) -> Result<Member> {
    let rel = crate::layer::unpack::clean_entry_path(Path::new(name))
        .map_err(|why| anyhow!("archive names {name:?}: {why}"))?;
    let file = crate::sys::beneath::open_beneath(dir, &rel)
        .with_context(|| format!("open {name} in the archive"))?;
    let md = file
        .metadata()
        .with_context(|| format!("stat {name} in the archive"))?;
    if !md.is_file() {
        bail!(
            "archive member {name} is a {}, not a regular file: refusing the archive",
            kind_of(&md.file_type())
        );
    }
    crate::sys::beneath::set_blocking(&file)?;
    Ok(Member {
        file,
        size: md.len(),
    })
}

/// Whether member `name` exists as a regular file (links resolved inside the archive).
pub fn exists(dir: &Path, name: &str) -> bool {
    open(dir, name).is_ok()
}

/// Reads a JSON document (manifest, index, config) whole, refusing one over
/// `MAX_DOCUMENT` bytes or over `declared` when a descriptor gives its size.
pub fn read_document(dir: &Path, name: &str, declared: Option<u64>) -> Result<Vec<u8>> {
    let m = open(dir, name)?;
    let limit = declared.unwrap_or(MAX_DOCUMENT).min(MAX_DOCUMENT);
    if m.size > limit {
        bail!(
            "archive member {name} has {} bytes, more than the {limit} a {} may have: refusing the archive",
            m.size,
            if declared.is_some() { "descriptor says it" } else { "JSON document" }
        );
    }
    let mut bytes = Vec::with_capacity(m.size as usize);
    m.file
        .take(limit)
        .read_to_end(&mut bytes)
        .with_context(|| format!("read {name} in the archive"))?;
    Ok(bytes)
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_out_of_the_archive_and_special_files_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("real.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("manifest.json")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("layer.tar")).unwrap();
        std::os::unix::fs::symlink("real.json", d.join("alias.json")).unwrap();
        nix::unistd::mkfifo(
            &d.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let e = read_document(d, "manifest.json", None).unwrap_err();
        assert!(!format!("{e:#}").contains("root:"), "{e:#}");
        assert!(open(d, "layer.tar").is_err());
        let e = open(d, "fifo").err().unwrap();
        assert!(format!("{e:#}").contains("FIFO"), "{e:#}");
        assert!(open(d, "../etc/passwd").is_err());
        // A link that stays inside is followed, as `docker save` writes them.
        assert_eq!(read_document(d, "alias.json", None).unwrap(), b"{}");
    }

    #[test]
    fn a_document_larger_than_declared_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("c.json"), vec![b' '; 100]).unwrap();
        assert!(read_document(t.path(), "c.json", Some(99)).is_err());
        assert_eq!(
            read_document(t.path(), "c.json", Some(100)).unwrap().len(),
            100
        );
    }
}
