#!/usr/bin/env bash
# build-busybox-image.sh OUT_TAR [NAME] - an OCI image archive of Debian's
# busybox-static, built offline and reproducibly (fixed mtimes and owners,
# sorted names, gzip -n: two runs give the same digests), for
# `ctr images import`. NAME (default docker.io/warmpool/busybox:test) is the
# io.containerd.image.name annotation that names the imported image.
set -euo pipefail
. "$(dirname "$0")/oci-lib.sh"
out=${1:?usage: build-busybox-image.sh OUT_TAR [NAME]}
name=${2:-docker.io/warmpool/busybox:test}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-busybox-image: no $busybox (apt-get install busybox-static)" >&2; exit 1; }
file -b "$busybox" 2>/dev/null | grep -q 'dynamically' && { echo "build-busybox-image: $busybox is not static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root,run}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

oci_image_archive "$rootfs" '{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' "$name" "$out"
echo "build-busybox-image: $out ($name, manifest sha256:$OCI_MANIFEST)"
