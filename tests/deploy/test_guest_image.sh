#!/usr/bin/env bash
# The guest image's crun, without booting it: unpack initrd.img (a newc
# cpio, compressed or not) and run /usr/bin/crun --version chrooted into it.
# That it starts at all proves the loader and every library it needs are in
# the initramfs at the paths it looks at; it must print the host crun's
# version, and image.json must record that version and the binary's digest.
#
#   test_guest_image.sh GUEST_DIR [CRUN]   (GUEST_DIR: build-image.sh's OUTDIR)
#
# Needs root (chroot, a mount namespace for /proc, device nodes in the cpio).
set -euo pipefail
guest=$1
host_crun=${2:-/usr/bin/crun}
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (chroot)"; exit 77; }
chroot=$(command -v chroot) || fail "no chroot (coreutils)"
initrd=$guest/initrd.img
[ -f "$initrd" ] || fail "no '$initrd': run deploy/guest/build-image.sh $guest first"
[ -f "$guest/image.json" ] || fail "no '$guest/image.json'"
[ -x "$host_crun" ] || fail "no host crun '$host_crun' to compare with (package crun)"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
case $(od -An -tx1 -N4 "$initrd" | tr -d ' \n') in
  30373037) unpack=(cat) ;;          # "0707": newc, uncompressed
  1f8b*) unpack=(gzip -dc) ;;
  28b52ffd) unpack=(zstd -dc) ;;
  fd377a58) unpack=(xz -dc) ;;
  *) fail "'$initrd' is neither a cpio nor gzip/zstd/xz" ;;
esac
mkdir "$dir/root"
"${unpack[@]}" < "$initrd" | (cd "$dir/root" && cpio -id --quiet --no-absolute-filenames) ||
  fail "unpacking '$initrd' failed"

[ -x "$dir/root/usr/bin/crun" ] || fail "no executable /usr/bin/crun in the initramfs"
[ -x "$dir/root/lib64/ld-linux-x86-64.so.2" ] || fail "no /lib64/ld-linux-x86-64.so.2 in the initramfs"
# nothing from the host may leak in: with no /etc/ld.so.cache and no
# LD_LIBRARY_PATH the loader only sees what the initramfs holds
[ ! -e "$dir/root/etc/ld.so.cache" ] || fail "the initramfs has an /etc/ld.so.cache"
# crun re-executes itself from a memfd copy of /proc/self/exe, so it needs
# /proc (the agent mounts it at boot): mounted in a private mount namespace
# here, gone with it whatever happens to this script
rc=0
got=$(unshare --mount --propagation private env -i PATH=/usr/bin "$(command -v sh)" -c \
  'mount -t proc proc "$1/proc" && exec "$2" "$1" /usr/bin/crun --version' sh "$dir/root" "$chroot" 2>&1) ||
  rc=$?
[ $rc -eq 0 ] || fail "crun --version in the initramfs exits $rc: $got"
want=$("$host_crun" --version)
[ "$got" = "$want" ] || fail "crun in the initramfs says '$got', the host's '$want'"

version=$(awk 'NR == 1 {print $3}' <<<"$want")
grep -q "\"crun_version\": \"$version\"," "$guest/image.json" ||
  fail "image.json does not record crun_version '$version': $(grep crun_version "$guest/image.json")"
digest=$(sha256sum "$dir/root/usr/bin/crun" | cut -d' ' -f1)
grep -q "\"crun_sha256\": \"$digest\"," "$guest/image.json" ||
  fail "image.json's crun_sha256 is not the initramfs crun's ($digest)"
echo "guest image: crun $version runs from the initramfs, $(find "$dir/root/lib" "$dir/root/lib64" -name '*.so*' | wc -l) libraries"
