#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# needed, builds (plain and ASan+UBSan), builds the guest image, runs every
# Criterion suite: the unit suites in both builds, and the VM integration
# suites (real QEMU under TCG, directly and through libvirt: the fixture
# starts virtlogd/libvirtd unless one runs) and containerd through the shim
# (a private containerd) in the plain build, the shim's also in ASan.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
BUILD_DIR=$root/build bash scripts/build.sh
BUILD_DIR=$root/build-asan bash scripts/build.sh -DWP_SANITIZE=ON
bash deploy/guest/build-image.sh out/guest
bash deploy/guest/build-rootfs.sh out/guest/rootfs

echo "== unit tests (ASan+UBSan) =="
(cd build-asan && ctest --output-on-failure -L unit)
echo "== containerd through the shim (ASan+UBSan: a report in a shim's log fails it) =="
(cd build-asan && ctest --output-on-failure -R '^test_shim_ctr$')
echo "== all tests =="
(cd build && ctest --output-on-failure)
