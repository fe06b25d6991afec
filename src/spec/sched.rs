//! `process.scheduler` and `process.ioPriority`: the CPU scheduling policy (sched_setattr
//! (2)) and the I/O priority (ioprio_set(2)) the container's process starts with. Both
//! survive execve and are inherited by the process's children. Checked here as runc
//! checks them, so a bad value fails `create` by name rather than in the init.

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

// The kernel's layout lives in `sys` (a leaf), which makes the call.
pub use crate::sys::SchedAttr;

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;
const SCHED_DEADLINE: u32 = 6;

pub fn sched_attr(s: &Scheduler) -> Result<SchedAttr, String> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIdle => SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => SCHED_DEADLINE,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(
                "process.scheduler: SCHED_ISO is reserved and Linux does not implement it".into(),
            )
        }
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(format!("process.scheduler.nice {nice} is outside -20..19"));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(policy, SCHED_FIFO | SCHED_RR);
    if realtime && !(1..=99).contains(&priority) {
        return Err(format!(
            "process.scheduler.priority {priority}: SCHED_FIFO and SCHED_RR take 1..99"
        ));
    }
    if !realtime && priority != 0 {
        return Err(format!(
            "process.scheduler.priority {priority}: only SCHED_FIFO and SCHED_RR take a priority"
        ));
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy == SCHED_DEADLINE {
        // The kernel's own rule: runtime ≤ deadline ≤ period (a zero period means the
        // deadline), and a runtime of at least 1024 ns.
        let period_or_deadline = if period == 0 { deadline } else { period };
        if runtime < 1024 || runtime > deadline || deadline > period_or_deadline {
            return Err(format!("process.scheduler: SCHED_DEADLINE needs 1024 ≤ runtime ≤ deadline ≤ period (nanoseconds), got {runtime}, {deadline}, {period}"));
        }
    } else if runtime != 0 || deadline != 0 || period != 0 {
        return Err(
            "process.scheduler: runtime, deadline and period are for SCHED_DEADLINE only".into(),
        );
    }
    let flags = s
        .flags()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|f| match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        })
        .fold(0, |all, f| all | f);
    Ok(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
    })
}

/// The value ioprio_set(2) takes: the class in the top bits, the level (0..7) below.
pub fn io_priority(p: &LinuxIOPriority) -> Result<u32, String> {
    const CLASS_SHIFT: u32 = 13;
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(format!(
            "process.ioPriority.priority {level} is outside 0..7"
        ));
    }
    Ok(class << CLASS_SHIFT | level as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(json: serde_json::Value) -> Result<SchedAttr, String> {
        sched_attr(&serde_json::from_value(json).unwrap())
    }

    #[test]
    fn policies_and_their_rules() {
        let batch = scheduler(serde_json::json!({"policy": "SCHED_BATCH", "nice": 5})).unwrap();
        assert_eq!((batch.policy, batch.nice, batch.priority), (3, 5, 0));
        let rr = scheduler(serde_json::json!({"policy": "SCHED_RR", "priority": 10,
            "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_KEEP_PARAMS"]}))
        .unwrap();
        assert_eq!((rr.policy, rr.priority, rr.flags), (2, 10, 0x11));
        for (bad, named) in [
            (serde_json::json!({"policy": "SCHED_FIFO"}), "1..99"),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "priority": 3}),
                "only SCHED_FIFO",
            ),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "nice": 40}),
                "-20..19",
            ),
            (serde_json::json!({"policy": "SCHED_ISO"}), "SCHED_ISO"),
            (
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10}),
                "1024",
            ),
            (
                serde_json::json!({"policy": "SCHED_BATCH", "period": 10}),
                "SCHED_DEADLINE only",
            ),
        ] {
            let err = scheduler(bad.clone()).unwrap_err();
            assert!(err.contains(named), "{bad}: {err}");
        }
        let dl = scheduler(serde_json::json!({"policy": "SCHED_DEADLINE",
            "runtime": 10000000, "deadline": 30000000, "period": 30000000}))
        .unwrap();
        assert_eq!((dl.policy, dl.runtime), (6, 10_000_000));
    }

    #[test]
    fn io_priority_packs_class_and_level() {
        let p = |json| io_priority(&serde_json::from_value(json).unwrap());
        assert_eq!(
            p(serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0})),
            Ok(3 << 13)
        );
        assert_eq!(
            p(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 7})),
            Ok(2 << 13 | 7)
        );
        assert!(
            p(serde_json::json!({"class": "IOPRIO_CLASS_RT", "priority": 8}))
                .unwrap_err()
                .contains("0..7")
        );
    }
}
