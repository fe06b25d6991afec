//! One Dockerfile instruction applied to a stage's state: the config-only instructions
//! here, RUN through the host's container, COPY/ADD through a private overlay mount.

use super::context;
use super::copy::{copy_into, CopyOptions};
use super::dockerfile::{Args, Instruction, Keyword};
use super::{words, Builder, RunStep, State};
use crate::digest::Digest;
use crate::rootfs::{with_private_mounts, Overlay};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub(super) fn execute(b: &mut Builder, state: &mut State, ins: &Instruction) -> Result<()> {
    match ins.keyword {
        Keyword::From => bail!("FROM inside a stage"),
        Keyword::Arg => {
            b.arg(state, ins)?;
            let declared: Vec<String> = state
                .args
                .iter()
                .map(|(k, v)| format!("{k}={}", v.clone().unwrap_or_default()))
                .collect();
            state.advance(&format!("ARG {}", declared.join(" ")));
            Ok(())
        }
        Keyword::Run => run(b, state, ins),
        Keyword::Copy => copy(b, state, ins, false),
        Keyword::Add => copy(b, state, ins, true),
        _ => metadata(b, state, ins),
    }
}

fn expand_words(b: &Builder, state: &State, ins: &Instruction) -> Result<Vec<String>> {
    let lookup = |k: &str| state.lookup(k);
    match &ins.args {
        Args::Json(items) => items
            .iter()
            .map(|i| words::single(i, b.escape, &lookup))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg),
        Args::Text(t) => words::split(t, b.escape, &lookup).map_err(anyhow::Error::msg),
    }
}

fn expand_single(b: &Builder, state: &State, ins: &Instruction) -> Result<String> {
    let Args::Text(t) = &ins.args else {
        bail!("{} takes one value, not a JSON list", ins.keyword.name());
    };
    let lookup = |k: &str| state.lookup(k);
    words::single(t, b.escape, &lookup).map_err(anyhow::Error::msg)
}

/// CMD/ENTRYPOINT/RUN: the exec form as is, the shell form through SHELL.
fn command_form(state: &State, args: &Args) -> Vec<String> {
    match args {
        Args::Json(v) => v.clone(),
        Args::Text(t) => {
            let mut argv = state.shell();
            argv.push(t.clone());
            argv
        }
    }
}

