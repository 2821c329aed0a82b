#!/usr/bin/env bash
# crun in a real guest (QEMU, TCG): the image's kernel, and its initramfs
# with /init replaced by a shell script that makes the mounts the agent
# makes at boot (agent_init_mounts: cgroup2 with +cpu +io +memory +pids in
# the root's subtree, a private devpts, /dev/shm, /dev/mqueue) and runs a
# busybox container from build-rootfs.sh's tree with pids, memory and
# device limits. It must print from inside the container, in its own
# cgroup, with the limits set. Proves that the kernel config, the copied
# libraries and the rootfs suffice for a container, without the agent.
#
# crun runs with --no-pivot: the guest's root is the initramfs rootfs, which
# pivot_root(2) refuses (EINVAL; the script records what plain `crun run`
# says, for the log).
#
#   test_guest_crun_vm.sh GUEST_DIR   (build-image.sh's OUTDIR, rootfs inside)
set -euo pipefail
guest=$1
fail() { echo "FAIL: $*" >&2; [ -z "${console:-}" ] || sed 's/^/  console: /' "$console" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (device nodes in the cpio)"; exit 77; }
for f in vmlinuz initrd.img rootfs/bin/busybox; do
  [ -e "$guest/$f" ] || fail "no '$guest/$f': run build-image.sh and build-rootfs.sh first"
done
qemu=$(command -v qemu-system-x86_64) || fail "no qemu-system-x86_64 (package qemu-system-x86)"

dir=$(mktemp -d)
qpid=""
cleanup() {
  [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
console=""
root=$dir/root
mkdir "$root"
(cd "$root" && cpio -id --quiet --no-absolute-filenames) < "$guest/initrd.img" ||
  fail "unpacking '$guest/initrd.img' (this test reads an uncompressed cpio)"
mkdir -p "$root/bin" "$root/bundle"
cp -a "$guest/rootfs/bin/busybox" "$root/bin/busybox"
for a in sh mount mkdir cat ln rm poweroff; do ln -s busybox "$root/bin/$a"; done
cp -a "$guest/rootfs" "$root/bundle/rootfs"
cat > "$root/bundle/config.json" <<'EOF'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/sh", "-c", "echo WP-HELLO $(hostname); echo WP-CGROUP $(cat /proc/self/cgroup); echo WP-PIDS $(cat /sys/fs/cgroup/pids.max); echo WP-MEM $(cat /sys/fs/cgroup/memory.max); echo WP-TMP $(echo x > /tmp/x && cat /tmp/x)"],
    "env": ["PATH=/bin:/usr/bin"],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "wp-test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
  ],
  "linux": {
    "cgroupsPath": "/wp-test",
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}],
      "pids": {"limit": 64},
      "memory": {"limit": 67108864}
    },
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "cgroup"}]
  }
}
EOF
cat > "$root/init" <<'EOF'
#!/bin/sh
# the agent's boot mounts (agent/agent_init.c), in shell
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
rm -f /dev/ptmx && ln -s pts/ptmx /dev/ptmx
echo "+cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
echo "WP-SUBTREE $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "WP-PIVOT $(/usr/bin/crun --cgroup-manager=cgroupfs run --bundle /bundle pivot 2>&1 | head -1)"
/usr/bin/crun delete -f pivot >/dev/null 2>&1
/usr/bin/crun --cgroup-manager=cgroupfs run --no-pivot --bundle /bundle c1
echo "WP-RC $?"
poweroff -f
EOF
chmod 0755 "$root/init"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$dir/initrd.img"

console=$dir/console.txt
# a guest that hangs must not hang the test: timeout ends QEMU (exit 124)
timeout --kill-after=5 150 "$qemu" -M q35 -m 256 -no-reboot -nodefaults -display none -monitor none \
  -kernel "$guest/vmlinuz" -initrd "$dir/initrd.img" -append "console=ttyS0 panic=-1 quiet" \
  -serial "file:$console" &
qpid=$!
rc=0
wait "$qpid" || rc=$?
qpid=""
[ $rc -eq 0 ] || fail "QEMU exits $rc"
tr -d '\r' < "$console" > "$dir/out.txt"
line() { sed -n "s/^$1 //p" "$dir/out.txt" | head -1; }
echo "plain crun run (pivot_root) in the guest says: $(line WP-PIVOT)"
[ "$(line WP-SUBTREE)" = "cpu io memory pids" ] || fail "subtree_control: '$(line WP-SUBTREE)'"
[ "$(line WP-RC)" = 0 ] || fail "crun run --no-pivot exits '$(line WP-RC)'"
[ "$(line WP-HELLO)" = wp-test ] || fail "no output from the container (hostname '$(line WP-HELLO)')"
[ "$(line WP-CGROUP)" = "0::/" ] || fail "the container's cgroup (in its cgroupns) is '$(line WP-CGROUP)'"
[ "$(line WP-PIDS)" = 64 ] || fail "pids.max in the container is '$(line WP-PIDS)', want 64"
[ "$(line WP-MEM)" = 67108864 ] || fail "memory.max in the container is '$(line WP-MEM)'"
[ "$(line WP-TMP)" = x ] || fail "/tmp in the container: '$(line WP-TMP)'"
echo "guest crun: a container ran in the guest with pids and memory limits"
