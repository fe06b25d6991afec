//! One file per verb: each combines the modules below it and adds context to errors.

mod attach;
mod build;
mod commit_export;
mod compose;
mod exec;
mod files;
pub mod images;
mod import_load;
mod info;
mod inspect;
mod logs;
mod network;
mod output;
pub(crate) mod prune;
mod ps;
mod registry;
mod rm;
mod run;
pub mod runc;
mod save;
mod start_stop;
mod top_stats;
mod volume;

use crate::cli::{BuilderCommand, Cli, Command, ImageCommand, SystemCommand};
use crate::exit::ExitCode;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn dispatch(cli: Cli) -> Result<i32> {
    let explicit_root = cli.root.is_some();
    let root = data_root(cli.root);
    // Decided once, here; everything below takes it from the store or as an argument.
    let mode = crate::rootless::Mode::of_this_process();
    let registries = crate::registry::config::RegistryConfig::load(&cli.insecure_registries, mode);
    match cli.command {
        Command::Info
        | Command::System {
            command: SystemCommand::Info,
        } => info::info(&root, cli.storage_driver),
        Command::Login(args) => registry::login(&args, &registries),
        Command::Runc { args } => {
            let argv = std::iter::once("hako runc".to_string()).chain(args);
            let cli = <crate::cli::RuncCli as clap::Parser>::try_parse_from(argv)
                .map_err(|e| anyhow::anyhow!("{}", e.render()))?;
            runc::runc(cli.args)
        }
        Command::Version => {
            println!("hako version {}", env!("CARGO_PKG_VERSION"));
            println!(" OCI runtime spec: 1.0.2 (config.json bundles, runc's command line as `hako runc` or hako-runc)");
            println!(
                " Kernel:           {}",
                std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim()
            );
            println!(" Data root:        {}", root.display());
            Ok(0)
        }
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let shell: clap_complete::Shell =
                shell.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hako", &mut script);
            output::write_stdout(&script)?;
            Ok(0)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            output::write_stdout(&page)?;
            Ok(0)
        }
        Command::Logout { server } => registry::logout(server.as_deref()),
        command => {
            enter_rootless(&root, explicit_root, &command, mode)?;
            let store = Store::open_with_driver(&root, cli.storage_driver).map_err(|e| {
                anyhow::anyhow!(e).context(format!(
                    "open the data root {} (set another with --root or HAKO_ROOT)",
                    root.display()
                ))
            })?;
            match command {
                Command::Run(args) => run::run(&store, args, &registries),
                Command::Create(args) => run::create_verb(&store, args, &registries),
                Command::Start(args) => start_stop::start(&store, &args),
                Command::Stop(args) => start_stop::stop(&store, &args),
                Command::Restart(args) => start_stop::restart(&store, &args),
                Command::Kill(args) => start_stop::kill_verb(&store, &args),
                Command::Wait(args) => start_stop::wait(&store, &args),
                Command::Pause(args) => start_stop::pause(&store, &args, true),
                Command::Unpause(args) => start_stop::pause(&store, &args, false),
                Command::Rename(args) => start_stop::rename(&store, &args),
                Command::Exec(args) => exec::exec_verb(&store, &args),
                Command::Attach(args) => attach::attach(&store, &args),
                Command::Cp(args) => files::cp(&store, &args),
                Command::Network { command } => network::network(&store, &command),
                Command::Volume { command } => volume::volume(&store, &command),
                Command::Build(args) => build::build_verb(&store, &args, &registries),
                Command::Builder { command } => match command {
                    BuilderCommand::Prune { .. } => build::builder_prune(&store),
                },
                Command::Compose(args) => compose::compose(&store, &root, &args, &registries),
                Command::Port(args) => network::port(&store, &args),
                Command::Diff { container } => files::diff(&store, &container),
                Command::History(args) => files::history(&store, &args),
                Command::Logs(args) => logs::logs(&store, &args),
                Command::Top(args) => top_stats::top(&store, &args),
                Command::Stats(args) => top_stats::stats(&store, &args),
                Command::Supervise(args) => {
                    crate::container::keeper::keep(&store, &args.container, args.notify_fd)
                }
                Command::Ps(args) => ps::ps(&store, &args),
                Command::Rm(args) => rm::rm(&store, &args),
                Command::Images(args) => images::images(&store, &args),
                Command::Rmi(args) => images::rmi(&store, &args),
                Command::Tag { source, target } => images::tag(&store, &source, &target),
                Command::Inspect(args) => inspect::inspect(&store, &args),
                Command::Load(args) => import_load::load(&store, &args),
                Command::Import(args) => import_load::import(&store, &args),
                Command::Pull(args) => registry::pull(&store, &args, &registries),
                Command::Push(args) => registry::push(&store, &args, &registries),
                Command::Login(_) | Command::Logout { .. } | Command::Runc { .. } => {
                    unreachable!("handled above")
                }
                Command::Commit(args) => commit_export::commit(&store, &args),
                Command::Export(args) => commit_export::export(&store, &args),
                Command::Save(args) => save::save(&store, &args),
                Command::Image { command } => match command {
                    ImageCommand::Prune(args) => prune::image_prune(&store, &args),
                    ImageCommand::Ls(args) => images::images(&store, &args),
                    ImageCommand::Rm(args) => images::rmi(&store, &args),
                },
                Command::System { command } => match command {
                    SystemCommand::Df => prune::system_df(&store),
                    SystemCommand::Prune(args) => prune::system_prune(&store, &args),
                    SystemCommand::Check { repair } => prune::system_check(&store, repair),
                    SystemCommand::Info => unreachable!("handled above"),
                },
                Command::Info | Command::Version | Command::Completion { .. } | Command::Man => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// `/var/lib/hako` as root; `$XDG_DATA_HOME/hako` or `~/.local/share/hako` as a user
/// (a local directory instead when that is on a network filesystem).
pub fn data_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(r) = flag {
        return r;
    }
    match crate::rootless::host_user() {
        Some(user) => crate::rootless::storage::choose_user_root(user.uid).0,
        None => PathBuf::from("/var/lib/hako"),
    }
}

/// A rootless hako enters its user namespace before it touches the store: a new one,
/// or for `exec` and `cp` the one a running container lives in.
fn enter_rootless(
    root: &std::path::Path,
    explicit_root: bool,
    command: &Command,
    mode: crate::rootless::Mode,
) -> Result<()> {
    use crate::cli::UsernsMode;
    use crate::rootless::{self, storage};
    let userns = match command {
        Command::Run(a) | Command::Create(a) => a.userns,
        Command::Pull(a) => a.userns,
        Command::Load(a) => a.userns,
        Command::Import(a) => a.userns,
        Command::Build(a) => a.userns,
        _ => UsernsMode::Host,
    };
    let is_run = matches!(command, Command::Run(_) | Command::Create(_));
    if userns == UsernsMode::KeepId && !is_run {
        anyhow::bail!(
            "--userns=keep-id applies to containers (run, create); images take --userns=squash"
        );
    }
    if userns != UsernsMode::Host && !mode.rootless() {
        anyhow::bail!("--userns=keep-id and --userns=squash are for rootless hako: root's containers and images use the host's own ids");
    }
    rootless::set_squash(userns == UsernsMode::Squash);
    let Some(user) = rootless::host_user() else {
        return Ok(());
    };
    if rootless::entered() {
        return Ok(());
    }
    let fs = storage::network_filesystem(storage::filesystem_magic(root));
    if let (Some(fs), true) = (fs, explicit_root) {
        anyhow::bail!(
            "the data root {} is on {fs}, where overlay and extended attributes do not work for rootless containers; choose a directory on a local disk with --root or HAKO_ROOT",
            root.display()
        );
    }
    if !explicit_root && !root.exists() {
        if let (_, Some(note)) = storage::choose_user_root(user.uid) {
            eprintln!("hako: {note}");
        }
    }
    let container = match command {
        Command::Exec(args) => Some(args.container.as_str()),
        Command::Top(args) => Some(args.container.as_str()),
        // A running container is read through /proc/PID/root: its namespace's view.
        Command::Export(args) => Some(args.container.as_str()),
        Command::Cp(args) => [&args.source, &args.destination]
            .into_iter()
            .find_map(|a| a.split_once(':').map(|(c, _)| c))
            .filter(|c| !c.is_empty() && !c.contains('/')),
        _ => None,
    };
    let join = match container {
        Some(name) => Store::open(root)
            .ok()
            .and_then(|s| s.lookup_container(name).ok())
            .filter(|c| c.is_running())
            .map(|c| c.state.pid),
        None => None,
    };
    rootless::enter(root, join).context(ExitCode(125))?;
    Ok(())
}
