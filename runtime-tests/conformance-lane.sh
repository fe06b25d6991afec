#!/usr/bin/env bash
# The OCI runtime-tools validation suite (../shared/conformance) against hako-runc. Fails
# when fewer programs pass than the floor recorded in docs/conformance-results.txt, and
# names every program that passed there and fails now. Without ../shared: a plain skip, which fails CI
# (HAKO_REQUIRE_ROOT=1), as every lane that needs what CI has.
set -uo pipefail
cd "$(dirname "$0")/.."
suite=../shared/conformance/run.sh
results=docs/conformance-results.txt
if [[ ! -x $suite && ! -f $suite ]]; then
    echo "=================================================================="
    echo "conformance lane SKIPPED: $suite is not here (the OCI suite lives in ../shared)"
    echo "=================================================================="
    [[ ${HAKO_REQUIRE_ROOT:-} == 1 ]] && exit 1
    exit 0
fi
work=$(mktemp -d /var/tmp/hako-conformance-lane.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A hard link named hako-runc: the name selects runc's command line.
ln "$PWD/target/release/hako" "$work/hako-runc" 2>/dev/null || cp "$PWD/target/release/hako" "$work/hako-runc"
# runc mode's state goes to a root of this run's own, never a user's /run/hako-runc.
cat > "$work/runtime" <<SH
#!/bin/sh
exec "$work/hako-runc" --root "$work/state" "\$@"
SH
chmod +x "$work/runtime"
ln -sf runtime "$work/hako-runc-lane"
out=$work/out.txt
bash "$suite" "$work/hako-runc-lane" "$work/logs" | tee "$out"
got=$(grep -Eo 'runtime-tools: [0-9]+/' "$out" | grep -Eo '[0-9]+' | tail -1)
floor=$(grep -Eo '^floor [0-9]+' "$results" | grep -Eo '[0-9]+')
ok=1
if [[ -z $got || $got -lt $floor ]]; then
    echo "conformance lane: ${got:-no} programs pass, the recorded floor is $floor"
    ok=0
fi
# Programs recorded as passing that fail now are named (the floor keeps one program of
# slack for the suite's own races, so one of these alone does not fail the lane).
while read -r name verdict _; do
    [[ $verdict == PASS ]] || continue
    if ! grep -Eq "^$name +PASS" "$out"; then
        echo "conformance lane: $name passed in the recorded run and fails now"
    fi
done < <(grep -E '^[a-z_]+ +(PASS|FAIL)' "$results")
[[ $ok == 1 ]] && echo "conformance lane: $got programs pass (floor $floor)"
[[ $ok == 1 ]]
