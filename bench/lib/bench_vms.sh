# bench/lib/bench_vms.sh - sourced by bench scripts that start VMs
# themselves (bench/backends, bench/clone_vs_cold), for their EXIT traps: a
# bench stopped half-way leaves nothing running.
#
#   bench_bg CMD...   run CMD in the background and wait for it, so that a
#                     signal runs the script's traps at once, not after CMD
#   bench_bg_stop     end the command bench_bg is waiting for, if any
#   bench_vms_cleanup RUN_DIR TEMPLATE...
#                     end every VM of those templates a run left behind
#                     (clones, cold boots, template builds; libvirt domains
#                     and direct QEMUs alike) and remove their runtime
#                     directories and libvirt's per-domain logs (one file
#                     per domain ever started, kept by libvirt). Only ids
#                     made from a listed template's name match: other users
#                     of RUN_DIR and of libvirt are left alone.

bench_bg_pid=

bench_bg() {
  "$@" &
  bench_bg_pid=$!
  wait "$bench_bg_pid"
  bench_bg_pid=
}

bench_bg_stop() {
  if [ -n "$bench_bg_pid" ]; then
    kill -TERM "$bench_bg_pid" 2>/dev/null || true
    wait "$bench_bg_pid" 2>/dev/null || true
    bench_bg_pid=
  fi
}

# VM ids of a template: <t>-<hex> (clone), cold-<t>-<hex>, build-<t>-<pid>
bench_vm_id_of() {
  [[ $2 =~ ^((build|cold)-)?$1-[0-9a-f]+$ ]]
}

bench_libvirt_logs=/var/log/libvirt/qemu

bench_vms_cleanup() {
  local run=$1 t d id name pid f
  shift
  for t in "$@"; do
    # transient domains: destroying one also removes it from libvirt
    for name in $(virsh -c qemu:///system list --name 2>/dev/null || true); do
      bench_vm_id_of "$t" "${name#warmpool-}" || continue
      echo "bench: destroying leftover domain '$name'" >&2
      virsh -c qemu:///system -q destroy "$name" >/dev/null 2>&1 || true
    done
    # direct QEMUs: the pid in their runtime directory, if that process is
    # still the QEMU of that directory
    for d in "$run"/vms/*; do
      id=${d##*/}
      bench_vm_id_of "$t" "$id" || continue
      pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$d/"; then
        echo "bench: killing leftover QEMU $pid ($d)" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      # the VM's share is a mount point (with binds below it): off first,
      # so that rm never walks into what is mounted there
      umount -l "$d/shared" 2>/dev/null || true
      rm -rf "$d"
    done
    for f in "$bench_libvirt_logs"/warmpool-*.log; do
      id=${f##*/warmpool-}
      bench_vm_id_of "$t" "${id%.log}" && rm -f "$f"
    done
  done
  return 0
}
