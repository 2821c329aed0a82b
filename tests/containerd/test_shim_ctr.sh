#!/usr/bin/env bash
# test_shim_ctr.sh VM_ROOT WARMPOOLD WARMPOOLCTL SHIM - containerd runs
# tasks in warm VMs through containerd-shim-warmpool-v2, driven by ctr as
# a user would: output, exit statuses, runtime options (ConfigPath), VMs
# without warmpoold (vm_source clone and cold), stdin
# piped in (with its EOF), a
# terminal, exec, kill, ps, metrics, pause/resume, a pool miss, containerd
# and warmpoold restarted under a running task; then a shim killed with -9
# mid-task, cleaned up by containerd's `delete`. After each: no lease,
# no shim, no mount, no FIFO left.
#
# Starts its own warmpoold (a pool of the VM fixture's template "small")
# and its own containerd (containerd_fixture.sh), and stops exactly those,
# by pid, whatever happens.
set -uo pipefail
vm_root=$1 warmpoold=$2 ctl=$3 shim=$4
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
dir=$(mktemp -d /tmp/wp-shim-ctr.XXXXXX)
ns=wp-shim-test
image=docker.io/warmpool/busybox:test
shim_cmd=$shim
. "$here/shim_test_lib.sh"

cleanup() {
  local c
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ task kill -s KILL "$c" >/dev/null 2>&1
    ctr_ task rm -f "$c" >/dev/null 2>&1
    ctr_ containers rm "$c" >/dev/null 2>&1
  done
  bash "$here/containerd_fixture.sh" stop "$dir/containerd"
  stop_warmpoold
  end_leftovers
  rm -rf "$dir"
}
trap cleanup EXIT

ctr_() { timeout 120 ctr --address "$dir/containerd/containerd.sock" --namespace "$ns" "$@"; }
# after its shim was killed: wait until containerd sees the task stop, remove it
remove_dead_task() {
  for _ in $(seq 1 50); do
    [ "$(ctr_ task ls | awk -v id="$1" '$1 == id {print $3}')" != RUNNING ] && break
    sleep 0.2
  done
  ctr_ task rm -f "$1" >/dev/null 2>&1
  ctr_ containers rm "$1" >/dev/null 2>&1
}
run() { timeout 120 ctr --address "$dir/containerd/containerd.sock" --namespace "$ns" run --rm \
  --runtime "$shim" "$image" "$@"; }

# ---- warmpoold with 2 warm VMs of "small" ----
start_warmpoold 19473 || exit 1

# ---- containerd, the shim's config in its environment ----
WARMPOOL_SHIM_CONFIG=$dir/shim.json bash "$here/containerd_fixture.sh" start "$dir/containerd" || exit 1
bash "$src/deploy/images/build-busybox-image.sh" "$dir/busybox.tar" "$image" >/dev/null || exit 1
ctr_ images import "$dir/busybox.tar" >/dev/null || exit 1

# ---- output and exit statuses ----
expect_eq "echo" "$(run t-echo echo hello from a warm VM)" "hello from a warm VM"
run t-exit3 sh -c 'exit 3'
expect_eq "exit status 3" "$?" 3
run t-kill9 sh -c 'sh -c "kill -9 \$\$"; exit $?'
expect_eq "exit status of a SIGKILL" "$?" 137
expect_eq "stderr" "$(run t-err sh -c 'echo oops >&2' 2>&1)" "oops"
big=$(run t-big sh -c 'yes warm | head -n 200000' | wc -l)
expect_eq "all output before the exit (200000 lines)" "$big" 200000
expect_clean "run"

# ---- runtime options: a ConfigPath names the shim's configuration ----
# (containerd sends runtimeoptions.v1.Options; here through ctr)
sed 's/"template": *"[^"]*"/"template": "no-such-template"/' "$dir/shim.json" >"$dir/shim-other.json"
out=$(timeout 120 ctr --address "$dir/containerd/containerd.sock" --namespace "$ns" run --rm \
  --runtime "$shim" --runtime-config-path "$dir/shim-other.json" "$image" t-opt true 2>&1)
case $out in
  *no-such-template*) echo "ok: ConfigPath's file is the sandbox's configuration" ;;
  *) fail "ConfigPath naming template no-such-template ran anyway: $out" ;;
esac
expect_eq "ConfigPath naming the pool's template" "$(timeout 120 ctr --address \
  "$dir/containerd/containerd.sock" --namespace "$ns" run --rm --runtime "$shim" \
  --runtime-config-path "$dir/shim.json" "$image" t-opt2 echo configured)" "configured"
