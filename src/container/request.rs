//! What a new container asks for, from any front end (`run`/`create` flags, a compose
//! service, a build step, an API call), and the one place it is checked. `check` holds
//! every rule `run` applies to user intent, so a compose file or an API client cannot
//! ask for what the command line would refuse.

use crate::cgroups::Limits;
use crate::flags::MountArg;
use crate::image::Image;
use crate::rootless::Mode;
use crate::spec::frontend::RunOptions;
use crate::spec::{self, NetworkMode};
use crate::state::{self, RestartPolicy};
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::Component;

/// Everything a new container needs besides its image.
pub struct CreateRequest {
    /// The image as the user named it (shown by `ps`).
    pub image_name: String,
    pub name: Option<String>,
    pub options: RunOptions,
    pub volume_requests: Vec<MountArg>,
    pub interactive: bool,
    pub auto_remove: bool,
    pub restart: RestartPolicy,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub network: crate::endpoint::Request,
    /// `-P`: every port the image exposes, on a random host port.
    pub publish_all: bool,
    pub labels: BTreeMap<String, String>,
}

/// A request that passed `CreateRequest::check`: the only kind `create_container` takes.
pub struct Checked(pub(super) CreateRequest);

impl CreateRequest {
    /// Refuses a request that makes no sense, before any pull or write. The messages name
    /// Docker's flags: they are what users look up, whichever front end they came through.
    pub fn check(self, mode: Mode) -> Result<Checked> {
        self.problems(mode)?;
        Ok(Checked(self))
    }

    fn problems(&self, mode: Mode) -> Result<()> {
        let o = &self.options;
        if self.auto_remove && self.restart != RestartPolicy::No {
            bail!("conflicting options: --restart and --rm (a container removed when it exits cannot be restarted)");
        }
        if let Some(sig) = &self.stop_signal {
            crate::signals::parse(sig)?;
        }
        if let Some(n) = &self.name {
            if !state::valid_name(n) {
                bail!("invalid container name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most {} characters", state::MAX_NAME_LEN);
            }
        }
        self.check_network()?;
        for c in o.cap_add.iter().chain(&o.cap_drop) {
            if !c.eq_ignore_ascii_case("ALL")
                && spec::defaults::cap_name(c)
                    .parse::<caps::Capability>()
                    .is_err()
            {
                bail!(
                    "unknown capability {c:?}: see capabilities(7) for the names (e.g. NET_ADMIN)"
                );
            }
        }
        for e in &o.env {
            crate::flags::check_env(e).map_err(anyhow::Error::msg)?;
        }
        if let Some(h) = &o.hostname {
            crate::flags::check_hostname(h).map_err(anyhow::Error::msg)?;
        }
        self.check_mounts()?;
        if let Some(bytes @ ..=0) = o.shm_size {
            bail!("--shm-size {bytes}: a size of /dev/shm must be more than 0 (e.g. 1g)");
        }
        check_limits(&o.limits, mode)
    }

    /// `-p`, `--ip`, `--mac-address` and `--network-alias` need a bridge of the
    /// container's own (user-mode networks publish ports too).
    fn check_network(&self) -> Result<()> {
        let mode = self.options.network.clone().unwrap_or_default();
        if matches!(mode, NetworkMode::Bridge(_)) {
            return Ok(());
        }
        let n = &self.network;
        let publishes = crate::network::usermode::Helper::of(&mode).is_none();
        let extras = [
            (
                publishes && (!n.ports.is_empty() || self.publish_all),
                "-p/-P",
            ),
            (n.ip.is_some(), "--ip"),
            (n.mac.is_some(), "--mac-address"),
            (!n.aliases.is_empty(), "--network-alias"),
        ];
        if let Some((_, flag)) = extras.iter().find(|(given, _)| *given) {
            bail!(
                "{flag} needs a bridge network; --network {} has none{}",
                mode.name(),
                if mode.own_namespace() {
                    ""
                } else {
                    " of its own"
                }
            );
        }
        Ok(())
    }

    /// One mount per container path, and none over the container's `/`.
    fn check_mounts(&self) -> Result<()> {
        let o = &self.options;
        let destinations = o
            .binds
            .iter()
            .map(|b| b.destination.as_str())
            .chain(o.tmpfs.iter().map(|t| t.0.as_str()))
            .chain(self.volume_requests.iter().map(MountArg::destination));
        let mut seen = HashSet::new();
        for d in destinations {
            let dest = d.trim_end_matches('/');
            let root = std::path::Path::new(d)
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::CurDir));
            if root {
                bail!("invalid mount destination {d:?}: the destination can't be '/' (mount at a directory inside the container)");
            }
            if !seen.insert(dest.to_string()) {
                bail!("duplicate mount point: {dest} (each container path takes one -v, --mount or --tmpfs)");
            }
        }
        Ok(())
    }
}

