#!/usr/bin/env bash
# hako's cgroup v2 test VM, kept in the project so `make test` needs nothing beside the
# checkout (it started as the team's shared/tools/cgroupv2-vm tool; README.md beside this
# file says how it works and what it costs).
#
# run-in-vm.sh - run a command inside a throwaway QEMU VM whose only cgroup
# hierarchy is cgroup v2 (mounted at /sys/fs/cgroup, controllers enabled),
# so cgroup-v2 code can be tested on a host that runs hybrid/v1 cgroups.
#
# Only Debian packages are used: qemu-system-x86 and xz-utils are installed
# with apt-get if missing; the kernel (linux-image-*-amd64) and busybox-static
# are only *downloaded* (apt-get download) and unpacked into a cache directory.
# Nothing on the host's cgroup mounts is touched: all cgroup work happens in
# the guest kernel.
#
# Usage: run-in-vm.sh [options] SHARE_DIR [--] COMMAND [ARG...]
#        run-in-vm.sh [options] --selftest [SHARE_DIR]
#        run-in-vm.sh [options] --prepare
# Run with --help for the options.  Exit status: the command's own exit status,
# 124 if the VM ran past --timeout, 125 if the VM failed before reporting one.

set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
PROG=${0##*/}

ACCEL=${CG2VM_ACCEL:-auto}
MEM=${CG2VM_MEM:-2048}
CPUS=${CG2VM_CPUS:-2}
TIMEOUT=${CG2VM_TIMEOUT:-1800}
ROOTFS=${CG2VM_ROOTFS:-host}
MODULES=${CG2VM_MODULES:-}
VERBOSE=${CG2VM_VERBOSE:-0}
LOGFILE=${CG2VM_LOG:-}
KERNEL_PKG=${CG2VM_KERNEL_PKG:-}
NO_INSTALL=${CG2VM_NO_INSTALL:-0}
if [ -n "${CG2VM_CACHE:-}" ]; then CACHE=$CG2VM_CACHE
elif [ "$(id -u)" = 0 ]; then CACHE=/var/cache/cg2vm
else CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cg2vm; fi

SHARE_RO=0
WORKDIR=
RUN_USER=
RUN_CGROUP=
SELFTEST=0
PREPARE_ONLY=0
ENVS=()

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 125; }

usage() {
  cat <<'EOF'
Usage: run-in-vm.sh [options] SHARE_DIR [--] COMMAND [ARG...]
       run-in-vm.sh [options] --selftest [SHARE_DIR]
       run-in-vm.sh [options] --prepare

Boots a small VM (Debian kernel, busybox init) whose only cgroup hierarchy is
cgroup2 at /sys/fs/cgroup with all controllers enabled in the root's
cgroup.subtree_control, mounts SHARE_DIR read-write at the same absolute path,
runs COMMAND there as root (cwd = SHARE_DIR), powers off and exits with
COMMAND's exit status. COMMAND's stdout/stderr come back on stdout/stderr.

Options (environment variable in brackets):
  --accel auto|kvm|tcg   accelerator [CG2VM_ACCEL]; auto = kvm only when
                         /dev/kvm is usable and the CPU shows vmx/svm, else tcg
  --mem MIB              guest memory, default 2048 [CG2VM_MEM]
  --cpus N               guest CPUs, default 2 [CG2VM_CPUS]
  --timeout SEC          kill the VM after SEC seconds, default 1800 [CG2VM_TIMEOUT]
  --rootfs host|initramfs
                         host (default): guest / is the host's / read-only
                         (9p) under a tmpfs overlay, so dynamically linked
                         binaries and host tools work; initramfs: busybox only
                         (static binaries only) [CG2VM_ROOTFS]
  --ro                   share SHARE_DIR read-only
  -w, --workdir DIR      working directory inside the VM (default SHARE_DIR)
  -e, --env NAME[=VAL]   set (or copy from the host) an environment variable
  --cgroup PATH          run COMMAND in /sys/fs/cgroup/PATH (created; default:
                         the root cgroup)
  --user UID[:GID]       run COMMAND as UID inside a delegated subtree
                         user.slice/user-UID.slice/user@UID.service (owned by
                         UID, like systemd's Delegate=yes); COMMAND itself sits
                         in its leaf cg2vm.scope (--cgroup is then ignored)
  --modules "M1 M2"      modprobe these kernel modules before COMMAND
                         (overlay, 9p, virtio are always loaded) [CG2VM_MODULES]
  -v, --verbose          stream the VM console (kernel + init) to stderr and
                         boot with loglevel=7 [CG2VM_VERBOSE=1]
  --log FILE             save the VM console log to FILE [CG2VM_LOG]
  --selftest             run the built-in cgroup v2 / overlay / namespace proof
  --prepare              only download and build kernel + initramfs, then exit
  -h, --help             this text

Other environment: CG2VM_CACHE (cache dir, default /var/cache/cg2vm for root),
CG2VM_KERNEL_PKG (Debian kernel package, default: what linux-image-amd64
depends on), CG2VM_NO_INSTALL=1 (never run apt-get install), CG2VM_APPEND
(extra kernel command line), CG2VM_TCG_TUNING=0 (keep ASLR, THP and
init_on_alloc under TCG), CG2VM_MACHINE (default q35), CG2VM_CPU (TCG CPU
model, default max), CG2VM_BIOS (e.g. /usr/share/qemu/qboot.rom).
Host variables CARGO_*, RUST_*, RUSTFLAGS and CI are forwarded, so the script
works as a cargo runner:
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="/path/run-in-vm.sh $PWD" cargo test
The working directory in the VM is the caller's when it lies inside SHARE_DIR.
Inside the VM: CG2VM=1 is set, /tmp is tmpfs, networking is only loopback,
/proc/sys/kernel/modprobe points at busybox modprobe over the kernel's modules.
EOF
}

# ---------------------------------------------------------------- arguments
while [ $# -gt 0 ]; do
  case $1 in
    --accel) ACCEL=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --rootfs) ROOTFS=$2; shift 2 ;;
    --ro) SHARE_RO=1; shift ;;
    -w|--workdir) WORKDIR=$2; shift 2 ;;
    -e|--env) ENVS+=("$2"); shift 2 ;;
    --cgroup) RUN_CGROUP=$2; shift 2 ;;
    --user) RUN_USER=$2; shift 2 ;;
    --modules) MODULES=$2; shift 2 ;;
    -v|--verbose) VERBOSE=1; shift ;;
    --log) LOGFILE=$2; shift 2 ;;
    --selftest) SELFTEST=1; shift ;;
    --prepare) PREPARE_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) break ;;
  esac
