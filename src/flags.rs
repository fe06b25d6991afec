//! Typed values of command-line flags, parsed once at the boundary by clap's value
//! parsers: a bad `-v`, `--ulimit` or `--memory` fails before anything runs or is written.
//! A leaf: depends on nothing of ours but `units`.

use crate::units::parse_bytes;
use std::path::Path;

/// `-v HOST:CONTAINER[:ro|rw]`: a bind mount of a host path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
}

/// `--ulimit NAME=SOFT[:HARD]`, with the OCI name (`RLIMIT_NOFILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// rlimit names Linux knows (getrlimit(2)), without the `RLIMIT_` prefix.
pub const RLIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `-v`: absolute or `./relative` host path (resolved against the working directory, as
/// Docker does), absolute container path, optional mode. Pure: creating a missing host
/// directory happens only once the whole command has been accepted.
pub fn parse_bind(v: &str) -> Result<Bind, String> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, "rw"),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(format!("{v}: expected HOST-PATH:CONTAINER-PATH[:ro|rw]")),
    };
    let source = if source.starts_with('/') {
        source.to_string()
    } else if source.starts_with("./") || source.starts_with("../") || source == "." {
        let cwd = std::env::current_dir().map_err(|e| format!("{v}: working directory: {e}"))?;
        normalize(&cwd.join(source))
    } else {
        return Err(format!(
            "{v}: named volumes are not supported yet; give an absolute host path or one starting with ./"
        ));
    };
    if !destination.starts_with('/') {
        return Err(format!("{v}: the container path must be absolute"));
    }
    let readonly = match mode {
        "ro" => true,
        "rw" | "" => false,
        other => return Err(format!("{v}: unknown mode {other:?} (use ro or rw)")),
    };
    Ok(Bind {
        source,
        destination: destination.to_string(),
        readonly,
    })
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
fn normalize(p: &Path) -> String {
    let mut out = std::path::PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out.display().to_string()
}

pub fn parse_ulimit(u: &str) -> Result<Ulimit, String> {
    let (name, values) = u
        .split_once('=')
        .ok_or_else(|| format!("{u}: expected NAME=SOFT[:HARD], e.g. nofile=1024:2048"))?;
    let lower = name.to_ascii_lowercase();
    if !RLIMIT_NAMES.contains(&lower.as_str()) {
        return Err(format!(
            "{u}: unknown limit {name:?} (nofile, nproc, core, memlock, stack, …)"
        ));
    }
    let parse = |s: &str| {
        if s == "-1" || s == "unlimited" {
            Ok(u64::MAX)
        } else {
            s.parse::<u64>()
                .map_err(|_| format!("{u}: {s:?} is not a number"))
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (parse(s)?, parse(h)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        return Err(format!("{u}: the soft limit cannot exceed the hard limit"));
    }
    Ok(Ulimit {
        name: format!("RLIMIT_{}", lower.to_ascii_uppercase()),
        soft,
        hard,
    })
}

/// `--memory`: a size with Docker's floor, below which no container can start.
pub fn parse_memory(s: &str) -> Result<i64, String> {
    let bytes = parse_bytes(s)?;
    if bytes < 6 << 20 {
        return Err(format!("{s}: minimum memory limit allowed is 6MB"));
    }
    Ok(bytes)
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        parse_bytes(s)
    }
}

/// `--preserve-fds N`, as runc: how many descriptors after stdio pass into the container.
pub fn parse_preserve_fds(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s}: expected a count of descriptors after 0, 1 and 2"))?;
    for fd in 3..3 + n {
        if nix::fcntl::fcntl(fd as i32, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(format!(
                "{n}: descriptor {fd} is not open (--preserve-fds {n} passes 3..{})",
                2 + n
            ));
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds() {
        let b = parse_bind("/tmp:/data:ro").unwrap();
        assert!(b.readonly && b.destination == "/data");
        assert!(parse_bind("vol:/data").is_err());
        assert!(parse_bind("/tmp:data").is_err());
        assert!(parse_bind("/tmp:/data:xx").is_err());
        let cwd = std::env::current_dir().unwrap();
        let rel = parse_bind("./sub/../x:/x").unwrap();
        assert_eq!(rel.source, cwd.join("x").display().to_string());
    }

    #[test]
    fn ulimits_and_sizes() {
        assert_eq!(
            parse_ulimit("nofile=10:20").unwrap(),
            Ulimit {
                name: "RLIMIT_NOFILE".into(),
                soft: 10,
                hard: 20
            }
        );
        assert!(parse_ulimit("nofile=30:20").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_memory("1m").is_err());
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
    }
}
