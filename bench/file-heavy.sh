#!/usr/bin/env bash
# A file-heavy job natively and inside Husk's overlay sandbox, in the same run: untar a
# generated C project (200 sources) and build it with make -j2, then delete it. Prints each mean
# and the overhead over native. usage: bench/file-heavy.sh [runs]   (as root it measures as nobody)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-10}
[ -x "$root/artifacts/bin/husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 1; }

. "$root/bench/c-project.sh"
c_project files
json=$(mktemp)
hyperfine --warmup 1 --runs "$runs" --export-json "$json" \
    -n native "${as_user[*]} sh -c '$job'" \
    -n "husk overlay (--discard)" "${as_user[*]} env HOME=$work $work/husk run --discard -- sh -c '$job'" \
    -n "husk overlay, layer kept then discarded" "${as_user[*]} env HOME=$work sh -c '$work/husk run --root $work/root --keep -- sh -c \"$job\"; $work/husk discard $work/root'" \
    -n "husk ro view + tmpfs workdir" "${as_user[*]} env HOME=$work $work/husk run --fs ro --tmpfs $work/run -- sh -c '$job'" >&2
python3 - "$json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
base = res[0]["mean"]
print(f"{'command':44} {'mean':>9} {'over native':>12}")
for r in res:
    print(f"{r['command']:44} {r['mean']*1000:7.0f}ms {100*(r['mean']/base-1):+11.1f}%")
PY
rm -f "$json"
