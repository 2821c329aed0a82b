#!/usr/bin/env bash
# The test container rootfs: the tree build-rootfs.sh wrote (ROOTFS, the one
# the VM tests use) runs a shell chrooted into it, every applet link
# resolves inside it and runs as its applet, root and nobody have names, and
# the mount points are there and empty. Then the script itself, in a temp
# dir: a rebuild replaces the tree and leaves nothing beside it, and it
# refuses to replace a directory it did not build.
#
#   test_guest_rootfs.sh ROOTFS BUILD_ROOTFS_SH
#
# Needs root (chroot).
set -euo pipefail
rootfs=$1
script=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (chroot)"; exit 77; }
chroot=$(command -v chroot) || fail "no chroot (coreutils)"
[ -x "$rootfs/bin/busybox" ] || fail "no '$rootfs/bin/busybox': run deploy/guest/build-rootfs.sh $rootfs first"
in_root() { env -i PATH=/bin:/usr/bin "$chroot" "$rootfs" "$@"; }

out=$(in_root /bin/sh -c 'echo ok; true') || fail "sh in the rootfs failed: $out"
[ "$out" = ok ] || fail "sh -c 'echo ok; true' printed '$out'"

links=0
for link in "$rootfs"/bin/* "$rootfs"/usr/bin/*; do
  [ -L "$link" ] || continue
  links=$((links + 1))
  name=/${link#"$rootfs"/}
  # resolved inside the rootfs: an absolute target must not count on the host's
  in_root /bin/busybox test -x "$name" || fail "'$name' -> '$(readlink "$link")' does not resolve in the rootfs"
done
[ $links -ge 30 ] || fail "only $links applet links"
for a in sh echo cat true false sleep stty head tail dd sha256sum md5sum yes ls ps kill env id \
         wc mkdir rm seq tr grep od printf uname hostname mount; do
  [ -L "$rootfs/bin/$a" ] || [ -L "$rootfs/usr/bin/$a" ] || fail "no applet link '$a'"
done

# links run as the applet they are named after, not as busybox's help
[ "$(in_root /bin/echo hi)" = hi ] || fail "echo"
[ "$(in_root /bin/seq 3 | in_root /bin/tr '\n' ,)" = 1,2,3, ] || fail "seq | tr"
[ "$(printf abc | in_root /bin/sha256sum)" = \
  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -" ] || fail "sha256sum"
[ "$(in_root /bin/yes | in_root /bin/head -n 2 | in_root /bin/wc -l)" = 2 ] || fail "yes | head | wc"
in_root /bin/true || fail "true"
! in_root /bin/false || fail "false exits 0"
[ "$(in_root /usr/bin/env X=1 /bin/sh -c 'echo $X')" = 1 ] || fail "/usr/bin/env"

[ "$(in_root /bin/id -un)" = root ] || fail "uid 0 has no name"
[ "$(in_root /bin/id -u nobody)" = 65534 ] || fail "nobody is not uid 65534"
[ "$(in_root /bin/id -gn nobody)" = nobody ] || fail "nobody's group is not nobody"
for d in proc sys dev tmp run; do
  [ -d "$rootfs/$d" ] || fail "no /$d"
  [ -z "$(ls -A "$rootfs/$d")" ] || fail "/$d is not empty"
done
[ "$(stat -c %a "$rootfs/tmp")" = 1777 ] || fail "/tmp is not 1777"

# the script: rebuild in place, no leftovers, refuses a foreign directory
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bash "$script" "$dir/rootfs" 2>/dev/null || fail "build into '$dir/rootfs'"
touch "$dir/rootfs/stale"
ino=$(stat -c %i "$dir/rootfs")
bash "$script" "$dir/rootfs" 2>/dev/null || fail "rebuild over '$dir/rootfs'"
[ ! -e "$dir/rootfs/stale" ] || fail "a rebuild kept a file of the old tree"
[ "$(stat -c %i "$dir/rootfs")" != "$ino" ] || fail "a rebuild wrote into the old tree"
[ "$(ls -A "$dir")" = rootfs ] || fail "left beside the tree: $(ls -A "$dir" | tr '\n' ' ')"
diff -r --no-dereference "$rootfs" "$dir/rootfs" >/dev/null || fail "two builds differ"
mkdir "$dir/other" && touch "$dir/other/precious"
rc=0
msg=$(bash "$script" "$dir/other" 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "replaced a directory it did not build"
[ -e "$dir/other/precious" ] || fail "removed a file of a directory it did not build"
grep -q "refusing to replace" <<<"$msg" || fail "refusal says: $msg"
echo "guest rootfs: $links applet links resolve, sh runs, rebuild replaces the tree"
