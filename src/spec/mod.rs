//! The OCI runtime spec: the contract in the middle. The Docker-like front end builds one
//! from the image config and the flags (`build`); the runc-compatible front end will read
//! one from a bundle. `plan` compiles it into the `LaunchPlan` the launcher runs.

mod build;
pub mod defaults;
pub mod frontend;
pub mod labels;
pub mod plan;
pub mod sched;
pub mod user;

pub use build::{build, BuildError};
pub use plan::{LaunchPlan, PlanError};

use crate::cgroups::Limits;
use oci_spec::runtime::Spec;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum NetworkMode {
    #[default]
    /// Own network namespace with loopback only.
    None,
    /// The host's network namespace.
    Host,
    /// Own namespace with a veth into this network's bridge (`bridge` is the default one).
    Bridge(String),
    /// The network namespace of this other container (by ID).
    Container(String),
    /// Own namespace, connected by slirp4netns (rootless: the bridge needs root).
    UserMode,
    /// Own namespace, connected by pasta (passt's user-mode networking), as UserMode.
    Pasta,
}

impl NetworkMode {
    /// Docker's name for it: `none`, `host`, `bridge`, `mynet`, `container:<id>`.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(id) => format!("container:{id}"),
            NetworkMode::UserMode => "slirp4netns".into(),
            NetworkMode::Pasta => "pasta".into(),
        }
    }

    /// Whether the container has a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        matches!(
            self,
            NetworkMode::None | NetworkMode::Bridge(_) | NetworkMode::UserMode | NetworkMode::Pasta
        )
    }
}

/// Spec annotation naming the container whose network namespace this one joins; resolved
/// to `/proc/<pid>/ns/net` when it starts (the other container's pid changes on restart).
pub const NETNS_OF_ANNOTATION: &str = "io.hako.network.container";

pub use crate::flags::Bind;

/// Everything the front end decided about one container, already resolved (numeric ids,
/// absolute paths): the input to `build`.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub terminal: bool,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub binds: Vec<Bind>,
    /// (path, mount options) of each tmpfs asked for.
    pub tmpfs: Vec<(String, Vec<String>)>,
    pub sysctls: Vec<(String, String)>,
    /// Bytes of /dev/shm; None: Docker's 64 MiB.
    pub shm_size: Option<i64>,
    pub network: NetworkMode,
    /// (type, soft, hard), e.g. ("RLIMIT_NOFILE", 1024, 2048).
    pub rlimits: Vec<(String, u64, u64)>,
    pub cgroups_path: String,
    pub limits: Limits,
    /// The image's `VOLUME` paths: created in the rootfs before the command starts.
    pub volumes: Vec<String>,
    /// A user namespace of its own, with these maps.
    pub id_maps: Option<plan::IdMaps>,
    pub seccomp: SeccompChoice,
}

/// `--security-opt seccomp=…`: the default profile (for the container's capabilities),
/// none, or the user's own (already an OCI profile). `--privileged` means none.
#[derive(Clone, Debug, Default)]
pub enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    Profile(Box<oci_spec::runtime::LinuxSeccomp>),
}

/// Where a bundle's rootfs is, relative to the bundle: hako mounts the overlay there.
pub const BUNDLE_ROOTFS: &str = "merged";

/// Spec annotation listing directories to create in the rootfs (the image's volumes).
pub const VOLUMES_ANNOTATION: &str = "io.hako.volumes";

/// Reads a `config.json` the way runc does. oci-spec 0.7 spells blockIO's IOPS throttles
/// `throttleReadIopsDevice`, the OCI spec (and runc, Docker, containerd) `…IOPSDevice`:
/// without the renaming below such limits would be dropped without a word.
pub fn parse_spec(text: &str) -> Result<Spec, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    if let Some(r) = v.pointer_mut("/linux/resources") {
        crate::cgroups::resources_json::spell_iops_as_oci_spec_does(r);
    }
    serde_json::from_value(v)
}
