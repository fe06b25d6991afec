//! The Docker-style front end: image config + `run` flags + the image's passwd/group →
//! the container's runtime spec. Pure (the host environment comes in as a function), so
//! every rule Docker applies here is unit-tested without root.

use super::{user, Bind, NetworkMode, RunConfig};
use crate::cgroups::Limits;
use crate::flags::Ulimit;
use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::Spec;
use std::path::Path;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asked for on the command line, already typed.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub entrypoint: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub binds: Vec<Bind>,
    /// `--tmpfs` and `--mount type=tmpfs`: (path, mount options).
    pub tmpfs: Vec<(String, Vec<String>)>,
    /// `--sysctl KEY=VALUE`.
    pub sysctls: Vec<(String, String)>,
    /// `--shm-size`: bytes of the container's /dev/shm (None: Docker's 64 MiB).
    pub shm_size: Option<i64>,
    pub network: Option<NetworkMode>,
    pub ulimits: Vec<Ulimit>,
    pub limits: Limits,
    /// A user namespace of the container's own with these maps (rootless `--userns=keep-id`).
    pub id_maps: Option<super::plan::IdMaps>,
    pub seccomp: super::SeccompChoice,
}

/// Where this container lives: its ID, its bundle directory, its cgroup.
pub struct ContainerPlace<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub cgroups_path: &'a str,
}

/// The spec, and the resolved values Docker shows in `inspect` (`Config`).
#[derive(Debug)]
pub struct FrontEnd {
    pub spec: Spec,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub hostname: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FrontEndError {
    #[error(
        "no command specified: the image has no Cmd or Entrypoint; give one after the image name"
    )]
    NoCommand,
    #[error("-w {0}: the working directory must be an absolute path")]
    RelativeWorkdir(String),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error("build the runtime spec: {0}")]
    Spec(#[from] super::BuildError),
}

/// Docker's rules: entrypoint + cmd, user from the image's passwd, env merged over the
/// image's, hostname from the ID, /etc/hosts, hostname and resolv.conf from the bundle.
pub fn from_image(
    image: &ImageConfig,
    opts: &RunOptions,
    passwd: Option<&str>,
    group: Option<&str>,
    host_env: &dyn Fn(&str) -> Option<String>,
    place: &ContainerPlace,
) -> Result<FrontEnd, FrontEndError> {
    let entrypoint: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    // A new entrypoint drops the image's Cmd, as in Docker.
    let cmd: Vec<String> = if !opts.command.is_empty() || opts.entrypoint.is_some() {
        opts.command.clone()
    } else {
        image.cmd().clone().unwrap_or_default()
    };
    let args: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    if args.is_empty() {
        return Err(FrontEndError::NoCommand);
    }
    let user_spec = opts
        .user
        .clone()
        .or_else(|| image.user().clone())
        .unwrap_or_default();
    let resolved = user::resolve(&user_spec, passwd, group)?;
    let hostname = opts
        .hostname
        .clone()
        .unwrap_or_else(|| place.id[..12.min(place.id.len())].to_string());
    let env = merge_env(
        image.env().clone().unwrap_or_default(),
        &opts.env,
        &hostname,
        &resolved.home,
        opts.tty,
        host_env,
    );
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| image.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(FrontEndError::RelativeWorkdir(cwd));
    }
    let network = opts.network.clone().unwrap_or(NetworkMode::None);
    let mut binds = opts.binds.clone();
    for f in ["hosts", "hostname", "resolv.conf"] {
        binds.push(Bind {
            volume: None,
            source: place.bundle.join(f).display().to_string(),
            destination: format!("/etc/{f}"),
            readonly: false,
        });
    }
    let run = RunConfig {
        args,
        env: env.clone(),
        cwd: cwd.clone(),
        uid: resolved.uid,
        gid: resolved.gid,
        additional_gids: resolved.additional_gids,
        hostname: hostname.clone(),
        terminal: opts.tty,
        readonly_rootfs: opts.read_only,
        privileged: opts.privileged,
        cap_add: opts.cap_add.clone(),
        cap_drop: opts.cap_drop.clone(),
        no_new_privileges: opts.no_new_privileges,
        binds,
        tmpfs: opts.tmpfs.clone(),
        sysctls: opts.sysctls.clone(),
        shm_size: opts.shm_size,
        network: network.clone(),
        rlimits: opts
            .ulimits
            .iter()
            .map(|u| (u.name.clone(), u.soft, u.hard))
            .collect(),
        cgroups_path: place.cgroups_path.to_string(),
        limits: opts.limits.clone(),
        id_maps: opts.id_maps.clone(),
        seccomp: opts.seccomp.clone(),
        volumes: image
            .volumes()
            .as_ref()
            .map(|v| v.to_vec())
            .unwrap_or_default(),
    };
    // The bundle's rootfs: relative to the bundle directory, as in any OCI bundle.
    let spec = super::build(&run, super::BUNDLE_ROOTFS)?;
    Ok(FrontEnd {
        spec,
        entrypoint,
        cmd,
        env,
        cwd,
        user: user_spec,
        hostname,
    })
}