expect_clean "runtime options"

# ---- no warmpoold: the shim's own clone, and a cold boot (vm_source) ----
direct_dir=$dir/run-direct # VMs of their own runtime dir: none of warmpoold's
for src in clone cold; do
  printf '{"template": "small", "vm_source": "%s", "warmpoolctl": "%s", "warmpoolctl_args": %s}\n' \
    "$src" "$ctl" "[\"--store\", \"$vm_root/store\", \"--memory-dir\", \"$vm_root/mem\", \
    \"--runtime-dir\", \"$direct_dir\"]" >"$dir/shim-$src.json"
  expect_eq "vm_source $src" "$(timeout 300 ctr --address "$dir/containerd/containerd.sock" \
    --namespace "$ns" run --rm --runtime "$shim" --runtime-config-path "$dir/shim-$src.json" \
    "$image" "t-$src" sh -c "echo $src; exit 6")" "$src"
  expect_eq "vm_source $src: VMs left" "$("$ctl" --runtime-dir "$direct_dir" vm ls | wc -l)" 0
done
# its shim killed: `delete` (with the default config) finds the sandbox's
# ConfigPath in the record and destroys the VM through its warmpoolctl
timeout 300 ctr --address "$dir/containerd/containerd.sock" --namespace "$ns" run -d \
  --runtime "$shim" --runtime-config-path "$dir/shim-clone.json" "$image" t-own sleep 1000 \
  >/dev/null || fail "run -d with vm_source clone"
expect_eq "vm_source clone: its VM" "$("$ctl" --runtime-dir "$direct_dir" vm ls | wc -l)" 1
pkill -9 -f "^$shim_cmd"
remove_dead_task t-own
for _ in $(seq 1 50); do # containerd runs `delete` on its own time
  [ "$("$ctl" --runtime-dir "$direct_dir" vm ls | wc -l)" = 0 ] && break
  sleep 0.2
done
left=$("$ctl" --runtime-dir "$direct_dir" vm ls | wc -l)
expect_eq "vm_source clone, shim killed: VMs left" "$left" 0
[ "$left" = 0 ] || grep -i 'delete\|t-own' "$dir/containerd/containerd.log" | tail -5 >&2
printf '{"template": "small", "vm_source": "clone", "warmpoolctl": "/nonexistent/warmpoolctl"}\n' \
  >"$dir/shim-noctl.json"
out=$(timeout 120 ctr --address "$dir/containerd/containerd.sock" --namespace "$ns" run --rm \
  --runtime "$shim" --runtime-config-path "$dir/shim-noctl.json" "$image" t-noctl true 2>&1)
case $out in
  *"cannot execute '/nonexistent/warmpoolctl'"*) echo "ok: a missing warmpoolctl is named" ;;
  *) fail "a missing warmpoolctl: $out" ;;
esac
expect_clean "vm_source"

# ---- stdin: piped data and its EOF ----
expect_eq "stdin through cat" "$(printf 'abc\ndef\n' | run t-cat cat)" "$(printf 'abc\ndef')"
head -c 1048576 /dev/urandom >"$dir/random"
run t-cat2 cat <"$dir/random" >"$dir/random.out"
cmp -s "$dir/random" "$dir/random.out" && echo "ok: 1 MiB of stdin byte-exact" \
  || fail "1 MiB of stdin came back different ($(stat -c %s "$dir/random.out") bytes)"

# ---- a terminal (ctr itself echoes a NUL, "^@", into it at start: runc shows it too) ----
out=$(timeout 120 script -qec "stty rows 33 cols 77; ctr --address $dir/containerd/containerd.sock \
  --namespace $ns run --rm -t --runtime $shim $image t-tty sh -c 'stty size; exit 4'" /dev/null \
  | tr -d '\r\0' | sed 's/\^@//g')
expect_eq "terminal size and status" "$out" "33 77"

# ---- a running task: exec, ps, metrics, pause/resume, kill ----
ctr_ run -d --runtime "$shim" "$image" t-run sleep 1000 >/dev/null || fail "run -d"
expect_eq "exec output" "$(ctr_ task exec --exec-id e1 t-run sh -c 'echo in exec; exit 5')" \
  "in exec"
