#!/usr/bin/env bash
# CTest fixture for the VM suites: `setup` builds ONE template that every VM
# test shares; `cleanup` removes it and stops any VM a crashed test left
# behind under the test root (by the pid in its own runtime directory, so
# nothing else on the machine is touched).
#   vm_fixture.sh setup|cleanup ROOT WARMPOOLCTL GUEST_DIR [BACKEND]
# BACKEND: qemu (default) or libvirt; each backend's suites get their own ROOT.
set -euo pipefail
action=$1 root=$2 ctl=$3 guest=$4 backend=${5:-qemu}
opts=(--store "$root/store" --memory-dir "$root/mem" --runtime-dir "$root/run")

case $action in
setup)
  if [ ! -f "$guest/vmlinuz" ] || [ ! -f "$guest/initrd.img" ]; then
    echo "guest image missing in '$guest': build it with deploy/guest/build-image.sh $guest" >&2
    exit 1
  fi
  rm -rf "$root"
  mkdir -p "$root"
  "$ctl" "${opts[@]}" template build small --kernel "$guest/vmlinuz" --initrd "$guest/initrd.img" \
    --backend "$backend"
  ;;
cleanup)
  # every runtime directory under ROOT: the factory's and each daemon suite's
  for pidfile in "$root"/run/vms/*/qemu.pid "$root"/daemon-*/run/vms/*/qemu.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    dir=$(dirname "$pidfile")
    # only a QEMU whose command line names this test's runtime dir
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir"; then
      echo "vm_fixture: stopping leaked QEMU $pid ($dir)" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  # libvirt domains of this root: a daemon killed while libvirt was still
  # creating one leaves a domain with no pidfile yet
  if [ "$backend" = libvirt ]; then
    for dom in $(virsh -c qemu:///system list --name 2>/dev/null | grep '^warmpool-' || true); do
      pid=$(pgrep -f "guest=$dom," | head -1 || true)
      if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$root/"; then
        echo "vm_fixture: destroying leaked domain $dom" >&2
        virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1 || true
      fi
    done
    # libvirt keeps the log of a domain that died on its own (the suites kill
    # some on purpose, and a rejected state ends one): those of this root go
    # (libvirt writes QEMU's command line, which names the root, into each)
    { grep -lF "$root/" /var/log/libvirt/qemu/warmpool-*.log 2>/dev/null || true; } | xargs -r rm -f
  fi
  # mounts a failed container test left under ROOT (a rootfs bound into a
  # VM's shared directory), deepest first: rm -rf would go through a bind
  # mount into the files it shows
  awk -v r="$root/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do
      echo "vm_fixture: unmounting leaked mount '$m'" >&2
      umount -l "$m" || true
    done
  rm -rf "$root"
  ;;
*)
  echo "usage: $0 setup|cleanup ROOT WARMPOOLCTL GUEST_DIR" >&2
  exit 2
  ;;
esac
