#!/usr/bin/env bash
# `make bench`: hako against the reference tools, measured in the same run, printed as
# ratios (machines are noisy; only ratios from one run mean anything).
#   BENCH_RUNS   repetitions of the start-up benchmark (default 40)
#   BENCH_ONLY   run only these sections (space-separated: run run-v2 trace lifecycle network
#                build compose runc-mode rootless seccomp commit export pull)
set -euo pipefail
cd "$(dirname "$0")/.."
HAKO=$PWD/target/release/hako
work=$(mktemp -d /tmp/hako-bench.XXXXXX)
root=$work/root
only=" ${BENCH_ONLY:-run run-v2 trace lifecycle network build compose runc-mode rootless seccomp commit export pull} "
want() { [[ $only == *" $1 "* ]]; }

# Podman in a store of its own, configured as anchors.md says for these machines: rlimits
# within the hard limits, and runc (crun refuses hybrid cgroups).
export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)","nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
PODMAN="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay"
have_podman() { command -v podman >/dev/null && command -v runc >/dev/null; }
cleanup() {
    if have_podman; then $PODMAN rm -af >/dev/null 2>&1 || true; $PODMAN system reset -f >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

$HAKO --root "$root" import rootfs-fixtures/cache/busybox.tar busybox >/dev/null

# Median seconds of one hyperfine result, by name.
median() { python3 -c 'import json,sys; print({r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}[sys.argv[2]])' "$1" "$2"; }
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f"{a/b:.2f}")' "$1" "$2"; }

if want run; then
    # A prepared OCI bundle of the same busybox rootfs for crun/runc.
    bundle=$work/bundle
    mkdir -p "$bundle/rootfs"
    tar -C "$bundle/rootfs" -xf rootfs-fixtures/cache/busybox.tar
    if command -v runc >/dev/null; then
        (cd "$bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)
    fi
    cmds=(-n hako "$HAKO --root $root run --rm --network none busybox true")
    # A reference that cannot run here is left out, with the reason, instead of failing.
    add_ref() {
        local name=$1 cmd=$2
        if ! command -v "${cmd%% *}" >/dev/null; then echo "($name not installed: not compared)"; return; fi
        if ! out=$(eval "$cmd" 2>&1); then echo "($name cannot run here: ${out:0:160})"; return; fi
        cmds+=(-n "$name" "$cmd")
    }
    add_ref crun "crun run --bundle $bundle bench-crun"
    add_ref runc "runc run --bundle $bundle bench-runc"
    if have_podman; then
        $HAKO --root "$root" save busybox | $PODMAN load -q >/dev/null
        add_ref podman "$PODMAN run --rm --network none busybox true"
    fi
    echo "== run 'true' in busybox (lower is better)"
    hyperfine -N --warmup 5 --runs "${BENCH_RUNS:-40}" --export-json "$work/run.json" "${cmds[@]}" 2>&1 | grep -vE '^\s*$' || true
    h=$(median "$work/run.json" hako)
    echo
    echo "hako run --rm busybox true: median $(python3 -c "print(f'{$h*1000:.1f}')") ms"
    for ref in crun runc podman; do
        if r=$(median "$work/run.json" $ref 2>/dev/null); then
            echo "  ratio hako/$ref = $(ratio "$h" "$r")   ($ref $(python3 -c "print(f'{$r*1000:.1f}')") ms)"
        fi
    done
fi

if want lifecycle; then
    echo
    echo "== lifecycle: exec into a running container, run -d, the keeper's memory (lower is better)"
    $HAKO --root "$root" run -d --name bench-exec busybox sleep 3600 >/dev/null
    cmds=(-n "hako exec" "$HAKO --root $root exec bench-exec true"
          -n "hako run -d" "sh -c '$HAKO --root $root run -d --rm busybox true >/dev/null'"
          -n "hako run --rm" "$HAKO --root $root run --rm busybox true")
    if have_podman; then
        $PODMAN run -d --name bench-exec --network none busybox sleep 3600 >/dev/null 2>&1 \
            && cmds+=(-n "podman exec" "$PODMAN exec bench-exec true")
    fi
    hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-40}" --export-json "$work/life.json" "${cmds[@]}" 2>&1 | grep -E 'Time|Benchmark' || true
    e=$(median "$work/life.json" "hako exec")
    echo "hako exec CID true: median $(python3 -c "print(f'{$e*1000:.1f}')") ms   (target <= 10 ms; docker 114 ms, podman 229 ms measured here before)"
    if p=$(median "$work/life.json" "podman exec" 2>/dev/null); then
        echo "  ratio hako/podman exec = $(ratio "$e" "$p")   (podman $(python3 -c "print(f'{$p*1000:.1f}')") ms)"
    fi
    echo "  ratio run -d / run --rm = $(ratio "$(median "$work/life.json" "hako run -d")" "$(median "$work/life.json" "hako run --rm")")   (target <= 1.2)"
    pid=$($HAKO --root "$root" inspect -f '{{.State.Pid}}' bench-exec)
    keeper=$(awk '{print $4}' /proc/$pid/stat)
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$keeper/status)
    # What each further container costs: the keeper's own written pages (Private_Dirty:
    # heap, stack, relocated data). The rest of its RSS is the hako binary and libc in the
    # page cache, shared by every keeper (clean, file-backed, reclaimable).
    dirty=$(awk '/^Private_Dirty:/ {print $2}' /proc/$keeper/smaps_rollup)
    pss=$(awk '/^Pss:/ {print $2}' /proc/$keeper/smaps_rollup)
    echo "keeper per container: ${dirty} kB private dirty, PSS ${pss} kB, RSS ${rss} kB (the rest is the shared binary)"
    echo "  (target <= 2 MB a container; conmon 2 MB RSS, containerd-shim 13 MB RSS)"
    $HAKO --root "$root" rm -f bench-exec >/dev/null
