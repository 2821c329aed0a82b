#!/usr/bin/env bash
# Build the warmpool guest image: Debian 12's kernel and an initramfs whose
# /init is the warmpool agent, with only the modules the agent needs and
# Debian's crun (the container runtime the agent drives) with its libraries.
#
#   deploy/guest/build-image.sh OUTDIR [--agent PATH] [--kernel-deb PATH] [--crun PATH]
#
# Writes OUTDIR/vmlinuz, OUTDIR/initrd.img and OUTDIR/image.json. The kernel
# comes from the package linux-image-amd64 depends on (apt-get download,
# cached in OUTDIR/cache). crun (default /usr/bin/crun, package crun) lands
# at /usr/bin/crun, each shared library ldd names at the path ldd gives.
# Reproducible: sorted entries, fixed mtimes and owners, no compression
# timestamps. Needs root only for the /dev/console node (skipped otherwise;
# the agent opens the console itself).
set -euo pipefail

die() { echo "build-image: $*" >&2; exit 1; }

out=""
agent=""
kernel_deb=""
crun=/usr/bin/crun
while [ $# -gt 0 ]; do
  case $1 in
    --agent) agent=$2; shift 2 ;;
    --kernel-deb) kernel_deb=$2; shift 2 ;;
    --crun) crun=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) [ -z "$out" ] || die "one OUTDIR only"; out=$1; shift ;;
  esac
done
[ -n "$out" ] || die "usage: build-image.sh OUTDIR [--agent PATH] [--kernel-deb PATH] [--crun PATH]"
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -n "$agent" ] || agent=$root/build/agent/warmpool-agent
[ -x "$agent" ] || die "agent binary '$agent' not found: build first (scripts/build.sh) or pass --agent"
file -b "$agent" 2>/dev/null | grep -q 'statically linked' || \
  ldd "$agent" 2>&1 | grep -q 'not a dynamic executable' || die "'$agent' is not statically linked"
[ -x "$crun" ] || die "crun binary '$crun' not found: install the package crun (scripts/install-deps.sh) or pass --crun"
crun_version=$("$crun" --version 2>/dev/null | awk 'NR == 1 && $2 == "version" {print $3}')
[ -n "$crun_version" ] || die "'$crun' --version does not print 'crun version X': not crun?"
# Every library crun loads, as ldd resolves it on this host (same Debian
# release as the guest's userland): "name => /path (addr)" and the loader's
# "/path (addr)". A library ldd cannot find would only fail in the guest.
crun_ldd=$(ldd "$crun" 2>&1) || die "ldd '$crun' failed: $crun_ldd"
missing_libs=$(grep 'not found' <<<"$crun_ldd" | tr -s ' \t' ' ' || true)
[ -z "$missing_libs" ] || die "'$crun' needs libraries this host lacks:$missing_libs"
mapfile -t crun_libs < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$crun_ldd" | LC_ALL=C sort -u)
[[ " ${crun_libs[*]} " == *" /lib64/ld-linux-x86-64.so.2 "* ]] || \
  die "ldd '$crun' names no /lib64/ld-linux-x86-64.so.2 (not an x86-64 glibc binary?)"

mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

