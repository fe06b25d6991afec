//! The command line: clap definitions only. Docker's verbs and flags, as users type them.

mod build;
mod lifecycle;
mod runc;

pub use build::*;
pub use lifecycle::*;
pub use runc::*;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "hako",
    version,
    about = "A daemonless container runtime: real OCI images, real isolation, no daemon."
)]
pub struct Cli {
    /// Data root (images, layers, containers); also HAKO_ROOT.
    #[arg(long, global = true, env = "HAKO_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Storage driver of a new data root: overlay or fuse-overlayfs (chosen automatically; a data root keeps its own); also HAKO_STORAGE_DRIVER
    #[arg(
        long = "storage-driver",
        global = true,
        env = "HAKO_STORAGE_DRIVER",
        value_name = "DRIVER"
    )]
    pub storage_driver: Option<crate::store::driver::Driver>,

    /// Registry whose certificate is not checked, reached over plain HTTP if it has no TLS (loopback always is); also "insecure-registries" in hako's config.json
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// Narrate every kernel-level step on stderr (`--trace=json` for JSON lines).
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "text", value_name = "FORMAT", value_parser = ["text", "json"])]
    pub trace: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new container
    Run(RunArgs),
    /// Create a new container (started later with hako start)
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach the terminal to a running (detached) container
    Attach(AttachArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff { container: String },
    /// Show the history of an image
    History(HistoryArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Run multi-container applications from a compose file
    Compose(ComposeArgs),
    /// Manage the build cache
    Builder {
        #[command(subcommand)]
        command: BuilderCommand,
    },
    /// runc's command line (create, start, state, kill, delete, exec…) for OCI bundles
    #[command(disable_help_flag = true)]
    Runc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: VolumeCommand,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Show the hako version information
    Version,
    /// Print a shell completion script (bash, zsh or fish)
    Completion {
        #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
        shell: String,
    },
    /// Print hako's man page (roff), made from this command line's definition
    #[command(name = "__man", hide = true)]
    Man,
    /// Keeps one detached container (started by run -d and start; not for users)
    #[command(name = "__supervise", hide = true)]
    Supervise(SuperviseArgs),
    /// List containers
    Ps(PsArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Create a tag TARGET that refers to SOURCE
    Tag { source: String, target: String },
    /// Return low-level information on images or containers
    Inspect(InspectArgs),
    /// Load images from a docker-archive, OCI archive or OCI layout
    Load(LoadArgs),
    /// Import a rootfs tarball as an image
    Import(ImportArgs),
    /// Show how hako sees this host (cgroups, kernel, data root)
    Info,
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Save one or more images to a tar archive (docker-archive or OCI archive)
    Save(SaveArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Manage hako's data (disk usage, cleanup)
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Platform of a multi-platform image (os/arch[/variant]); default this machine's
    #[arg(long)]
    pub platform: Option<String>,
    /// Rootless: squash (files owned by ids outside your range become yours)
    #[arg(long, value_enum, default_value = "host")]
    pub userns: UsernsMode,
    pub name: String,
}

/// `--userns`: how a rootless container's ids relate to the user's.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UsernsMode {
    /// hako's namespace as it is: root inside is you, other ids your subordinate range
    #[default]
    Host,
    /// Your uid and gid are the same inside (for -v folders); the process runs as you
    KeepId,
    /// Layer files owned by ids outside your range are given to you instead of refused
    Squash,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from STDIN
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Remove unused images (dangling ones; all unused with -a)
    Prune(PruneArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    Rm(RmiArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage
    Df,
    /// Remove stopped containers, unused images and stale temporary files
    Prune(PruneArgs),
    /// Show how hako sees this host
    Info,
    /// Verify every blob's digest and the store's consistency (exit 1 on damage)
    Check {
        /// Remove what is damaged or partial, restore missing links
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images no container uses, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME)
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Freeze a running container during the commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    /// Byte-identical output for identical changes: timestamps clamped to SOURCE_DATE_EPOCH, or to the base image's creation time
    #[arg(long)]
    pub reproducible: bool,
    pub container: String,
    /// Repository name and tag for the new image
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Archive format
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive"])]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (-h is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Rootless: keep-id (your uid inside is your uid outside) or squash (see pull)
    #[arg(long, value_enum, default_value = "host")]
    pub userns: UsernsMode,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run in the background and print the container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: crate::state::RestartPolicy,
    /// Signal to stop the container (default: the image's, else SIGTERM)
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the container to stop before killing it (default 10)
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u64>,
    /// Set environment variables (KEY=VALUE, or KEY to copy the host's)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines; -e wins over it)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Write the container ID to the file (which must not exist yet)
    #[arg(long = "cidfile", value_name = "FILE")]
    pub cidfile: Option<std::path::PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a host path or a volume ([HOST-PATH|VOLUME:]CONTAINER[:ro|rw])
    #[arg(short = 'v', long = "volume", value_parser = crate::flags::parse_volume)]
    pub volumes: Vec<crate::flags::MountArg>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…[,readonly])
    #[arg(long = "mount", value_parser = crate::flags::parse_mount)]
    pub mounts: Vec<crate::flags::MountArg>,
    /// Mount a tmpfs directory (/path[:size=64m,mode=1777])
    #[arg(long = "tmpfs", value_parser = crate::flags::parse_tmpfs)]
    pub tmpfs: Vec<crate::flags::MountArg>,
    /// Memory limit (e.g. 256m, 1g)
    #[arg(short = 'm', long, value_parser = crate::flags::parse_memory)]
    pub memory: Option<i64>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true, value_parser = crate::flags::parse_memory_swap)]
    pub memory_swap: Option<i64>,
    /// Number of CPUs (e.g. 1.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPU shares (relative weight; 1024 is everyone's default)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_parser = crate::flags::parse_cpu_list)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_parser = crate::flags::parse_cpu_list)]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = crate::units::parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Size of /dev/shm (default 64m)
    #[arg(long = "shm-size", value_parser = crate::units::parse_bytes)]
    pub shm_size: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub blkio_weight: Option<u16>,
    /// Limit read rate (bytes per second) from a device (/dev/sda:1mb)
    #[arg(long = "device-read-bps", value_parser = crate::flags::parse_device_bps)]
    pub device_read_bps: Vec<crate::cgroups::spec_resources::Throttle>,
    /// Limit write rate (bytes per second) to a device (/dev/sda:1mb)
    #[arg(long = "device-write-bps", value_parser = crate::flags::parse_device_bps)]
    pub device_write_bps: Vec<crate::cgroups::spec_resources::Throttle>,
    /// Limit read rate (IO per second) from a device (/dev/sda:1000)
    #[arg(long = "device-read-iops", value_parser = crate::flags::parse_device_iops)]
    pub device_read_iops: Vec<crate::cgroups::spec_resources::Throttle>,
    /// Limit write rate (IO per second) to a device (/dev/sda:1000)
    #[arg(long = "device-write-iops", value_parser = crate::flags::parse_device_iops)]
    pub device_write_iops: Vec<crate::cgroups::spec_resources::Throttle>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Network: bridge (the default), none, host, container:NAME, or a network's name
    #[arg(long = "network", alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port(s) to the host ([IP:][HOST:]CONTAINER[/tcp|/udp])
    #[arg(short = 'p', long = "publish", value_parser = crate::endpoint::ports::parse)]
    pub publish: Vec<Vec<crate::endpoint::ports::PortMapping>>,
    /// Publish every port the image exposes to a random host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPv4 address on the network (e.g. 10.88.0.10)
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_parser = crate::network::hosts::parse_add_host)]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// Add a network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Ulimit options (e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_parser = crate::flags::parse_ulimit)]
    pub ulimits: Vec<crate::flags::Ulimit>,
    /// Pass N more file descriptors (3..3+N) into the container, as runc does
    #[arg(long = "preserve-fds", default_value = "0", value_parser = crate::flags::parse_preserve_fds)]
    pub preserve_fds: u32,
    /// Pull the image before running: always, missing (default) or never
    #[arg(long, default_value = "missing", value_parser = clap::builder::TypedValueParser::map(clap::builder::PossibleValuesParser::new(["always", "missing", "never"]), |s| s.parse::<crate::registry::ensure::PullPolicy>().expect("one of the possible values")))]
    pub pull: crate::registry::ensure::PullPolicy,
    /// Platform to pull if the image is missing (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Security options (no-new-privileges)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Set metadata on the container (KEY=VALUE)
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Namespaced kernel parameters (e.g. net.ipv4.ip_unprivileged_port_start=0)
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub sysctls: Vec<String>,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output (id=, name=, status=, exited=, ancestor=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output with a Go template ("table {{.ID}}\t{{.Names}}", "{{json .}}")
    #[arg(long)]
    pub format: Option<String>,
    /// Show the N last created containers (all states)
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// Show the latest created container (all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes (the container's writable layer)
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show all images
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output (dangling=true|false, reference=PATTERN)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output with a Go template ("table {{.Repository}}\t{{.Tag}}", "{{json .}}")
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Only inspect objects of this type (image or container)
    #[arg(long = "type", value_parser = ["image", "container"])]
    pub kind: Option<String>,
    /// Format output with a Go template ("{{.NetworkSettings.IPAddress}}", "{{json .Config}}")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from this archive (or OCI layout directory) instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Rootless: squash (files owned by ids outside your range become yours)
    #[arg(long, value_enum, default_value = "host")]
    pub userns: UsernsMode,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Rootless: squash (files owned by ids outside your range become yours)
    #[arg(long, value_enum, default_value = "host")]
    pub userns: UsernsMode,
    /// Tarball path, or - for STDIN
    pub source: String,
    /// Repository name and tag for the image
    pub reference: Option<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME)
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
}

