#!/usr/bin/env bash
# Start-up time on a cgroup v2 host, where crun runs (it refuses this hybrid machine):
# inside the cgroup v2 test VM (runtime-tests/vm/run-in-vm.sh), hako against crun and runc
# of a prepared bundle, each creating its own cgroup. The VM emulates its CPU, so the
# times are slower than the host's; the ratios, measured side by side, are what count.
# Runs inside the VM; bench/run.sh boots it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
# hako runs from the VM's RAM, as from a disk's page cache on a real host (the project
# folder is shared over 9p, where every page fault of a 10 MB binary is a round trip).
# crun and runc stay where Debian installed them: the VM's read-only root, where they skip
# the copy of themselves they make on a writable filesystem (measured: crun copied to RAM
# takes 270 ms instead of 160), so the comparison favours them.
cp target/release/hako "$work/"
HAKO=$work/hako
$HAKO --root "$work/root" import rootfs-fixtures/cache/busybox.tar busybox >/dev/null
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf rootfs-fixtures/cache/busybox.tar
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-20}" --export-json "$work/run.json" \
    -n hako "$HAKO --root $work/root run --rm --network none busybox true" \
    -n crun "crun run --bundle $work/bundle bench-crun" \
    -n runc "runc run --bundle $work/bundle bench-runc" 2>&1 | grep -E 'Time|Benchmark' || true
python3 - "$work/run.json" <<'PY'
import json, sys
m = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"hako run --rm busybox true in the VM: median {m['hako']*1000:.1f} ms")
for ref in ("crun", "runc"):
    print(f"  ratio hako/{ref} = {m['hako']/m[ref]:.2f}   ({ref} {m[ref]*1000:.1f} ms; target vs crun <= 1.0)")
PY

# runc mode, as youki's README measures it: create + start + delete of the same bundle,
# hako's runc command line against crun's and runc's, each with its own state root.
cycle() { echo "sh -c '$1 create --bundle $work/bundle bench-cycle >/dev/null 2>&1 </dev/null && $1 start bench-cycle && $1 delete -f bench-cycle'"; }
hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-20}" --export-json "$work/cycle.json" \
    -n hako "$(cycle "$HAKO runc --root $work/hako-state")" \
    -n crun "$(cycle "crun --root $work/crun-state")" \
    -n runc "$(cycle "runc --root $work/runc-state")" 2>&1 | grep -E 'Time|Benchmark' || true
python3 - "$work/cycle.json" <<'PY'
import json, sys
m = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"hako runc create+start+delete in the VM: median {m['hako']*1000:.1f} ms")
for ref in ("crun", "runc"):
    print(f"  ratio hako/{ref} = {m['hako']/m[ref]:.2f}   ({ref} {m[ref]*1000:.1f} ms; target vs crun <= 1.0)")
PY
