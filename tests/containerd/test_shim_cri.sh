#!/usr/bin/env bash
# test_shim_cri.sh VM_ROOT WARMPOOLD WARMPOOLCTL SHIM NODE_DIR - containerd's
# CRI plugin runs a pod in a warm VM through containerd-shim-warmpool-v2,
# driven by a CRI client as the kubelet would (tests/cri/cri.js over
# containerd's gRPC socket): RunPodSandbox with runtime_handler warmpool
# (host network: no CNI here), a busybox container created and started,
# ExecSync (output, exit codes), a second container in the same pod and so
# the same VM (one guest boot id, one lease), StopContainer/RemoveContainer,
# StopPodSandbox, RemovePodSandbox; afterwards no lease, no shim, no mount.
#
# NODE_DIR is where the client's npm packages go (`npm ci` from
# tests/cri/package-lock.json, redone only when the lock file changed).
# Starts its own warmpoold (the VM fixture's template "small") and its own
# containerd (containerd_fixture.sh, WP_CONTAINERD_CRI=1), and stops
# exactly those, by pid, whatever happens.
set -uo pipefail
vm_root=$1 warmpoold=$2 ctl=$3 shim=$4 node_dir=$5
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
dir=$(mktemp -d /tmp/wp-shim-cri.XXXXXX)
image=docker.io/warmpool/busybox:test
shim_cmd=$dir/containerd/bin/containerd-shim-warmpool-v2
. "$here/shim_test_lib.sh"
pod=

cleanup() {
  if [ -n "$pod" ]; then
    cri StopPodSandbox "{\"pod_sandbox_id\": \"$pod\"}" >/dev/null 2>&1
    cri RemovePodSandbox "{\"pod_sandbox_id\": \"$pod\"}" >/dev/null 2>&1
  fi
  bash "$here/containerd_fixture.sh" stop "$dir/containerd"
  stop_warmpoold
  end_leftovers
  rm -rf "$dir"
}
trap cleanup EXIT

# cri [--field F] METHOD [JSON]: one CRI call on our containerd
cri() { NODE_PATH=$node_dir/node_modules node "$src/tests/cri/cri.js" "${@:1:$#-2}" \
  "$dir/containerd/containerd.sock" "${@: -2}"; }
ctr_k8s() { timeout 120 ctr --address "$dir/containerd/containerd.sock" --namespace k8s.io "$@"; }

# ---- the client's packages ----
command -v node >/dev/null || { echo "no node: run scripts/install-deps.sh" >&2; exit 1; }
mkdir -p "$node_dir"
if ! cmp -s "$src/tests/cri/package-lock.json" "$node_dir/package-lock.json" ||
  [ ! -d "$node_dir/node_modules/@grpc/grpc-js" ]; then
  cp "$src/tests/cri/package.json" "$src/tests/cri/package-lock.json" "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi

# ---- warmpoold with 2 warm VMs of "small" ----
start_warmpoold 19474 || exit 1

# ---- containerd with CRI; the shim found by name on its PATH ----
mkdir -p "$dir/containerd/bin"
ln -s "$shim" "$dir/containerd/bin/containerd-shim-warmpool-v2"
WARMPOOL_SHIM_CONFIG=$dir/shim.json WP_CONTAINERD_CRI=1 \
  bash "$here/containerd_fixture.sh" start "$dir/containerd" || exit 1
bash "$src/deploy/images/build-busybox-image.sh" "$dir/busybox.tar" "$image" >/dev/null || exit 1
bash "$src/deploy/images/build-pause-image.sh" "$dir/pause.tar" >/dev/null || exit 1
ctr_k8s images import "$dir/busybox.tar" >/dev/null || exit 1
ctr_k8s images import "$dir/pause.tar" >/dev/null || exit 1

expect_eq "CRI version" "$(cri --field runtime_name Version '{}')" containerd
# CRI learns of imported images through events: wait until it sees them
for _ in $(seq 1 50); do
  cri --field image.id ImageStatus '{"image": {"image": "registry.k8s.io/pause:3.6"}}' \
    >/dev/null 2>&1 && break
  sleep 0.2
done
expect_eq "CRI sees the pause image" \
  "$(cri --field image.repo_tags.0 ImageStatus '{"image": {"image": "registry.k8s.io/pause:3.6"}}')" \
  registry.k8s.io/pause:3.6

# ---- a pod in a warm VM ----
# (no hostname, as the kubelet sends none for a host-network pod: the
# sandbox has no UTS namespace of its own, and CRI writes the node's name
# to /etc/hostname)
mkdir -p "$dir/logs"
sandbox_config="{\"metadata\": {\"name\": \"wp-pod\", \"uid\": \"wp-pod-uid\", \"namespace\": \"default\"},
  \"log_directory\": \"$dir/logs\",
  \"linux\": {\"security_context\": {\"namespace_options\": {\"network\": \"NODE\"}}}}"
pod=$(cri --field pod_sandbox_id RunPodSandbox \
  "{\"config\": $sandbox_config, \"runtime_handler\": \"warmpool\"}")
