#!/usr/bin/env bash
# Install every Debian 12 package warmpool needs to build, test and run,
# then set up the host as a packaged install would (deploy/host/kvm-device.sh:
# /dev/kvm's group and mode where no udev set them). Idempotent; needs root.
# Skips apt entirely when everything is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config clang-format
  libprotobuf-c-dev protobuf-c-compiler libnng-dev liburcu-dev libcriterion-dev
  libjansson-dev libmbedtls-dev libvirt-dev libxml2-dev
  libvirt-daemon libvirt-daemon-system libvirt-clients
  qemu-system-x86 qemu-utils
  cpio kmod xz-utils zstd ca-certificates procps curl
  crun busybox-static containerd runc util-linux gnuplot-nox
)
# the CRI test's client (tests/cri/cri.js, @grpc/grpc-js via npm ci): any
# node >= 18 that is already there will do, else Debian's
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# after the packages: libvirt-daemon-system creates libvirt-qemu
bash "$root/deploy/host/kvm-device.sh"