done

case $ACCEL in auto|kvm|tcg) ;; *) die "--accel must be auto, kvm or tcg" ;; esac
case $ROOTFS in host|initramfs) ;; *) die "--rootfs must be host or initramfs" ;; esac
case $MEM$CPUS$TIMEOUT in *[!0-9]*) die "--mem, --cpus and --timeout take numbers" ;; esac
[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported"

SHARE=
if [ "$PREPARE_ONLY" = 0 ]; then
  if [ "$SELFTEST" = 1 ]; then
    if [ $# -gt 0 ]; then SHARE=$1; shift; fi
    [ $# = 0 ] || die "--selftest takes no command"
  else
    [ $# -ge 2 ] || { usage >&2; die "need SHARE_DIR and COMMAND"; }
    SHARE=$1; shift
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || die "need a COMMAND"
  fi
  if [ -n "$SHARE" ]; then
    [ -d "$SHARE" ] || die "SHARE_DIR $SHARE is not a directory"
    SHARE=$(readlink -f "$SHARE")
    case $SHARE in /) die "SHARE_DIR must not be /" ;; esac
  fi
fi
if [ -n "$RUN_USER" ]; then
  case $RUN_USER in *[!0-9:]*|:*|*:*:*) die "--user takes UID or UID:GID (numbers)" ;; esac
fi

# ------------------------------------------------------------ host packages
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2 || log "warning: apt-get update failed"
    apt_updated=1
  fi
}

ensure_host_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found (this needs a Debian host)"
  command -v flock >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$NO_INSTALL" = 1 ] && die "missing Debian packages: ${missing[*]} (CG2VM_NO_INSTALL=1)"
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; install them as root"
    apt_update_once
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
  fi
}

