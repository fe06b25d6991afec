//! `build`: a Dockerfile, step by step, into an image.
//!
//! Each stage starts from an image (or `scratch`, or an earlier stage) and carries a state:
//! the image config being written and the layers so far. Metadata instructions (ENV, CMD,
//! LABEL…) change only the config; RUN runs in a real container of the current state (the
//! caller's `Host` does that) and COPY/ADD copy into an overlay of it mounted in a private
//! mount namespace; both turn the overlay's upper directory into a layer with the commit
//! module's packer. A step whose key (the state before it, the instruction after
//! substitution, the variables a RUN sees, the content COPY takes) is in the build cache is
//! not run again. Nothing is tagged until the last step has succeeded.

pub mod context;
pub mod copy;
pub mod dockerfile;
mod steps;
pub mod words;

use crate::digest::Digest;
use crate::store::blobs::LayerBlob;
use crate::store::build_cache;
use crate::store::images::ImageRecord;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use dockerfile::{Instruction, Keyword};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the build needs from the rest of hako: images for FROM and `COPY --from`, and a
/// container for RUN.
pub trait Host {
    /// The image `name`, pulled if it is missing (or always, with `--pull`).
    fn image(&mut self, name: &str) -> Result<ImageRecord>;
    /// Runs `step` in a container of its layers; on exit code 0 hands the container's
    /// upper directory to `pack` before removing the container. A non-zero exit is an
    /// error that carries the code and (when the output was not shown) the output.
    fn run(&mut self, step: &RunStep, pack: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()>;
}

/// One RUN: the current state and what to execute.
pub struct RunStep<'a> {
    /// The image config JSON of the state so far.
    pub config: &'a Value,
    /// Diff IDs, bottom first, unpacked in the store.
    pub layers: Vec<Digest>,
    pub argv: Vec<String>,
    /// Build args the command sees as environment (ENV wins over them).
    pub args_env: Vec<String>,
    /// Output goes to the terminal (false: captured, shown on failure).
    pub show_output: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Only the image ID at the end (`-q`).
    Quiet,
    /// One line per event (a pipe, `--progress plain`).
    Plain,
    /// Bold step lines and times (a terminal).
    Terminal,
}

pub struct Request {
    pub context: PathBuf,
    /// The Dockerfile's text and where it came from (for messages).
    pub dockerfile: String,
    pub dockerfile_name: String,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    pub progress: Progress,
}

/// The build's result: the image's config and layers (the caller writes and tags it).
pub struct Built {
    pub config: Vec<u8>,
    pub layers: Vec<LayerBlob>,
}

/// The state of a stage after each step.
#[derive(Clone)]
struct State {
    config: Value,
    layers: Vec<LayerBlob>,
    /// Identifies this state for the cache: the base image, then one hash per step.
    id: Digest,
    /// Time of the last step that made a layer (history and `created` use it).
    created: String,
    /// ARGs declared in this stage, with their values (None: declared, no value).
    args: BTreeMap<String, Option<String>>,
    cmd_set_here: bool,
}

impl State {
    fn scratch() -> State {
        State {
            config: json!({
                "architecture": crate::image::host_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            layers: vec![],
            id: Digest::of_bytes(b"scratch"),
            created: crate::timefmt::rfc3339(0, 0),
            args: BTreeMap::new(),
            cmd_set_here: false,
        }
    }

    fn run_config(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"]
            .as_object_mut()
            .expect("just made an object")
    }

    fn diff_ids(&self) -> Vec<Digest> {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str()?.parse().ok())
            .collect()
    }

    /// The value of `name` for substitution: ENV first, then this stage's ARGs.
    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.config["config"]["Env"].as_array();
        let from_env = env.into_iter().flatten().find_map(|e| {
            let (k, v) = e.as_str()?.split_once('=')?;
            (k == name).then(|| v.to_string())
        });
        from_env.or_else(|| self.args.get(name).cloned().flatten())
    }

    fn shell(&self) -> Vec<String> {
        self.config["config"]["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn advance(&mut self, key: &str) {
        self.id = Digest::of_bytes(format!("{}\n{key}", self.id).as_bytes());
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        let mut entry = json!({
            "created": self.created,
            "created_by": created_by,
            "comment": "buildkit.dockerfile.v0",
        });
        if empty_layer {
            entry["empty_layer"] = json!(true);
        }
        match self.config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => self.config["history"] = json!([entry]),
        }
    }
}

pub struct Builder<'a> {
    store: &'a Store,
    host: &'a mut dyn Host,
    request: &'a Request,
    escape: char,
    ignore: context::Ignore,
    /// Build args some ARG declared (the rest are reported unused).
    consumed: BTreeSet<String>,
    global_args: BTreeMap<String, Option<String>>,
    stages: Vec<(Option<String>, State)>,
    step: usize,
    total: usize,
    out: Box<dyn Write + 'a>,
}

