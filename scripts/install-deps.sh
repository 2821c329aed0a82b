#!/usr/bin/env bash
# Install every Debian 12 package warmpool needs to build, test and run.
# Idempotent; needs root. Skips apt entirely when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libprotobuf-c-dev protobuf-c-compiler libnng-dev liburcu-dev libcriterion-dev
  libjansson-dev libmbedtls-dev libvirt-dev libxml2-dev
  libvirt-daemon libvirt-daemon-system libvirt-clients
  qemu-system-x86 qemu-utils
  cpio kmod xz-utils zstd ca-certificates procps curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
