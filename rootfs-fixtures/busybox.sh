#!/bin/sh
# Builds a busybox rootfs tarball from Debian's busybox-static: /bin/busybox, its applet
# links, and the few /etc files a shell expects. Usage: busybox.sh OUT.tar
set -eu
out=${1:?usage: busybox.sh OUT.tar}
bb=$(command -v busybox || true)
if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
    bb=/bin/busybox
fi
[ -x "$bb" ] || { echo "busybox.sh: /bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/home/user"
cp "$bb" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nstaff:x:50:user\nuser:x:1000:\nnogroup:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
chown 1000:1000 "$dir/home/user"
tar --numeric-owner -C "$dir" -cf "$out" .