fn merge_env(
    image_env: Vec<String>,
    flags: &[String],
    hostname: &str,
    home: &str,
    tty: bool,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    if !image_env.iter().any(|e| e.starts_with("PATH=")) {
        set(DEFAULT_PATH.to_string());
    }
    set(format!("HOSTNAME={hostname}"));
    for e in image_env {
        set(e);
    }
    if tty {
        set("TERM=xterm".into());
    }
    for f in flags {
        if f.contains('=') {
            set(f.clone());
        } else if let Some(v) = host_env(f) {
            // `-e KEY` copies the host's value, as Docker does.
            set(format!("{f}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> ContainerPlace<'static> {
        ContainerPlace {
            id: "0123456789abcdef",
            bundle: Path::new("/var/lib/hako/containers/0123456789abcdef"),
            cgroups_path: "hako/0123456789abcdef",
        }
    }

    fn image(json: &str) -> ImageConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn env_merging() {
        let host = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        let env = merge_env(
            vec!["PATH=/x".into(), "A=1".into()],
            &[
                "A=2".into(),
                "B=3".into(),
                "FROM_HOST".into(),
                "UNSET".into(),
            ],
            "box",
            "/root",
            true,
            &host,
        );
        assert_eq!(
            env,
            vec![
                "HOSTNAME=box",
                "PATH=/x",
                "TERM=xterm",
                "A=2",
                "B=3",
                "FROM_HOST=h",
                "HOME=/root"
            ]
        );
    }

    #[test]
    fn entrypoint_cmd_user_and_limits_land_in_the_spec() {
        let img =
            image(r#"{"Entrypoint":["/bin/ep"],"Cmd":["a"],"User":"alice","WorkingDir":"/w"}"#);
        let opts = RunOptions {
            command: vec!["b".into()],
            limits: Limits {
                memory: Some(64 << 20),
                pids: Some(50),
                ..Limits::default()
            },
            ..RunOptions::default()
        };
        let passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        let fe = from_image(&img, &opts, Some(passwd), None, &|_| None, &place()).unwrap();
        let p = fe.spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/bin/ep", "b"]);
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.cwd().display().to_string(), "/w");
        assert!(p
            .env()
            .as_ref()
            .unwrap()
            .contains(&"HOME=/home/alice".to_string()));
        assert_eq!(fe.hostname, "0123456789ab");
        let limits = Limits::from_spec(&fe.spec);
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.pids, Some(50));
        assert_eq!(
            fe.spec
                .root()
                .as_ref()
                .unwrap()
                .path()
                .display()
                .to_string(),
            "merged"
        );
        let mounts = fe.spec.mounts().as_ref().unwrap();
        assert!(mounts
            .iter()
            .any(|m| m.destination().display().to_string() == "/etc/hosts"
                && m.source().as_ref().unwrap().starts_with(place().bundle)));
    }

    #[test]
    fn a_new_entrypoint_drops_the_images_cmd() {
        let img = image(r#"{"Entrypoint":["/bin/ep"],"Cmd":["a"]}"#);
        let opts = RunOptions {
            entrypoint: Some("/bin/other".into()),
            ..RunOptions::default()
        };
        let fe = from_image(&img, &opts, None, None, &|_| None, &place()).unwrap();
        assert_eq!(fe.cmd, Vec::<String>::new());
        assert_eq!(
            fe.spec.process().as_ref().unwrap().args().as_ref().unwrap(),
            &["/bin/other"]
        );
    }

    #[test]
    fn refusals() {
        let empty = image("{}");
        assert!(matches!(
            from_image(
                &empty,
                &RunOptions::default(),
                None,
                None,
                &|_| None,
                &place()
            ),
            Err(FrontEndError::NoCommand)
        ));
        let opts = RunOptions {
            command: vec!["sh".into()],
            workdir: Some("rel".into()),
            ..RunOptions::default()
        };
        assert!(matches!(
            from_image(&empty, &opts, None, None, &|_| None, &place()),
            Err(FrontEndError::RelativeWorkdir(_))
        ));
    }
}