# 1. the kernel package
if [ -z "$kernel_deb" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -q >/dev/null
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$pkg" ] || die "cannot resolve the kernel package behind linux-image-amd64"
  kernel_deb=$(ls "$out"/cache/"${pkg}"_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$kernel_deb" ]; then
    (cd "$out/cache" && apt-get download "$pkg" >/dev/null 2>&1) || \
      (cd "$out/cache" && apt-get update -q >/dev/null && apt-get download "$pkg" >/dev/null) || \
      die "apt-get download $pkg failed"
    kernel_deb=$(ls "$out"/cache/"${pkg}"_*.deb | head -1)
  fi
fi
[ -f "$kernel_deb" ] || die "kernel package '$kernel_deb' not found"

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kernel_deb" "$work/pkg"
vmlinuz=$(ls "$work"/pkg/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$work/pkg/lib/modules/$kver

# crun needs these in the guest kernel. Debian builds them all in (=y); a
# kernel that made one a module would need it in `wanted` below, so say so
# rather than boot a guest in which every container fails.
kconfig=$work/pkg/boot/config-$kver
[ -f "$kconfig" ] || die "no boot/config-$kver in '$kernel_deb'"
for opt in CGROUPS MEMCG CGROUP_PIDS CGROUP_SCHED BLK_CGROUP CGROUP_BPF NAMESPACES UTS_NS \
           IPC_NS PID_NS NET_NS SECCOMP_FILTER UNIX98_PTYS POSIX_MQUEUE TMPFS; do
  val=$(sed -n "s/^CONFIG_$opt=//p" "$kconfig")
  [ "$val" = y ] || die "kernel $kver has CONFIG_$opt=${val:-unset}; crun in the guest needs it built in (=y), or its module added to wanted"
done

# 2. modules in dependency order (dependencies first), from modinfo
wanted=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console
        vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport
        netfs fscache 9pnet 9pnet_virtio 9p)
declare -A path_of=() seen=()
while IFS= read -r -d '' ko; do
  name=$(basename "$ko" .ko); path_of[${name//-/_}]=$ko
done < <(find "$moddir" -name '*.ko' -print0)
order=()
visit() {
  local m=${1//-/_}
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  [ -n "${path_of[$m]:-}" ] || return 0   # built into the kernel
  local dep
  for dep in $(/sbin/modinfo -F depends "${path_of[$m]}" | tr ',' ' '); do visit "$dep"; done
  order+=("$m")
}
for m in "${wanted[@]}"; do visit "$m"; done

# 3. the initramfs tree
tree=$work/initramfs
mkdir -p "$tree"/{dev,proc,sys,run,tmp,etc/warmpool,lib/modules/"$kver",usr/bin}
install -m 0755 "$agent" "$tree/init"
install -m 0755 "$crun" "$tree/usr/bin/crun"
# each library as a regular file at the path ldd printed (install follows
# the host's symlinks, e.g. /lib64 -> usr/lib64): the loader's built-in
# search path finds them without an /etc/ld.so.cache
for lib in "${crun_libs[@]}"; do
  install -D -m 0755 "$lib" "$tree$lib"
done
: > "$tree/etc/warmpool/modules"
for m in "${order[@]}"; do
  install -m 0644 "${path_of[$m]}" "$tree/lib/modules/$kver/$m.ko"
  echo "/lib/modules/$kver/$m.ko" >> "$tree/etc/warmpool/modules"
done
[ "$(id -u)" = 0 ] && mknod -m 0600 "$tree/dev/console" c 5 1
find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | \
  cpio -o -H newc --reproducible -R 0:0 --quiet) > "$work/initrd.img"

# 4. publish (each file replaced by rename: a reader never sees half a file)
install -m 0644 "$vmlinuz" "$out/.vmlinuz.new" && mv -f "$out/.vmlinuz.new" "$out/vmlinuz"
install -m 0644 "$work/initrd.img" "$out/.initrd.new" && mv -f "$out/.initrd.new" "$out/initrd.img"
modules_json=$(printf '"%s",' "${order[@]}"); modules_json=[${modules_json%,}]
cat > "$out/image.json" <<JSON
{
  "kernel_version": "$kver",
  "kernel_package": "$(basename "$kernel_deb")",
  "vmlinuz_sha256": "$(sha256sum "$out/vmlinuz" | cut -d' ' -f1)",
  "initrd_sha256": "$(sha256sum "$out/initrd.img" | cut -d' ' -f1)",
  "agent_sha256": "$(sha256sum "$agent" | cut -d' ' -f1)",
  "crun_version": "$crun_version",
  "crun_sha256": "$(sha256sum "$crun" | cut -d' ' -f1)",
  "modules": $modules_json,
  "cmdline": "console=ttyS0 quiet panic=-1 warmpool.transport=serial"
}
JSON
echo "build-image: $out/vmlinuz ($kver), $out/initrd.img ($(stat -c %s "$out/initrd.img") bytes, ${#order[@]} modules, crun $crun_version + ${#crun_libs[@]} libraries)" >&2
