//! The build context: `.dockerignore` rules, COPY/ADD sources (with globs) found in it,
//! and a content hash of those sources for the build cache. Reads only.

use crate::digest::Digest;
use globset::{Glob, GlobBuilder, GlobMatcher};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// `.dockerignore`: patterns relative to the context, `**` for any depth, `!` to re-include;
/// the last pattern that matches a path (or one of its parents) decides.
#[derive(Default)]
pub struct Ignore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut rules = vec![];
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, include) = match line.strip_prefix('!') {
                Some(p) => (p.trim(), true),
                None => (line, false),
            };
            let clean = clean(pattern.trim_start_matches('/'));
            let clean = clean.to_string_lossy();
            let glob = GlobBuilder::new(if clean.is_empty() { "." } else { &clean })
                .literal_separator(true)
                .build()
                .map_err(|e| format!(".dockerignore: {line:?}: {e}"))?;
            rules.push((glob.compile_matcher(), include));
        }
        Ok(Ignore { rules })
    }

    pub fn read(context: &Path) -> Result<Ignore, String> {
        match fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => Ignore::parse(&text),
            Err(_) => Ok(Ignore::default()),
        }
    }

    /// Whether `rel` (relative to the context) is left out.
    pub fn excluded(&self, rel: &Path) -> bool {
        let mut excluded = false;
        for (glob, include) in &self.rules {
            let hit = rel
                .ancestors()
                .any(|a| !a.as_os_str().is_empty() && glob.is_match(a));
            if hit {
                excluded = !include;
            }
        }
        excluded
    }
}

/// `a/./b/../c` → `a/c`; never above the start (`../x` → `x`): context paths cannot leave it.
pub fn clean(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths (relative to `root`) one COPY source names: itself, or every match of a glob.
/// Left-out paths do not exist for the build, as with Docker.
pub fn resolve(root: &Path, source: &str, ignore: &Ignore) -> Result<Vec<PathBuf>, String> {
    let rel = clean(source);
    if !has_glob(source) {
        if (!rel.as_os_str().is_empty() && ignore.excluded(&rel))
            || fs::symlink_metadata(root.join(&rel)).is_err()
        {
            return Err(format!(
                "{source}: not found in the build context or excluded by .dockerignore"
            ));
        }
        return Ok(vec![rel]);
    }
    let glob = Glob::new(&rel.to_string_lossy())
        .map_err(|e| format!("{source}: {e}"))?
        .compile_matcher();
    let depth = rel.components().count();
    let mut found = vec![];
    walk(root, Path::new(""), depth, &mut |p| {
        if glob.is_match(p) && !ignore.excluded(p) {
            found.push(p.to_path_buf());
        }
    });
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{source}: no source files were specified (nothing in the build context matches)"
        ));
    }
    Ok(found)
}

/// Calls `f` with every path under `root/rel` down to `depth` levels, relative to root.
fn walk(root: &Path, rel: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in entries.flatten() {
        let p = rel.join(e.file_name());
        f(&p);
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(root, &p, depth - 1, f);
        }
    }
}

/// A digest of what COPY would take from these sources: names, modes, owners are not part
/// of it (COPY sets them), contents and link targets are. Left-out paths are skipped.
pub fn hash_sources(root: &Path, sources: &[PathBuf], ignore: &Ignore) -> std::io::Result<Digest> {
    let mut h = Sha256::new();
    for s in sources {
        hash_tree(root, s, ignore, &mut h)?;
    }
    Ok(Digest::from_hex(&hex::encode(h.finalize())).expect("a sha256 is a digest"))
}

fn hash_tree(root: &Path, rel: &Path, ignore: &Ignore, h: &mut Sha256) -> std::io::Result<()> {
    let path = root.join(rel);
    let m = fs::symlink_metadata(&path)?;
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(m.permissions().mode().to_le_bytes());
    if m.file_type().is_symlink() {
        h.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
    } else if m.is_file() {
        h.update(m.size().to_le_bytes());
        let mut f = fs::File::open(&path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if m.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&path)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let child = rel.join(n);
            if !ignore.excluded(&child) {
                hash_tree(root, &child, ignore, h)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let ig = Ignore::parse("# c\n*.log\n!keep.log\nbuild/\n**/secret\n/tmp*\n").unwrap();
        assert!(ig.excluded(Path::new("a.log")));
        assert!(!ig.excluded(Path::new("keep.log")));
        assert!(!ig.excluded(Path::new("sub/a.log")), "* does not cross /");
        assert!(ig.excluded(Path::new("build/x/y")));
        assert!(ig.excluded(Path::new("deep/er/secret")));
        assert!(ig.excluded(Path::new("tmpfile")));
        assert!(!ig.excluded(Path::new("src/main.rs")));
    }

    #[test]
    fn sources_globs_and_hashes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("b.txt"), "b").unwrap();
        fs::write(root.join("d/c.txt"), "c").unwrap();
        fs::write(root.join("skip.txt"), "s").unwrap();
        let ig = Ignore::parse("skip.txt\n").unwrap();
        assert_eq!(
            resolve(root, "*.txt", &ig).unwrap(),
            [PathBuf::from("a.txt"), PathBuf::from("b.txt")]
        );
        assert!(resolve(root, "skip.txt", &ig).is_err());
        assert!(resolve(root, "missing", &ig).is_err());
        assert_eq!(resolve(root, "../../d", &ig).unwrap(), [PathBuf::from("d")]);
        let before = hash_sources(root, &[PathBuf::from("d")], &ig).unwrap();
        fs::write(root.join("d/c.txt"), "changed").unwrap();
        assert_ne!(
            before,
            hash_sources(root, &[PathBuf::from("d")], &ig).unwrap()
        );
        let all = hash_sources(root, &[PathBuf::new()], &ig).unwrap();
        fs::write(root.join("skip.txt"), "ignored change").unwrap();
        assert_eq!(all, hash_sources(root, &[PathBuf::new()], &ig).unwrap());
    }
}
