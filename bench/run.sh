#!/usr/bin/env bash
# `make bench`: hako against the reference runtimes, measured in the same run, printed as
# ratios (machines are noisy; only ratios from one run mean anything).
set -euo pipefail
cd "$(dirname "$0")/.."
HAKO=$PWD/target/release/hako
work=$(mktemp -d /tmp/hako-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
$HAKO --root "$root" import rootfs-fixtures/cache/busybox.tar busybox >/dev/null

# A prepared OCI bundle of the same busybox rootfs for crun/runc.
bundle=$work/bundle
mkdir -p "$bundle/rootfs"
tar -C "$bundle/rootfs" -xf rootfs-fixtures/cache/busybox.tar
if command -v runc >/dev/null; then
    (cd "$bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
fi

cmds=(-n hako "$HAKO --root $root run --rm --network none busybox true")
# A reference that cannot run here is left out, with the reason, instead of failing the bench.
add_ref() {
    local name=$1 cmd=$2
    if ! command -v "$name" >/dev/null; then echo "($name not installed: not compared)"; return; fi
    if ! out=$(eval "$cmd" 2>&1); then echo "($name cannot run here: ${out:0:160})"; return; fi
    cmds+=(-n "$name" "$cmd")
}
add_ref crun "crun run --bundle $bundle bench-crun"
add_ref runc "runc run --bundle $bundle bench-runc"
if command -v podman >/dev/null; then
    podman load -q -i <($HAKO --root "$root" save busybox 2>/dev/null || true) >/dev/null 2>&1 || true
    add_ref podman "podman run --rm --network none busybox true"
fi

echo "== run 'true' in busybox (lower is better)"
hyperfine -N --warmup 5 --runs ${BENCH_RUNS:-40} --export-json "$work/run.json" "${cmds[@]}" 2>&1 | grep -vE '^\s*$' || true
python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
h = r["hako"]
print(f"\nhako run --rm busybox true: median {h*1000:.1f} ms")
for ref in ("crun", "runc", "podman"):
    if ref in r:
        print(f"  ratio hako/{ref} = {h / r[ref]:.2f}   ({ref} {r[ref]*1000:.1f} ms)")
PY