fn metadata(b: &mut Builder, state: &mut State, ins: &Instruction) -> Result<()> {
    let created_by: String;
    match ins.keyword {
        Keyword::Env => {
            let pairs = key_values(b, state, ins, true)?;
            let cfg = state.run_config();
            let mut env: Vec<String> = cfg
                .get("Env")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            for (k, v) in &pairs {
                env.retain(|e| e.split('=').next() != Some(k));
                env.push(format!("{k}={v}"));
            }
            cfg.insert("Env".into(), json!(env));
            created_by = format!("ENV {}", join_pairs(&pairs));
        }
        Keyword::Label => {
            let pairs = key_values(b, state, ins, false)?;
            let labels = state
                .run_config()
                .entry("Labels")
                .or_insert_with(|| json!({}));
            for (k, v) in &pairs {
                labels[k] = json!(v);
            }
            created_by = format!("LABEL {}", join_pairs(&pairs));
        }
        Keyword::Expose => {
            let ports = expand_words(b, state, ins)?;
            let exposed = state
                .run_config()
                .entry("ExposedPorts")
                .or_insert_with(|| json!({}));
            for p in &ports {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid = port
                    .split_once('-')
                    .map_or(port.parse::<u16>().is_ok(), |(a, z)| {
                        a.parse::<u16>().is_ok() && z.parse::<u16>().is_ok()
                    });
                if !valid || !["tcp", "udp", "sctp"].contains(&proto) {
                    bail!("invalid port {p:?}: expected PORT[/tcp|/udp]");
                }
                exposed[format!("{port}/{proto}")] = json!({});
            }
            created_by = format!("EXPOSE map[{}]", ports.join(" "));
        }
        Keyword::Volume => {
            let paths = expand_words(b, state, ins)?;
            let volumes = state
                .run_config()
                .entry("Volumes")
                .or_insert_with(|| json!({}));
            for p in &paths {
                if p.is_empty() {
                    bail!("VOLUME specified can not be an empty string");
                }
                volumes[p] = json!({});
            }
            created_by = format!("VOLUME {paths:?}");
        }
        Keyword::Workdir => {
            let dir = expand_single(b, state, ins)?;
            let current = state.config["config"]["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .unwrap_or("/")
                .to_string();
            let joined = Path::new(&current).join(&dir);
            let clean = format!("/{}", context::clean(&joined.to_string_lossy()).display());
            state.run_config().insert("WorkingDir".into(), json!(clean));
            created_by = format!("WORKDIR {clean}");
        }
        Keyword::User => {
            let user = expand_single(b, state, ins)?;
            state.run_config().insert("User".into(), json!(user));
            created_by = format!("USER {user}");
        }
        Keyword::Stopsignal => {
            let sig = expand_single(b, state, ins)?;
            crate::signals::parse(&sig)?;
            state.run_config().insert("StopSignal".into(), json!(sig));
            created_by = format!("STOPSIGNAL {sig}");
        }
        Keyword::Cmd => {
            let argv = command_form(state, &ins.args);
            state.run_config().insert("Cmd".into(), json!(argv));
            state.cmd_set_here = true;
            created_by = format!("CMD {}", json!(argv));
        }
        Keyword::Entrypoint => {
            let argv = command_form(state, &ins.args);
            let keep_cmd = state.cmd_set_here;
            let cfg = state.run_config();
            cfg.insert("Entrypoint".into(), json!(argv));
            // An ENTRYPOINT resets a CMD inherited from the base image (Docker's rule).
            if !keep_cmd {
                cfg.remove("Cmd");
            }
            created_by = format!("ENTRYPOINT {}", json!(argv));
        }
        Keyword::Shell => {
            let Args::Json(argv) = &ins.args else {
                bail!("SHELL requires the JSON form");
            };
            state.run_config().insert("Shell".into(), json!(argv));
            created_by = format!("SHELL {}", json!(argv));
        }
        Keyword::Healthcheck => {
            let check = healthcheck(state, ins)?;
            created_by = format!("HEALTHCHECK {}", check["Test"]);
            state.run_config().insert("Healthcheck".into(), check);
        }
        Keyword::Onbuild => {
            let Args::Text(t) = &ins.args else {
                bail!("ONBUILD takes an instruction");
            };
            let inner = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if ["ONBUILD", "FROM", "MAINTAINER"].contains(&inner.as_str()) {
                bail!("{inner} isn't allowed as an ONBUILD trigger");
            }
            super::dockerfile::parse(&format!("FROM scratch\n{t}"))
                .map_err(|e| anyhow!("ONBUILD {t}: {}", e.message))?;
            let list = state
                .run_config()
                .entry("OnBuild")
                .or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(json!(t));
            }
            created_by = format!("ONBUILD {t}");
        }
        Keyword::Maintainer => {
            let who = expand_single(b, state, ins)?;
            state.config["author"] = json!(who);
            created_by = format!("MAINTAINER {who}");
        }
        Keyword::From | Keyword::Arg | Keyword::Run | Keyword::Copy | Keyword::Add => {
            unreachable!("handled in execute")
        }
    }
    state.advance(&created_by);
    state.history(created_by, true);
    Ok(())
}

