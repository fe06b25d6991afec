#!/usr/bin/env bash
# The cgroup v2 lane: runs hako's cgroup runtime tests inside a throwaway VM whose only
# hierarchy is cgroup2 (runtime-tests/vm/run-in-vm.sh), because this machine is hybrid and
# must keep its cgroup mounts. One boot as root for the whole lane, and one as a user with
# a delegated subtree (user@1000.service), as on a systemd host.
set -uo pipefail
cd "$(dirname "$0")/.."
vm=runtime-tests/vm/run-in-vm.sh
# The VM needs QEMU (installed by the runner from Debian's packages) and a kernel package to
# download; where neither can be had the lane says so loudly instead of passing quietly.
if ! bash "$vm" --prepare >/tmp/hako-vm-prepare.log 2>&1; then
    echo "=================================================================="
    echo "cgroup-v2 lane SKIPPED: the test VM could not be prepared:"
    tail -5 /tmp/hako-vm-prepare.log
    echo "(cgroup v2 code was NOT tested in this run)"
    echo "=================================================================="
    [[ ${HAKO_REQUIRE_ROOT:-} == 1 ]] && exit 1
    exit 0
fi
bin=$(cargo test --release --test runtime --no-run 2>&1 | grep -o 'target/release/deps/runtime-[0-9a-f]*' | head -1)
[[ -n $bin ]] || { echo "cgroup-v2 lane: could not build the runtime tests"; exit 1; }

passed=0 failed=0 ok=1
# boot LABEL [run-in-vm options…] -- [test filters and options…]
boot() {
    local label=$1 vm_args=() log rc summary
    shift
    while [[ $1 != -- ]]; do vm_args+=("$1"); shift; done
    shift
    log=$(mktemp)
    # Inside, a watchdog turns a hung test into a failure (exit 3) that shows every blocked
    # process's kernel stack. Outside, run-in-vm.sh's own 124 (VM past its timeout) and 125
    # (VM failed before the command could report) are the emulator's failures. A hang or
    # an emulator failure gets one more boot, said out loud with what was seen; a test
    # that fails is never retried.
    for attempt in 1 2; do
        bash "$vm" "${vm_args[@]}" --timeout 420 "$PWD" \
            sh runtime-tests/in-vm-watchdog.sh "${HAKO_LANE_DEADLINE:-240}" "$bin" "$@" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        [[ $rc -eq 3 || $rc -eq 124 || $rc -eq 125 ]] || break
        echo "cgroup-v2 lane ($label): boot $attempt did not finish (exit $rc: 3 = tests hung, stacks above; 124/125 = the VM failed)"
    done
    summary=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$log" | tail -1)
    rm -f "$log"
    if [[ -z $summary ]]; then
        failed=$((failed + 1)) ok=0
        return
    fi
    local p=${summary%% passed*} f=${summary#*passed; }
    f=${f%% failed*}
    passed=$((passed + p)) failed=$((failed + f))
    [[ $rc -eq 0 && $f -eq 0 ]] || ok=0
}

boot root -e HAKO_EXPECT_CGROUP=2 -- \
    limits:: core_isolation::pid1 core_isolation::ten_containers trace_lines:: \
    runc_mode::bundle_resources_reach_the_cgroup \
    hardening::the_device_cgroup_allows_only_the_default_devices \
    security::kill_9_of_a_keeper_a_foreground_run_or_a_build_leaves_nothing_behind --test-threads=2
boot user --user 1000 -e HAKO_EXPECT_DELEGATION=1 -- limits::cgroup_delegation_reported_for_users
echo "cgroup-v2 lane: $passed passed, $failed failed"
[[ $ok -eq 1 ]]