fi

if want network; then
    echo
    echo "== bridge networking: start-up cost, and 1 GB through a published port vs to the container's IP"
    cmds=(-n "hako none" "$HAKO --root $root run --rm --network none busybox true"
          -n "hako bridge" "$HAKO --root $root run --rm --network bridge busybox true")
    if have_podman; then
        cmds+=(-n "podman none" "$PODMAN run --rm --network none busybox true"
               -n "podman bridge" "$PODMAN run --rm --network bridge busybox true")
    fi
    hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-40}" --export-json "$work/net.json" "${cmds[@]}" 2>&1 | grep -E 'Time|Benchmark' || true
    n=$(median "$work/net.json" "hako none"); b=$(median "$work/net.json" "hako bridge")
    echo "bridge adds $(python3 -c "print(f'{($b-$n)*1000:.1f}')") ms to hako run --rm true   (target <= 10 ms)"
    if pn=$(median "$work/net.json" "podman none" 2>/dev/null); then
        pb=$(median "$work/net.json" "podman bridge")
        echo "  podman: bridge adds $(python3 -c "print(f'{($pb-$pn)*1000:.1f}')") ms in the same run"
    fi
    # 1 GB from the host into a container: once to its IP, once through -p on loopback.
    $HAKO --root "$root" run -d --name bench-sink -p 127.0.0.1:18999:9000 busybox \
        sh -c 'while true; do nc -l -p 9000 > /dev/null; done' >/dev/null
    ip=$($HAKO --root "$root" inspect -f '{{.NetworkSettings.IPAddress}}' bench-sink)
    sleep 0.3
    send() { python3 - "$1" "$2" <<'PY'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
chunk = b"\0" * (1 << 20)
for attempt in range(50):
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
t = time.monotonic()
for _ in range(1024):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(f"{1024 / (time.monotonic() - t):.0f}")
PY
}
    direct=$(send "$ip" 9000); sleep 0.2; published=$(send 127.0.0.1 18999)
    echo "1 GB to the container's IP: ${direct} MB/s; through -p 127.0.0.1:18999: ${published} MB/s"
    echo "  ratio published/direct = $(python3 -c "print(f'{$published/$direct:.2f}')")   (target >= 0.80)"
    $HAKO --root "$root" rm -f bench-sink >/dev/null
fi

