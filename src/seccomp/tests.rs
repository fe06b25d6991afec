use super::interpret::{run, run_counting};
use super::*;

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).unwrap()
}

fn native() -> u32 {
    unsafe { libseccomp_sys::seccomp_arch_native() }
}

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap()
}

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

#[test]
fn allow_list_with_errno_default_and_argument_rules() {
    let p = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["close_range"], "action": "SCMP_ACT_ERRNO"},
        ]
    })))
    .unwrap();
    let a = native();
    assert_eq!(run(&p, a, nr("read"), [0; 6]), RET_ALLOW);
    assert_eq!(run(&p, a, nr("mount"), [0; 6]), EPERM);
    assert_eq!(run(&p, a, nr("personality"), [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        run(&p, a, nr("personality"), [8 | (1 << 32), 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(run(&p, a, nr("socket"), [2, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&p, a, nr("socket"), [40, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(run(&p, a, nr("clone"), [0x11, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        run(&p, a, nr("clone"), [0x1000_0000, 0, 0, 0, 0, 0]),
        EPERM,
        "CLONE_NEWUSER"
    );
    assert_eq!(run(&p, a, nr("clone3"), [0; 6]), RET_ERRNO | 38);
    assert_eq!(
        run(&p, 0x4000_0003, 3, [0; 6]),
        EPERM,
        "another ABI gets the default"
    );
}

#[test]
fn calls_newer_than_the_profile_get_enosys() {
    // A profile from before Linux 5.9: close_range and everything after it are unknown to
    // it, so the C library must see ENOSYS (and fall back), not EPERM.
    let p = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "write", "exit_group", "pidfd_open"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    let a = native();
    assert!(nr("close_range") > nr("pidfd_open"));
    assert_eq!(run(&p, a, nr("close_range"), [0; 6]), ENOSYS);
    assert_eq!(
        run(&p, a, nr("mount"), [0; 6]),
        EPERM,
        "an old call keeps EPERM"
    );
    assert_eq!(run(&p, a, nr("pidfd_open"), [0; 6]), RET_ALLOW);
    // A deny-list lets every unnamed call through, new ones included.
    let deny = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    assert_eq!(run(&deny, a, nr("close_range"), [0; 6]), RET_ALLOW);
    assert_eq!(run(&deny, a, nr("mount"), [0; 6]), EPERM);
}

#[test]
fn ordering_operators_compare_all_64_bits() {
    let rule = |op: &str| {
        compile(&profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0x1_0000_0005u64, "op": op}]}]}),
        ))
        .unwrap()
    };
    let v = 0x1_0000_0005u64;
    let cases = [
        (
            "SCMP_CMP_GT",
            [
                (v + 1, true),
                (v, false),
                (v - 1, false),
                (5, false),
                (0x2_0000_0000, true),
            ],
        ),
        (
            "SCMP_CMP_GE",
            [
                (v + 1, true),
                (v, true),
                (v - 1, false),
                (5, false),
                (0x2_0000_0000, true),
            ],
        ),
        (
            "SCMP_CMP_LT",
            [
                (v + 1, false),
                (v, false),
                (v - 1, true),
                (6, true),
                (0x2_0000_0000, false),
            ],
        ),
        (
            "SCMP_CMP_LE",
            [
                (v + 1, false),
                (v, true),
                (v - 1, true),
                (6, true),
                (0x2_0000_0000, false),
            ],
        ),
    ];
    for (op, checks) in cases {
        let p = rule(op);
        for (arg, refused) in checks {
            let got = run(&p, native(), nr("read"), [0, arg, 0, 0, 0, 0]);
            assert_eq!(got != RET_ALLOW, refused, "{op} with {arg:#x}");
        }
    }
}

#[test]
fn conditions_on_one_argument_are_alternatives() {
    let p = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
    })))
    .unwrap();
    let call = |a0| run(&p, native(), nr("personality"), [a0, 0, 0, 0, 0, 0]);
    assert_eq!(call(0), RET_ALLOW);
    assert_eq!(call(8), RET_ALLOW);
    assert_eq!(call(9), EPERM);
}

#[test]
fn a_long_allow_list_is_a_short_search() {
    let names: Vec<String> = (0..1024)
        .filter_map(|n| {
            ScmpSyscall::from(n)
                .get_name_by_arch(ScmpArch::native())
                .ok()
        })
        .filter(|n| n != "mount")
        .collect();
    assert!(names.len() > 300, "{} calls", names.len());
    let p = compile(&profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}),
    ))
    .unwrap();
    let mut longest = 0;
    for name in &names {
        let (verdict, steps) = run_counting(&p, native(), nr(name), [0; 6]);
        assert_eq!(verdict, RET_ALLOW, "{name}");
        longest = longest.max(steps);
    }
    assert!(longest < 40, "{longest} instructions to reach a call");
    assert_eq!(run(&p, native(), nr("mount"), [0; 6]), EPERM);
}

#[test]
fn refusals() {
    let notify = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert!(compile(&notify).is_err());
    let bad_arg = profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    );
    assert!(matches!(compile(&bad_arg), Err(SeccompError::BadArg(6))));
    assert!(syscall_number("no_such_call").is_none());
}