/// Runs the whole build.
pub fn build(store: &Store, host: &mut dyn Host, request: &Request) -> Result<Built> {
    let df = dockerfile::parse(&request.dockerfile)
        .with_context(|| format!("parse {}", request.dockerfile_name))?;
    let ignore = context::Ignore::read(&request.context).map_err(anyhow::Error::msg)?;
    let stages = split_stages(&df.instructions);
    let last = match &request.target {
        None => stages.len() - 1,
        Some(t) => stage_index(&stages, t).ok_or_else(|| {
            anyhow!(
                "target stage {t:?} could not be found in {}",
                request.dockerfile_name
            )
        })?,
    };
    let globals: Vec<&Instruction> = df
        .instructions
        .iter()
        .take_while(|i| i.keyword != Keyword::From)
        .collect();
    let total = stages[..=last].iter().map(|s| s.len()).sum();
    let mut b = Builder {
        store,
        host,
        request,
        escape: df.escape,
        ignore,
        consumed: BTreeSet::new(),
        global_args: BTreeMap::new(),
        stages: vec![],
        step: 0,
        total,
        out: if request.progress == Progress::Quiet {
            Box::new(std::io::sink())
        } else {
            Box::new(std::io::stdout())
        },
    };
    for g in globals {
        let mut scratch = State::scratch();
        b.arg(&mut scratch, g)?;
        b.global_args.extend(scratch.args);
    }
    for stage in &stages[..=last] {
        let state = b.stage(stage)?;
        let name = stage_name(stage[0]);
        b.stages.push((name, state));
    }
    let unused: Vec<&String> = request
        .build_args
        .keys()
        .filter(|k| !b.consumed.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() && request.progress != Progress::Quiet {
        eprintln!(
            "[Warning] One or more build-args {unused:?} were not consumed (no ARG declares them)"
        );
    }
    let (_, mut state) = b.stages.pop().expect("at least one stage");
    for (k, v) in &request.labels {
        state
            .run_config()
            .entry("Labels")
            .or_insert_with(|| json!({}))[k] = json!(v);
    }
    state.config["created"] = json!(state.created);
    Ok(Built {
        config: serde_json::to_vec(&state.config)?,
        layers: state.layers,
    })
}

/// Proxy variables Docker lets through without an ARG (and never warns about).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn split_stages(all: &[Instruction]) -> Vec<Vec<&Instruction>> {
    let mut stages: Vec<Vec<&Instruction>> = vec![];
    for i in all.iter().skip_while(|i| i.keyword != Keyword::From) {
        if i.keyword == Keyword::From {
            stages.push(vec![]);
        }
        stages.last_mut().expect("starts with FROM").push(i);
    }
    stages
}

/// `FROM image AS name` → `name` (lowercase, as Docker compares them).
fn stage_name(from: &Instruction) -> Option<String> {
    let dockerfile::Args::Text(t) = &from.args else {
        return None;
    };
    let words: Vec<&str> = t.split_whitespace().collect();
    match words.as_slice() {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
        _ => None,
    }
}

fn stage_index(stages: &[Vec<&Instruction>], name: &str) -> Option<usize> {
    stages
        .iter()
        .position(|s| stage_name(s[0]).as_deref() == Some(&name.to_ascii_lowercase()))
        .or_else(|| name.parse().ok().filter(|n: &usize| *n < stages.len()))
}

