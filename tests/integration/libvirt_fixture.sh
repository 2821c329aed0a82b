#!/usr/bin/env bash
# CTest fixture for the libvirt VM suites.
#   libvirt_fixture.sh start|stop DIR
# start: first set up /dev/kvm as a packaged host has it (group kvm, mode
# 0660: deploy/host/kvm-device.sh) and fail at once, with the reason, if
# libvirt's QEMU user still cannot open it: libvirtd would then re-probe QEMU
# for ~60 s before every domain and each suite would run into its timeout.
# Then, if a libvirtd already answers on qemu:///system, use it and start
# nothing. Otherwise start virtlogd as a daemon and libvirtd under a small
# supervisor (pid files in DIR), and wait until libvirtd answers. The
# supervisor restarts a libvirtd that crashes (killed by SIGSEGV, SIGABRT,
# ...), as systemd's Restart=on-failure does for libvirtd.service on a real
# host: libvirt 9.0 was seen to segfault once in a worker thread while the
# suites kill warmpoold mid-call, and warmpoold reconnects to a restarted
# libvirtd. A stop (SIGTERM, exit status 0) ends the supervision, so a test
# may stop and restart libvirtd itself. Each crash is written to
# DIR/supervisor.log and printed by `stop`; libvirtd's own log goes to
# DIR/libvirtd.log.
# stop: stop exactly the daemons `start` started, by the pids in DIR. (The VM
# suites' own fixture stops any VM they leaked, before this runs.)
set -euo pipefail
action=$1 daemons=$2
uri=qemu:///system
here=$(cd "$(dirname "$0")" && pwd)
qemu_user=libvirt-qemu # Debian's build of libvirt runs QEMU as this user

answers() { timeout 10 virsh -c "$uri" version >/dev/null 2>&1; }

stop_pid() { # pidfile
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

case $action in
supervise) # (internal) run libvirtd in the foreground, restart it after a crash
  echo $$ > "$daemons/supervisor.pid"
  while :; do
    # in the foreground libvirtd logs to stderr (as a daemon: to /var/log/libvirt)
    libvirtd -p "$daemons/libvirtd.pid" >>"$daemons/libvirtd.log" 2>&1 &
    pid=$!
    rc=0
    wait "$pid" || rc=$?
    case $rc in
    132 | 134 | 135 | 136 | 139) ;; # SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV
    *) break ;;
    esac
    echo "$(date -Is) libvirtd $pid crashed (exit status $rc): restarting it"
    sleep 0.5
  done
  rm -f "$daemons/supervisor.pid"
  ;;
start)
  mkdir -p "$daemons"
  # a pid file of an earlier run whose process is gone (or is now another
  # program) must not make `stop` kill whatever has that pid today
  for f in "$daemons"/libvirtd.pid "$daemons"/virtlogd.pid; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .pid)
    [ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" = "$name" ] || rm -f "$f"
  done
  if [ -f "$daemons/supervisor.pid" ] &&
    ! grep -qs 'libvirt_fixture.sh.supervise' "/proc/$(cat "$daemons/supervisor.pid")/cmdline"; then
    rm -f "$daemons/supervisor.pid"
  fi
  bash "$here/../../deploy/host/kvm-device.sh" >&2
  if [ -e /dev/kvm ] && id "$qemu_user" >/dev/null 2>&1 &&
    ! setpriv --reuid="$qemu_user" --regid="$(id -g "$qemu_user")" --init-groups \
      test -r /dev/kvm -a -w /dev/kvm; then
    echo "libvirt_fixture: '$qemu_user' (libvirt's QEMU user) cannot open /dev/kvm" \
      "($(stat -c '%U:%G %a' /dev/kvm)): libvirtd would re-probe QEMU (~60 s) before every" \
      "domain; see docs/operations.md" >&2
    exit 1
  fi
  if answers; then
    echo "libvirt_fixture: using the libvirtd already running" >&2
    exit 0
  fi
  if ! pgrep -x virtlogd >/dev/null; then
    virtlogd -d -p "$daemons/virtlogd.pid"
  fi
  : >"$daemons/libvirtd.log" # this run's only
  setsid -f bash "$0" supervise "$daemons" </dev/null >>"$daemons/supervisor.log" 2>&1
  for _ in $(seq 300); do answers && exit 0; sleep 0.1; done
  echo "libvirt_fixture: libvirtd did not answer on $uri within 30 s" >&2
  exit 1
  ;;
stop)
  stop_pid "$daemons/supervisor.pid" # first, or it would restart libvirtd
  stop_pid "$daemons/libvirtd.pid"
  stop_pid "$daemons/virtlogd.pid"
  if [ -s "$daemons/supervisor.log" ]; then
    echo "libvirt_fixture: libvirtd crashed during this run:" >&2
    cat "$daemons/supervisor.log" >&2
    rm -f "$daemons/supervisor.log"
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
