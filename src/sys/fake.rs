//! A recording `Sys` for unit tests: no root, no kernel, one ordered list of calls.

use super::{describe_flags, Sys, SysError};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::SFlag;
use std::cell::RefCell;
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
    PivotRoot(String),
    Mkdir(String),
    Touch(String),
    Mknod(String, u64),
    Symlink(String, String),
    Chown(String, u32, u32),
    Sethostname(String),
    Chdir(String),
}

impl Call {
    pub fn kind(&self) -> &'static str {
        match self {
            Call::Mount { .. } => "mount",
            Call::Umount(_) => "umount",
            Call::PivotRoot(_) => "pivot_root",
            Call::Mkdir(_) => "mkdir",
            Call::Touch(_) => "touch",
            Call::Mknod(..) => "mknod",
            Call::Symlink(..) => "symlink",
            Call::Chown(..) => "chown",
            Call::Sethostname(_) => "sethostname",
            Call::Chdir(_) => "chdir",
        }
    }
}

#[derive(Default)]
pub struct FakeSys {
    pub calls: RefCell<Vec<Call>>,
    /// Fail the Nth (0-based) call of this kind with this errno.
    pub fail: Option<(&'static str, usize, nix::Error)>,
}

impl FakeSys {
    pub fn failing(kind: &'static str, nth: usize, errno: nix::Error) -> FakeSys {
        FakeSys {
            calls: RefCell::default(),
            fail: Some((kind, nth, errno)),
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
    fn pivot_root(&self, new_root: &Path) -> Result<(), SysError> {
        self.record(Call::PivotRoot(s(new_root)))
            .map_err(|errno| SysError::Path {
                op: "pivot_root",
                path: s(new_root),
                errno,
            })
    }
    fn mkdir_all(&self, path: &Path, _mode: u32) -> Result<(), SysError> {
        self.record(Call::Mkdir(s(path)))
            .map_err(|errno| SysError::Path {
                op: "mkdir",
                path: s(path),
                errno,
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
    fn chdir(&self, path: &Path) -> Result<(), SysError> {
        self.record(Call::Chdir(s(path)))
            .map_err(|errno| SysError::Path {
                op: "chdir",
                path: s(path),
                errno,
            })
    }
}
