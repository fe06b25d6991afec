use super::*;

/// Runs the program over `struct bpf_cgroup_dev_ctx` the way the kernel would.
fn run(prog: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
    let ctx = [((access as u32) << 16) | kind as u32, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => {
                assert_eq!(src, 1, "loads only from the context");
                r[dst] = ctx[i.off as usize / 4] as u64;
            }
            ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
            ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
            ALU32_RSH_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
            ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
            JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JNE_K | JMP_JEQ_K => {}
            EXIT => return r[0],
            other => panic!("opcode {other:#x}"),
        }
    }
}

fn rules(json: serde_json::Value) -> Vec<DeviceRule> {
    crate::cgroups::Limits::from_resources(
        &crate::cgroups::resources_json::parse_resources(json).unwrap(),
    )
    .devices
}

const RW: i32 = ACC_READ | ACC_WRITE;

#[test]
fn docker_s_defaults_allow_the_usual_devices_and_nothing_else() {
    let prog = compile(&rules(serde_json::json!({
        "devices": crate::cgroups::resources_json::docker_device_rules(false)
    })));
    assert_eq!(run(&prog, DEV_CHAR, RW, 1, 3), 1, "/dev/null");
    assert_eq!(run(&prog, DEV_CHAR, RW, 136, 7), 1, "a pty");
    assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 2), 0, "/dev/kmem");
    assert_eq!(run(&prog, DEV_CHAR, ACC_MKNOD, 1, 2), 1, "mknod is allowed");
    assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 254, 0), 0, "a disk");
    assert_eq!(run(&prog, DEV_BLOCK, ACC_MKNOD, 254, 0), 1);
    let all = compile(&rules(serde_json::json!({
        "devices": crate::cgroups::resources_json::docker_device_rules(true)
    })));
    assert_eq!(run(&all, DEV_BLOCK, RW, 254, 0), 1, "--privileged");
}

#[test]
fn later_rules_win_and_access_is_checked_bit_by_bit() {
    let prog = compile(&rules(serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
        {"allow": true, "type": "c", "major": 5, "access": "r"},
    ]})));
    assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 3), 1);
    assert_eq!(run(&prog, DEV_CHAR, ACC_WRITE, 1, 3), 0, "denied later");
    assert_eq!(run(&prog, DEV_CHAR, RW, 1, 3), 0);
    assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 5, 9), 1, "any minor");
    assert_eq!(run(&prog, DEV_CHAR, RW, 5, 9), 0, "only read was allowed");
    assert_eq!(compile(&[]).len(), 8, "no rules: allow everything");
    assert_eq!(run(&compile(&[]), DEV_BLOCK, RW, 8, 0), 1);
}
