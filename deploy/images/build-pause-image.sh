#!/usr/bin/env bash
# build-pause-image.sh OUT_TAR [NAME] - an OCI image archive of a pod
# sandbox's pause process (pause.c beside this script, linked statically
# with gcc -static), built offline and reproducibly (oci-lib.sh), for
# `ctr -n k8s.io images import`. NAME (default registry.k8s.io/pause:3.6,
# the sandbox_image containerd's CRI plugin runs) names the imported image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/oci-lib.sh"
out=${1:?usage: build-pause-image.sh OUT_TAR [NAME]}
name=${2:-registry.k8s.io/pause:3.6}
command -v gcc >/dev/null || { echo "build-pause-image: no gcc (apt-get install build-essential)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{dev,etc,proc,sys}
# -ffile-prefix-map and no build id: the same binary wherever it is built
gcc -std=c11 -O2 -Wall -Wextra -Werror -static -s -Wl,--build-id=none \
  -ffile-prefix-map="$here"=. -o "$rootfs/pause" "$here/pause.c"
chmod 0755 "$rootfs/pause"

oci_image_archive "$rootfs" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$name" "$out"
echo "build-pause-image: $out ($name, manifest sha256:$OCI_MANIFEST)"
