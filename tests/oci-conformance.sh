#!/usr/bin/env bash
# Runs opencontainers/runtime-tools' validation programs against an OCI runtime and counts their
# TAP results, per program and in total. It fetches and builds nothing: build runtime-tools
# yourself (docs/compat-oci.md says how) and pass the directory that holds runtimetest,
# rootfs-<arch>.tar.gz and validation/*/*.t.
#   usage: tests/oci-conformance.sh RUNTIME_TOOLS_DIR RUNTIME [PROGRAM...]
#   e.g.:  tests/oci-conformance.sh /work/oci-rt/src "$PWD/artifacts/bin/husk-runtime"
# As root (the suite creates cgroups, devices and mounts). Each program runs with a timeout of
# $OCI_TIMEOUT seconds (default 120). The last line is "runtime: N ok, N not ok, N skip, N/M programs failed".
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dir=$(cd "$1" && pwd) runtime=$2
shift 2
[ -x "$dir/runtimetest" ] || { echo "oci-conformance: no runtimetest in $dir: build runtime-tools first" >&2; exit 2; }
case $runtime in /*) ;; *) runtime=$(command -v "$runtime") || { echo "oci-conformance: no runtime $2" >&2; exit 2; } ;; esac
timeout_s=${OCI_TIMEOUT:-120}
cd "$dir"
if [ $# -gt 0 ]; then
    programs=("$@")
else
    mapfile -t programs < <(cd validation && ls -d */ | tr -d / | grep -v '^util$' | sort)
fi
tok=0 tnot=0 tskip=0 failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
for p in "${programs[@]}"; do
    out="$log/$p.tap"
    start=$(date +%s%N)
    RUNTIME="$runtime" timeout -k 5 "$timeout_s" "validation/$p/$p.t" >"$out" 2>"$log/$p.err"
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    ok=$(grep -cE '^ok [0-9]+' "$out")
    skip=$(grep -cE '^ok [0-9]+.*# (SKIP|skip)' "$out")
    not=$(grep -cE '^not ok [0-9]+' "$out")
    ok=$((ok - skip))
    plan=$(grep -cE '^1\.\.[0-9]+' "$out")
    verdict=pass
    # A program fails with a "not ok" or a non-zero status. Those that test an error
    # (process_rlimits_fail...) print nothing and exit 0 when the runtime refused as it should.
    if [ "$not" -gt 0 ] || [ "$rc" -ne 0 ]; then
        verdict=FAIL
        failed=$((failed + 1))
    fi
    [ "$rc" = 124 ] && verdict="FAIL (timeout)"
    printf '%-40s %4d ok %3d not ok %3d skip  rc=%-3s %4d.%01ds  %s\n' "$p" "$ok" "$not" "$skip" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) "$verdict"
    if [ "$verdict" != pass ]; then
        grep -E '^not ok' "$out" | head -5 | sed 's/^/        /'
        [ "$plan" -eq 0 ] && head -c 400 "$log/$p.err" | sed 's/^/        stderr: /'
        true
    fi
    tok=$((tok + ok)) tnot=$((tnot + not)) tskip=$((tskip + skip))
done
echo "$(basename "$runtime"): $tok ok, $tnot not ok, $tskip skip, $failed/${#programs[@]} programs failed"