# apt_download PKG DESTDIR -> prints the path of the downloaded .deb
apt_download() {
  local pkg=$1 dest=$2 deb
  mkdir -p "$dest"
  deb=$(ls "$dest"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then apt_update_once; fi
    # _apt cannot write into a root-only dir; download in a world-writable tmp dir
    local tmp; tmp=$(mktemp -d); chmod 777 "$tmp"
    ( cd "$tmp" && apt-get download -q "$pkg" >&2 ) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    mv "$tmp"/*.deb "$dest"/ && rm -rf "$tmp"
    deb=$(ls "$dest"/"${pkg}"_*.deb | head -n1)
  fi
  printf '%s\n' "$deb"
}

resolve_kernel_pkg() {
  if [ -n "$KERNEL_PKG" ]; then printf '%s\n' "$KERNEL_PKG"; return; fi
  local p f=$CACHE/kernel-pkg
  # apt-cache takes ~2 s; reuse the answer for a day
  if [ -s "$f" ] && [ -z "$(find "$f" -mmin +1440)" ]; then cat "$f"; return; fi
  p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$p" ]; then
    apt_update_once
    p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$p" ] || die "cannot resolve linux-image-amd64 to a kernel package (set CG2VM_KERNEL_PKG)"
  printf '%s\n' "$p" > "$f"
  printf '%s\n' "$p"
}

# ------------------------------------------------------------- kernel image
# Extract the uncompressed ELF vmlinux from a bzImage: QEMU boots it through
# its PVH entry point, which skips the in-guest XZ decompression (~6 s under TCG).
extract_vmlinux() {
  local bz=$1 out=$2 ss po pl off magic
  ss=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
  po=$(od -An -tu4 -j $((0x248)) -N4 "$bz" | tr -d ' ')
  pl=$(od -An -tu4 -j $((0x24c)) -N4 "$bz" | tr -d ' ')
  off=$(( (ss + 1) * 512 + po ))
  magic=$(od -An -tx1 -j "$off" -N4 "$bz" | tr -d ' ')
  case $magic in
    fd377a58) tail -c +$((off + 1)) "$bz" | head -c "$pl" | xz -dc --single-stream > "$out.tmp" 2>/dev/null || true ;;
    1f8b*)    tail -c +$((off + 1)) "$bz" | head -c "$pl" | gzip -dc > "$out.tmp" 2>/dev/null || true ;;
    28b52ffd) command -v zstd >/dev/null && { tail -c +$((off + 1)) "$bz" | head -c "$pl" | zstd -dcq > "$out.tmp" 2>/dev/null || true; } ;;
  esac
  if [ -s "$out.tmp" ] && [ "$(od -An -tx1 -N4 "$out.tmp" | tr -d ' ')" = 7f454c46 ]; then
    mv "$out.tmp" "$out"; return 0
  fi
  rm -f "$out.tmp"; return 1
}

# ------------------------------------------------------------- module closure
declare -A MODDEP=() MODPATH=()
load_moddep() {  # $1 = module dir containing modules.dep
  local line path deps name
  while IFS= read -r line; do
    path=${line%%:*}; deps=${line#*:}
    name=${path##*/}; name=${name%%.ko*}; name=${name//-/_}
    MODPATH[$name]=$path; MODDEP[$name]=$deps
  done < "$1/modules.dep"
}
declare -A MODSEEN=()
MODORDER=()
mod_closure() {  # depth-first, dependencies first
  local name=${1//-/_} d dn
  [ -n "${MODSEEN[$name]:-}" ] && return 0
  MODSEEN[$name]=1
  [ -n "${MODPATH[$name]:-}" ] || return 1   # built in (or unknown)
  for d in ${MODDEP[$name]}; do
    dn=${d##*/}; dn=${dn%%.ko*}
    mod_closure "$dn" || true
  done
  MODORDER+=("${MODPATH[$name]}")
}

# --------------------------------------------------------------- guest init
# Stage 1: PID 1 in the initramfs. Loads virtio/9p/overlay, mounts the control
# share, builds the new root (host / read-only + tmpfs overlay, or a tmpfs copy
# of the initramfs) and switch_root's into it. A real switch_root matters:
# pivot_root(2), which container runtimes use, fails with EINVAL on initramfs.
write_stage1() {
cat <<'STAGE1'
#!/bin/busybox sh
export PATH=/bin
msg() { echo "cg2vm-init[$(cut -d' ' -f1 /proc/uptime 2>/dev/null)]: $*" > /dev/console; }
fatal() { msg "FATAL: $*"; echo "CG2VM-RESULT: exit=125 (init failed: $*)" > /dev/console; poweroff -f; sleep 5; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec < /dev/null > /dev/console 2>&1
for m in $(cat /lib/modules/boot.list); do
  insmod "/lib/modules/boot/$m" || msg "insmod $m failed"
done
msg "boot modules loaded"
P9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /ctl
mount -t 9p -o "$P9,cache=none" cg2vm_ctl /ctl || fatal "cannot mount the control share (9p)"
. /ctl/config
mkdir -p /newroot
if [ "$CG2VM_ROOTFS" = host ]; then
  mkdir -p /lower /rw
  mount -t 9p -o "$P9,ro,cache=loose" cg2vm_root /lower || fatal "cannot mount host root (9p)"
  mount -t tmpfs -o mode=0755 tmpfs /rw
  mkdir -p /rw/upper /rw/work
  mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fatal "cannot mount the overlay root"
else
  mount -t tmpfs -o mode=0755 tmpfs /newroot
  cp -a /bin /etc /newroot/ || fatal "cannot populate the root tmpfs"
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/root /newroot/home /newroot/mnt
  ln -s bin /newroot/sbin; mkdir -p /newroot/usr; ln -s ../bin /newroot/usr/bin; ln -s ../bin /newroot/usr/sbin
fi
mkdir -p /newroot/run 2>/dev/null
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || fatal "cannot mount /run"
mkdir -p /newroot/run/cg2vm/bin /newroot/run/cg2vm/sbin /newroot/run/cg2vm/ctl
cp /bin/busybox /newroot/run/cg2vm/bin/busybox
for a in sh modprobe insmod rmmod lsmod depmod; do ln -s busybox /newroot/run/cg2vm/bin/$a; done
for a in modprobe insmod rmmod lsmod depmod; do ln -s ../bin/busybox /newroot/run/cg2vm/sbin/$a; done
cp /stage2 /newroot/run/cg2vm/stage2
msg "switching root"
mount --move /ctl /newroot/run/cg2vm/ctl
mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
exec switch_root /newroot /run/cg2vm/bin/busybox sh /run/cg2vm/stage2
STAGE1
}

# Stage 2: PID 1 in the new root. Sets up a cgroup2-only host like systemd
# would (nsdelegate, memory_recursiveprot, shared propagation), then runs the
# command and reports its exit status through the control share.
write_stage2() {
cat <<'STAGE2'
B=/run/cg2vm/bin/busybox
CTL=/run/cg2vm/ctl
msg() { $B echo "cg2vm-init[$($B cut -d' ' -f1 /proc/uptime)]: $*" > /dev/console; }
finish() {
  $B echo "$1" > $CTL/rc
  $B dmesg > $CTL/dmesg 2>/dev/null
  $B echo "CG2VM-RESULT: exit=$1 uptime=$($B cut -d' ' -f1 /proc/uptime)s" > /dev/console
  $B sync
  $B umount "$CG2VM_SHARE" 2>/dev/null
  $B umount $CTL 2>/dev/null
  $B poweroff -f
  $B sleep 10
}
. $CTL/config
$B mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup \
  || $B mount -t cgroup2 cgroup2 /sys/fs/cgroup || { msg "cannot mount cgroup2"; finish 125; }
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
  $B echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || msg "cannot enable controller $c"
done
$B mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /var/tmp
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
[ -e /dev/ptmx ] || $B ln -s pts/ptmx /dev/ptmx
$B mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
$B mount -t mqueue mqueue /dev/mqueue 2>/dev/null
$B mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
$B mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp 2>/dev/null
$B ln -sf /proc/self/fd /dev/fd; $B ln -sf /proc/self/fd/0 /dev/stdin
$B ln -sf /proc/self/fd/1 /dev/stdout; $B ln -sf /proc/self/fd/2 /dev/stderr
$B mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
$B mount -t bpf bpf /sys/fs/bpf 2>/dev/null
$B mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
KVER=$($B uname -r)
$B mkdir -p /lib/modules/$KVER 2>/dev/null
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose cg2vm_mods /lib/modules/$KVER \
  || msg "cannot mount the kernel modules share"
msg "modules share mounted"
$B echo /run/cg2vm/sbin/modprobe > /proc/sys/kernel/modprobe
for m in $CG2VM_MODULES; do $B modprobe "$m" || msg "modprobe $m failed"; done
$B mount --make-rshared /
$B hostname cg2vm
$B ip link set lo up 2>/dev/null || $B ifconfig lo 127.0.0.1 up
if [ -n "$CG2VM_SHARE" ]; then
  $B mkdir -p "$CG2VM_SHARE" 2>/dev/null
  o=trans=virtio,version=9p2000.L,msize=262144,cache=mmap
  [ "$CG2VM_SHARE_RO" = 1 ] && o=$o,ro
  $B mount -t 9p -o "$o" cg2vm_share "$CG2VM_SHARE" || { msg "cannot mount the share"; finish 125; }
fi
CG=/sys/fs/cgroup
enable_all() { for c in $($B cat "$1/cgroup.controllers"); do $B echo "+$c" > "$1/cgroup.subtree_control"; done; }
if [ -n "$CG2VM_UID" ]; then
  D=$CG/user.slice/user-$CG2VM_UID.slice/user@$CG2VM_UID.service
  $B mkdir -p "$D"
  enable_all $CG/user.slice; enable_all $CG/user.slice/user-$CG2VM_UID.slice
  # delegation as in cgroup-v2.rst: the directory plus cgroup.procs,
  # cgroup.threads and cgroup.subtree_control go to the delegatee
  $B chown "$CG2VM_UID:$CG2VM_GID" "$D" "$D/cgroup.procs" "$D/cgroup.threads" "$D/cgroup.subtree_control"
  $B mkdir -p "$D/cg2vm.scope"
  $B chown -R "$CG2VM_UID:$CG2VM_GID" "$D/cg2vm.scope"
  RUNCG=$D/cg2vm.scope
  $B mkdir -p /run/user/$CG2VM_UID /tmp/cg2vm-home-$CG2VM_UID
  $B chown "$CG2VM_UID:$CG2VM_GID" /run/user/$CG2VM_UID /tmp/cg2vm-home-$CG2VM_UID
  $B chmod 700 /run/user/$CG2VM_UID
elif [ -n "$CG2VM_CGROUP" ]; then
  RUNCG=$CG/$CG2VM_CGROUP
  p=$CG
  for part in $($B echo "$CG2VM_CGROUP" | $B tr / ' '); do
    p=$p/$part; $B mkdir -p "$p"
    [ "$p" = "$RUNCG" ] || enable_all "$p"
  done
else
  RUNCG=$CG
fi
export CG2VM_UID CG2VM_GID
msg "command starting at uptime $($B cut -d' ' -f1 /proc/uptime)s (cgroup ${RUNCG#$CG})"
# cmd.sh runs under the host's /bin/sh in host mode: busybox sh (built with
# "prefer applets") would run its own sh/ip/mount/unshare... instead of the host's.
SH="$B sh"
[ "$CG2VM_ROOTFS" = host ] && [ -x /bin/sh ] && SH=/bin/sh
# run the command in its own process so PID 1 stays in the root cgroup
$B sh -c '
  echo $$ > "$1/cgroup.procs" || exit 125
  if [ -n "$CG2VM_UID" ]; then
    exec '$B' nsenter -S "$CG2VM_UID" -G "$CG2VM_GID" -- '"$SH"' '$CTL'/cmd.sh
  fi
  exec '"$SH"' '$CTL'/cmd.sh
' cg2vm-cmd "$RUNCG" < /dev/null > $CTL/stdout 2> $CTL/stderr
finish $?
STAGE2
}

# ------------------------------------------------------------------ prepare
prepare() {
  ensure_host_tools
  mkdir -p "$CACHE"
  exec 9> "$CACHE/.lock"
  flock 9
  local kpkg kdeb kdir kver
  kpkg=$(resolve_kernel_pkg)
  kdir=$(ls -d "$CACHE/kernel/${kpkg}"_*/.done 2>/dev/null | sort -V | tail -n1 || true)
  kdir=${kdir%/.done}
  if [ -z "$kdir" ]; then
    kdeb=$(apt_download "$kpkg" "$CACHE/debs")
    kdir=$CACHE/kernel/$(basename "$kdeb" .deb)
    log "unpacking $(basename "$kdeb")"
    rm -rf "$kdir"; mkdir -p "$kdir"
    dpkg-deb -x "$kdeb" "$kdir/root"
    kver=$(ls "$kdir/root/lib/modules" | head -n1)
    [ -n "$kver" ] || die "no /lib/modules in $kdeb"
    log "generating modules.dep for $kver (busybox depmod)"
    bb_prepare
    "$BB" depmod -b "$kdir/root" "$kver" || die "depmod failed"
    if command -v depmod >/dev/null 2>&1; then depmod -b "$kdir/root" "$kver" 2>/dev/null || true; fi
    if ! extract_vmlinux "$kdir/root/boot/vmlinuz-$kver" "$kdir/vmlinux"; then
      log "warning: cannot extract vmlinux; booting the compressed bzImage (slower)"
    fi
    echo "$kver" > "$kdir/.done"
    rm -f "$kdeb"   # unpacked; keep the cache small
  fi
  KVER=$(cat "$kdir/.done")
  MODDIR=$kdir/root/lib/modules/$KVER
  if [ -s "$kdir/vmlinux" ]; then KERNEL_IMG=$kdir/vmlinux; else KERNEL_IMG=$kdir/root/boot/vmlinuz-$KVER; fi

  bb_prepare
  local key initrd
  key=$( { sha256sum "$SELF" | cut -c1-16; echo "$KVER"; sha256sum "$BB" | cut -c1-16; } | sha256sum | cut -c1-16)
  initrd=$CACHE/initramfs-$KVER-$key.cpio.gz
  if [ ! -s "$initrd" ]; then
    log "building initramfs"
    build_initramfs "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${initrd##*/}" -mmin +60 -delete 2>/dev/null || true
  fi
  INITRD=$initrd
  flock -u 9
}

bb_prepare() {
  [ -n "${BB:-}" ] && return 0
  local deb dir
  deb=$(apt_download busybox-static "$CACHE/debs")
  dir=$CACHE/busybox/$(basename "$deb" .deb)
  if [ ! -x "$dir/bin/busybox" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir/x"
    mkdir -p "$dir/bin"; cp "$dir/x/bin/busybox" "$dir/bin/busybox"; rm -rf "$dir/x"
  fi
  BB=$dir/bin/busybox
}

build_initramfs() {
  local out=$1 d m n=0
  d=$(mktemp -d)
  mkdir -p "$d"/{bin,dev,proc,sys,etc,lib/modules/boot,tmp,run}
  cp "$BB" "$d/bin/busybox"
  for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$d/bin/$a"; done
  write_stage1 > "$d/init"; chmod 755 "$d/init"
  write_stage2 > "$d/stage2"
  printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$d/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n' > "$d/etc/group"
  printf 'user:100000:65536\n' > "$d/etc/subuid"; cp "$d/etc/subuid" "$d/etc/subgid"
  MODDEP=(); MODPATH=(); MODSEEN=(); MODORDER=()
  load_moddep "$MODDIR"
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    mod_closure "$m" || true
  done
  : > "$d/lib/modules/boot.list"
  for m in "${MODORDER[@]}"; do
    n=$((n + 1))
    local f; f=$(printf '%02d-%s' "$n" "${m##*/}")
    case $m in
      *.ko) cp "$MODDIR/$m" "$d/lib/modules/boot/$f" ;;
      *.ko.xz) f=${f%.xz}; xz -dc "$MODDIR/$m" > "$d/lib/modules/boot/$f" ;;
      *.ko.zst) f=${f%.zst}; zstd -dcq "$MODDIR/$m" > "$d/lib/modules/boot/$f" ;;
      *.ko.gz) f=${f%.gz}; gzip -dc "$MODDIR/$m" > "$d/lib/modules/boot/$f" ;;
    esac
    echo "$f" >> "$d/lib/modules/boot.list"
  done
  ( cd "$d" && find . | LC_ALL=C sort | "$BB" cpio -o -H newc 2>/dev/null ) | gzip -1 > "$out"
  rm -rf "$d"
}

# ------------------------------------------------------------------ selftest
# Tiny static C helpers (if gcc + libc6-dev are there) and a busybox-sh proof.
selftest_files() {  # $1 = ctl dir
  local ctl=$1
  cat > "$ctl/memhog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 64;
  for (long i = 0; i < mb; i++) {
    char *p = malloc(1 << 20);
    if (!p) { printf("memhog: malloc failed after %ld MiB\n", i); return 2; }
    memset(p, 0x5a, 1 << 20);
    if ((i + 1) % 8 == 0) { printf("memhog: %ld MiB touched\n", i + 1); fflush(stdout); }
  }
  printf("memhog: survived %ld MiB\n", mb);
  return 0;
}
EOF
  cat > "$ctl/forkloop.c" <<'EOF'
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
  int max = argc > 1 ? atoi(argv[1]) : 100, n = 0, err = 0;
  pid_t kids[4096];
  for (; n < max && n < 4096; n++) {
    pid_t p = fork();
    if (p < 0) { err = errno; break; }
    if (p == 0) { pause(); _exit(0); }
    kids[n] = p;
  }
  printf("forkloop: %d forks succeeded; then %s\n", n, err ? strerror(err) : "no error");
  for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
  while (wait(NULL) > 0) ;
  return err == EAGAIN ? 0 : 1;
}
EOF
  if [ -z "${CG2VM_SELFTEST_NO_C:-}" ] && command -v gcc >/dev/null 2>&1; then
    gcc -static -O2 -o "$ctl/memhog" "$ctl/memhog.c" 2>/dev/null || log "note: gcc -static failed (libc6-dev missing?); selftest uses busybox fallbacks"
    gcc -static -O2 -o "$ctl/forkloop" "$ctl/forkloop.c" 2>/dev/null || true
  fi
  cat > "$ctl/selftest.sh" <<'EOF'
