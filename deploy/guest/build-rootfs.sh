#!/usr/bin/env bash
# Build a small container rootfs for tests, without any image registry:
# Debian's statically linked busybox (package busybox-static) and a symlink
# per applet the tests use, /etc/passwd and /etc/group with root and nobody,
# and the empty directories crun mounts over (proc, sys, dev, tmp, run).
#
#   deploy/guest/build-rootfs.sh OUTDIR [--busybox PATH]
#
# OUTDIR is a plain directory tree, the OCI bundle's rootfs. A rebuild
# replaces it whole: the new tree is built beside it and renamed over (a
# reader sees the old tree or the new, never a half-written one; for the
# instant between the two renames, none). Reproducible: fixed mtimes, owner
# root.
set -euo pipefail

die() { echo "build-rootfs: $*" >&2; exit 1; }

out=""
busybox=/bin/busybox
while [ $# -gt 0 ]; do
  case $1 in
    --busybox) busybox=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) [ -z "$out" ] || die "one OUTDIR only"; out=$1; shift ;;
  esac
done
[ -n "$out" ] || die "usage: build-rootfs.sh OUTDIR [--busybox PATH]"
[ -x "$busybox" ] || die "busybox '$busybox' not found: install the package busybox-static (scripts/install-deps.sh) or pass --busybox"
# the rootfs has no libraries: a dynamic busybox (package busybox) would not run in it
ldd "$busybox" >/dev/null 2>&1 && die "'$busybox' is dynamically linked: install busybox-static, not busybox"

# What the container tests run. Each must be an applet of this busybox: a
# missing one is an error here, not a puzzling "not found" in a test.
applets=(sh echo cat true false sleep stty head tail dd sha256sum md5sum yes ls ps kill env id
         wc mkdir rm seq tr grep od printf uname hostname mount umount test '[' sed awk cut sort
         uniq touch ln cp mv chmod pwd date expr basename dirname readlink stat tee timeout
         xargs nproc whoami sync usleep)
have=" $("$busybox" --list | tr '\n' ' ') "
for a in "${applets[@]}"; do
  [[ $have == *" $a "* ]] || die "'$busybox' has no applet '$a'"
done

# a slip such as OUTDIR=out/guest must not replace something else
if [ -e "$out" ] && [ ! -f "$out/bin/busybox" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  die "'$out' exists and is not a rootfs this script built (no bin/busybox): refusing to replace it"
fi
parent=$(dirname "$out")
mkdir -p "$parent"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
new=$(mktemp -d "$parent/.rootfs.new.XXXXXX")
old=""
trap 'rm -rf "$new" ${old:+"$old"}' EXIT

mkdir -p "$new"/{bin,usr/bin,etc,proc,sys,dev,tmp,run,root}
chmod 0755 "$new" # mktemp -d made it 0700
chmod 1777 "$new/tmp"
chmod 0700 "$new/root"
install -m 0755 "$busybox" "$new/bin/busybox"
for a in "${applets[@]}"; do
  ln -s busybox "$new/bin/$a"
done
ln -s ../../bin/busybox "$new/usr/bin/env" # for "#!/usr/bin/env" scripts
cat > "$new/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$new/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
chmod 0644 "$new/etc/passwd" "$new/etc/group"
chown -hR 0:0 "$new" 2>/dev/null || [ "$(id -u)" != 0 ] || die "chown root '$new' failed"
find "$new" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# publish: rename the old tree aside, the new one in, then drop the old
if [ -e "$out" ] || [ -L "$out" ]; then
  old=$(mktemp -d "$parent/.rootfs.old.XXXXXX")
  mv -T "$out" "$old/tree"
fi
mv -T "$new" "$out"
echo "build-rootfs: $out (busybox $("$busybox" 2>&1 | awk 'NR == 1 {print $2}'), ${#applets[@]} applets)" >&2
