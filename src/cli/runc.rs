//! runc's command line: `hako runc VERB …`, or the binary invoked as `hako-runc` (or
//! `runc`) with runc's argv, for containerd, Docker, Podman and CRI-O.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// argv[0] ends in `runc`: the whole command line is runc's.
#[derive(Parser, Debug)]
#[command(
    name = "hako-runc",
    version,
    about = "hako's OCI runtime, with runc's command line"
)]
pub struct RuncCli {
    #[command(flatten)]
    pub args: RuncArgs,
}

#[derive(Args, Debug)]
pub struct RuncArgs {
    /// Directory for the containers' state (runc's default: /run/runc; hako's: /run/hako-runc)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write errors (and with --debug, progress) to this file
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// cgroupsPath is slice:prefix:name (systemd's form); without systemd, its cgroupfs path
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// More output in the log
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for compatibility (hako has no criu support)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: RuncCommand,
}

#[derive(Subcommand, Debug)]
pub enum RuncCommand {
    /// Create a new specification file (config.json)
    Spec {
        /// Path to the bundle
        #[arg(short = 'b', long)]
        bundle: Option<PathBuf>,
        /// Generate a spec for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container, ready to start
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container (and wait for it unless -d)
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// Output the state of a container
    State { id: String },
    /// Send a signal to the container's init (default SIGTERM)
    Kill {
        /// Signal every process in the container
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container's state and resources
    Delete {
        /// Kill the container first if it is running
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// Run a process in a running container
    Exec {
        /// A process.json with the process to run
        #[arg(short = 'p', long)]
        process: Option<PathBuf>,
        /// Detach from the process
        #[arg(short = 'd', long)]
        detach: bool,
        /// Write the process's pid here
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the pty master
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Allocate a pseudo-TTY
        #[arg(short = 't', long)]
        tty: bool,
        /// Working directory
        #[arg(long)]
        cwd: Option<String>,
        /// Environment variables (KEY=VALUE)
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Pass N more file descriptors
        #[arg(long = "preserve-fds", default_value = "0")]
        preserve_fds: u32,
        /// Add a capability to the process (bounding, effective, permitted), repeatable
        #[arg(short = 'c', long = "cap")]
        cap: Vec<String>,
        /// Exec even into a paused container (the process starts frozen with it)
        #[arg(long = "ignore-paused")]
        ignore_paused: bool,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Display the processes running inside a container
    Ps {
        /// table or json
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
    },
    /// List the containers
    List {
        /// table or json
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Only the IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Suspend every process in the container
    Pause { id: String },
    /// Resume a paused container
    Resume { id: String },
    /// Show what this runtime supports (the OCI features document)
    Features,
    /// Change a running container's resource limits
    Update {
        /// A LinuxResources JSON file, or - for stdin
        #[arg(short = 'r', long)]
        resources: Option<PathBuf>,
        /// Memory limit in bytes
        #[arg(long)]
        memory: Option<i64>,
        /// Memory plus swap limit in bytes (-1: unlimited)
        #[arg(long = "memory-swap", allow_hyphen_values = true)]
        memory_swap: Option<i64>,
        /// CPU CFS quota in microseconds (-1: unlimited)
        #[arg(long = "cpu-quota", allow_hyphen_values = true)]
        cpu_quota: Option<i64>,
        /// CPU CFS period in microseconds
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        /// Maximum number of processes (-1: unlimited)
        #[arg(long = "pids-limit", allow_hyphen_values = true)]
        pids_limit: Option<i64>,
        id: String,
    },
    /// Resource usage of a container, as JSON lines
    Events {
        /// Print one sample and exit
        #[arg(long)]
        stats: bool,
        /// Time between samples
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle (default: the working directory)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's pid here
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root (accepted; hako always pivots)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring (accepted)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N more file descriptors (3..3+N) into the container
    #[arg(long = "preserve-fds", default_value = "0")]
    pub preserve_fds: u32,
    pub id: String,
}