# cg2vm selftest: runs as root inside the VM under busybox sh
B=/run/cg2vm/bin/busybox
CTL=/run/cg2vm/ctl
CG=/sys/fs/cgroup
pass=0; fail=0
ok()  { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
field() { $B awk -v k="$2" '$1 == k { print $2 }' "$1"; }

echo "== kernel $($B uname -r), uptime $($B cut -d' ' -f1 /proc/uptime)s, rootfs: $CG2VM_ROOTFS"
echo "== cgroup mounts:"; $B grep cgroup /proc/mounts
echo "== /proc/self/cgroup: $($B cat /proc/self/cgroup | $B tr '\n' ' ')"
if ! $B grep -q ' cgroup ' /proc/mounts && $B grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts \
   && [ "$($B cat /proc/self/cgroup | $B wc -l)" = 1 ]; then ok "cgroup2 only (no v1 hierarchy mounted)"
else bad "cgroup v1 hierarchy present"; fi
st=$($B cat $CG/cgroup.subtree_control)
echo "== root subtree_control: $st"
case " $st " in *" memory "*) case " $st " in *" pids "*) case " $st " in *" cpu "*) ok "memory, pids, cpu enabled in root subtree_control";;
  *) bad "cpu not enabled";; esac;; *) bad "pids not enabled";; esac;; *) bad "memory not enabled";; esac

