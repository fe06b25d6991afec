//! Typed values of command-line flags, parsed once at the boundary by clap's value
//! parsers: a bad `-v`, `--ulimit` or `--memory` fails before anything runs or is written.
//! A leaf: depends on nothing of ours but `units`.

use crate::units::parse_bytes;
use std::path::Path;

/// A bind mount of a host path into the container (`-v HOST:CONTAINER`), or of a named
/// volume's data directory (`volume` names it, so `volume rm` knows who uses it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
}

/// What one `-v`, `--mount` or `--tmpfs` asks for, before volumes are looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountArg {
    Bind(Bind),
    /// A named volume (created if missing), or an anonymous one when `name` is `None`.
    Volume {
        name: Option<String>,
        destination: String,
        readonly: bool,
    },
    /// A fresh tmpfs; `options` are mount(8) options (`size=64m`, `mode=1777`, …).
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

impl MountArg {
    pub fn destination(&self) -> &str {
        match self {
            MountArg::Bind(b) => &b.destination,
            MountArg::Volume { destination, .. } | MountArg::Tmpfs { destination, .. } => {
                destination
            }
        }
    }
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

/// `-v`: `HOST:CONTAINER[:ro|rw]` (absolute or `./relative` host path, resolved against
/// the working directory as Docker does), `NAME:CONTAINER[:mode]` (a named volume), or a
/// lone `CONTAINER` path (an anonymous volume). Pure: creating a missing host directory or
/// volume happens only once the whole command has been accepted.
pub fn parse_volume(v: &str) -> Result<MountArg, String> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [d] => ("", *d, "rw"),
        [s, d] => (*s, *d, "rw"),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(format!(
                "{v}: expected [HOST-PATH|VOLUME:]CONTAINER-PATH[:ro|rw]"
            ))
        }
    };
    if !destination.starts_with('/') {
        return Err(format!("{v}: the container path must be absolute"));
    }
    refuse_root_destination(destination, v)?;
    let mut readonly = false;
    for m in mode.split(',') {
        match m {
            "ro" => readonly = true,
            "rw" | "" | "z" | "Z" | "rprivate" | "private" => {}
            other => return Err(format!("{v}: unknown mode {other:?} (use ro or rw)")),
        }
    }
    let destination = destination.to_string();
    if source.is_empty() {
        return Ok(MountArg::Volume {
            name: None,
            destination,
            readonly,
        });
    }
    if !is_path(source) {
        if !valid_volume_name(source) {
            return Err(format!("{v}: {source:?} is neither a path (give /abs or ./rel) nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"));
        }
        return Ok(MountArg::Volume {
            name: Some(source.to_string()),
            destination,
            readonly,
        });
    }
    Ok(MountArg::Bind(Bind {
        source: absolute(source, v)?,
        destination,
        readonly,
        volume: None,
    }))
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…]`.
pub fn parse_mount(v: &str) -> Result<MountArg, String> {
    let (mut kind, mut source, mut target, mut readonly) = ("volume", None, None, false);
    let mut tmpfs_options = vec![];
    for field in v.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => {
                kind = match value {
                    "bind" => "bind",
                    "volume" => "volume",
                    "tmpfs" => "tmpfs",
                    other => {
                        return Err(format!(
                            "--mount {v}: unknown type {other:?} (bind, volume or tmpfs)"
                        ))
                    }
                }
            }
            "source" | "src" => source = Some(value.to_string()),
            "target" | "destination" | "dst" => target = Some(value.to_string()),
            "readonly" | "ro" => readonly = matches!(value, "" | "true" | "1"),
            "tmpfs-size" => tmpfs_options.push(format!("size={value}")),
            "tmpfs-mode" => tmpfs_options.push(format!("mode={value}")),
            "bind-propagation" | "consistency" | "volume-nocopy" => {}
            other => return Err(format!("--mount {v}: unknown field {other:?}")),
        }
    }
    let destination = target.ok_or_else(|| format!("--mount {v}: target= is required"))?;
    if !destination.starts_with('/') {
        return Err(format!("--mount {v}: the target must be an absolute path"));
    }
    refuse_root_destination(&destination, v)?;
    match (kind, source) {
        ("bind", Some(s)) => Ok(MountArg::Bind(Bind {
            source: absolute(&s, v)?,
            destination,
            readonly,
            volume: None,
        })),
        ("bind", None) => Err(format!("--mount {v}: a bind mount needs source=")),
        ("volume", name) => match name.filter(|n| !n.is_empty()) {
            Some(n) if !valid_volume_name(&n) => {
                Err(format!("--mount {v}: invalid volume name {n:?}"))
            }
            name => Ok(MountArg::Volume {
                name,
                destination,
                readonly,
            }),
        },
        (_, Some(_)) => Err(format!("--mount {v}: a tmpfs has no source")),
        (_, None) => {
            if readonly {
                tmpfs_options.push("ro".into());
            }
            Ok(MountArg::Tmpfs {
                destination,
                options: tmpfs_options,
            })
        }
    }
}

/// A mount over the container's `/` would hide its whole image (and, for a bind, hand
/// the container the host directory as its root): Docker refuses it too.
fn refuse_root_destination(destination: &str, whole: &str) -> Result<(), String> {
    if normalize(Path::new(destination)) == "/" {
        return Err(format!(
            "invalid volume specification: {whole:?}: the destination can't be '/' (mount at a directory inside the container)"
        ));
    }
    Ok(())
}

/// `--env-file`, as `docker run` reads it: a `KEY=VALUE` (or bare `KEY`, taken from hako's
/// environment) per line, values verbatim (no quotes removed, unlike compose's `.env`),
/// blank lines and `#` comments skipped. A name with spaces is refused with its line.
pub fn parse_env_file(text: &str) -> Result<Vec<String>, String> {
    let mut env = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(k, _)| k);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!(
                "line {}: {name:?} is not a variable name (KEY=VALUE, no spaces in KEY)",
                n + 1
            ));
        }
        env.push(line.trim_end_matches(['\r', '\n']).to_string());
    }
    Ok(env)
}

