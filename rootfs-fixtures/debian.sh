#!/bin/sh
# Builds a Debian bookworm minbase rootfs tarball with debootstrap (gzip, as a registry would
# serve it) and caches it: a second run with the same OUT returns at once.
# Usage: debian.sh OUT.tar.gz   (MIRROR overrides the Debian mirror)
set -eu
out=${1:?usage: debian.sh OUT.tar.gz}
if [ -s "$out" ]; then
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debian.sh: debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
# The mirror this machine's apt already uses (deb822 sources or the classic list): the
# repository names no mirror of its own, and a machine that reaches one mirror only works.
apt_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
    done | head -1
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }' "$f"
    done | head -1
}
mirror=${MIRROR:-$(apt_mirror | head -1)}
[ -n "$mirror" ] || { echo "debian.sh: no Debian mirror in /etc/apt/sources.list(.d); set MIRROR=URL" >&2; exit 1; }
dir=$(mktemp -d /var/tmp/hako-debian.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# One more try after a failure: a mirror hiccup should not fail a whole test run.
for attempt in 1 2; do
    rm -rf "$dir/rootfs"
    if timeout 900 debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror" >"$dir/log" 2>&1; then
        break
    fi
    if [ "$attempt" = 2 ]; then
        tail -20 "$dir/log" >&2
        echo "debian.sh: debootstrap from $mirror failed twice (is the Debian mirror reachable? set MIRROR=...)" >&2
        exit 1
    fi
    echo "debian.sh: debootstrap failed, trying once more" >&2
done
# No apt lists or caches: they make the image bigger and vary from day to day.
rm -rf "$dir/rootfs/var/cache/apt/"*.bin "$dir/rootfs/var/lib/apt/lists/"* "$dir/rootfs/var/log/"*
mkdir -p "$(dirname "$out")"
tar --numeric-owner --xattrs -C "$dir/rootfs" -czf "$out.tmp" .
mv "$out.tmp" "$out"