[ -n "$pod" ] || { fail "RunPodSandbox"; tail -30 "$dir/containerd/containerd.log" >&2; exit 1; }
echo "ok: RunPodSandbox: $pod"
expect_eq "pod ready" "$(cri --field status.state PodSandboxStatus "{\"pod_sandbox_id\": \"$pod\"}")" \
  SANDBOX_READY
expect_eq "the pod's runtime handler" \
  "$(cri --field status.runtime_handler PodSandboxStatus "{\"pod_sandbox_id\": \"$pod\"}")" warmpool
expect_eq "one lease for the pod" "$(leases)" 1

# create_and_start NAME: a busybox `sleep 1000` in the pod; prints its id
create_and_start() {
  local id
  id=$(cri --field container_id CreateContainer "{\"pod_sandbox_id\": \"$pod\",
    \"config\": {\"metadata\": {\"name\": \"$1\"}, \"image\": {\"image\": \"$image\"},
      \"command\": [\"sleep\", \"1000\"], \"log_path\": \"$1.log\", \"linux\": {}},
    \"sandbox_config\": $sandbox_config}") || return 1
  cri StartContainer "{\"container_id\": \"$id\"}" >/dev/null || return 1
  echo "$id"
}
exec_sync() { # ID FIELD CMD...: one field of ExecSync's reply
  local id=$1 field=$2 args
  shift 2
  args=$(printf '"%s",' "$@")
  cri --field "$field" ExecSync "{\"container_id\": \"$id\", \"cmd\": [${args%,}], \"timeout\": 60}"
}

c1=$(create_and_start c1) || fail "CreateContainer/StartContainer c1"
expect_eq "c1 running" "$(cri --field status.state ContainerStatus "{\"container_id\": \"$c1\"}")" \
  CONTAINER_RUNNING
expect_eq "ExecSync stdout" "$(exec_sync "$c1" stdout echo hi)" hi
expect_eq "ExecSync exit code" "$(exec_sync "$c1" exit_code echo hi)" 0
expect_eq "ExecSync stderr" "$(exec_sync "$c1" stderr sh -c 'echo oops >&2')" oops
expect_eq "ExecSync exit code 3" "$(exec_sync "$c1" exit_code sh -c 'exit 3')" 3
expect_eq "CRI's bind-mounted files" "$(exec_sync "$c1" stdout sh -c \
  'test -s /etc/resolv.conf && test -s /etc/hosts && cat /etc/hostname')" "$(hostname)"

# ---- a second container: the same VM ----
c2=$(create_and_start c2) || fail "CreateContainer/StartContainer c2"
expect_eq "two containers listed" "$(cri ListContainers \
  "{\"filter\": {\"pod_sandbox_id\": \"$pod\", \"state\": {\"state\": \"CONTAINER_RUNNING\"}}}" |
  grep -o '"pod_sandbox_id"' | wc -l)" 2
boot1=$(exec_sync "$c1" stdout cat /proc/sys/kernel/random/boot_id)
boot2=$(exec_sync "$c2" stdout cat /proc/sys/kernel/random/boot_id)
expect_eq "both containers in one guest kernel (boot id)" "$boot2" "$boot1"
[ -n "$boot1" ] && [ "$boot1" != "$(cat /proc/sys/kernel/random/boot_id)" ] &&
  echo "ok: the boot id is the guest's, not the host's" || fail "boot id '$boot1' is the host's"
expect_eq "still one lease with two containers" "$(leases)" 1
expect_eq "one shim for the pod" "$(shims)" 1

cri StopContainer "{\"container_id\": \"$c2\", \"timeout\": 10}" >/dev/null || fail "StopContainer c2"
expect_eq "c2 exited" "$(cri --field status.state ContainerStatus "{\"container_id\": \"$c2\"}")" \
  CONTAINER_EXITED
cri RemoveContainer "{\"container_id\": \"$c2\"}" >/dev/null || fail "RemoveContainer c2"
expect_eq "c1 still answers after c2 is gone" "$(exec_sync "$c1" stdout echo still)" still

# ---- the pod goes: its VM's lease is released ----
cri StopPodSandbox "{\"pod_sandbox_id\": \"$pod\"}" >/dev/null || fail "StopPodSandbox"
expect_eq "c1 exited with the pod" \
  "$(cri --field status.state ContainerStatus "{\"container_id\": \"$c1\"}")" CONTAINER_EXITED
cri RemovePodSandbox "{\"pod_sandbox_id\": \"$pod\"}" >/dev/null || fail "RemovePodSandbox"
pod=
expect_eq "no container left" "$(cri ListContainers '{}' | grep -o '"id"' | wc -l)" 0
expect_clean "pod removed"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed; containerd's log, then warmpoold's:" >&2
  grep -v 'level=debug' "$dir/containerd/containerd.log" | tail -40 >&2
  tail -20 "$dir/warmpoold.log" >&2
  exit 1
fi
echo "all checks passed"
