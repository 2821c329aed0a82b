#!/usr/bin/env bash
# CTest fixture for the libvirt VM suites.
#   libvirt_fixture.sh start|stop DIR
# start: if a libvirtd already answers on qemu:///system, use it and start
# nothing. Otherwise start virtlogd and libvirtd as daemons with pid files
# in DIR, and wait until libvirtd answers.
# stop: stop exactly the daemons `start` started, by the pids in DIR. (The VM
# suites' own fixture stops any VM they leaked, before this runs.)
set -euo pipefail
action=$1 daemons=$2
uri=qemu:///system

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
start)
  mkdir -p "$daemons"
  # a pid file of an earlier run whose process is gone (or is now another
  # program) must not make `stop` kill whatever has that pid today
  for f in "$daemons"/libvirtd.pid "$daemons"/virtlogd.pid; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .pid)
    [ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" = "$name" ] || rm -f "$f"
  done
  if answers; then
    echo "libvirt_fixture: using the libvirtd already running" >&2
    exit 0
  fi
  if ! pgrep -x virtlogd >/dev/null; then
    virtlogd -d -p "$daemons/virtlogd.pid"
  fi
  libvirtd -d -p "$daemons/libvirtd.pid"
  for _ in $(seq 300); do answers && exit 0; sleep 0.1; done
  echo "libvirt_fixture: libvirtd did not answer on $uri within 30 s" >&2
  exit 1
  ;;
stop)
  stop_pid "$daemons/libvirtd.pid"
  stop_pid "$daemons/virtlogd.pid"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