vm=runtime-tests/vm/run-in-vm.sh
if want build; then
    echo
    echo "== rebuild of an unchanged 10-step Dockerfile, every step cached (lower is better)"
    ctx=$work/build-ctx
    mkdir -p "$ctx"
    echo a >"$ctx/a.txt"
    echo b >"$ctx/b.txt"
    printf '%s\n' 'FROM busybox' 'ARG V=1' 'ENV A=1' 'RUN echo one > /one' 'COPY a.txt /a.txt' \
        'RUN cat /a.txt > /two' 'WORKDIR /srv' 'COPY b.txt .' 'LABEL k=v' 'CMD ["cat", "/two"]' >"$ctx/Dockerfile"
    $HAKO --root "$root" build -q --network none -t bench-build "$ctx" >/dev/null
    cmds=(-n "hako build (cached)" "$HAKO --root $root build -q --network none -t bench-build $ctx")
    if have_podman && $PODMAN image exists busybox 2>/dev/null || { have_podman && $HAKO --root "$root" save busybox | $PODMAN load -q >/dev/null 2>&1; }; then
        if $PODMAN build -q --network none -t bench-build "$ctx" >/dev/null 2>&1; then
            cmds+=(-n "podman build (cached)" "$PODMAN build -q --network none -t bench-build $ctx")
        else
            echo "(podman build cannot run here: not compared)"
        fi
    fi
    hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-40}" --export-json "$work/build.json" "${cmds[@]}" 2>&1 | grep -E 'Time|Benchmark' || true
    h=$(median "$work/build.json" "hako build (cached)")
    echo "hako cached rebuild: median $(python3 -c "print(f'{$h*1000:.1f}')") ms (target <= 100 ms)"
    if p=$(median "$work/build.json" "podman build (cached)" 2>/dev/null); then
        echo "  ratio hako/podman = $(ratio "$h" "$p")"
    fi
fi

if want compose; then
    echo
    echo "== compose up -d of three busybox services vs one hako run -d (lower is better)"
    proj=$work/composebench
    mkdir -p "$proj"
    printf '%s\n' 'services:' '  a:' '    image: busybox' '    command: sleep 600' '  b:' '    image: busybox' \
        '    command: sleep 600' '  c:' '    image: busybox' '    command: sleep 600' >"$proj/compose.yaml"
    # Containers removed between runs, the project network kept (as run -d keeps its
    # bridge); the cold case (network made anew after a down) is shown apart.
    hyperfine -N --warmup 2 --runs "${BENCH_RUNS:-20}" --export-json "$work/compose.json" \
        --prepare "sh -c '$HAKO --root $root rm -f composebench-a-1 composebench-b-1 composebench-c-1 >/dev/null 2>&1 || true'" \
        -n "compose up -d (3 services)" "$HAKO --root $root compose -f $proj/compose.yaml up -d" 2>&1 | grep -E 'Time|Benchmark' || true
    hyperfine -N --warmup 1 --runs 5 --export-json "$work/compose-cold.json" \
        --prepare "$HAKO --root $root compose -f $proj/compose.yaml down" \
        -n "compose up -d after down" "$HAKO --root $root compose -f $proj/compose.yaml up -d" 2>&1 | grep -E 'Time|Benchmark' || true
    $HAKO --root "$root" compose -f "$proj/compose.yaml" down 2>/dev/null
    hyperfine -N --warmup 2 --runs "${BENCH_RUNS:-20}" --export-json "$work/one.json" \
        --prepare "sh -c '$HAKO --root $root rm -f bench-one >/dev/null 2>&1 || true'" \
        -n "run -d" "$HAKO --root $root run -d --name bench-one busybox sleep 600" 2>&1 | grep -E 'Time|Benchmark' || true
    $HAKO --root "$root" rm -f bench-one >/dev/null 2>&1 || true
    c=$(median "$work/compose.json" "compose up -d (3 services)")
    o=$(median "$work/one.json" "run -d")
    echo "  ratio compose up -d (3) / run -d (1) = $(ratio "$c" "$o")   (target <= 3)"
    echo "  after down (network made anew): $(ratio "$(median "$work/compose-cold.json" "compose up -d after down")" "$o") x run -d"
fi

if want runc-mode; then
    echo
    echo "== create + start + delete of a busybox bundle, as youki's README measures it (lower is better)"
    rb=$work/runc-bundle
    mkdir -p "$rb/rootfs"
    tar -C "$rb/rootfs" -xf rootfs-fixtures/cache/busybox.tar
    chmod 755 "$rb/rootfs"
    $HAKO runc spec --bundle "$rb"
    python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["process"]["args"]=["true"]; c["process"]["terminal"]=False; json.dump(c,open(p,"w"))' "$rb/config.json"
    cycle() { echo "sh -c '$1 create --bundle $rb bench-cycle >/dev/null 2>&1 </dev/null && $1 start bench-cycle && $1 delete -f bench-cycle'"; }
    cmds=(-n hako "$(cycle "$HAKO runc --root $work/hako-runc-state")")
    for ref in crun runc; do
        if ! command -v $ref >/dev/null; then echo "($ref not installed: not compared)"; continue; fi
        c=$(cycle "$ref --root $work/$ref-state")
        if ! out=$(eval "$c" 2>&1); then echo "($ref cannot run here: ${out:0:160})"; continue; fi
        cmds+=(-n "$ref" "$c")
    done
    hyperfine -N --warmup 3 --runs "${BENCH_RUNS:-40}" --export-json "$work/runc-mode.json" "${cmds[@]}" 2>&1 | grep -E 'Time|Benchmark' || true
    h=$(median "$work/runc-mode.json" hako)
    echo "hako create+start+delete: median $(python3 -c "print(f'{$h*1000:.1f}')") ms"
    for ref in crun runc; do
        if r=$(median "$work/runc-mode.json" $ref 2>/dev/null); then
            echo "  ratio hako/$ref = $(ratio "$h" "$r")   (target: hako <= crun)"
        fi
    done
