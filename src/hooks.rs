//! OCI lifecycle hooks. In the runtime's namespaces (run by `hako runc`): `prestart` and
//! `createRuntime` (the container exists, its process waits), `poststart` (after
//! `start`), `poststop` (after `delete`). In the container's (run by its init, see
//! `launcher::init`): `createContainer` (mounts done, before pivot_root, as runc runs
//! it) and `startContainer` (after `start`, just before the user's program). Each gets
//! the container's state JSON on stdin, its own argv and environment, and its timeout.
//! A failing hook fails `create`/`start` (the container is removed), except
//! `poststart`/`poststop`, whose failures are warnings, as the runtime spec says.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Hook, Spec};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Prestart => "prestart",
            Stage::CreateRuntime => "createRuntime",
            Stage::CreateContainer => "createContainer",
            Stage::StartContainer => "startContainer",
            Stage::Poststart => "poststart",
            Stage::Poststop => "poststop",
        }
    }

    pub fn hooks(self, spec: &Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks() else {
            return vec![];
        };
        #[allow(deprecated)] // prestart is deprecated in the spec, still honoured by runc
        let list = match self {
            Stage::Prestart => h.prestart(),
            Stage::CreateRuntime => h.create_runtime(),
            Stage::CreateContainer => h.create_container(),
            Stage::StartContainer => h.start_container(),
            Stage::Poststart => h.poststart(),
            Stage::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// The state document hooks read on stdin.
pub fn state(id: &str, status: &str, pid: i32, bundle: &Path, spec: &Spec) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    })
}

/// Runs the stage's hooks in order; the first failure stops them.
pub fn run(stage: Stage, spec: &Spec, state: &serde_json::Value) -> Result<()> {
    run_list(stage, &stage.hooks(spec), state)
}

/// Runs `hooks` (one stage's, in order); the first failure stops them.
pub fn run_list(stage: Stage, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    for hook in hooks {
        run_one(stage, hook, state)
            .with_context(|| format!("{} hook {}", stage.name(), hook.path().display()))?;
    }
    Ok(())
}

/// Like `run`, for the stages whose failures are only reported (poststart, poststop):
/// the spec says a failing hook there is a warning and the remaining hooks still run.
/// Returns the warnings it printed.
pub fn run_warning(stage: Stage, spec: &Spec, state: &serde_json::Value) -> Vec<String> {
    let mut warnings = vec![];
    for hook in stage.hooks(spec) {
        if let Err(e) = run_one(stage, &hook, state) {
            // `{:#}`: the whole chain, "cause: detail", as the front ends print errors.
            let w = format!("{} hook {}: {e:#}", stage.name(), hook.path().display());
            eprintln!("hako-runc: warning: {w}");
            warnings.push(w);
        }
    }
    warnings
}

fn run_one(stage: Stage, hook: &Hook, state: &serde_json::Value) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = std::process::Command::new(hook.path());
    if let Some(argv0) = args.first() {
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .envs(
            hook.env()
                .clone()
                .unwrap_or_default()
                .iter()
                .filter_map(|kv| kv.split_once('=')),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = crate::trace::step(
        "hooks",
        stage.name(),
        || hook.path().display().to_string(),
        || cmd.spawn(),
    )?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is fine (EPIPE).
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let limit = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            bail!("exited with {status}: {}", err.trim());
        }
        if limit.is_some_and(|l| began.elapsed() > l) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {} s", limit.unwrap_or_default().as_secs());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_poststop_hook_leaves_the_rest_running() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("second-ran");
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "hooks": {"poststop": [
                {"path": "/bin/false"},
                {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", out.display())]}
            ]}
        }))
        .unwrap();
        let state = serde_json::json!({"id": "c", "status": "stopped"});
        let warnings = run_warning(Stage::Poststop, &spec, &state);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("/bin/false"), "{warnings:?}");
        let seen = std::fs::read_to_string(&out).expect("the second hook ran");
        assert!(seen.contains("\"stopped\""), "{seen}");
    }
}
