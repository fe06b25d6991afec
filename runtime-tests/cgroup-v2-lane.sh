#!/usr/bin/env bash
# The cgroup v2 lane: runs hako's cgroup runtime tests as root inside a throwaway VM whose
# only hierarchy is cgroup2 (../shared/tools/cgroupv2-vm), because this machine is hybrid
# and must keep its cgroup mounts. One boot for the whole lane.
set -uo pipefail
cd "$(dirname "$0")/.."
vm=../shared/tools/cgroupv2-vm/run-in-vm.sh
if [[ ! -x $vm && ! -f $vm ]]; then
    echo "cgroup-v2 lane skipped: $vm not found (it ships in the shared/ folder beside the project)"
    exit 0
fi
bin=$(cargo test --release --test runtime --no-run 2>&1 | grep -o 'target/release/deps/runtime-[0-9a-f]*' | head -1)
[[ -n $bin ]] || { echo "cgroup-v2 lane: could not build the runtime tests"; exit 1; }
log=$(mktemp)
# Inside, a watchdog turns a hung test into a failure that shows every blocked process's
# kernel stack. Outside, run-in-vm.sh's own 124 (VM past its timeout) and 125 (VM failed
# before the command could report) are the emulator's failures, not hako's: those get one
# more boot, said out loud.
for boot in 1 2; do
    bash "$vm" -e HAKO_EXPECT_CGROUP=2 --timeout 420 "$PWD" \
        sh runtime-tests/in-vm-watchdog.sh 300 "$bin" \
        limits:: core_isolation::pid1 core_isolation::ten_containers trace_lines:: --test-threads=2 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    [[ $rc -eq 124 || $rc -eq 125 ]] || break
    echo "cgroup-v2 lane: the VM itself failed (run-in-vm.sh exit $rc) on boot $boot"
done
summary=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$log" | tail -1)
rm -f "$log"
passed=${summary%% passed*}
failed=${summary#*passed; }
failed=${failed%% failed*}
echo "cgroup-v2 lane: ${passed:-0} passed, ${failed:-1} failed"
[[ $rc -eq 0 && -n $summary && ${failed} -eq 0 ]]