fi

if want rootless; then
    # An unprivileged user with a subordinate range runs hako (and rootless podman) from a
    # private directory; root's hako runs the same container in the same section.
    echo
    echo "== rootless: run 'true' in busybox as an ordinary user (lower is better)"
    ruser=hakobench
    id "$ruser" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$ruser"
    grep -q "^$ruser:" /etc/subuid || usermod --add-subuids 400000-465535 --add-subgids 400000-465535 "$ruser"
    rdir=$work/rootless && mkdir -p "$rdir/run" && cp "$HAKO" rootfs-fixtures/cache/busybox.tar "$rdir/"
    chown -R "$ruser:" "$rdir" && chmod 755 "$work" && chmod 700 "$rdir"
    as_user() { runuser -u "$ruser" -- env -i PATH=/usr/bin:/bin HOME="$rdir" XDG_DATA_HOME="$rdir/data" XDG_RUNTIME_DIR="$rdir/run" CONTAINERS_CONF="$CONTAINERS_CONF" "$@"; }
    as_user "$rdir/hako" import "$rdir/busybox.tar" busybox >/dev/null
    rcmds=(-n hako-rootless "$rdir/hako run --rm --network none busybox true")
    if have_podman && as_user sh -c "cd $rdir && $rdir/hako save busybox | podman load -q >/dev/null && podman run --rm --network none busybox true" >/dev/null 2>&1; then
        rcmds+=(-n podman-rootless "podman run --rm --network none busybox true")
    else
        echo "(rootless podman cannot run here: not compared)"
    fi
    as_user sh -c "cd $rdir && hyperfine -N --warmup 5 --runs ${BENCH_RUNS:-40} --export-json $rdir/rootless.json $(printf '%q ' "${rcmds[@]}")" 2>&1 | grep -E 'Time|Benchmark' || true
    hyperfine -N --warmup 5 --runs "${BENCH_RUNS:-40}" --export-json "$work/rootful.json" \
        -n hako-root "$HAKO --root $root run --rm --network none busybox true" 2>&1 | grep -E 'Time|Benchmark' || true
    rl=$(median "$rdir/rootless.json" hako-rootless)
    echo "hako rootless run --rm busybox true: median $(python3 -c "print(f'{$rl*1000:.1f}')") ms (target ≤ 25 ms)"
    echo "  ratio rootless/root hako = $(ratio "$rl" "$(median "$work/rootful.json" hako-root)")   (target ≤ 1.5)"
    if p=$(median "$rdir/rootless.json" podman-rootless 2>/dev/null); then
        echo "  ratio hako/podman rootless = $(ratio "$rl" "$p")   (podman $(python3 -c "print(f'{$p*1000:.1f}')") ms)"
    fi
fi

if want run-v2; then
    echo
    echo "== run 'true' in busybox on a cgroup v2 host (the test VM; crun refuses this hybrid one)"
    if [ -f "$vm" ]; then
        bash "$vm" --timeout 600 "$PWD" bash bench/run-in-cgroup-v2-vm.sh 2>&1 | grep -v CG2VM-RESULT || echo "(the cgroup v2 VM failed: not compared)"
    else
        echo "($vm not found: not compared)"
    fi
fi

