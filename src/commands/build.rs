//! `hako build` and `hako builder prune`: the flags, the build's host (images from the
//! image service, RUN steps as real containers through the shared lifecycle), and the
//! tags, written only once every step has succeeded.

use crate::build::{self, Host, Progress, RunStep};
use crate::cli::BuildArgs;
use crate::container::create::create_container;
use crate::container::request::{CreateRequest, ImageParts};
use crate::container::{finish, start};
use crate::digest::Digest;
use crate::launcher::StartOptions;
use crate::reference::Reference;
use crate::registry::config::RegistryConfig;
use crate::registry::ensure::{self, PullPolicy};
use crate::spec::frontend::RunOptions;
use crate::spec::NetworkMode;
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Seek};
use std::path::{Path, PathBuf};

pub fn build_verb(store: &Store, args: &BuildArgs, registries: &RegistryConfig) -> Result<i32> {
    let image = build_image(store, args, registries)?;
    if args.quiet {
        println!("{}", image.config);
    }
    Ok(0)
}

/// Builds and tags; returns the new image (compose builds through here too).
pub fn build_image(
    store: &Store,
    args: &BuildArgs,
    registries: &RegistryConfig,
) -> Result<ImageRecord> {
    let context = args.context.canonicalize().map_err(|e| {
        anyhow!(
            "unable to prepare context: path {:?} not found ({e})",
            args.context
        )
    })?;
    if !context.is_dir() {
        bail!(
            "unable to prepare context: {} is not a directory",
            context.display()
        );
    }
    let (dockerfile, dockerfile_name) = read_dockerfile(&context, args.file.as_deref())?;
    let tags = args
        .tags
        .iter()
        .map(|t| {
            t.parse::<Reference>()
                .map_err(|e| anyhow!("invalid tag {t:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(t) = tags.iter().find(|t| t.digest.is_some()) {
        bail!("invalid tag {t}: a tag cannot name a digest");
    }
    let progress = match (args.quiet, args.progress.as_str()) {
        (true, _) => Progress::Quiet,
        (false, "plain") => Progress::Plain,
        (false, "tty") => Progress::Terminal,
        _ if std::io::stdout().is_terminal() => Progress::Terminal,
        _ => Progress::Plain,
    };
    let request = build::Request {
        context,
        dockerfile,
        dockerfile_name,
        build_args: parse_build_args(&args.build_args),
        target: args.target.clone(),
        no_cache: args.no_cache,
        labels: super::volume::parse_labels(&args.labels)?,
        progress,
    };
    let network = match args.network.as_str() {
        // Rootless with no user-mode helper installed, the steps run without a network
        // rather than the build failing (most steps need none).
        "default" | "bridge"
            if store.mode().rootless() && crate::network::usermode::choose(None).is_err() =>
        {
            NetworkMode::None
        }
        name if name.starts_with("container:") => {
            bail!("--network {name}: a build step cannot join another container's network (default, none, host or a network name)")
        }
        name => crate::container::request::network_mode(store, name)?,
    };
    // Held for the whole build: no collection removes a step's layer before it is named.
    let _writer = store.writer_guard()?;
    let mut host = BuildHost {
        store,
        registries,
        pull: if args.pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        },
        platform: args.platform.clone(),
        network,
        quiet: progress != Progress::Plain && progress != Progress::Terminal,
    };
    let built = build::build(store, &mut host, &request)?;
    let record = crate::image::write_image(store, &built.config, &built.layers, tags.first())?;
    for t in tags.iter().skip(1) {
        store.add_image(
            &record.manifest,
            record.manifest_size,
            &record.config,
            Some(t),
        )?;
    }
    if progress != Progress::Quiet {
        println!("Successfully built {}", record.config.short());
        for t in &args.tags {
            println!("Successfully tagged {t}");
        }
    }
    Ok(record)
}

/// `-f FILE` (relative to the working directory, as Docker), `-f -` (stdin), or
/// CONTEXT/Dockerfile.
fn read_dockerfile(context: &Path, file: Option<&Path>) -> Result<(String, String)> {
    let path: PathBuf = match file {
        Some(f) if f == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            return Ok((text, "Dockerfile (stdin)".into()));
        }
        Some(f) => f.to_path_buf(),
        None => context.join("Dockerfile"),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow!(
            "failed to read the Dockerfile {}: {e} (give another with -f)",
            path.display()
        )
    })?;
    let name = path
        .file_name()
        .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((text, name))
}