# --- memory.max: a 64 MiB allocation in a 32 MiB cgroup is OOM-killed
M=$CG/st-mem; $B mkdir -p $M
$B echo 32M > $M/memory.max
[ -e $M/memory.swap.max ] && $B echo 0 > $M/memory.swap.max
before=$(field $M/memory.events oom_kill)
if [ -x $CTL/memhog ]; then hog="$CTL/memhog 64"; else hog="$B dd if=/dev/zero of=/dev/null bs=64M count=1"; fi
echo "== memory test: memory.max=$($B cat $M/memory.max) running: $hog"
{ $B sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' x $M $hog; rc=$?; } 2>/dev/null  # no "Killed" job message
after=$(field $M/memory.events oom_kill)
echo "   exit=$rc memory.events: $($B cat $M/memory.events | $B tr '\n' ' ')"
echo "   memory.peak/max_usage: $($B cat $M/memory.peak 2>/dev/null || echo n/a)"
if [ "$rc" = 137 ] && [ "$after" -gt "$before" ]; then ok "memory.max=32M: 64 MiB allocation OOM-killed (SIGKILL, oom_kill $before -> $after)"
else bad "memory.max: exit=$rc oom_kill $before -> $after"; fi
$B rmdir $M 2>/dev/null

# --- pids.max: a fork loop is stopped with EAGAIN
P=$CG/st-pids; $B mkdir -p $P
$B echo 10 > $P/pids.max
echo "== pids test: pids.max=$($B cat $P/pids.max)"
if [ -x $CTL/forkloop ]; then
  out=$($B sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" 100' x $P $CTL/forkloop); rc=$?
  echo "   $out"
  n=$(echo "$out" | $B sed -n 's/^forkloop: \([0-9]*\) forks.*/\1/p')
else
  # busybox fallback: the shell dies on "can't fork"; its sleeps stay in the cgroup
  $B sh -c 'echo $$ > "$1/cgroup.procs"; i=0; while [ $i -lt 50 ]; do '$B' sleep 30 & i=$((i+1)); done' x $P > /tmp/st-pids.out 2>&1
  n=$($B cat $P/pids.current)
  out="busybox sh: $n forks succeeded; then: $($B head -n1 /tmp/st-pids.out)"
  echo "   $out"
  $B echo 1 > $P/cgroup.kill
  case $out in *"can't fork"*|*"Resource temporarily"*) rc=0 ;; *) rc=1 ;; esac
