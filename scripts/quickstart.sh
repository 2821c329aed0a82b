#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine, as root: install what is needed,
# build, build the guest image and a template named "demo", clone it, then
# run warmpoold with a pool of 2 warm "demo" VMs: show the pool, lease a VM
# (about a millisecond: it is already warm), talk to its agent, release it,
# run a container in a warm VM (warmpoolctl run), run one through a private
# containerd with the warmpool shim (ctr run), scrape the metrics, and stop
# the daemon and containerd (by their pids) at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
bash scripts/build.sh
bash deploy/guest/build-image.sh out/guest
bash deploy/guest/build-rootfs.sh out/guest/rootfs

ctl=build/cli/warmpoolctl
echo "== building template 'demo' (a cold boot under TCG takes a few seconds) =="
"$ctl" template build demo --kernel out/guest/vmlinuz --initrd out/guest/initrd.img --force
"$ctl" template ls
echo "== cloning 'demo' twice (no daemon: clone, time, destroy) =="
"$ctl" clone demo --count 2

echo "== starting warmpoold (deploy/warmpoold/quickstart.json: 2 warm 'demo' VMs, kept running) =="
state=$(mktemp -d /tmp/warmpool-quickstart.XXXXXX)
mkfifo "$state/ready"
build/pool/daemon/warmpoold --config deploy/warmpoold/quickstart.json --log-level info \
  --ready-fd 3 3>"$state/ready" 2>"$state/warmpoold.log" &
daemon=$!
stop_daemon() {
  bash tests/containerd/containerd_fixture.sh stop "$state/containerd" >/dev/null 2>&1 || true
  kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  rm -rf "$state"
}
trap stop_daemon EXIT
read -r -t 120 ready < "$state/ready" || { cat "$state/warmpoold.log" >&2; exit 1; }
echo "warmpoold pid $daemon: $ready"
"$ctl" pool wait demo 2 --timeout 300
"$ctl" status
echo "== acquiring a warm 'demo' VM =="
lease=$("$ctl" acquire demo)
echo "$lease"
vm=$(awk '$1 == "vm" {print $2}' <<<"$lease")
token=$(awk '$1 == "token" {print $2}' <<<"$lease")
endpoint=$(awk '$1 == "endpoint" {print $2}' <<<"$lease")
"$ctl" agent "$endpoint" ping
"$ctl" agent "$endpoint" info
"$ctl" release "$vm" "$token"
"$ctl" pool wait demo 2 --timeout 300
echo "== running a container in a warm 'demo' VM (crun in the guest, busybox rootfs over 9p) =="
"$ctl" run demo --rootfs out/guest/rootfs --verbose -- \
  /bin/sh -c 'echo "hello from a container in a warm VM: $(uname -r), pid $$"'
"$ctl" pool wait demo 2 --timeout 300
"$ctl" status
echo "== running a container through containerd (containerd-shim-warmpool-v2; a private containerd) =="
echo '{"template": "demo"}' > "$state/shim.json"
WARMPOOL_SHIM_CONFIG=$state/shim.json bash tests/containerd/containerd_fixture.sh start "$state/containerd"
bash deploy/images/build-busybox-image.sh "$state/busybox.tar"
ctr --address "$state/containerd/containerd.sock" --namespace quickstart images import "$state/busybox.tar"
ctr --address "$state/containerd/containerd.sock" --namespace quickstart run --rm \
  --runtime "$root/build/shim/containerd-shim-warmpool-v2" docker.io/warmpool/busybox:test hello \
  sh -c 'echo "hello from containerd, in a warm VM: $(uname -r)"'
bash tests/containerd/containerd_fixture.sh stop "$state/containerd"
"$ctl" pool wait demo 2 --timeout 300
echo "== metrics (http://127.0.0.1:9464/metrics), warm and leased gauges =="
curl -fsS http://127.0.0.1:9464/metrics | grep -E '^warmpool_(vms|acquire_total)' || true
echo "== stopping warmpoold (SIGTERM: warm VMs destroyed, leases kept) =="
