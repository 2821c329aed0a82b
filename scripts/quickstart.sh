#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root: install what is needed,
# build, build the guest image and a template named "demo", then clone it
# three times and show each clone answering with its timings.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
bash scripts/build.sh
bash deploy/guest/build-image.sh out/guest

ctl=build/pool/warmpoolctl
echo "== building template 'demo' (a cold boot under TCG takes a few seconds) =="
"$ctl" template build demo --kernel out/guest/vmlinuz --initrd out/guest/initrd.img --force
"$ctl" template ls
echo "== cloning 'demo' three times =="
"$ctl" clone demo --count 3
