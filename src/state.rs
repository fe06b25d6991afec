//! Container records: `containers/<id>/container.json`, written atomically, plus the
//! container's overlay `upper/`, `work/` and `merged/` and its generated /etc files.

use crate::cgroups::Limits;
use crate::digest::Digest;
use crate::spec::{Bind, NetworkMode};
use crate::store::lock::FileLock;
use crate::store::{write_atomic, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Running, with every process frozen (`hako pause`).
    Paused,
    Exited,
}

/// `--restart`: what the supervisor does when the container's PID 1 exits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "Name")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most this many times (0: no limit).
    OnFailure {
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, count) = s.split_once(':').unwrap_or((s, ""));
        let policy = match name {
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: if count.is_empty() {
                    0
                } else {
                    count
                        .parse()
                        .map_err(|_| format!("{s}: the retry count must be a number"))?
                },
            },
            _ => {
                return Err(format!(
                    "{s}: expected no, always, unless-stopped or on-failure[:N]"
                ))
            }
        };
        if !count.is_empty() && !matches!(policy, RestartPolicy::OnFailure { .. }) {
            return Err(format!("{s}: only on-failure takes a retry count"));
        }
        Ok(policy)
    }
}

impl RestartPolicy {
    /// Whether to start again after PID 1 exited with `code`, having restarted
    /// `restarts` times, unless a user stopped it.
    pub fn should_restart(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                code != 0 && (*max_retries == 0 || restarts < *max_retries)
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub pid: i32,
    /// The pid's start time (clock ticks since boot), so a recycled pid is not mistaken
    /// for our container.
    pub pid_start: u64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    pub error: String,
    /// How often the supervisor has started it again (`--restart`).
    #[serde(default)]
    pub restart_count: u32,
    /// The hako process that is PID 1's parent and records its exit (the keeper of a
    /// detached container, or `hako run` in the foreground).
    #[serde(default)]
    pub keeper_pid: i32,
    /// The keeper's start time: with the PID, it names one process (PIDs are reused).
    #[serde(default)]
    pub keeper_start: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    /// The image's labels and `--label`s (compose's project and service among them).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostConfig {
    pub binds: Vec<Bind>,
    pub limits: Limits,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub network_mode: NetworkMode,
    pub auto_remove: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The signal `stop` sends first (`--stop-signal`, else the image's StopSignal).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`; Docker's default is 10).
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// Ports, address and names asked for on the command line (`-p`, `--ip`, …).
    #[serde(default)]
    pub network: crate::endpoint::Request,
    /// `--shm-size` in bytes; None: Docker's 64 MiB.
    #[serde(default)]
    pub shm_size: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image ID (config digest) and the name it was run as.
    pub image: Digest,
    pub image_name: String,
    /// Diff_ids of the image's layers, bottom first.
    pub layers: Vec<Digest>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub cgroup_path: String,
    pub state: RunState,
    /// What it got on its network while it runs (address, ports).
    #[serde(default)]
    pub network: crate::endpoint::Settings,
    /// Networks joined while running (`hako network connect`): eth1, eth2…
    #[serde(default)]
    pub extra_networks: Vec<crate::endpoint::Settings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_at_most_a_dns_name_long() {
        assert!(!valid_name(&"n".repeat(254)));
        assert!(valid_name(&"n".repeat(253)));
    }

    #[test]
    fn restart_policies() {
        let p: RestartPolicy = "on-failure:2".parse().unwrap();
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        let always: RestartPolicy = "always".parse().unwrap();
        assert!(always.should_restart(0, 99, false));
        assert!(!always.should_restart(0, 0, true));
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        assert!("always:3".parse::<RestartPolicy>().is_err());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("container name {0:?} is already in use by container {1}: remove it (hako rm) or pick another --name")]
    NameInUse(String, String),
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-], at most 253 characters, are allowed")]
    BadName(String),
    #[error("container ID prefix {0:?} is ambiguous")]
    Ambiguous(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Running according to the record *and* the kernel: a container whose supervisor was
    /// killed shows as exited rather than forever "Up".
    /// Whether the process that records this container's exit is still there to do it.
    pub fn keeper_alive(&self) -> bool {
        if self.state.keeper_start == 0 {
            // Recorded by a hako before start times were kept.
            return crate::proc::legacy_hako_alive(self.state.keeper_pid);
        }
        crate::proc::is_alive(self.state.keeper_pid, self.state.keeper_start)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Paused)
            && self.state.pid > 0
            && process_start_time(self.state.pid) == Some(self.state.pid_start)
    }
}

pub use crate::proc::start_time as process_start_time;

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n as usize != buf.len() {
        // Fall back to time and pid: unique enough for names, never used for secrets.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        return Digest::of_bytes(seed.as_bytes()).hex()[..bytes * 2].to_string();
    }
    hex::encode(buf)
}