impl Builder<'_> {
    fn stage(&mut self, instructions: &[&Instruction]) -> Result<State> {
        let mut state = self.from(instructions[0])?;
        for ins in &instructions[1..] {
            self.instruction(&mut state, ins)?;
        }
        Ok(state)
    }

    fn announce(&mut self, ins: &Instruction) {
        self.step += 1;
        let line = format!("Step {}/{} : {}", self.step, self.total, ins.original);
        let _ = match self.request.progress {
            Progress::Terminal => writeln!(self.out, "\x1b[1m{line}\x1b[0m"),
            _ => writeln!(self.out, "{line}"),
        };
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, " ---> {text}");
    }

    /// Errors from a step name the Dockerfile line.
    fn instruction(&mut self, state: &mut State, ins: &Instruction) -> Result<()> {
        self.announce(ins);
        let started = std::time::Instant::now();
        steps::execute(self, state, ins).with_context(|| {
            format!(
                "{} line {}: {}",
                self.request.dockerfile_name,
                ins.line,
                ins.keyword.name()
            )
        })?;
        if self.request.progress == Progress::Terminal && started.elapsed().as_millis() > 100 {
            let took = format!("{:.1}s", started.elapsed().as_secs_f64());
            self.note(&took);
        }
        Ok(())
    }

    fn from(&mut self, ins: &Instruction) -> Result<State> {
        self.announce(ins);
        let globals = self.global_args.clone();
        let lookup = |k: &str| globals.get(k).cloned().flatten();
        let text = match &ins.args {
            dockerfile::Args::Text(t) => t.clone(),
            dockerfile::Args::Json(_) => bail!("line {}: FROM takes an image name", ins.line),
        };
        let words = words::split(&text, self.escape, &lookup)
            .map_err(|e| anyhow!("{} line {}: {e}", self.request.dockerfile_name, ins.line))?;
        let image = match words.as_slice() {
            [image] => image.clone(),
            [image, as_, _] if as_.eq_ignore_ascii_case("as") => image.clone(),
            _ => bail!(
                "{} line {}: FROM takes IMAGE [AS NAME], got {text:?}",
                self.request.dockerfile_name,
                ins.line
            ),
        };
        let mut state = if image.eq_ignore_ascii_case("scratch") {
            State::scratch()
        } else if let Some((_, s)) = self
            .stages
            .iter()
            .find(|(n, _)| n.as_deref() == Some(&image.to_ascii_lowercase()))
        {
            let mut s = s.clone();
            s.args.clear();
            s.cmd_set_here = false;
            s
        } else {
            let record = self.host.image(&image).with_context(|| {
                format!(
                    "{} line {}: FROM {image}",
                    self.request.dockerfile_name, ins.line
                )
            })?;
            self.image_state(&record)?
        };
        let short = state.id.short().to_string();
        self.note(&short);
        // ONBUILD triggers of the base run now, once; the new image does not inherit them.
        let triggers: Vec<String> = state.config["config"]["OnBuild"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        if let Some(cfg) = state.config["config"].as_object_mut() {
            cfg.remove("OnBuild");
        }
        for t in triggers {
            let parsed = dockerfile::parse(&format!("FROM scratch\n{t}"))
                .map_err(|e| anyhow!("ONBUILD trigger {t:?} of {image}: {}", e.message))?;
            let mut trigger = parsed.instructions[1].clone();
            trigger.line = ins.line;
            let _ = writeln!(self.out, "# Executing ONBUILD trigger: {t}");
            steps::execute(self, &mut state, &trigger)
                .with_context(|| format!("ONBUILD trigger {t:?} of {image}"))?;
        }
        Ok(state)
    }

    fn image_state(&self, record: &ImageRecord) -> Result<State> {
        let image = crate::image::Image::load(self.store, record)?;
        let config: Value = serde_json::from_slice(&self.store.read_blob(&record.config)?)?;
        let layers = crate::commit::base_layers(&image)?;
        Ok(State {
            created: config["created"]
                .as_str()
                .unwrap_or("1970-01-01T00:00:00Z")
                .to_string(),
            config,
            layers,
            id: record.config.clone(),
            args: BTreeMap::new(),
            cmd_set_here: false,
        })
    }

    /// ARG NAME[=default]…: the value is the `--build-arg` one, else the default, else the
    /// global ARG's (a stage re-declares a global ARG to see it).
    fn arg(&mut self, state: &mut State, ins: &Instruction) -> Result<()> {
        let dockerfile::Args::Text(text) = &ins.args else {
            bail!("ARG takes NAME[=DEFAULT]");
        };
        let lookup = |k: &str| state.lookup(k);
        let declared = words::split(text, self.escape, &lookup).map_err(anyhow::Error::msg)?;
        for d in declared {
            let (name, default) = match d.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (d.clone(), None),
            };
            if name.is_empty() {
                bail!("ARG needs a name");
            }
            let value = self
                .request
                .build_args
                .get(&name)
                .cloned()
                .or(default)
                .or_else(|| self.global_args.get(&name).cloned().flatten());
            self.consumed.insert(name.clone());
            state.args.insert(name, value);
        }
        Ok(())
    }

    /// Makes sure every layer of `state` is unpacked (a cached state's may not be).
    fn ensure_unpacked(&self, state: &State) -> Result<()> {
        for (blob, diff_id) in state.layers.iter().zip(state.diff_ids()) {
            if self.store.has_layer(&diff_id) {
                continue;
            }
            let raw = self.store.open_blob(&blob.digest)?;
            self.store
                .unpack_layer(
                    std::io::BufReader::with_capacity(1 << 20, raw),
                    Some(&diff_id),
                    &self.store.unpack_options(),
                )
                .with_context(|| format!("unpack layer {}", diff_id.short()))?;
        }
        Ok(())
    }

    /// A cached result for `key`, restored into `state`.
    fn cached(&mut self, state: &mut State, key: &Digest) -> bool {
        if self.request.no_cache {
            return false;
        }
        let Some(entry) = build_cache::lookup(self.store, key) else {
            return false;
        };
        let Some(layers) = entry.layers.iter().map(|l| l.blob()).collect() else {
            return false;
        };
        state.config = entry.config;
        state.layers = layers;
        state.created = entry.created;
        state.id = key.clone();
        self.note(&format!("CACHED {}", key.short()));
        true
    }
}
