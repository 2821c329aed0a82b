#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] - build every fuzz harness in fuzz/ with clang's
# libFuzzer, ASan and UBSan, and run each for SECONDS (default 60) from its
# seed corpus (fuzz/corpus/<harness>/, copied: the repository's corpus is
# not changed). A crash, a leak or a sanitizer report fails the script; the
# input that caused it is kept in build-fuzz/crashes/<harness>/. Per harness
# it prints the executions and the coverage libFuzzer reached. Installs
# clang if missing (Debian's, apt-get). Needs the generated protobuf code:
# runs scripts/build.sh first when build/ lacks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
case $seconds in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
command -v clang >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang; }
[ -f build/proto/ttrpc.pb-c.c ] || BUILD_DIR=$root/build bash scripts/build.sh >&2
out=$root/build-fuzz
mkdir -p "$out"
common=(common/wp_error.c common/wp_frame.c common/wp_fs.c common/wp_id.c common/wp_log.c common/wp_time.c)
declare -A sources=(
  [fuzz_frame_reader]=""
  [fuzz_ttrpc_server]="shim/ttrpc_frame.c shim/ttrpc_server.c shim/ttrpc_conn.c build/proto/ttrpc.pb-c.c"
  [fuzz_journal_record]="pool/core/pool_journal_codec.c"
  [fuzz_pool_config]="pool/core/pool_config.c"
  [fuzz_oci_spec]="agent/agent_crun.c"
  [fuzz_runtime_options]="shim/shim_options.c build/proto/runtime_options.pb-c.c build/proto/shim_task.pb-c.c"
)
includes=(-Ifuzz -Icommon -Ishim -Ipool -Ipool/core -Iagent -Ibuild/proto)
flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
failed=0
for h in $(printf '%s\n' "${!sources[@]}" | sort); do
  # shellcheck disable=SC2086 # the source lists are word lists
  clang "${flags[@]}" "${includes[@]}" "fuzz/$h.c" ${sources[$h]} "${common[@]}" \
    -ljansson -lprotobuf-c -o "$out/$h" || { echo "fuzz: $h does not build" >&2; failed=1; continue; }
  work=$out/corpus/$h crashes=$out/crashes/$h
  rm -rf "$work"
  mkdir -p "$work" "$crashes"
  [ -d "fuzz/corpus/$h" ] && cp fuzz/corpus/"$h"/* "$work"/ 2>/dev/null || true
  log=$out/$h.log
  if (cd "$crashes" && ASAN_OPTIONS=detect_leaks=1 "$out/$h" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" >"$log" 2>&1); then
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    printf 'fuzz: %-22s %10s execs  cov %s  (%s s)\n' "$h" "${execs:-?}" "${cov:-?}" "$seconds"
  else
    echo "fuzz: $h FAILED; the input is in $crashes; its log ends:" >&2
    tail -20 "$log" >&2
    failed=1
  fi
done
exit $failed
