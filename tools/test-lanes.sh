#!/usr/bin/env bash
# `make test`: every lane runs, whatever the lanes before it did, and the failures are
# reported together at the end (one broken lane must not hide another's results).
# Environment: DEBIAN_FIXTURE (the Debian rootfs tarball), FUZZ_CASES (fuzz lane size).
set -u
cd "$(dirname "$0")/.."
failed=()
lane() {
    local name=$1
    shift
    echo "== make test: $name"
    if ! "$@"; then
        failed+=("$name")
        echo "== make test: $name FAILED"
    fi
}
lane "dependency rules" python3 tools/check-dependencies.py
lane "unit tests" cargo test --release --lib --bins
lane "fuzz" env PROPTEST_CASES="${FUZZ_CASES:-20000}" cargo test --release --lib fuzz_tests
lane "runtime tests" env DEBIAN_FIXTURE="${DEBIAN_FIXTURE:-}" cargo test --release --test runtime
lane "cgroup v2 lane" runtime-tests/cgroup-v2-lane.sh
lane "OCI conformance" runtime-tests/conformance-lane.sh
if ((${#failed[@]})); then
    echo "make test: ${#failed[@]} lane(s) failed:"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
echo "make test: every lane passed"