/// ENV and LABEL: `K=V …`, or the legacy `K V` (ENV only: the rest of the line is V).
fn key_values(
    b: &Builder,
    state: &State,
    ins: &Instruction,
    legacy: bool,
) -> Result<Vec<(String, String)>> {
    let items = expand_words(b, state, ins)?;
    if legacy && !items.first().is_some_and(|w| w.contains('=')) {
        let Args::Text(t) = &ins.args else {
            bail!("ENV takes KEY=VALUE");
        };
        let (key, rest) = t
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow!("ENV {t}: expected KEY=VALUE (or the legacy KEY VALUE form)"))?;
        let lookup = |k: &str| state.lookup(k);
        let value = words::single(rest, b.escape, &lookup).map_err(anyhow::Error::msg)?;
        return Ok(vec![(key.to_string(), value)]);
    }
    items
        .into_iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| anyhow!("{w:?}: expected KEY=VALUE"))?;
            if k.is_empty() {
                bail!("{w:?}: the key is empty");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn join_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// HEALTHCHECK [--interval=D --timeout=D --start-period=D --retries=N] CMD … | NONE, in the
/// image config's form (durations in nanoseconds).
fn healthcheck(state: &State, ins: &Instruction) -> Result<Value> {
    let Args::Text(t) = &ins.args else {
        bail!("HEALTHCHECK takes NONE or CMD …");
    };
    let (word, rest) = t
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((t.trim(), ""));
    let test = match word.to_ascii_uppercase().as_str() {
        "NONE" => json!(["NONE"]),
        "CMD" if !rest.trim().is_empty() => {
            match serde_json::from_str::<Vec<String>>(rest.trim()) {
                Ok(argv) => json!(std::iter::once("CMD".to_string())
                    .chain(argv)
                    .collect::<Vec<_>>()),
                Err(_) => json!(["CMD-SHELL", rest.trim()]),
            }
        }
        _ => bail!("HEALTHCHECK takes NONE or CMD followed by a command"),
    };
    let _ = state;
    let mut check = json!({"Test": test});
    for (flag, value) in &ins.flags {
        let key = match flag.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: u32 = value
                    .parse()
                    .map_err(|_| anyhow!("--retries={value}: not a number"))?;
                check["Retries"] = json!(n);
                continue;
            }
            other => bail!("unknown flag --{other} for HEALTHCHECK"),
        };
        let d = crate::units::parse_duration(value).map_err(anyhow::Error::msg)?;
        check[key] = json!(d.as_nanos() as u64);
    }
    Ok(check)
}

fn step_key(state: &State, parts: &[&str]) -> Digest {
    Digest::of_bytes(format!("{}\n{}", state.id, parts.join("\n")).as_bytes())
}

fn run(b: &mut Builder, state: &mut State, ins: &Instruction) -> Result<()> {
    if let Some((flag, _)) = ins.flags.first() {
        bail!("RUN --{flag} is not supported (no BuildKit mounts or network modes per step)");
    }
    let argv = command_form(state, &ins.args);
    let env_names: Vec<String> = state.config["config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.as_str()?.split('=').next()?.to_string()))
        .collect();
    let args_env: Vec<String> = state
        .args
        .iter()
        .filter(|(k, _)| !env_names.contains(k))
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_ref()?)))
        .collect();
    let argv_json = json!(argv).to_string();
    let key = step_key(state, &["RUN", &argv_json, &args_env.join("\n")]);
    if b.cached(state, &key) {
        return Ok(());
    }
    b.ensure_unpacked(state)?;
    let show_output = b.request.progress != super::Progress::Quiet;
    let step = RunStep {
        config: &state.config,
        layers: state.diff_ids(),
        argv: argv.clone(),
        args_env,
        show_output,
    };
    let store = b.store;
    let mut packed = None;
    b.host.run(&step, &mut |upper| {
        packed = Some(pack_upper(store, upper)?);
        Ok(())
    })?;
    let (blob, diff_id) = packed.ok_or_else(|| anyhow!("the RUN container left no layer"))?;
    let created_by = match &ins.args {
        Args::Json(v) => format!("RUN {}", json!(v)),
        Args::Text(_) => format!("RUN {} # buildkit", argv.join(" ")),
    };
    b.append_layer(state, &key, blob, diff_id, created_by);
    Ok(())
}

/// The upper directory of a step as a layer blob (uncompressed, so its digest is its
/// diff ID), without the /etc files hako mounts into every container.
pub(super) fn pack_upper(
    store: &crate::store::Store,
    upper: &Path,
) -> Result<(crate::store::blobs::LayerBlob, Digest)> {
    let leave_out = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let opts = crate::layer::pack::PackOptions {
        source: crate::layer::pack::Source::UpperDir,
        clamp_mtime: None,
        leave_out,
    };
    let (blob, diff_id, _) = crate::commit::write_layer(store, upper, &opts)?;
    Ok((blob, diff_id))
}