fi
events=$($B cat $P/pids.events)
echo "   exit=$rc pids.events: $events pids.peak: $($B cat $P/pids.peak 2>/dev/null || echo n/a)"
maxev=$(field $P/pids.events max)
if [ "$rc" = 0 ] && [ "${n:-999}" -le 9 ] && [ "${maxev:-0}" -gt 0 ]; then ok "pids.max=10: fork loop stopped after $n forks with EAGAIN (pids.events max=$maxev)"
else bad "pids.max: rc=$rc forks=$n events=$events"; fi
$B sleep 0.2; $B rmdir $P 2>/dev/null

# --- cpu.max: a busy loop is throttled
C=$CG/st-cpu; $B mkdir -p $C
$B echo "10000 100000" > $C/cpu.max
echo "== cpu test: cpu.max=$($B cat $C/cpu.max), 2 s busy loop"
{ $B sh -c 'echo $$ > "$1/cgroup.procs"; exec '$B' timeout 2 '$B' sh -c "while :; do :; done"' x $C; } 2>/dev/null
usage=$(field $C/cpu.stat usage_usec); thr=$(field $C/cpu.stat nr_throttled)
echo "   cpu.stat: $($B cat $C/cpu.stat | $B tr '\n' ' ')"
if [ "${thr:-0}" -gt 0 ] && [ "${usage:-9999999}" -lt 1000000 ]; then ok "cpu.max=10%: busy loop throttled (nr_throttled=$thr, usage ${usage}us in ~2 s)"
else bad "cpu.max: nr_throttled=$thr usage_usec=$usage"; fi
$B rmdir $C 2>/dev/null

# --- delegation: uid 1000 owns a subtree, can manage it, cannot raise its own limits
D=$CG/st-deleg; $B mkdir -p $D $D/leaf
$B echo 64M > $D/memory.max
$B chown 1000:1000 $D $D/cgroup.procs $D/cgroup.threads $D/cgroup.subtree_control
$B chown -R 1000:1000 $D/leaf
out=$($B sh -c 'echo $$ > "$1/leaf/cgroup.procs" && exec '$B' nsenter -S 1000 -G 1000 -- '$B' sh -c "
  set -e
  D=\$1
  mkdir \$D/child
  echo \"+memory +pids\" > \$D/cgroup.subtree_control
  echo 16M > \$D/child/memory.max
  echo 5 > \$D/child/pids.max
  echo \$\$ > \$D/child/cgroup.procs
  echo \"in: \$(cat /proc/self/cgroup) as uid \$(id -u)\"
  if { echo max > \$D/memory.max; } 2>/dev/null; then echo ESCAPED; else echo \"raise own memory.max: denied\"; fi
  if { echo \$\$ > /sys/fs/cgroup/cgroup.procs; } 2>/dev/null; then echo ESCAPED; else echo \"move to root cgroup: denied\"; fi
" x "$1"' x $D 2>&1); rc=$?
echo "$out" | $B sed 's/^/   /'
if [ "$rc" = 0 ] && ! echo "$out" | $B grep -q ESCAPED && [ "$($B cat $D/child/memory.max)" = 16777216 ]; then
  ok "delegation: uid 1000 created child, enabled +memory +pids, set limits, moved itself; escapes denied"
else bad "delegation: rc=$rc"; fi
$B sleep 0.2; $B rmdir $D/child $D/leaf $D 2>/dev/null

# --- overlayfs + pid/mount/net/uts namespaces + pivot_root into the overlay
O=/tmp/st-ovl; $B mkdir -p $O/lower/bin $O/upper $O/work $O/merged
$B cp $B $O/lower/bin/busybox; $B echo lower > $O/lower/file
if $B mount -t overlay overlay -o lowerdir=$O/lower,upperdir=$O/upper,workdir=$O/work $O/merged \
   && $B echo upper > $O/merged/new && [ -f $O/upper/new ] && [ "$($B cat $O/merged/file)" = lower ]; then
  ok "overlayfs mounted (lower+upper, copy-up into upper)"
else bad "overlayfs mount"; fi
# util-linux unshare when the host root is there, else busybox's
if /usr/bin/unshare --version 2>/dev/null | $B grep -q util-linux; then U=/usr/bin/unshare; else U="$B unshare"; fi
echo "== namespaces with: $U"
out=$($U --pid --mount --net --uts --fork $B sh -c '
  B='$B'; O='$O'
  $B mount --make-rprivate /
  $B hostname ctr-test
  $B mkdir -p $O/merged/proc $O/merged/old
  $B mount --bind $O/merged $O/merged
  cd $O/merged && $B pivot_root . old && cd / || { echo "pivot_root failed"; exit 1; }
  /bin/busybox mount -t proc proc /proc
  /bin/busybox umount -l /old
  echo "pid=$$ hostname=$(/bin/busybox hostname) netdevs=$(/bin/busybox tail -n +3 /proc/net/dev | /bin/busybox wc -l) procs=$(/bin/busybox ls /proc | /bin/busybox grep -c "^[0-9]") root=$(/bin/busybox cat /file)"
' 2>&1); rc=$?
echo "   $out"
case "$out" in *"pid=1 hostname=ctr-test"*"netdevs=1 "*"root=lower"*) [ "$rc" = 0 ] && ok "unshare --pid --mount --net --uts --fork + pivot_root into overlay: PID 1, own hostname, only lo" || bad "namespaces rc=$rc";;
  *) bad "namespaces: rc=$rc";; esac
