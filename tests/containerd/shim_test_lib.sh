# shim_test_lib.sh - what the shim's containerd tests share; sourced after
# they set dir (the test's directory), vm_root, warmpoold, ctl (warmpoolctl)
# and shim_cmd (how a running shim's command line starts, for pgrep).

failures=0
daemon= # warmpoold's pid, once started

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { # what got want
  if [ "$2" != "$3" ]; then fail "$1: got '$2', want '$3'"; else echo "ok: $1"; fi
}

leases() { "$ctl" --socket "ipc://$dir/warmpoold.sock" leases | grep -c '^wp-' ; }
shims() { pgrep -f "^$shim_cmd" | wc -l; }
# nothing of a finished task may stay: lease, shim, mount under our dirs
expect_clean() {
  local i
  for i in $(seq 1 50); do
    [ "$(leases)" = 0 ] && [ "$(shims)" = 0 ] && break
    sleep 0.2
  done
  expect_eq "$1: leases left" "$(leases)" 0
  expect_eq "$1: shims left" "$(shims)" 0
  # (a warm VM's share is a mount point of its own: what is below it counts)
  local mounts="$dir/containerd/(state|root)/[^ ]|$dir/run[-a-z]*/vms/[^ ]*/shared/"
  expect_eq "$1: mounts left" "$(grep -cE "$mounts" /proc/self/mountinfo)" 0
  grep -E "$mounts" /proc/self/mountinfo >&2
}

# start_warmpoold METRICS_PORT: warmpoold with 2 warm VMs of "small" (the
# VM fixture's template), its API at $dir/warmpoold.sock, log
# $dir/warmpoold.log; sets daemon; returns once both VMs are warm. Also
# writes $dir/shim.json, the shim's config naming that pool.
start_warmpoold() {
  cat >"$dir/warmpoold.json" <<JSON
{"runtime_dir": "$dir/run", "state_dir": "$dir/state", "store_dir": "$vm_root/store",
 "memory_dir": "$vm_root/mem", "api_socket": "ipc://$dir/warmpoold.sock",
 "metrics_address": "http://127.0.0.1:$1/metrics", "log_level": "info",
 "templates": {"small": {"target": 2, "min": 0, "max": 8}}}
JSON
  mkfifo "$dir/ready"
  "$warmpoold" --config "$dir/warmpoold.json" --ready-fd 3 3>"$dir/ready" 2>"$dir/warmpoold.log" &
  daemon=$!
  if ! read -r -t 60 _ <"$dir/ready"; then cat "$dir/warmpoold.log" >&2; return 1; fi
  "$ctl" --socket "ipc://$dir/warmpoold.sock" pool wait small 2 --timeout 300 || return 1
  printf '{"pool_socket": "ipc://%s/warmpoold.sock", "template": "small"}\n' "$dir" >"$dir/shim.json"
}

# stop_warmpoold: exactly the warmpoold start_warmpoold started
stop_warmpoold() {
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  daemon=
}

# end_leftovers: after warmpoold stopped. It keeps leased VMs running across
# its stop (by design), so a lease a failed check left behind is a VM of our
# runtime dir: ended here, with the mounts under $dir.
end_leftovers() {
  local pid m
  for pid in $(pgrep -f "qemu-system.*$dir/run[-a-z]*/vms/"); do kill -KILL "$pid" 2>/dev/null; done
  sleep 0.2
  awk -v d="$dir" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
}
