//! Compiled filters kept on disk: libseccomp takes about 2 ms for Docker's ~350 calls,
//! a good share of a container's start, and the same profile comes back on every run.
//! Each entry is named by a hash of everything the program depends on (the profile,
//! libseccomp's version, the architecture) and holds its own checksum, so a stale or torn
//! entry is never used: it is compiled again and replaced. The directory is the data
//! root's, private to its owner, so no other user can slip in a weaker filter.

use super::{compile, Insn, Program, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};
use std::path::Path;

/// `compile`, through the cache in `dir` when there is one. A cache that cannot be read or
/// written costs only the time: the program is compiled and used.
pub fn compile_cached(profile: &LinuxSeccomp, dir: Option<&Path>) -> Result<Program, SeccompError> {
    let Some(dir) = dir else {
        return compile(profile);
    };
    let path = dir.join(format!("{}.bpf", hex::encode(key(profile))));
    if let Some(program) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(program);
    }
    let program = compile(profile)?;
    let _ = store(dir, &path, &program);
    Ok(program)
}

fn key(profile: &LinuxSeccomp) -> [u8; 32] {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(version);
    h.update(unsafe { libseccomp_sys::seccomp_arch_native() }.to_le_bytes());
    h.update(serde_json::to_vec(profile).unwrap_or_default());
    h.finalize().into()
}

/// An entry is the SHA-256 of the instructions, then the instructions (8 bytes each).
fn encode(program: &Program) -> Vec<u8> {
    let body: Vec<u8> = program
        .0
        .iter()
        .flat_map(|i| {
            let mut b = [0u8; 8];
            b[0..2].copy_from_slice(&i.code.to_le_bytes());
            b[2] = i.jt;
            b[3] = i.jf;
            b[4..8].copy_from_slice(&i.k.to_le_bytes());
            b
        })
        .collect();
    let mut out = Sha256::digest(&body).to_vec();
    out.extend(body);
    out
}

fn decode(bytes: &[u8]) -> Option<Program> {
    let (sum, body) = bytes.split_at_checked(32)?;
    if body.is_empty() || body.len() % 8 != 0 || Sha256::digest(body).as_slice() != sum {
        return None;
    }
    Some(Program(
        body.chunks_exact(8)
            .map(|b| Insn {
                code: u16::from_le_bytes([b[0], b[1]]),
                jt: b[2],
                jf: b[3],
                k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            })
            .collect(),
    ))
}

/// Written beside its final name and renamed: readers see a whole entry or none.
fn store(dir: &Path, path: &Path, program: &Program) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, encode(program))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(default: &str) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": default,
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap()
    }

    #[test]
    fn an_entry_is_reused_and_a_damaged_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("seccomp");
        let p = profile("SCMP_ACT_ERRNO");
        let fresh = compile_cached(&p, Some(&cache)).unwrap();
        assert_eq!(fresh, compile(&p).unwrap());
        let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(entries.len(), 1, "one entry, no leftovers");
        let entry = entries[0].path();
        assert_eq!(decode(&std::fs::read(&entry).unwrap()), Some(fresh.clone()));
        // Another profile gets another entry.
        let other = compile_cached(&profile("SCMP_ACT_KILL"), Some(&cache)).unwrap();
        assert_ne!(other, fresh);
        // A flipped byte fails the checksum: compiled again, and the entry rewritten.
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, &bytes).unwrap();
        assert_eq!(compile_cached(&p, Some(&cache)).unwrap(), fresh);
        assert_eq!(decode(&std::fs::read(&entry).unwrap()), Some(fresh));
        assert_eq!(decode(&[]), None);
    }
}
