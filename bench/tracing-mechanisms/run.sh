#!/usr/bin/env bash
# Per-call cost of each interception mechanism (stops.c), the median of several runs, interleaved so
# that load changes hit every mode alike. bench/tracing.sh measures Husk's tracer against strace.
# usage: bench/tracing-mechanisms/run.sh [runs] [calls]
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-7}
calls=${2:-50000}
bin=$(mktemp -d /var/tmp/stops.XXXXXX)
trap 'rm -rf "$bin"' EXIT
gcc -O2 -Wall -Wextra -o "$bin/stops" "$here/stops.c"
modes=(bare filter trace trace-exit trace-exit-rusage syscall notify notify-sync)
declare -A samples
for _ in $(seq "$runs"); do
    for m in "${modes[@]}"; do
        samples[$m]+="$("$bin/stops" "$m" "$calls") "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-20s %10s\n' mode "ns/call"
for m in "${modes[@]}"; do
    printf '%-20s %10s\n' "$m" "$(median <<<"${samples[$m]}")"
done
