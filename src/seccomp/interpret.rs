//! A classic-BPF interpreter for tests: runs a program as the kernel would for one call,
//! so tests check what a filter decides rather than how libseccomp laid it out.

use super::Program;

pub fn run(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run_counting(p, arch, nr, args).0
}

/// The verdict and how many instructions it took.
pub fn run_counting(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let word = |k: u32| u32::from_ne_bytes(data[k as usize..k as usize + 4].try_into().unwrap());
    let (mut pc, mut a, mut x, mut mem) = (0usize, 0u32, 0u32, [0u32; 16]);
    for steps in 1.. {
        let i = p.0[pc];
        pc += 1;
        let operand = if i.code & 0x08 != 0 { x } else { i.k }; // BPF_X or BPF_K
        match i.code & 0x07 {
            0x00 => match i.code & 0xe0 {
                0x20 => a = word(i.k),         // LD ABS
                0x00 => a = i.k,               // LD IMM
                0x60 => a = mem[i.k as usize], // LD MEM
                other => panic!("unexpected load mode {other:#x}"),
            },
            0x01 => match i.code & 0xe0 {
                0x00 => x = i.k,
                0x60 => x = mem[i.k as usize],
                other => panic!("unexpected ldx mode {other:#x}"),
            },
            0x02 => mem[i.k as usize] = a, // ST
            0x03 => mem[i.k as usize] = x, // STX
            0x04 => {
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(operand),
                    0x10 => a.wrapping_sub(operand),
                    0x20 => a.wrapping_mul(operand),
                    0x40 => a | operand,
                    0x50 => a & operand,
                    0x60 => a << operand,
                    0x70 => a >> operand,
                    0x80 => a.wrapping_neg(),
                    0xa0 => a ^ operand,
                    other => panic!("unexpected alu op {other:#x}"),
                }
            }
            0x05 => {
                let op = i.code & 0xf0;
                if op == 0x00 {
                    pc += i.k as usize; // JA
                    continue;
                }
                let hit = match op {
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    other => panic!("unexpected jump {other:#x}"),
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            }
            0x06 => return (if i.code & 0x18 == 0x10 { a } else { i.k }, steps), // RET A / K
            _ => {
                if i.code & 0xf8 == 0x00 {
                    x = a; // TAX
                } else {
                    a = x; // TXA
                }
            }
        }
    }
    unreachable!()
}