/// Where COPY/ADD take their files from.
enum SourceRoot {
    Context,
    State(Box<State>),
}

fn copy(b: &mut Builder, state: &mut State, ins: &Instruction, add: bool) -> Result<()> {
    let lookup = |k: &str| state.lookup(k);
    let mut from = None;
    let (mut chown, mut chmod) = (None, None);
    for (flag, value) in &ins.flags {
        let value = words::single(value, b.escape, &lookup).map_err(anyhow::Error::msg)?;
        match flag.as_str() {
            "from" if !add => from = Some(value),
            "chown" => chown = Some(value),
            "chmod" => {
                chmod = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| anyhow!("--chmod={value}: expected an octal mode like 755"))?,
                )
            }
            "link" => {}
            other => bail!("unknown flag --{other} for {}", ins.keyword.name()),
        }
    }
    let mut items = expand_words(b, state, ins)?;
    if items.len() < 2 {
        bail!(
            "{} requires at least two arguments: SOURCE… DEST",
            ins.keyword.name()
        );
    }
    let dest_raw = items.pop().expect("two or more");
    if let Some(url) = items
        .iter()
        .find(|s| s.contains("://") || s.starts_with("git@"))
    {
        bail!("{url}: remote sources are not supported; download it into the build context and ADD or COPY the file");
    }
    let workdir = state.config["config"]["WorkingDir"]
        .as_str()
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_string();
    let dest = if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        let mut d = Path::new(&workdir).join(&dest_raw).display().to_string();
        if (dest_raw.ends_with('/') || dest_raw == ".") && !d.ends_with('/') {
            d.push('/');
        }
        d
    };
    let root = match &from {
        None => SourceRoot::Context,
        Some(f) => SourceRoot::State(Box::new(b.source_state(f)?)),
    };
    let (sources, content) = match &root {
        SourceRoot::Context => {
            let ctx = &b.request.context;
            let mut resolved = vec![];
            for s in &items {
                resolved.extend(context::resolve(ctx, s, &b.ignore).map_err(anyhow::Error::msg)?);
            }
            let hash = context::hash_sources(ctx, &resolved, &b.ignore)
                .context("read the build context")?;
            (resolved, hash.to_string())
        }
        SourceRoot::State(s) => (
            items.iter().map(|i| context::clean(i)).collect(),
            s.id.to_string(),
        ),
    };
    let owner = match &chown {
        None => (0, 0),
        Some(spec) => b.owner(state, spec)?,
    };
    let flags = format!("{chown:?} {chmod:?} {from:?}");
    let key = step_key(
        state,
        &[
            ins.keyword.name(),
            &flags,
            &items.join("\n"),
            &dest,
            &content,
        ],
    );
    if b.cached(state, &key) {
        return Ok(());
    }
    b.ensure_unpacked(state)?;
    if let SourceRoot::State(s) = &root {
        b.ensure_unpacked(s)?;
    }
    let work = b.store.temp_path("build");
    let result = (|| {
        let target = overlay_of(b, state, &work.join("dst"))?;
        let source = match &root {
            SourceRoot::State(s) => Some(overlay_of(b, s, &work.join("src"))?),
            SourceRoot::Context => None,
        };
        let (merged, src_merged) = (work.join("dst/merged"), work.join("src/merged"));
        let mut mounts = vec![(&target, merged.as_path())];
        if let Some(s) = &source {
            mounts.push((s, src_merged.as_path()));
        }
        let src_root = match &root {
            SourceRoot::Context => b.request.context.clone(),
            SourceRoot::State(_) => src_merged.clone(),
        };
        let ignore = matches!(root, SourceRoot::Context).then_some(&b.ignore);
        let opts = CopyOptions {
            owner,
            chmod,
            extract_archives: add,
            ignore,
        };
        with_private_mounts(&mounts, || {
            copy_into(&src_root, &sources, &merged, &dest, &opts)
        })
        .map_err(anyhow::Error::msg)?;
        pack_upper(b.store, &target.changes()?)
    })();
    let _ = std::fs::remove_dir_all(&work);
    let (blob, diff_id) = result?;
    let what = match &from {
        Some(f) => format!("--from={f} "),
        None => String::new(),
    };
    let created_by = format!(
        "{} {what}{} {dest} # buildkit",
        ins.keyword.name(),
        items.join(" ")
    );
    b.append_layer(state, &key, blob, diff_id, created_by);
    Ok(())
}