[ "$($B hostname)" = cg2vm ] && ok "host UTS name unchanged after the container exited" || bad "hostname leaked"
if [ "$U" = /usr/bin/unshare ]; then  # busybox unshare has no --cgroup
  N=$CG/st-cgns; $B mkdir -p $N
  out=$($B sh -c 'echo $$ > "$1/cgroup.procs" && exec /usr/bin/unshare --cgroup --mount --fork '$B' sh -c "'$B' mkdir -p /tmp/st-cgns && '$B' mount -t cgroup2 none /tmp/st-cgns && '$B' cat /proc/self/cgroup && '$B' ls /tmp/st-cgns | '$B' grep -c ^memory"' x $N 2>&1); rc=$?
  echo "   cgroup namespace: $(echo "$out" | $B tr '\n' ' ')"
  case "$out" in "0::/"*) [ "$rc" = 0 ] && ok "cgroup namespace: container sees its cgroup as / and can mount cgroup2" || bad "cgroupns rc=$rc";;
    *) bad "cgroup namespace: $out";; esac
  $B rmdir $N 2>/dev/null
fi
$B umount $O/merged 2>/dev/null

# --- user namespace (rootless building block)
out=$($B nsenter -S 1000 -G 1000 -- $B unshare -r $B id 2>&1); rc=$?
echo "   uid 1000 in a user namespace: $out"
case "$out" in "uid=0("*) ok "unprivileged user namespace (uid 1000 -> root in userns)";; *) bad "user namespace: $out";; esac

echo "== uptime at end: $($B cut -d' ' -f1 /proc/uptime)s"
echo "cg2vm selftest: $pass passed, $fail failed"
[ "$fail" = 0 ]
EOF
}

# --------------------------------------------------------------------- run
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
qesc() { printf '%s' "${1//,/,,}"; }   # QEMU option values: a comma is written ",,"

prepare
if [ "$PREPARE_ONLY" = 1 ]; then
  log "ready: kernel $KVER, $(basename "$KERNEL_IMG"), $(basename "$INITRD")"
  exit 0
fi

