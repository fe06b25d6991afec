//! Flags of `build`, `compose` and `volume`: Docker's and Docker Compose's names and defaults.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        /// Set metadata for a volume (KEY=VALUE)
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Driver (only local)
        #[arg(short = 'd', long, default_value = "local", value_parser = ["local"])]
        driver: String,
        /// Volume name (default: a random one)
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Filter output (dangling=true|false, name=, label=)
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// Remove even if a container uses it
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes (anonymous ones; all unused with -a)
    Prune {
        /// Remove all unused volumes, not just anonymous ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Rootless: squash (files owned by ids outside your range become yours)
    #[arg(long, value_enum, default_value = "host")]
    pub userns: super::UsernsMode,
    /// Name and optionally a tag (name:tag); may be repeated
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables (KEY=VALUE, or KEY to copy the host's)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build up to this stage
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the build cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always pull the images FROM names, even when present
    #[arg(long)]
    pub pull: bool,
    /// Platform of the FROM images (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Network for RUN instructions: bridge (default as root), none or host
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Suppress the build output and print the image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set metadata for the image (KEY=VALUE)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Output type: plain (one line per event) or auto (a terminal's)
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    pub progress: String,
    /// The build context: a directory
    pub context: PathBuf,
}

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose file (default: compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml)
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Project name (default: the directory's name)
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate environment file (default: .env beside the compose file)
    #[arg(long = "env-file")]
    pub env_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start containers
    Up {
        /// Detached mode: run containers in the background
        #[arg(short = 'd', long)]
        detach: bool,
        /// Build images before starting containers
        #[arg(long)]
        build: bool,
        /// Remove containers for services not defined in the compose file
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Recreate containers even if their configuration has not changed
        #[arg(long = "force-recreate")]
        force_recreate: bool,
        services: Vec<String>,
    },
    /// Stop and remove containers and networks
    Down {
        /// Remove named volumes declared in the volumes section and anonymous volumes
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Remove containers for services not defined in the compose file
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Seconds to wait for each container to stop
        #[arg(short = 't', long)]
        timeout: Option<u64>,
    },
    /// List containers
    Ps {
        /// Only display IDs
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Show all stopped containers too
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// View output from containers
    Logs {
        /// Follow log output
        #[arg(short = 'f', long)]
        follow: bool,
        /// Show timestamps
        #[arg(short = 't', long)]
        timestamps: bool,
        services: Vec<String>,
    },
    /// Run a one-off command on a service
    Run {
        /// Remove the container after it exits
        #[arg(long)]
        rm: bool,
        /// Run in the background
        #[arg(short = 'd', long)]
        detach: bool,
        /// Set environment variables
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Override the entrypoint
        #[arg(long)]
        entrypoint: Option<String>,
        /// Disable pseudo-TTY allocation
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Do not start linked services
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Publish the service's ports too
        #[arg(long = "service-ports")]
        service_ports: bool,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Execute a command in a running service container
    Exec {
        /// Detached mode
        #[arg(short = 'd', long)]
        detach: bool,
        /// Disable pseudo-TTY allocation
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Set environment variables
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Run as this user
        #[arg(short = 'u', long)]
        user: Option<String>,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Build or rebuild services
    Build {
        /// Do not use the build cache
        #[arg(long = "no-cache")]
        no_cache: bool,
        services: Vec<String>,
    },
    /// Pull service images
    Pull { services: Vec<String> },
    /// Push service images
    Push { services: Vec<String> },
    /// Start services
    Start { services: Vec<String> },
    /// Stop services
    Stop {
        /// Seconds to wait before killing
        #[arg(short = 't', long)]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Restart services
    Restart {
        /// Seconds to wait before killing
        #[arg(short = 't', long)]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Print the resolved compose model
    #[command(alias = "convert")]
    Config {
        /// Print only the service names
        #[arg(long)]
        services: bool,
        /// Only validate, print nothing
        #[arg(short = 'q', long)]
        quiet: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove the build cache
    Prune {
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Remove all build cache (the same as without: hako keeps no other kind)
        #[arg(short = 'a', long)]
        all: bool,
    },
}
