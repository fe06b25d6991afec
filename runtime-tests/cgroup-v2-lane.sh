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
bash "$vm" -e HAKO_EXPECT_CGROUP=2 --timeout 900 "$PWD" "$bin" \
    limits:: core_isolation::pid1 core_isolation::ten_containers --test-threads=2 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$log" | tail -1)
rm -f "$log"
passed=${summary%% passed*}
failed=${summary#*passed; }
failed=${failed%% failed*}
echo "cgroup-v2 lane: ${passed:-0} passed, ${failed:-1} failed"
[[ $rc -eq 0 && -n $summary && ${failed} -eq 0 ]]
