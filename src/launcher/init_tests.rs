//! The identity half of init, asserted call by call with the recording fake (no root).

use super::*;
use crate::spec::plan::{CapSets, Rlimit};
use crate::sys::{Call, FakeSys};
use caps::Capability;
use nix::sys::resource::Resource;

fn process(uid: u32) -> ProcessPlan {
    let caps: std::collections::HashSet<Capability> =
        [Capability::CAP_CHOWN, Capability::CAP_KILL].into();
    ProcessPlan {
        rlimits: vec![Rlimit {
            resource: Resource::RLIMIT_NOFILE,
            soft: 1024,
            hard: 2048,
        }],
        caps: CapSets {
            bounding: caps.clone(),
            effective: caps.clone(),
            permitted: caps,
            ..CapSets::default()
        },
        no_new_privs: true,
        uid,
        gid: uid,
        additional_gids: vec![10],
        cwd: "/tmp".into(),
        env: vec!["PATH=/bin:/usr/bin".into()],
        // Looked up on the host's filesystem: the fake does not pivot.
        args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
        terminal: false,
        seccomp: None,
        seccomp_listener: None,
        labels: Default::default(),
        oom_score_adj: None,
        personality: None,
        scheduler: None,
        io_priority: None,
    }
}

fn supervised(_: &dyn Sys) -> bool {
    true
}

/// The calls after the bounding set is dropped (which depends on the kernel's list).
fn without_bounding(sys: &FakeSys) -> Vec<Call> {
    sys.calls
        .borrow()
        .iter()
        .filter(|c| c.kind() != "drop_bounding")
        .cloned()
        .collect()
}

#[test]
fn a_default_process_is_made_in_this_order() {
    let sys = FakeSys::default();
    become_process(&sys, &process(0), 0, Some(&supervised), None).unwrap();
    let set = |which: &str, caps: &[&str]| {
        Call::SetCaps(which.into(), caps.iter().map(|c| c.to_string()).collect())
    };
    assert_eq!(
        without_bounding(&sys),
        vec![
            Call::Setrlimit("RLIMIT_NOFILE".into(), 1024, 2048),
            Call::CloseFdsFrom(3),
            Call::NoNewPrivs,
            Call::Setgroups(vec![10]),
            Call::Setresgid(0),
            Call::Setresuid(0),
            Call::ParentDeathSignal("SIGKILL".into()),
            set("Inheritable", &[]),
            set("Effective", &["CAP_CHOWN", "CAP_KILL"]),
            set("Permitted", &["CAP_CHOWN", "CAP_KILL"]),
            Call::Chdir("/tmp".into()),
            Call::ResetSignals,
            Call::Execve(
                "/bin/sh".into(),
                vec!["/bin/sh".into(), "-c".into(), "true".into()]
            ),
        ]
    );
    // Every capability outside the bounding set is dropped before the uid switch.
    let kinds = sys.kinds();
    let first_setgroups = kinds.iter().position(|k| *k == "setgroups").unwrap();
    assert!(kinds[..first_setgroups].contains(&"drop_bounding"));
    assert!(!kinds[first_setgroups..].contains(&"drop_bounding"));
}

#[test]
fn with_user_the_parent_death_signal_is_set_again_after_the_uid_switch() {
    let sys = FakeSys::default();
    become_process(&sys, &process(1000), 2, Some(&supervised), None).unwrap();
    let kinds = sys.kinds();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(at("setresuid") < at("pdeathsig"), "{kinds:?}");
    assert!(at("close_range") < at("execve"));
    // The spec's sets apply to any user (the spec decides, as runc reads it): the
    // permitted set is kept across the switch, then every set is applied.
    let calls = sys.calls.borrow().clone();
    let pos = |c: &Call| calls.iter().position(|x| x == c).unwrap();
    assert!(pos(&Call::KeepCaps(true)) < pos(&Call::Setresuid(1000)));
    let effective = Call::SetCaps(
        "Effective".into(),
        vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
    );
    assert!(pos(&Call::Setresuid(1000)) < pos(&effective), "{calls:?}");
    assert!(pos(&effective) < pos(&Call::KeepCaps(false)));
    // --preserve-fds 2 keeps 3 and 4.
    assert!(sys.calls.borrow().contains(&Call::CloseFdsFrom(5)));
}

#[test]
fn a_process_that_outlives_hako_gets_no_parent_death_signal() {
    let sys = FakeSys::default();
    become_process(&sys, &process(1000), 0, None, None).unwrap();
    assert!(!sys.kinds().contains(&"pdeathsig"));
}

#[test]
fn a_parent_that_died_during_the_switch_stops_the_start() {
    let sys = FakeSys::default();
    let parent = 4242;
    sys.ppids.replace(vec![1]); // reparented to init: hako is gone
    let err = become_process(
        &sys,
        &process(1000),
        0,
        Some(&|s: &dyn Sys| s.getppid() == parent),
        None,
    )
    .unwrap_err();
    assert!(err.1.contains("hako exited"), "{err:?}");
    assert!(!sys.kinds().contains(&"execve"));
}

#[test]
fn a_failure_at_any_step_stops_everything_after_it() {
    for kind in [
        "setrlimit",
        "no_new_privs",
        "setgroups",
        "setresgid",
        "setresuid",
        "pdeathsig",
        "set_caps",
        "chdir",
        "close_range",
    ] {
        let sys = FakeSys::failing(kind, 0, nix::Error::EPERM);
        let err = become_process(&sys, &process(0), 0, Some(&supervised), None).unwrap_err();
        assert_eq!(err.0, FailureKind::Setup, "{kind}");
        assert_eq!(sys.kinds().last(), Some(&kind), "{kind} is the last call");
        assert!(!sys.kinds().contains(&"execve"), "{kind}");
    }
}

#[test]
fn exec_failures_keep_dockers_exit_code_kinds() {
    let sys = FakeSys::failing("execve", 0, nix::Error::EACCES);
    let err = become_process(&sys, &process(0), 0, Some(&supervised), None).unwrap_err();
    assert_eq!(err.0, FailureKind::CannotExecute);
    let mut p = process(0);
    p.args = vec!["no-such-program-anywhere".into()];
    let err = become_process(&FakeSys::default(), &p, 0, Some(&supervised), None).unwrap_err();
    assert_eq!(err.0, FailureKind::NotFound);
    assert!(err.1.contains("executable file not found in $PATH"));
}

#[test]
fn descriptors_are_marked_before_any_filter_is_installed() {
    // A profile from before Linux 5.9 does not allow close_range: it must run first,
    // whether the filter goes in early (no no_new_privs) or just before execve.
    for no_new_privs in [false, true] {
        let sys = FakeSys::default();
        let mut p = process(0);
        p.no_new_privs = no_new_privs;
        p.seccomp = Some(crate::seccomp::Program(vec![]));
        become_process(&sys, &p, 0, Some(&supervised), None).unwrap();
        let kinds = sys.kinds();
        let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
        assert!(at("close_range") < at("seccomp"), "{kinds:?}");
    }
}