/// Docker-style `adjective_scientist` names.
pub fn random_name() -> String {
    const ADJ: &[&str] = &[
        "bold", "brave", "calm", "clever", "eager", "fervent", "gallant", "happy", "jolly", "keen",
        "lucid", "modest", "nifty", "quirky", "serene", "stoic", "tender", "vibrant", "wizardly",
        "zealous",
    ];
    const NOUN: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "hypatia", "kepler",
        "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson",
        "turing", "wozniak", "yonath",
    ];
    let r = u32::from_str_radix(&random_hex(4), 16).unwrap_or(0) as usize;
    format!(
        "{}_{}",
        ADJ[r % ADJ.len()],
        NOUN[(r / ADJ.len()) % NOUN.len()]
    )
}

/// The longest container name (a DNS name's limit).
pub const MAX_NAME_LEN: usize = 253;

pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    // A name is also a host name on its networks (DNS: at most 253 characters).
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl Store {
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StateError> {
        let mut out = vec![];
        let dir = self.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(_) => return Ok(out),
        };
        for e in entries.flatten() {
            if let Ok(bytes) = fs::read(e.path().join("container.json")) {
                if let Ok(rec) = serde_json::from_slice::<ContainerRecord>(&bytes) {
                    out.push(rec);
                }
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    pub fn save_container(&self, rec: &ContainerRecord) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(rec).expect("record serialises");
        write_atomic(
            self.root(),
            &self.container_dir(&rec.id).join("container.json"),
            &bytes,
        )?;
        Ok(())
    }

    /// Creates the container's bundle (directories and `config.json`, the runtime spec
    /// everything downstream reads) and its record, with a unique name.
    pub fn create_container(
        &self,
        rec: &ContainerRecord,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<(), StateError> {
        if !valid_name(&rec.name) {
            return Err(StateError::BadName(rec.name.clone()));
        }
        let _lock = FileLock::exclusive(&self.root().join("containers.lock"))?;
        if let Some(other) = self.containers()?.into_iter().find(|c| c.name == rec.name) {
            return Err(StateError::NameInUse(rec.name.clone(), other.id));
        }
        let dir = self.container_dir(&rec.id);
        // The container's own directory is closed: its upper tree may hold setuid files.
        crate::store::private::create_dir(&dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        for sub in ["upper", "work", "merged"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|source| StoreError::Io {
                op: "create directory",
                path: p.clone(),
                source,
            })?;
        }
        let spec_json = serde_json::to_vec_pretty(spec).expect("spec serialises");
        write_atomic(self.root(), &dir.join("config.json"), &spec_json)?;
        self.save_container(rec)
    }

    /// Reads the record afresh, changes it and writes it back, under the containers lock:
    /// keepers, `pause` and `rename` write the same record from different processes.
    pub fn update_container(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, StateError> {
        let _lock = FileLock::exclusive(&self.root().join("containers.lock"))?;
        let path = self.container_dir(id).join("container.json");
        let bytes = fs::read(&path).map_err(|_| StateError::NotFound(id.to_string()))?;
        let mut rec: ContainerRecord =
            serde_json::from_slice(&bytes).map_err(|_| StateError::NotFound(id.to_string()))?;
        change(&mut rec);
        self.save_container(&rec)?;
        Ok(rec)
    }

    pub fn rename_container(&self, what: &str, new_name: &str) -> Result<(), StateError> {
        let c = self.lookup_container(what)?;
        let _lock = FileLock::exclusive(&self.root().join("containers.lock"))?;
        if let Some(other) = self.containers()?.into_iter().find(|o| o.name == new_name) {
            return Err(StateError::NameInUse(new_name.to_string(), other.id));
        }
        let mut fresh = self.lookup_container(&c.id)?;
        fresh.name = new_name.to_string();
        self.save_container(&fresh)
    }

    /// By full ID, unique ID prefix or name.
    pub fn lookup_container(&self, what: &str) -> Result<ContainerRecord, StateError> {
        let all = self.containers()?;
        if let Some(c) = all
            .iter()
            .find(|c| c.id == what || c.name == what || c.name == what.trim_start_matches('/'))
        {
            return Ok(c.clone());
        }
        let matches: Vec<&ContainerRecord> = all
            .iter()
            .filter(|c| !what.is_empty() && c.id.starts_with(what))
            .collect();
        match matches.len() {
            0 => Err(StateError::NotFound(what.to_string())),
            1 => Ok(matches[0].clone()),
            _ => Err(StateError::Ambiguous(what.to_string())),
        }
    }

    /// Removes the container's directory; renamed into tmp/ first so a half-removed
    /// container never shows up in `ps`.
    pub fn remove_container_dir(&self, id: &str) -> Result<(), StateError> {
        let dir = self.container_dir(id);
        if !dir.exists() {
            return Ok(());
        }
        let doomed = self.temp_path("rm");
        fs::rename(&dir, &doomed).map_err(|source| StoreError::Io {
            op: "rename for removal",
            path: dir.clone(),
            source,
        })?;
        fs::remove_dir_all(&doomed).map_err(|source| StoreError::Io {
            op: "remove",
            path: doomed,
            source,
        })?;
        Ok(())
    }
}