# accelerator
cpu_has_virt() { grep -qw -e vmx -e svm /proc/cpuinfo; }
if [ "$ACCEL" = auto ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && cpu_has_virt; then ACCEL=kvm; else ACCEL=tcg; fi
fi
if [ "$ACCEL" = kvm ]; then QACCEL=(-accel kvm -cpu host)
else QACCEL=(-accel "tcg,thread=multi" -cpu "${CG2VM_CPU:-max}"); fi

RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/cg2vm.XXXXXX")
CTL=$RUNDIR/ctl
mkdir -p "$CTL"
QPID=
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

uid='' gid=''
if [ -n "$RUN_USER" ]; then uid=${RUN_USER%%:*}; gid=${RUN_USER#*:}; [ "$gid" = "$RUN_USER" ] && gid=$uid; fi
{
  echo "CG2VM_ROOTFS=$ROOTFS"
  echo "CG2VM_SHARE=$(shq "$SHARE")"
  echo "CG2VM_SHARE_RO=$SHARE_RO"
  echo "CG2VM_MODULES=$(shq "$MODULES")"
  echo "CG2VM_CGROUP=$(shq "${RUN_CGROUP#/}")"
  echo "CG2VM_UID=$uid"
  echo "CG2VM_GID=$gid"
} > "$CTL/config"

# the command script, run by busybox sh inside the VM
{
  if [ "$ROOTFS" = host ]; then  # same userland as the host: keep its PATH (cargo in ~/.cargo/bin etc.)
    echo "export PATH=$(shq "/run/cg2vm/sbin:${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}")"
  else
    echo "export PATH=/bin"
  fi
  echo "export CG2VM=1 LANG=C.UTF-8 TERM=dumb"
  echo "export CG2VM_ROOTFS=$ROOTFS"
  if [ -n "$uid" ]; then
    echo "export HOME=/tmp/cg2vm-home-$uid XDG_RUNTIME_DIR=/run/user/$uid"
    echo 'USER=$(id -un 2>/dev/null || echo "$(id -u)"); export USER LOGNAME=$USER'
  else
    echo "export HOME=/root USER=root LOGNAME=root"
  fi
  # cargo runs test binaries through a runner with these set; forward them
  while IFS= read -r e; do
    case $e in CARGO_*|RUST_*|RUSTFLAGS|CI) echo "export $(shq "$e=${!e}")" ;; esac
  done < <(compgen -e)
  for e in "${ENVS[@]}"; do
    case $e in
      *=*) echo "export $(shq "$e")" ;;
      *) if [ -n "${!e+x}" ]; then echo "export $(shq "$e=${!e}")"; fi ;;
    esac
  done
  if [ "$SELFTEST" = 1 ]; then
    echo "exec /run/cg2vm/bin/busybox sh /run/cg2vm/ctl/selftest.sh"
  else
    wd=$WORKDIR
    if [ -z "$wd" ]; then  # the caller's cwd when it lies in SHARE_DIR (cargo runner), else SHARE_DIR
      case $PWD/ in "$SHARE"/*) wd=$PWD ;; *) wd=$SHARE ;; esac
    fi
    echo "cd $(shq "$wd") || exit 126"
    printf 'exec'; for a in "$@"; do printf ' %s' "$(shq "$a")"; done; echo
  fi
} > "$CTL/cmd.sh"
[ "$SELFTEST" = 1 ] && selftest_files "$CTL"
: > "$CTL/stdout"; : > "$CTL/stderr"

LOGLEVEL=1; QUIET=quiet
[ "$VERBOSE" = 1 ] && { LOGLEVEL=7; QUIET=; }
APPEND="console=ttyS0 panic=-1 $QUIET loglevel=$LOGLEVEL mitigations=off tsc=reliable no_timer_check"
APPEND="$APPEND cryptomgr.notests i8042.noaux i8042.nokbd i8042.nopnp random.trust_cpu=on"
APPEND="$APPEND systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
# TCG translates guest code per virtual address: with ASLR every process maps
# ld.so/libc elsewhere and nothing is reused (exec of a dynamic binary: ~60 ms
# -> ~25 ms without). THP and init_on_alloc mostly cost page zeroing under TCG.
[ "$ACCEL" = tcg ] && [ "${CG2VM_TCG_TUNING:-1}" = 1 ] && APPEND="$APPEND norandmaps transparent_hugepage=never init_on_alloc=0"
APPEND="$APPEND ${CG2VM_APPEND:-}"

QEMU=(qemu-system-x86_64 -name cg2vm -machine "${CG2VM_MACHINE:-q35}" "${QACCEL[@]}" -smp "$CPUS" -m "$MEM"
  ${CG2VM_BIOS:+-bios $CG2VM_BIOS} -nodefaults -no-user-config -display none -vga none -no-reboot
  -chardev "file,id=con0,path=$(qesc "$RUNDIR/console.log")" -serial chardev:con0
  -nic none
  -kernel "$KERNEL_IMG" -initrd "$INITRD" -append "$APPEND"
  -virtfs "local,path=$(qesc "$CTL"),mount_tag=cg2vm_ctl,security_model=none,id=ctl"
  -virtfs "local,path=$(qesc "$MODDIR"),mount_tag=cg2vm_mods,security_model=none,readonly=on,id=mods")
if [ -n "$SHARE" ]; then
  ro=; [ "$SHARE_RO" = 1 ] && ro=,readonly=on
  QEMU+=(-virtfs "local,path=$(qesc "$SHARE"),mount_tag=cg2vm_share,security_model=none,multidevs=remap,id=share$ro")
fi
if [ "$ROOTFS" = host ]; then
  QEMU+=(-virtfs "local,path=/,mount_tag=cg2vm_root,security_model=none,readonly=on,multidevs=remap,id=root")
fi

[ "$VERBOSE" = 1 ] && log "accel=$ACCEL kernel=$KVER rootfs=$ROOTFS mem=${MEM}M cpus=$CPUS"
START=$(date +%s.%N)
: > "$RUNDIR/console.log"
timeout -k 10 "$TIMEOUT" "${QEMU[@]}" < /dev/null > "$RUNDIR/qemu.out" 2>&1 &
QPID=$!
TAILS=()
tail -n +1 -s 0.2 -f --pid="$QPID" "$CTL/stdout" & TAILS+=($!)
tail -n +1 -s 0.2 -f --pid="$QPID" "$CTL/stderr" >&2 & TAILS+=($!)
[ "$VERBOSE" = 1 ] && { tail -n +1 -s 0.2 -f --pid="$QPID" "$RUNDIR/console.log" | sed 's/^/[vm] /' >&2 & TAILS+=($!); }
set +e
wait "$QPID"; QRC=$?
set -e
QPID=
for t in "${TAILS[@]}"; do wait "$t" 2>/dev/null || true; done
END=$(date +%s.%N)
ELAPSED=$(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }')

[ -n "$LOGFILE" ] && cp "$RUNDIR/console.log" "$LOGFILE"
if [ -s "$CTL/rc" ]; then
  RC=$(tr -dc 0-9 < "$CTL/rc")
  [ -n "$RC" ] || RC=125
  log "CG2VM-RESULT exit=$RC (VM ${ELAPSED}s, accel=$ACCEL)"
  exit "$RC"
fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  log "VM timed out after ${TIMEOUT}s (accel=$ACCEL); last console lines:"
  tail -n 30 "$RUNDIR/console.log" | sed 's/^/[vm] /' >&2
  exit 124
fi
log "VM ended without a result after ${ELAPSED}s (qemu exit $QRC); qemu said:"
sed 's/^/[qemu] /' "$RUNDIR/qemu.out" >&2
log "last console lines:"
tail -n 40 "$RUNDIR/console.log" | sed 's/^/[vm] /' >&2
exit 125