/// The resource limits, checked together; rootless without a delegated cgroup is refused
/// here, before any pull.
fn check_limits(limits: &Limits, mode: Mode) -> Result<()> {
    if let Some(swap) = limits.memory_swap {
        match limits.memory {
            None => bail!("--memory-swap needs --memory as well (it is the memory+swap total)"),
            Some(m) if swap >= 0 && swap < m => bail!("--memory-swap {swap} is smaller than --memory: it is the memory+swap total, so it must be at least the memory limit"),
            _ => {}
        }
    }
    if let Some(quota) = limits.cpu_quota {
        let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let cpus = quota as f64 / crate::cgroups::CPU_PERIOD_US as f64;
        if !(0.01..=online).contains(&cpus) {
            bail!("--cpus {cpus}: range of CPUs is from 0.01 to {online:.2}, as there are only {online} CPUs available");
        }
    }
    if let Some(w @ 1..=9) = limits.spec.blkio_weight {
        bail!("--blkio-weight {w}: the range is from 10 to 1000 (0 disables)");
    }
    if let (Some(r), Some(m)) = (limits.spec.memory_reservation, limits.memory) {
        if r > m {
            bail!("--memory-reservation {r} is larger than --memory {m}: the soft limit must be below the hard one");
        }
    }
    if limits.has_resource_limits() {
        crate::cgroups::delegation::container_cgroup_path(mode, "-", limits)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(())
}

/// `--network NAME` for a container: none, host, container:NAME, or a network (bridge by
/// default as root; user-mode networking rootless, where the bridge needs root).
pub fn network_mode(store: &Store, name: &str) -> Result<NetworkMode> {
    Ok(match name {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        "default" | "bridge" | "slirp4netns" | "pasta" if store.mode().rootless() => {
            crate::network::usermode::choose(name.parse().ok())?.network_mode()
        }
        "slirp4netns" | "pasta" => bail!("--network {name} is the user-mode network of rootless containers; as root, containers get a bridge (the default) with -p"),
        "default" => NetworkMode::Bridge(crate::network::DEFAULT_NETWORK.into()),
        other => match other.strip_prefix("container:") {
            Some(c) => NetworkMode::Container(store.lookup_container(c)?.id),
            None => NetworkMode::Bridge(crate::network::find(store, other)?.name),
        },
    })
}

type Tmpfs = Vec<(String, Vec<String>)>;

/// `-v`, `--mount` and `--tmpfs` apart: host binds, tmpfs, and volumes (looked up once the
/// image is known).
pub fn split_mounts(
    all: impl Iterator<Item = MountArg>,
) -> (Vec<spec::Bind>, Tmpfs, Vec<MountArg>) {
    let (mut binds, mut tmpfs, mut volumes) = (vec![], vec![], vec![]);
    for m in all {
        match m {
            MountArg::Bind(b) => binds.push(b),
            MountArg::Tmpfs {
                destination,
                options,
            } => tmpfs.push((destination, options)),
            v @ MountArg::Volume { .. } => volumes.push(v),
        }
    }
    (binds, tmpfs, volumes)
}

/// The image side of a new container: its config and its unpacked layers.
pub struct ImageParts {
    /// The config's digest (the image ID).
    pub id: crate::digest::Digest,
    pub config: oci_spec::image::ImageConfiguration,
    /// Bottom first; every one unpacked in the store.
    pub layers: Vec<crate::digest::Digest>,
}

impl ImageParts {
    /// The parts of a stored image, its layers unpacked if they are not yet.
    pub fn of(store: &Store, record: &ImageRecord, name: &str) -> Result<ImageParts> {
        let image = Image::load(store, record)?;
        image.ensure_layers(store).with_context(|| {
            format!(
                "prepare the layers of image {name} (if a blob is missing, load or pull the image again)"
            )
        })?;
        Ok(ImageParts {
            id: record.config.clone(),
            layers: image.diff_ids(),
            config: image.config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateRequest {
        CreateRequest {
            image_name: "busybox".into(),
            name: None,
            options: RunOptions {
                network: Some(NetworkMode::None),
                ..Default::default()
            },
            volume_requests: vec![],
            interactive: false,
            auto_remove: false,
            restart: RestartPolicy::No,
            stop_signal: None,
            stop_timeout: None,
            network: Default::default(),
            publish_all: false,
            labels: Default::default(),
        }
    }

    fn refused(change: impl FnOnce(&mut CreateRequest)) -> String {
        let mut r = request();
        change(&mut r);
        match r.check(Mode::Root) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_front_end_meets_the_same_rules() {
        assert!(request().check(Mode::Root).is_ok());
        assert!(refused(|r| {
            r.auto_remove = true;
            r.restart = "always".parse().unwrap();
        })
        .contains("conflicting options"));
        assert!(refused(|r| r.name = Some("-x".into())).contains("invalid container name"));
        assert!(refused(|r| r.stop_signal = Some("SIGNOPE".into())).contains("SIGNOPE"));
        assert!(
            refused(|r| r.options.cap_add = vec!["NET_NOPE".into()]).contains("unknown capability")
        );
        assert!(refused(|r| r.options.env = vec!["=x".into()]).contains("="));
        assert!(refused(|r| r.options.hostname = Some("a b".into())).contains("a b"));
        assert!(refused(|r| r.network.ip = Some([10, 0, 0, 2].into())).contains("--ip"));
        assert!(refused(|r| r.options.limits.memory_swap = Some(1 << 20))
            .contains("--memory-swap needs --memory"));
        assert!(refused(|r| r.options.limits.cpu_quota = Some(1)).contains("range of CPUs"));
        assert!(
            refused(|r| r.options.limits.spec.blkio_weight = Some(5)).contains("from 10 to 1000")
        );
    }

    #[test]
    fn two_mounts_on_one_path_or_one_on_the_root_are_refused() {
        let bind = |d: &str| spec::Bind {
            source: "/tmp".into(),
            destination: d.into(),
            readonly: false,
            volume: None,
        };
        assert!(
            refused(|r| r.options.binds = vec![bind("/data"), bind("/data/")])
                .contains("duplicate mount point: /data")
        );
        assert!(refused(|r| r.options.tmpfs = vec![("/".into(), vec![])]).contains("'/'"));
        assert!(refused(|r| r.options.binds = vec![bind("//")]).contains("'/'"));
    }
}
