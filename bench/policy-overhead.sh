#!/usr/bin/env bash
# What the default policy costs on file-heavy work: the same job in husk run with the defaults
# (seccomp profile + Landlock), with each wall alone, and with neither (hyperfine, same run).
# The job, in the sandbox's /tmp: unpack /usr/include, stat and read every file, delete the tree.
# Prints each median and minimum and their ratios to "neither" (the minimum is the least disturbed
# by other work on the machine). usage: bench/policy-overhead.sh [runs]
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-20}
husk="$root/artifacts/bin/husk"
[ -x "$husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt install hyperfine)" >&2; exit 1; }

# Not under /tmp, /var/tmp or /run: husk run gives the sandbox fresh ones.
mkdir -p /var/lib/husk-bench
stage=$(mktemp -d /var/lib/husk-bench/run.XXXXXX)
trap 'rm -rf "$stage"' EXIT
tar -C /usr -cf "$stage/include.tar" include
cp "$husk" "$stage/husk"
chmod -R a+rX "$stage"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
cd /
files=$(tar -tf "$stage/include.tar" | wc -l)
job="cd /tmp && tar -xf $stage/include.tar && find include -type f -exec cat {} + >/dev/null && find include -type f | xargs stat -c %s >/dev/null && rm -rf include"
echo "job: unpack, read, stat and delete $files entries of /usr/include in the sandbox's /tmp" >&2
json="$stage/results.json"
chmod a+w "$stage"
"${as_user[@]}" hyperfine -N --runs "$runs" --warmup 2 --export-json "$json" \
    -n neither "$stage/husk run --seccomp unconfined --landlock off -- /bin/sh -c '$job'" \
    -n seccomp "$stage/husk run --landlock off -- /bin/sh -c '$job'" \
    -n landlock "$stage/husk run --seccomp unconfined -- /bin/sh -c '$job'" \
    -n defaults "$stage/husk run -- /bin/sh -c '$job'" >&2 || true
python3 - "$json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med, low = r["neither"]["median"], r["neither"]["min"]
for name in ("neither", "seccomp", "landlock", "defaults"):
    x = r[name]
    print(f"{name:9} median {x['median']*1000:7.1f} ms {x['median']/med:6.3f}x   min {x['min']*1000:7.1f} ms {x['min']/low:6.3f}x")
PY
