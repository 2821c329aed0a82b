# bench/lib/bench_env.sh - sourced by the bench scripts: build what a
# benchmark needs (the build, the guest image, a fresh "bench" template in
# the bench's own store), and run a warmpoold of the bench's own, stopped
# by its pid when the script exits.
set -euo pipefail
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$bench_root"
# each benchmark its own directories (and metrics port), so that two can
# run at once without one's cleanup removing the other's VMs
bench_name=$(basename "$0")
bench_base=/var/tmp/warmpool-bench/$bench_name
bench_mem=/dev/shm/warmpool-bench/$bench_name
bench_run=/run/warmpool-bench/$bench_name
# the journal on a memory filesystem, as /run is on a normal host (on these
# machines /run is not a tmpfs)
bench_state=/dev/shm/warmpool-bench-state/$bench_name
case $bench_name in
daemon_memory) bench_metrics_port=9467 ;;
*) bench_metrics_port=9466 ;;
esac
bench_opts=(--store "$bench_base/store" --memory-dir "$bench_mem" --runtime-dir "$bench_run")
bench_socket="ipc://$bench_run/warmpoold.sock"
bench_daemon_pid=

# Build, image and a fresh template (it must match the current build).
bench_prepare() {
  local b
  for b in build/pool/daemon/warmpoold build/bench/acquire_latency_bin build/bench/daemon_memory_bin; do
    [ -x "$b" ] || { bash scripts/build.sh; break; }
  done
  [ -f out/guest/initrd.img ] || bash deploy/guest/build-image.sh out/guest
  build/cli/warmpoolctl "${bench_opts[@]}" template build bench --kernel out/guest/vmlinuz \
    --initrd out/guest/initrd.img --force >&2
}

# bench_daemon_start TARGET WARM_STATE [SHARE_MOUNT]: warmpoold with one
# pool, "bench"; SHARE_MOUNT clone (default) or first_call.
bench_daemon_start() {
  local cfg=$bench_base/warmpoold.json fifo
  mkdir -p "$bench_base"
  cat > "$cfg" <<JSON
{"runtime_dir": "$bench_run", "state_dir": "$bench_state",
 "store_dir": "$bench_base/store", "memory_dir": "$bench_mem",
 "api_socket": "$bench_socket", "metrics_address": "http://127.0.0.1:$bench_metrics_port/metrics",
 "refill_concurrency": 2, "log_level": "warn", "share_mount": "${3:-clone}",
 "templates": {"bench": {"target": $1, "min": 0, "max": 4096, "warm_state": "$2"}}}
JSON
  fifo=$(mktemp -u "$bench_base/ready.XXXXXX")
  mkfifo "$fifo"
  build/pool/daemon/warmpoold --config "$cfg" --ready-fd 3 3>"$fifo" 2>>"$bench_base/warmpoold.log" &
  bench_daemon_pid=$!
  trap bench_daemon_stop EXIT
  local line=
  read -r -t 120 line < "$fifo" || true
  rm -f "$fifo"
  if [ "$line" != READY=1 ]; then
    echo "warmpoold did not start; $bench_base/warmpoold.log ends:" >&2
    tail -5 "$bench_base/warmpoold.log" >&2
    exit 1
  fi
}

bench_daemon_stop() {
  if [ -n "$bench_daemon_pid" ]; then
    kill -TERM "$bench_daemon_pid" 2>/dev/null || true
    wait "$bench_daemon_pid" 2>/dev/null || true
    bench_daemon_pid=
  fi
}
