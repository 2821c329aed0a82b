#!/usr/bin/env bash
# Give an existing /dev/kvm the group and mode a packaged Debian host gives
# it (group kvm, mode 0660: udev's rule) when nothing has: a host without
# udev (a container, a minimal VM image) leaves the kernel's root:root 0600.
# With 0600, libvirt's check "can the user QEMU runs as (libvirt-qemu) open
# /dev/kvm?" fails while its probe QEMU (root) could open it, so libvirtd
# thinks its cached QEMU capabilities are stale and re-probes QEMU (~60 s
# here) before every domain it starts (docs/operations.md).
#
#   kvm-device.sh [--check] [--device PATH] [--user NAME]
#
# Default: fix what is wrong and say what was changed (one line each) or that
# nothing was. --check: change nothing, exit 1 if something would be changed.
# --device (default /dev/kvm) and --user (libvirt's QEMU user, default
# libvirt-qemu; skipped when it does not exist) are for tests and odd hosts.
# No /dev/kvm: nothing to do (QEMU runs under TCG). Idempotent; needs root
# to change anything.
set -euo pipefail

device=/dev/kvm user=libvirt-qemu check=false
while [ $# -gt 0 ]; do
  case $1 in
  --check) check=true ;;
  --device) device=$2; shift ;;
  --user) user=$2; shift ;;
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "kvm-device: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "kvm-device: $*"; }

if [ ! -e "$device" ]; then
  say "no '$device' on this host: QEMU will run without KVM (TCG)"
  exit 0
fi

wrong=0
fix() { # description, command...
  local what=$1
  shift
  wrong=1
  if $check; then
    say "would $what"
  else
    "$@"
    say "$what"
  fi
}

if ! getent group kvm >/dev/null; then
  fix "create the system group 'kvm'" groupadd --system kvm
fi
group=$(stat -c %G "$device")
mode=$(stat -c %a "$device")
if [ "$group" != kvm ]; then
  fix "give '$device' the group 'kvm' (it had '$group')" chgrp kvm "$device"
fi
# rw for owner and group, as the udev rule; other bits as they are
if [ $((8#$mode & 8#660)) -ne $((8#660)) ]; then
  fix "give '$device' mode $(printf '%o' $((8#$mode | 8#660))) (it had $mode)" \
    chmod "$(printf '%o' $((8#$mode | 8#660)))" "$device"
fi
if id "$user" >/dev/null 2>&1 && ! id -nG "$user" | tr ' ' '\n' | grep -qx kvm; then
  fix "add '$user' (libvirt's QEMU user) to the group 'kvm'" usermod -a -G kvm "$user"
fi

if [ $wrong -eq 0 ]; then
  say "'$device' is group kvm, mode $mode: nothing to change"
elif $check; then
  exit 1
fi
