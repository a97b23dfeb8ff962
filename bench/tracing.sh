#!/usr/bin/env bash
# What tracing costs, against strace in the same run: untar a generated C project (200 sources)
# and build it with make -j2, natively, under strace -f -c and strace -f --seccomp-bpf
# -e trace=%file, and in a Husk sandbox bare, with --count and with --trace=%file. Tracing's cost
# is what it adds to its own baseline: strace's over native, Husk's over the same sandbox
# untraced. Goals (issue 11): --trace=%file adds at most 0.6x what strace --seccomp-bpf adds,
# --count at most 0.8x what strace -f -c adds.
# usage: bench/tracing.sh [runs]   (as root it measures as nobody)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-5}
[ -x "$root/artifacts/bin/husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 1; }
command -v strace >/dev/null || { echo "bench: needs strace" >&2; exit 1; }

. "$root/bench/c-project.sh"
c_project tracing
husk="env HOME=$work $work/husk run --fs ro --bind $work/run $work/run"
json=$(mktemp)
hyperfine --warmup 1 --runs "$runs" --export-json "$json" \
    -n native "${as_user[*]} sh -c '$job'" \
    -n "strace -f -c" "${as_user[*]} strace -f -c -o $work/strace.count sh -c '$job'" \
    -n "strace -f --seccomp-bpf -e trace=%file" "${as_user[*]} strace -f --seccomp-bpf -e trace=%file -o $work/strace.trace sh -c '$job'" \
    -n "husk run" "${as_user[*]} $husk -- sh -c '$job'" \
    -n "husk run --count" "${as_user[*]} $husk --count -- sh -c '$job' 2>/dev/null" \
    -n "husk run --trace=%file" "${as_user[*]} $husk --trace=%file --trace-output $work/husk.trace -- sh -c '$job'" >&2
python3 - "$json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
mean = {k: v["mean"] for k, v in res.items()}
sd = {k: v["stddev"] or 0 for k, v in res.items()}
print(f"{'command':42} {'mean':>9} {'sd':>7}")
for k in res:
    print(f"{k:42} {mean[k]*1000:7.0f}ms {sd[k]*1000:5.0f}ms")
def added(traced, base):
    return mean[traced] - mean[base]
rows = [
    ("--count vs strace -f -c", added("husk run --count", "husk run"), added("strace -f -c", "native"), 0.8),
    ("--trace=%file vs strace --seccomp-bpf", added("husk run --trace=%file", "husk run"), added("strace -f --seccomp-bpf -e trace=%file", "native"), 0.6),
]
print()
print(f"{'tracing cost':40} {'husk adds':>10} {'strace adds':>12} {'ratio':>7} {'goal':>6}")
for name, ours, theirs, goal in rows:
    ratio = ours / theirs if theirs > 0 else float("nan")
    print(f"{name:40} {ours*1000:8.0f}ms {theirs*1000:10.0f}ms {ratio:6.2f}x {'<=' + str(goal):>6} {'met' if ratio <= goal else 'not met'}")
PY
rm -f "$json"