/// `-e`: `KEY=VALUE`, or `KEY` alone (taken from hako's environment). Docker refuses an
/// empty name; a name with `=` or NUL cannot be passed to execve either.
pub fn check_env(e: &str) -> Result<(), String> {
    let name = e.split_once('=').map_or(e, |(k, _)| k);
    if name.is_empty() {
        return Err(format!(
            "invalid environment variable: {e:?} (the name before '=' is empty)"
        ));
    }
    if e.contains('\0') {
        return Err(format!(
            "invalid environment variable: {e:?} (contains a NUL byte)"
        ));
    }
    Ok(())
}

/// `--hostname`: at most 64 bytes (the kernel's HOST_NAME_MAX; sethostname says EINVAL
/// beyond), of RFC 1123 labels: letters, digits and `-`, not at a label's ends, `.`
/// between labels.
pub fn check_hostname(h: &str) -> Result<(), String> {
    if h.len() > 64 {
        return Err(format!(
            "invalid hostname {h:?}: {} characters, the kernel allows at most 64",
            h.len()
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !h.split('.').all(label_ok) {
        return Err(format!(
            "invalid hostname {h:?}: use letters, digits and '-' in dot-separated labels"
        ));
    }
    Ok(())
}

/// `--tmpfs /path[:size=64m,mode=1777]`.
pub fn parse_tmpfs(v: &str) -> Result<MountArg, String> {
    let (destination, options) = v.split_once(':').unwrap_or((v, ""));
    if !destination.starts_with('/') {
        return Err(format!("--tmpfs {v}: the path must be absolute"));
    }
    Ok(MountArg::Tmpfs {
        destination: destination.to_string(),
        options: options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// A host path is absolute, `./`/`../` relative, or `~/`; anything else is a volume name
/// (and `a/b` is neither: Docker refuses it too).
fn is_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with("./")
        || source.starts_with("../")
        || source.starts_with("~/")
        || source == "."
        || source == ".."
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, Docker's rule for volume names.
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn absolute(source: &str, whole: &str) -> Result<String, String> {
    if source.starts_with('/') {
        return Ok(normalize(Path::new(source)));
    }
    if let Some(rest) = source.strip_prefix("~/") {
        let home = std::env::var_os("HOME").ok_or_else(|| format!("{whole}: ~ needs HOME set"))?;
        return Ok(normalize(&Path::new(&home).join(rest)));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("{whole}: working directory: {e}"))?;
    Ok(normalize(&cwd.join(source)))
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

/// `--cpuset-cpus 0-2,4`: a list the kernel's cpuset files take, checked against the CPUs
/// this machine has (Docker's message).
pub fn parse_cpu_list(s: &str) -> Result<String, String> {
    let mut highest = 0u32;
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) if a <= b => highest = highest.max(b),
            _ => {
                return Err(format!(
                    "invalid value {s:?}: expected a list such as 0-3 or 0,1"
                ))
            }
        }
    }
    let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    if highest >= online {
        return Err(format!(
            "requested CPUs are not available - requested {s}, available: 0-{}",
            online - 1
        ));
    }
    Ok(s.to_string())
}

/// `/dev/sda:1mb` → the block device's numbers and a rate in bytes per second.
pub fn parse_device_bps(s: &str) -> Result<crate::cgroups::spec_resources::Throttle, String> {
    device_rate(s, parse_bytes)
}

/// `/dev/sda:1000` → the block device's numbers and a rate in operations per second.
pub fn parse_device_iops(s: &str) -> Result<crate::cgroups::spec_resources::Throttle, String> {
    device_rate(s, |r| {
        r.parse::<i64>()
            .map_err(|_| format!("{r:?} is not a number of operations per second"))
    })
}

fn device_rate(
    s: &str,
    rate: impl Fn(&str) -> Result<i64, String>,
) -> Result<crate::cgroups::spec_resources::Throttle, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (path, r) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected DEVICE:RATE (e.g. /dev/sda:1mb)"))?;
    let md = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
    if !md.file_type().is_block_device() {
        return Err(format!("{path} is not a block device"));
    }
    let rate = rate(r)?;
    if rate < 0 {
        return Err(format!("{s:?}: the rate cannot be negative"));
    }
    let dev = md.rdev();
    Ok(crate::cgroups::spec_resources::Throttle {
        major: nix::sys::stat::major(dev) as i64,
        minor: nix::sys::stat::minor(dev) as i64,
        rate: rate as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(v: &str) -> Bind {
        match parse_volume(v).unwrap() {
            MountArg::Bind(b) => b,
            other => panic!("{v}: not a bind: {other:?}"),
        }
    }

    #[test]
    fn binds_volumes_and_tmpfs() {
        let b = bind("/tmp:/data:ro");
        assert!(b.readonly && b.destination == "/data");
        assert_eq!(
            parse_volume("vol:/data").unwrap(),
            MountArg::Volume {
                name: Some("vol".into()),
                destination: "/data".into(),
                readonly: false
            }
        );
        assert!(matches!(
            parse_volume("/data").unwrap(),
            MountArg::Volume { name: None, .. }
        ));
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/data:xx").is_err());
        assert!(parse_volume("-bad:/data").is_err());
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            bind("./sub/../x:/x").source,
            cwd.join("x").display().to_string()
        );
        assert!(matches!(
            parse_mount("type=bind,src=/tmp,dst=/t,readonly").unwrap(),
            MountArg::Bind(Bind { readonly: true, .. })
        ));
        assert!(matches!(
            parse_mount("type=volume,source=v1,target=/v").unwrap(),
            MountArg::Volume { name: Some(_), .. }
        ));
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            MountArg::Tmpfs {
                destination: "/t".into(),
                options: vec!["size=1m".into()]
            }
        );
        assert!(parse_mount("type=bind,target=/t").is_err());
        assert!(parse_mount("type=nfs,target=/t").is_err());
        assert_eq!(
            parse_tmpfs("/run:size=1m,mode=755").unwrap().destination(),
            "/run"
        );
        assert!(parse_tmpfs("run").is_err());
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

    #[test]
    fn docker_limits_on_names_sizes_and_mounts() {
        assert!(parse_memory("99999999999999999999").is_err());
        assert!(parse_memory("9999999999g").is_err());
        assert!(check_env("=x").is_err());
        assert!(check_env("=").is_err());
        assert!(check_env("A=").is_ok() && check_env("PATH").is_ok());
        assert_eq!(
            parse_env_file("# c\n\n  A=\"q\"\nB\nC=x=y\r\n").unwrap(),
            ["A=\"q\"", "B", "C=x=y"]
        );
        assert!(parse_env_file("A=1\nbad key=1\n")
            .unwrap_err()
            .starts_with("line 2:"));
        assert!(check_hostname(&"a".repeat(64)).is_ok());
        assert!(check_hostname(&"a".repeat(65)).is_err());
        assert!(check_hostname("web-1.example").is_ok());
        assert!(check_hostname("-bad").is_err() && check_hostname("a..b").is_err());
        assert!(check_hostname("a b").is_err());
        for v in ["/tmp:/", "/tmp://", "/tmp:/.:ro", "vol:/"] {
            let e = parse_volume(v).unwrap_err();
            assert!(e.contains("can't be '/'"), "{v}: {e}");
        }
        assert!(parse_mount("type=bind,source=/tmp,target=/").is_err());
        assert!(parse_volume("/tmp:/data").is_ok());
    }
}
