//! A recording `Sys` for unit tests: no root, no kernel, one ordered list of calls.

use super::{describe_flags, Sys, SysError};
use caps::{CapSet, Capability, CapsHashSet};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use nix::sys::stat::SFlag;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::fd::BorrowedFd;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Mount {
        from: String,
        target: String,
        fstype: String,
        flags: String,
        data: String,
    },
    Umount(String),
    OpenPath(String),
    OpenRead(String),
    Fchdir(String),
    PivotRoot,
    Dup2(i32, i32),
    Setsid,
    ResetSignals,
    Mkdir(String),
    Touch(String),
    WriteFile(String, String),
    Mknod(String, u64),
    Symlink(String, String),
    Chown(String, u32, u32),
    Sethostname(String),
    Chdir(String),
    Chroot(String),
    Unshare(String),
    Setns(String),
    Setrlimit(String, u64, u64),
    ParentDeathSignal(String),
    NoNewPrivs,
    KeepCaps(bool),
    Personality(u64),
    Scheduler(u32),
    IoPriority(u32),
    Seccomp(usize),
    DropBounding(String),
    /// The set and its capabilities, sorted.
    SetCaps(String, Vec<String>),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    CloseFdsFrom(u32),
    Execve(String, Vec<String>),
}

impl Call {
    pub fn kind(&self) -> &'static str {
        match self {
            Call::Mount { .. } => "mount",
            Call::Umount(_) => "umount",
            Call::OpenPath(_) => "open_path",
            Call::OpenRead(_) => "open_read",
            Call::Fchdir(_) => "fchdir",
            Call::PivotRoot => "pivot_root",
            Call::Dup2(..) => "dup2",
            Call::Setsid => "setsid",
            Call::ResetSignals => "reset_signals",
            Call::Mkdir(_) => "mkdir",
            Call::Touch(_) => "touch",
            Call::WriteFile(..) => "write_file",
            Call::Mknod(..) => "mknod",
            Call::Symlink(..) => "symlink",
            Call::Chown(..) => "chown",
            Call::Sethostname(_) => "sethostname",
            Call::Chdir(_) => "chdir",
            Call::Chroot(_) => "chroot",
            Call::Unshare(_) => "unshare",
            Call::Setns(_) => "setns",
            Call::Setrlimit(..) => "setrlimit",
            Call::ParentDeathSignal(_) => "pdeathsig",
            Call::NoNewPrivs => "no_new_privs",
            Call::KeepCaps(_) => "keep_caps",
            Call::Personality(_) => "personality",
            Call::Scheduler(_) => "sched_setattr",
            Call::IoPriority(_) => "ioprio_set",
            Call::Seccomp(_) => "seccomp",
            Call::DropBounding(_) => "drop_bounding",
            Call::SetCaps(..) => "set_caps",
            Call::Setgroups(_) => "setgroups",
            Call::Setresgid(_) => "setresgid",
            Call::Setresuid(_) => "setresuid",
            Call::CloseFdsFrom(_) => "close_range",
            Call::Execve(..) => "execve",
        }
    }
}

#[derive(Default)]
pub struct FakeSys {
    pub calls: RefCell<Vec<Call>>,
    /// Fail the Nth (0-based) call of this kind with this errno.
    pub fail: Option<(&'static str, usize, nix::Error)>,
    /// What `getppid` answers, in order; the last answer repeats (default: 1000).
    pub ppids: RefCell<Vec<i32>>,
}

impl FakeSys {
    pub fn failing(kind: &'static str, nth: usize, errno: nix::Error) -> FakeSys {
        FakeSys {
            fail: Some((kind, nth, errno)),
            ..FakeSys::default()
        }
    }

    fn record(&self, call: Call) -> Result<(), nix::Error> {
        let kind = call.kind();
        let seen = self
            .calls
            .borrow()
            .iter()
            .filter(|c| c.kind() == kind)
            .count();
        self.calls.borrow_mut().push(call);
        match self.fail {
            Some((k, n, errno)) if k == kind && n == seen => Err(errno),
            _ => Ok(()),
        }
    }

    /// The kinds of the recorded calls, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.calls.borrow().iter().map(Call::kind).collect()
    }

    /// Either open: recorded, and a harmless descriptor handed back.
    fn open(&self, call: Call, path: &Path) -> Result<std::os::fd::OwnedFd, SysError> {
        self.record(call).map_err(|errno| SysError::Path {
            op: "open",
            path: s(path),
            errno,
        })?;
        Ok(harmless_fd())
    }

