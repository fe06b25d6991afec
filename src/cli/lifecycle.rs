//! Flags of the verbs that drive a container's life after `run`: Docker's names and
//! defaults.

use clap::Args;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Detached mode: run the command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Signal to send to the container (default: its stop signal, else SIGTERM)
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainersArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since a timestamp (RFC 3339) or a relative time (e.g. 42m, 10s)
    #[arg(long)]
    pub since: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options (accepted for Docker compatibility; the columns are fixed)
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SuperviseArgs {
    /// The container to start and keep
    pub container: String,
    /// Descriptor on which to report that the container started (or why it did not)
    #[arg(long = "notify-fd")]
    pub notify_fd: Option<i32>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Always follow symbolic links in SRC_PATH (accepted; the copy keeps links as links)
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path
    pub source: String,
    /// CONTAINER:DEST_PATH or a host path
    pub destination: String,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create {
        /// Subnet in CIDR format (default: the next free 10.N.0.0/24)
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway for the subnet (default: its first address)
        #[arg(long)]
        gateway: Option<std::net::Ipv4Addr>,
        /// Driver (only bridge)
        #[arg(short = 'd', long, default_value = "bridge", value_parser = ["bridge"])]
        driver: String,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only display network IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Display detailed information on one or more networks
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Connect a running container to a network (one more interface)
    Connect {
        /// Add a network-scoped alias for the container
        #[arg(long)]
        alias: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network it was connected to
    Disconnect { network: String, container: String },
    /// Remove all unused networks (and what a crashed hako left behind)
    Prune {
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    pub container: String,
}