if want seccomp; then
    # The default profile is compiled by libseccomp once and then read from the data
    # root's cache; the figure to meet is ≤ 1.1× an unconfined start.
    echo
    echo "== seccomp: default profile vs unconfined (target ≤ 1.10)"
    hyperfine -N --warmup 5 --runs "${BENCH_RUNS:-40}" --export-json "$work/seccomp.json" \
        -n default "$HAKO --root $root run --rm --network none busybox true" \
        -n unconfined "$HAKO --root $root run --rm --network none --security-opt seccomp=unconfined busybox true" 2>&1 | grep -E 'Time|±' || true
    echo "  ratio default/unconfined = $(ratio "$(median "$work/seccomp.json" default)" "$(median "$work/seccomp.json" unconfined)")"
fi

if want trace; then
    # Off, each traced step costs one relaxed atomic load; on, it formats and writes a line.
    # The ratio shows what narration costs, and that the default path carries none of it.
    echo
    echo "== --trace overhead"
    hyperfine -N --warmup 5 --runs "${BENCH_RUNS:-40}" --export-json "$work/trace.json" \
        -n off "$HAKO --root $root run --rm --network none busybox true" \
        -n on "$HAKO --root $root --trace=json run --rm --network none busybox true" 2>&1 | grep -E 'Time|±' || true
    echo "  ratio trace on/off = $(ratio "$(median "$work/trace.json" on)" "$(median "$work/trace.json" off)")"
fi

# commit and export work on a Debian minbase container (the debootstrap fixture).
debian=${DEBIAN_FIXTURE:-/var/cache/hako-fixtures/debian-bookworm.tar.gz}
if (want commit || want export || want pull) && [ ! -s "$debian" ]; then
    echo "(no Debian fixture at $debian: run rootfs-fixtures/debian.sh $debian; commit/export not measured)"
    exit 0
fi
if want commit || want export; then
    $HAKO --root "$root" import "$debian" debian >/dev/null
    # ~100 MB of changes: a 50 MB random file, a copy of /usr/share, a deleted directory.
    changes='head -c 50000000 /dev/urandom > /random.bin && cp -a /usr/share /share-copy && rm -rf /usr/share/doc'
    $HAKO --root "$root" run --name bench-c debian sh -c "$changes"
    if have_podman; then
        $HAKO --root "$root" save debian | $PODMAN load -q >/dev/null
        $PODMAN run --name bench-c --network none debian sh -c "$changes"
    fi
fi

if want commit; then
    echo
    echo "== commit ~100 MB of changes in a Debian container (lower is better)"
    cmds=(-n hako "$HAKO --root $root commit bench-c")
    have_podman && cmds+=(-n podman "$PODMAN commit -q bench-c")
    hyperfine -N --warmup 1 --runs 5 --export-json "$work/commit.json" "${cmds[@]}" 2>&1 | grep -E 'Time|±|Benchmark' || true
    h=$(median "$work/commit.json" hako)
    echo "hako commit: median $(python3 -c "print(f'{$h:.2f}')") s"
    if p=$(median "$work/commit.json" podman 2>/dev/null); then
        echo "  ratio hako/podman = $(ratio "$h" "$p")   (target <= 0.5; podman $(python3 -c "print(f'{$p:.2f}')") s)"
    fi
    /usr/bin/time -f "  peak memory of hako commit: %M KB" $HAKO --root "$root" commit bench-c >/dev/null
fi

if want export; then
    echo
    echo "== export the container ($(du -sh "$root/layers" | cut -f1) of layers + changes; lower is better)"
    # The same tree for tar: the container's overlay, mounted in a private mount namespace
    # as hako export does. Both write into a pipe, so neither gets tar's /dev/null shortcut.
    read -r lower upper workdir < <($HAKO --root "$root" inspect bench-c | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]["GraphDriver"]["Data"]; print(d["LowerDir"], d["UpperDir"], d["WorkDir"])')
    mkdir -p "$work/merged"
    tar_on_overlay="mount -t overlay overlay -o lowerdir=$lower,upperdir=$upper,workdir=$workdir $work/merged && tar -C $work/merged -cf - . | cat >/dev/null"
    cmds=(-n hako "sh -c '$HAKO --root $root export bench-c | cat >/dev/null'"
          -n tar "unshare -m sh -c '$tar_on_overlay'")
    have_podman && cmds+=(-n podman "sh -c '$PODMAN export bench-c | cat >/dev/null'")
    hyperfine -N --warmup 1 --runs 5 --export-json "$work/export.json" "${cmds[@]}" 2>&1 | grep -E 'Time|±|Benchmark' || true
    h=$(median "$work/export.json" hako)
    echo "hako export: median $(python3 -c "print(f'{$h:.2f}')") s"
    echo "  ratio hako/tar -c = $(ratio "$h" "$(median "$work/export.json" tar)")   (target <= 1.2)"
    if p=$(median "$work/export.json" podman 2>/dev/null); then
        echo "  ratio hako/podman = $(ratio "$h" "$p")"
    fi