    fn call_err(&self, call: Call, op: &'static str) -> Result<(), SysError> {
        self.record(call)
            .map_err(|errno| SysError::Call { op, errno })
    }

    /// Just the mounts, as `fstype target` pairs: the shape most tests assert.
    pub fn mounts(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::Mount {
                    target,
                    fstype,
                    flags,
                    ..
                } => Some(format!(
                    "{} {target} {flags}",
                    if fstype.is_empty() { "-" } else { fstype }
                )),
                _ => None,
            })
            .collect()
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Sys for FakeSys {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), SysError> {
        let call = Call::Mount {
            from: source.unwrap_or("").into(),
            target: s(target),
            fstype: fstype.unwrap_or("").into(),
            flags: describe_flags(flags),
            data: data.unwrap_or("").into(),
        };
        self.record(call).map_err(|errno| SysError::Mount {
            from: source.unwrap_or("none").into(),
            target: s(target),
            fstype: fstype.unwrap_or("").into(),
            flags: describe_flags(flags),
            data: String::new(),
            errno,
        })
    }
    fn umount2(&self, target: &Path, _flags: MntFlags) -> Result<(), SysError> {
        self.record(Call::Umount(s(target)))
            .map_err(|errno| SysError::Path {
                op: "umount",
                path: s(target),
                errno,
            })
    }
    fn open_path(&self, path: &Path) -> Result<std::os::fd::OwnedFd, SysError> {
        self.open(Call::OpenPath(s(path)), path)
    }
    fn open_read(&self, path: &Path) -> Result<std::os::fd::OwnedFd, SysError> {
        self.open(Call::OpenRead(s(path)), path)
    }
    fn fchdir(&self, _dir: BorrowedFd, what: &Path) -> Result<(), SysError> {
        self.record(Call::Fchdir(s(what)))
            .map_err(|errno| SysError::Path {
                op: "fchdir",
                path: s(what),
                errno,
            })
    }
    fn pivot_root_onto_cwd(&self) -> Result<(), SysError> {
        self.call_err(Call::PivotRoot, "pivot_root")
    }
    fn dup2(&self, fd: std::os::fd::RawFd, target: std::os::fd::RawFd) -> Result<(), SysError> {
        self.call_err(Call::Dup2(fd, target), "dup2")
    }
    fn setsid(&self) -> Result<(), SysError> {
        self.call_err(Call::Setsid, "setsid")
    }
    fn reset_signals(&self) {
        let _ = self.record(Call::ResetSignals);
    }
    fn mkdir_all(&self, path: &Path, _mode: u32) -> Result<(), SysError> {
        self.record(Call::Mkdir(s(path)))
            .map_err(|errno| SysError::Path {
                op: "mkdir",
                path: s(path),
                errno,
            })
    }
    /// The fake needs no race protection: the resolved path itself, not recorded.
    fn pin_beneath(
        &self,
        _root: &Path,
        _inside: &Path,
        resolved: &Path,
    ) -> Result<super::Pinned, SysError> {
        Ok(super::Pinned {
            path: resolved.to_path_buf(),
            fd: None,
        })
    }
    fn touch(&self, path: &Path) -> Result<(), SysError> {
        self.record(Call::Touch(s(path)))
            .map_err(|errno| SysError::Path {
                op: "touch",
                path: s(path),
                errno,
            })
    }
    fn write_file(&self, path: &Path, value: &str) -> Result<(), SysError> {
        self.record(Call::WriteFile(s(path), value.to_string()))
            .map_err(|errno| SysError::Path {
                op: "write",
                path: s(path),
                errno,
            })
    }
    fn mknod(&self, path: &Path, _kind: SFlag, _mode: u32, dev: u64) -> Result<(), SysError> {
        self.record(Call::Mknod(s(path), dev))
            .map_err(|errno| SysError::Path {
                op: "mknod",
                path: s(path),
                errno,
            })
    }
    fn symlink(&self, target: &str, link: &Path) -> Result<(), SysError> {
        self.record(Call::Symlink(target.into(), s(link)))
            .map_err(|errno| SysError::Path {
                op: "symlink",
                path: s(link),
                errno,
            })
    }
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), SysError> {
        self.record(Call::Chown(s(path), uid, gid))
            .map_err(|errno| SysError::Path {
                op: "chown",
                path: s(path),
                errno,
            })
    }
    fn sethostname(&self, name: &str) -> Result<(), SysError> {
        self.record(Call::Sethostname(name.into()))
            .map_err(|errno| SysError::Call {
                op: "sethostname",
                errno,
            })
    }
    fn chroot(&self, path: &Path) -> Result<(), SysError> {
        self.record(Call::Chroot(s(path)))
            .map_err(|errno| SysError::Path {
                op: "chroot",
                path: s(path),
                errno,
            })
    }
    fn chdir(&self, path: &Path) -> Result<(), SysError> {
        self.record(Call::Chdir(s(path)))
            .map_err(|errno| SysError::Path {
                op: "chdir",
                path: s(path),
                errno,
            })
    }

    fn unshare(&self, flags: CloneFlags) -> Result<(), SysError> {
        self.call_err(Call::Unshare(super::describe_clone_flags(flags)), "unshare")
    }
    fn setns(&self, _fd: BorrowedFd, flags: CloneFlags) -> Result<(), SysError> {
        self.call_err(Call::Setns(super::describe_clone_flags(flags)), "setns")
    }
    fn setrlimit(&self, resource: Resource, soft: u64, hard: u64) -> Result<(), SysError> {
        self.call_err(
            Call::Setrlimit(format!("{resource:?}"), soft, hard),
            "setrlimit",
        )
    }
    fn set_parent_death_signal(&self, signal: Signal) -> Result<(), SysError> {
        self.call_err(
            Call::ParentDeathSignal(signal.to_string()),
            "prctl(PR_SET_PDEATHSIG)",
        )
    }
    fn getppid(&self) -> i32 {
        let mut answers = self.ppids.borrow_mut();
        match answers.len() {
            0 => 1000,
            1 => answers[0],
            _ => answers.remove(0),
        }
    }
    fn set_no_new_privs(&self) -> Result<(), SysError> {
        self.call_err(Call::NoNewPrivs, "prctl(PR_SET_NO_NEW_PRIVS)")
    }
    fn set_keep_caps(&self, keep: bool) -> Result<(), SysError> {
        self.call_err(Call::KeepCaps(keep), "prctl(PR_SET_KEEPCAPS)")
    }
    fn set_personality(&self, persona: u64) -> Result<(), SysError> {
        self.call_err(Call::Personality(persona), "personality")
    }
    fn set_scheduler(&self, attr: &super::SchedAttr) -> Result<(), SysError> {
        self.call_err(Call::Scheduler(attr.policy), "sched_setattr")
    }
    fn set_io_priority(&self, value: u32) -> Result<(), SysError> {
        self.call_err(Call::IoPriority(value), "ioprio_set")
    }
    fn set_seccomp(&self, program: &super::Program) -> Result<(), SysError> {
        self.call_err(Call::Seccomp(program.0.len()), "seccomp")
    }
    fn set_seccomp_listener(
        &self,
        program: &super::Program,
    ) -> Result<std::os::fd::OwnedFd, SysError> {
        self.call_err(Call::Seccomp(program.0.len()), "seccomp")?;
        Ok(std::fs::File::open("/dev/null").expect("/dev/null").into())
    }
    fn drop_bounding_cap(&self, cap: Capability) -> Result<(), SysError> {
        self.call_err(
            Call::DropBounding(cap.to_string()),
            "drop from the bounding set",
        )
    }
    fn set_caps(&self, set: CapSet, caps: &CapsHashSet) -> Result<(), SysError> {
        let mut names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        names.sort();
        self.call_err(Call::SetCaps(format!("{set:?}"), names), "capset")
    }
    fn setgroups(&self, gids: &[u32]) -> Result<(), SysError> {
        self.call_err(Call::Setgroups(gids.to_vec()), "setgroups")
    }
    fn setresgid(&self, gid: u32) -> Result<(), SysError> {
        self.call_err(Call::Setresgid(gid), "setresgid")
    }
    fn setresuid(&self, uid: u32) -> Result<(), SysError> {
        self.call_err(Call::Setresuid(uid), "setresuid")
    }
    fn close_fds_from(&self, first: u32) -> Result<(), SysError> {
        self.call_err(Call::CloseFdsFrom(first), "close_range")
    }
    fn execve(&self, path: &CStr, argv: &[CString], _envp: &[CString]) -> Result<(), SysError> {
        let args = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let path = path.to_string_lossy().into_owned();
        self.record(Call::Execve(path.clone(), args))
            .map_err(|errno| SysError::Path {
                op: "execve",
                path,
                errno,
            })
    }
}

/// A descriptor for the fake's opens to hand back: nothing is done with it.
fn harmless_fd() -> std::os::fd::OwnedFd {
    std::fs::File::open("/dev/null").expect("/dev/null").into()
}