/// Docker verbs hako does not have yet, and the issue that brings each: said plainly
/// instead of a "did you mean" pointing at an unrelated verb.
const PLANNED: &[(&str, &str)] = &[
    (
        "update",
        "a later issue (for OCI bundles, hako runc update works today)",
    ),
    (
        "events",
        "a later issue (for OCI bundles, hako runc events works today)",
    ),
];

/// A command line clap refused, as Docker words it: `hako: <what>` on one line, and for
/// an unknown flag or verb where to look.
pub fn describe_usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ErrorKind};
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    let invalid = |kind| e.get(kind).map(|v| v.to_string()).unwrap_or_default();
    match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let verb = invalid(ContextKind::InvalidSubcommand);
            match PLANNED.iter().find(|(v, _)| *v == verb) {
                Some((_, issue)) => format!(
                    "hako: '{verb}' is not built yet: it is planned with {issue}.\nSee 'hako --help' for what works today."
                ),
                None => format!("hako: '{verb}' is not a hako command.\nSee 'hako --help'."),
            }
        }
        ErrorKind::UnknownArgument => {
            use clap::CommandFactory;
            // The verb the flag was given to, for where to look.
            let verbs: Vec<String> = Cli::command()
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let verb = std::env::args()
                .skip(1)
                .find(|a| verbs.contains(a))
                .map(|v| format!("{v} "))
                .unwrap_or_default();
            format!(
                "hako: unknown flag: {}\nSee 'hako {verb}--help'.",
                invalid(ContextKind::InvalidArg)
            )
        }
        _ => format!("hako: {first}"),
    }
}