fi

if want pull && [ -s "$debian" ] && command -v docker-registry >/dev/null; then
    echo
    echo "== pull Debian minbase from a registry on 127.0.0.1 (lower is better)"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$port" >"$work/registry.yml"
    docker-registry serve "$work/registry.yml" >/dev/null 2>&1 & reg_pid=$!
    trap 'kill $reg_pid 2>/dev/null; cleanup' EXIT
    sleep 1
    image=127.0.0.1:$port/bench/debian:1
    $HAKO --root "$root" import "$debian" "$image" >/dev/null
    $HAKO --root "$root" push -q "$image" >/dev/null
    layer=$(find "$work/registry" -path '*/blobs/sha256/*/data' -size +10M | head -1)
    # Each run starts with nothing waiting to be written back (sync), or the previous
    # run's 200 MB of dirty pages land in the next one's time.
    cmds=(-n hako "$HAKO --root $work/pull-root pull -q $image"
          -n "tar xzf" "tar -C $work/untar -xzf $layer")
    have_podman && cmds+=(-n podman "$PODMAN pull -q --tls-verify=false $image")
    hyperfine -N --warmup 1 --runs 5 --export-json "$work/pull.json" \
        --prepare "sh -c 'rm -rf $work/pull-root $work/untar; mkdir -p $work/untar; ${PODMAN} rmi -af >/dev/null 2>&1 || true; sync'" \
        "${cmds[@]}" 2>&1 | grep -E 'Time|±|Benchmark' || true
    h=$(median "$work/pull.json" hako)
    echo "hako pull: median $(python3 -c "print(f'{$h:.2f}')") s"
    echo "  ratio hako/tar xzf = $(ratio "$h" "$(median "$work/pull.json" "tar xzf")")   (target <= 1.3)"
    if p=$(median "$work/pull.json" podman 2>/dev/null); then
        echo "  ratio hako/podman = $(ratio "$h" "$p")   (target <= 0.5)"
    fi
    rm -rf "$work/pull-root"
    /usr/bin/time -f "  peak memory of hako pull: %M KB (target < 65536)" $HAKO --root "$work/pull-root" pull -q "$image" >/dev/null
fi

if want pull && [ -s "$debian" ] && command -v docker-registry >/dev/null; then
    echo
    echo "== pull a 3-layer image (Debian minbase, + a copy of /usr/lib, + a copy of /usr/share)"
    multi=127.0.0.1:$port/bench/layers:1
    $HAKO --root "$root" run --name bench-l2 "$image" cp -a /usr/lib /opt/lib-copy
    $HAKO --root "$root" commit bench-l2 bench-l2 >/dev/null
    $HAKO --root "$root" run --name bench-l3 bench-l2 cp -a /usr/share /opt/share-copy
    $HAKO --root "$root" commit bench-l3 "$multi" >/dev/null
    $HAKO --root "$root" push -q "$multi" >/dev/null
    layers=$(skopeo inspect --raw --tls-verify=false "docker://$multi" | python3 -c '
import json, sys
for l in json.load(sys.stdin)["layers"]:
    h = l["digest"].split(":")[1]
    print(f"'"$work/registry"'/docker/registry/v2/blobs/sha256/{h[:2]}/{h}/data")')
    untar_each="i=0; for l in $(echo $layers); do i=\$((i+1)); mkdir -p $work/untar/\$i; tar -C $work/untar/\$i -xzf \$l; done"
    hyperfine -N --warmup 1 --runs 5 --export-json "$work/pull-multi.json" \
        --prepare "sh -c 'rm -rf $work/pull-root $work/untar; mkdir -p $work/untar; sync'" \
        -n hako "$HAKO --root $work/pull-root pull -q $multi" \
        -n "tar xzf of each layer" "sh -c '$untar_each'" 2>&1 | grep -E 'Time|±|Benchmark' || true
    h=$(median "$work/pull-multi.json" hako)
    echo "hako pull: median $(python3 -c "print(f'{$h:.2f}')") s"
    echo "  ratio hako/sum of tar xzf = $(ratio "$h" "$(median "$work/pull-multi.json" "tar xzf of each layer")")   (target < 1.0)"
fi
