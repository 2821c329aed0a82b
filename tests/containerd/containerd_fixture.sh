#!/usr/bin/env bash
# containerd_fixture.sh start|restart|stop DIR - a private containerd for tests.
#
# start: config DIR/config.toml (root DIR/root, state DIR/state, sockets
#   DIR/containerd.sock and DIR/containerd.sock.ttrpc, log DIR/containerd.log,
#   pid DIR/containerd.pid), DIR/bin first on its PATH (where a test links a
#   shim that CRI must find by name). The CRI plugin is off unless
#   WP_CONTAINERD_CRI=1, which enables it with a `warmpool` runtime
#   (io.containerd.warmpool.v2) and restates the runc runtime: containerd
#   1.6.20 fails to load the CRI plugin when a runtimes table names another
#   runtime but not runc. The environment (WARMPOOL_SHIM_CONFIG, say) passes
#   to containerd and from it to shims. WP_CONTAINERD_DEBUG=1: containerd
#   logs at debug and passes -debug to shims (their per-call timings land
#   in DIR/containerd.log). Waits for the socket (10 s).
# restart: stops only containerd (its shims run on) and starts it again on
#   the same directories, as an upgrade or a crash of containerd would.
# stop: kills exactly the containerd it started (TERM, then KILL), every
#   shim whose command line or working directory is under DIR, lifts the
#   mounts under DIR (deepest first) and removes DIR. Idempotent.
set -uo pipefail
cmd=${1:?usage: containerd_fixture.sh start|restart|stop DIR}
dir=${2:?usage: containerd_fixture.sh start|restart|stop DIR}

start() {
  mkdir -p "$dir/bin" "$dir/root" "$dir/state"
  dir=$(cd "$dir" && pwd)
  {
    echo 'version = 2'
    echo "root = \"$dir/root\""
    echo "state = \"$dir/state\""
    if [ "${WP_CONTAINERD_CRI:-0}" != 1 ]; then
      echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
    fi
    if [ "${WP_CONTAINERD_DEBUG:-0}" = 1 ]; then
      printf '[debug]\n  level = "debug"\n'
    fi
    echo '[grpc]'
    echo "  address = \"$dir/containerd.sock\""
    echo '[ttrpc]'
    echo "  address = \"$dir/containerd.sock.ttrpc\""
    if [ "${WP_CONTAINERD_CRI:-0}" = 1 ]; then
      echo '[plugins."io.containerd.grpc.v1.cri"]'
      echo "  sandbox_image = \"${WP_CRI_SANDBOX_IMAGE:-registry.k8s.io/pause:3.6}\""
      echo '[plugins."io.containerd.grpc.v1.cri".containerd]'
      echo '  snapshotter = "overlayfs"'
      echo '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]'
      echo '  runtime_type = "io.containerd.runc.v2"'
      echo '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.warmpool]'
      echo '  runtime_type = "io.containerd.warmpool.v2"'
      echo '  pod_annotations = ["io.warmpool.*"]'
    fi
  } >"$dir/config.toml"
  PATH="$dir/bin:$PATH" setsid containerd --config "$dir/config.toml" \
    >"$dir/containerd.log" 2>&1 </dev/null &
  echo $! >"$dir/containerd.pid"
  for _ in $(seq 1 100); do
    if ctr --address "$dir/containerd.sock" version >/dev/null 2>&1; then
      echo "containerd_fixture: containerd $(cat "$dir/containerd.pid") on $dir/containerd.sock"
      return 0
    fi
    kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "containerd_fixture: containerd did not come up; its log:" >&2
  tail -20 "$dir/containerd.log" >&2
  stop
  return 1
}

# pids of processes whose command line or cwd is under $dir (our shims)
ours() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "$dir" ||
      [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$dir"* ]]; then
      echo "${p#/proc/}"
    fi
  done
}

stop() {
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  local pid i
  if [ -f "$dir/containerd.pid" ]; then
    pid=$(cat "$dir/containerd.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  for pid in $(ours); do kill -KILL "$pid" 2>/dev/null; done
  awk -v d="$dir" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$dir"
}

restart() {
  local pid i
  pid=$(cat "$dir/containerd.pid")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  start
}

case $cmd in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  *) echo "usage: containerd_fixture.sh start|restart|stop DIR" >&2; exit 2 ;;
esac
