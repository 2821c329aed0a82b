#!/usr/bin/env bash
# deploy/host/kvm-device.sh against a stand-in device file: --check reports
# and changes nothing; a fix gives group kvm and rw for the group, keeps the
# other bits, and a second run changes nothing. Needs root (chgrp).
set -euo pipefail
script=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
dev=$dir/kvm
fail() { echo "FAIL: $*" >&2; exit 1; }

touch "$dev"
chown root:root "$dev"
chmod 0600 "$dev"
rc=0
out=$(bash "$script" --check --device "$dev" --user no-such-user-wp) || rc=$?
[ $rc -eq 1 ] || fail "--check on a 0600 root:root device exits $rc, want 1"
grep -q "would give '$dev' the group 'kvm'" <<<"$out" || fail "--check says: $out"
[ "$(stat -c '%G %a' "$dev")" = "root 600" ] || fail "--check changed the device"

out=$(bash "$script" --device "$dev" --user no-such-user-wp)
[ "$(stat -c '%G %a' "$dev")" = "kvm 660" ] || fail "after the fix: $(stat -c '%G %a' "$dev")"
grep -q "mode 660 (it had 600)" <<<"$out" || fail "the fix says: $out"

out=$(bash "$script" --device "$dev" --user no-such-user-wp)
grep -q "nothing to change" <<<"$out" || fail "second run says: $out"
bash "$script" --check --device "$dev" --user no-such-user-wp >/dev/null || fail "--check after the fix"

chmod 0604 "$dev" # a host that opened it to everyone keeps that
bash "$script" --device "$dev" --user no-such-user-wp >/dev/null
[ "$(stat -c %a "$dev")" = 664 ] || fail "0604 became $(stat -c %a "$dev"), want 664"

rm "$dev"
out=$(bash "$script" --device "$dev")
grep -q "QEMU will run without KVM" <<<"$out" || fail "no device says: $out"
rc=0
bash "$script" --bogus >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "an unknown argument exits $rc, want 2"
echo "kvm-device: all checks passed"
