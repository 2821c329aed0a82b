#!/usr/bin/env bash
# Configure and build warmpool into BUILD_DIR (default: build/).
# Extra arguments are passed to cmake's configure step (e.g. -DWP_SANITIZE=ON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