ctr_ task exec --exec-id e2 t-run sh -c 'exit 5'
expect_eq "exec status" "$?" 5
# short execs: their output can come with the exec's own answer
quick=
for i in 1 2 3 4 5 6; do quick+="$(ctr_ task exec --exec-id q$i t-run echo $i)"; done
expect_eq "six quick execs' output" "$quick" 123456
expect_eq "ps lists the init" "$(ctr_ task ps t-run | awk 'NR > 1' | wc -l)" 1
ctr_ task metrics t-run | grep -Eq '^memory.usage +[1-9]' && echo "ok: metrics" \
  || fail "metrics: $(ctr_ task metrics t-run)"
ctr_ task pause t-run
expect_eq "paused" "$(ctr_ task ls | awk '$1 == "t-run" {print $3}')" PAUSED
ctr_ task resume t-run
expect_eq "resumed" "$(ctr_ task ls | awk '$1 == "t-run" {print $3}')" RUNNING
ctr_ task kill -s KILL t-run
for _ in $(seq 1 50); do
  [ "$(ctr_ task ls | awk '$1 == "t-run" {print $3}')" = STOPPED ] && break
  sleep 0.2
done
expect_eq "killed" "$(ctr_ task ls | awk '$1 == "t-run" {print $3}')" STOPPED
ctr_ task rm t-run >/dev/null && ctr_ containers rm t-run
expect_clean "running task"

# ---- a pool miss: the VM is cloned for the task (its agent announces itself
# to the shim although warmpoold let go of it a moment before) ----
"$ctl" --socket "ipc://$dir/warmpoold.sock" pool set small 0 >/dev/null
"$ctl" --socket "ipc://$dir/warmpoold.sock" pool wait small 0 --timeout 60 >/dev/null
expect_eq "a run on an empty pool" "$(run t-miss echo cloned for me)" "cloned for me"
expect_clean "a pool miss"
"$ctl" --socket "ipc://$dir/warmpoold.sock" pool set small 2 >/dev/null
"$ctl" --socket "ipc://$dir/warmpoold.sock" pool wait small 2 --timeout 300 >/dev/null

# ---- restarts under a running task: containerd (it re-connects to the live
# shim) and warmpoold (the lease survives it) ----
ctr_ run -d --runtime "$shim" "$image" t-live sleep 1000 >/dev/null || fail "run -d"
WARMPOOL_SHIM_CONFIG=$dir/shim.json bash "$here/containerd_fixture.sh" restart "$dir/containerd" >/dev/null || fail "containerd restart"
expect_eq "after a containerd restart: the task" \
  "$(ctr_ task ls | awk '$1 == "t-live" {print $3}')" RUNNING
expect_eq "after a containerd restart: exec" "$(ctr_ task exec --exec-id r1 t-live echo still here)" \
  "still here"
kill -TERM "$daemon"
wait "$daemon"
"$warmpoold" --config "$dir/warmpoold.json" --ready-fd 3 3>"$dir/ready" 2>>"$dir/warmpoold.log" &
daemon=$!
read -r -t 60 _ <"$dir/ready" || fail "warmpoold did not come back"
expect_eq "after a warmpoold restart: the lease" "$(leases)" 1
expect_eq "after a warmpoold restart: exec" "$(ctr_ task exec --exec-id r2 t-live echo and here)" \
  "and here"
ctr_ task kill -s KILL t-live
for _ in $(seq 1 50); do
  [ "$(ctr_ task ls | awk '$1 == "t-live" {print $3}')" = STOPPED ] && break
  sleep 0.2
done
ctr_ task rm t-live >/dev/null && ctr_ containers rm t-live
expect_clean "restarts"

# ---- the shim dies mid-task: containerd's cleanup (`delete`) ----
ctr_ run -d --runtime "$shim" "$image" t-crash sleep 1000 >/dev/null || fail "run -d"
pid=$(pgrep -f "^$shim" | head -1)
sock=$(sed 's|^unix://||' "$dir/containerd/state/io.containerd.runtime.v2.task/$ns/t-crash/address")
[ -n "$pid" ] || fail "no shim runs the task"
kill -9 "$pid"
remove_dead_task t-crash
expect_clean "a shim killed with -9"
[ -n "$sock" ] && [ ! -e "$sock" ] && echo "ok: a shim killed with -9: its socket" ||
  fail "a shim killed with -9 left its socket '$sock'"

# the shims log into containerd's log (their bundle's log FIFO): in the
# sanitizer build a report there is a failure
if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$dir/containerd/containerd.log" >&2; then
  fail "a sanitizer report from a shim (above)"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed; warmpoold's log:" >&2
  tail -20 "$dir/warmpoold.log" >&2
  exit 1
fi
echo "all checks passed"
