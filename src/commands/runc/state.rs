//! What runc mode keeps about a container: `<root>/<id>/state.json` (written atomically)
//! and `<root>/<id>/exec.fifo` while it waits for `start`. The status is never stored: it
//! is read from the process (alive, same start time), the FIFO and the freezer.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FIFO: &str = "exec.fifo";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub cgroup_path: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub owner: String,
    /// The CLONE_NEW* flags the container was made with (exec joins them).
    pub namespaces: i32,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's rule for IDs: letters, digits and `_+-.`, not `.` or `..`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if !ok {
        bail!("invalid container id {id:?}: use letters, digits and _+-.");
    }
    Ok(())
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn load(root: &Path, id: &str) -> Result<State> {
    check_id(id)?;
    let path = dir(root, id).join("state.json");
    let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("container does not exist: {id}"),
        _ => anyhow!("read {}: {e}", path.display()),
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
}

pub fn save(root: &Path, state: &State) -> Result<()> {
    let d = dir(root, &state.id);
    let tmp = d.join(".state.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?)?;
    std::fs::rename(&tmp, d.join("state.json"))?;
    Ok(())
}

pub fn list(root: &Path) -> Vec<State> {
    let mut out: Vec<State> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| load(root, &e.file_name().to_string_lossy()).ok())
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created));
    out
}

pub fn status(root: &Path, s: &State) -> Status {
    if s.pid <= 0 || crate::state::process_start_time(s.pid) != Some(s.pid_start) {
        return Status::Stopped;
    }
    if dir(root, &s.id).join(FIFO).exists() {
        return Status::Created;
    }
    if s.paused {
        return Status::Paused;
    }
    Status::Running
}

/// The OCI state document (runtime-spec `state`), with runc's extra fields.
pub fn document(root: &Path, s: &State) -> serde_json::Value {
    let status = status(root, s);
    serde_json::json!({
        "ociVersion": "1.0.2",
        "id": s.id,
        "pid": if status == Status::Stopped { 0 } else { s.pid },
        "status": status.name(),
        "bundle": s.bundle,
        "rootfs": s.rootfs,
        "created": s.created,
        "annotations": s.annotations,
        "owner": s.owner,
    })
}