/// `--build-arg K=V`, or `K` to pass the host's value (skipped when unset, as Docker).
fn parse_build_args(args: &[String]) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

struct BuildHost<'a> {
    store: &'a Store,
    registries: &'a RegistryConfig,
    pull: PullPolicy,
    platform: Option<String>,
    network: NetworkMode,
    quiet: bool,
}

impl Host for BuildHost<'_> {
    fn image(&mut self, name: &str) -> Result<ImageRecord> {
        ensure::ensure(
            self.store,
            name,
            self.pull,
            self.platform.as_deref(),
            self.registries,
            self.quiet,
        )
    }

    fn run(&mut self, step: &RunStep, pack: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
        let config_bytes = serde_json::to_vec(step.config)?;
        let config = crate::image::parse_config(&config_bytes)
            .map_err(|e| anyhow!("the build's image config: {e}"))?;
        let parts = ImageParts {
            id: Digest::of_bytes(&config_bytes),
            config,
            layers: step.layers.clone(),
        };
        let request = CreateRequest {
            image_name: "(build step)".into(),
            name: Some(format!("hako-build-{}", crate::state::random_hex(6))),
            options: RunOptions {
                entrypoint: Some(String::new()),
                command: step.argv.clone(),
                env: step.args_env.clone(),
                network: Some(self.network.clone()),
                ..Default::default()
            },
            volume_requests: vec![],
            interactive: false,
            auto_remove: false,
            restart: Default::default(),
            stop_signal: None,
            stop_timeout: None,
            network: Default::default(),
            publish_all: false,
            // Whose step this is: a killed build's container is removed by the next command.
            labels: BTreeMap::from([(
                crate::container::reap::BUILD_OWNER_LABEL.to_string(),
                crate::container::reap::this_process(),
            )]),
        };
        // Image VOLUMEs are not mounted for a build step: what RUN writes there is dropped
        // from the layer (as Docker's classic builder does), not kept in a volume.
        let (mut record, spec) =
            create_container(self.store, request.check(self.store.mode())?, parts)?;
        // Quiet builds keep the output in an unlinked file, shown if the step fails.
        let mut capture = if step.show_output {
            None
        } else {
            let path = self.store.temp_path("build-output");
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .context("a file for the step's output")?;
            let _ = std::fs::remove_file(&path);
            Some(f)
        };
        let devnull = std::fs::File::open("/dev/null")?;
        let stdio = capture.as_ref().map(|f| {
            use std::os::fd::AsRawFd;
            [devnull.as_raw_fd(), f.as_raw_fd(), f.as_raw_fd()]
        });
        let options = StartOptions {
            interactive: false,
            preserve_fds: 0,
            die_with_parent: true,
            start_fifo: None,
            stdio,
        };
        let result = start::run_foreground(self.store, &mut record, Some(spec), &options);
        let outcome = match result {
            Ok(0) => crate::rootfs::container_overlay(self.store, &record.id, &record.layers)
                .changes()
                .map_err(anyhow::Error::from)
                .and_then(|changes| pack(&changes)),
            Ok(code) => {
                let mut output = String::new();
                if let Some(f) = capture.as_mut() {
                    let _ = f.rewind();
                    let _ = f.read_to_string(&mut output);
                }
                Err(anyhow!(
                    "The command '{}' returned a non-zero code: {code}{}",
                    step.argv.join(" "),
                    if output.is_empty() {
                        String::new()
                    } else {
                        format!("\n{}", output.trim_end())
                    }
                ))
            }
            Err(e) => Err(e.context("start the RUN container")),
        };
        for p in finish::teardown(self.store, &record) {
            eprintln!("hako: cleanup of build container {}: {p}", record.name);
        }
        outcome
    }
}

/// `hako builder prune`: the cache entries go, then the layers only they kept.
pub fn builder_prune(store: &Store) -> Result<i32> {
    let removed = crate::store::build_cache::clear(store)?;
    let report = store.collect_garbage()?;
    println!(
        "Deleted {removed} build cache entries\nTotal reclaimed space: {}",
        crate::units::human_size(report.bytes)
    );
    Ok(0)
}