/// An overlay of `state` under `dir` (upper, work; `merged` is where it gets mounted).
fn overlay_of(b: &Builder, state: &State, dir: &Path) -> Result<Overlay> {
    for sub in ["upper", "work", "merged", "empty"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let mut lower: Vec<PathBuf> = state
        .diff_ids()
        .iter()
        .rev()
        .map(|d| b.store.layer_short_link(d))
        .collect();
    if lower.is_empty() {
        // `scratch`: overlay needs a lower directory, so an empty one.
        lower.push(dir.join("empty"));
    }
    Ok(Overlay {
        base: b.store.root().to_path_buf(),
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        userxattr: b.store.mode().rootless(),
        driver: b.store.driver(),
    })
}

impl Builder<'_> {
    /// `COPY --from=X`: an earlier stage by name or index, else an image.
    fn source_state(&mut self, from: &str) -> Result<State> {
        let lower = from.to_ascii_lowercase();
        if let Some((_, s)) = self
            .stages
            .iter()
            .find(|(n, _)| n.as_deref() == Some(&lower))
        {
            return Ok(s.clone());
        }
        if let Ok(i) = from.parse::<usize>() {
            return self
                .stages
                .get(i)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| anyhow!("--from={from}: there is no earlier stage {i}"));
        }
        let record = self.host.image(from)?;
        self.image_state(&record)
    }

    /// `--chown=user[:group]`: names resolved with the image's /etc/passwd and /etc/group;
    /// a missing group is the uid's number, as Docker does.
    fn owner(&self, state: &State, spec: &str) -> Result<(u32, u32)> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let top_first: Vec<PathBuf> = state
            .diff_ids()
            .iter()
            .rev()
            .map(|d| self.store.layer_dir(d))
            .collect();
        let passwd = crate::rootfs::read_from_layers(&top_first, "etc/passwd");
        let groups = crate::rootfs::read_from_layers(&top_first, "etc/group");
        let find = |table: &Option<String>, name: &str, what: &str| -> Result<u32> {
            if let Ok(n) = name.parse() {
                return Ok(n);
            }
            table
                .as_deref()
                .unwrap_or("")
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.first() == Some(&name))
                        .then(|| f.get(2)?.parse().ok())
                        .flatten()
                })
                .ok_or_else(|| {
                    anyhow!(
                        "--chown={spec}: no {what} {name:?} in the image's /etc/{}",
                        if what == "user" { "passwd" } else { "group" }
                    )
                })
        };
        let uid = find(&passwd, user, "user")?;
        let gid = match group {
            Some(g) => find(&groups, g, "group")?,
            None => uid,
        };
        Ok((uid, gid))
    }

    /// Adds a packed layer to the state and records the new state in the cache.
    fn append_layer(
        &mut self,
        state: &mut State,
        key: &Digest,
        blob: crate::store::blobs::LayerBlob,
        diff_id: Digest,
        created_by: String,
    ) {
        state.created = crate::timefmt::now_rfc3339();
        match state.config["rootfs"]["diff_ids"].as_array_mut() {
            Some(ids) => ids.push(json!(diff_id.to_string())),
            None => {
                state.config["rootfs"] =
                    json!({"type": "layers", "diff_ids": [diff_id.to_string()]})
            }
        }
        state.layers.push(blob);
        state.history(created_by, false);
        state.id = key.clone();
        let entry = crate::store::build_cache::Entry {
            config: state.config.clone(),
            layers: state
                .layers
                .iter()
                .map(crate::store::build_cache::CachedLayer::from)
                .collect(),
            created: state.created.clone(),
        };
        // A cache entry that cannot be written costs the next build time, not this one.
        let _ = crate::store::build_cache::save(self.store, key, &entry);
        self.note(diff_id.short());
    }
}
