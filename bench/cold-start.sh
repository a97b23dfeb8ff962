#!/usr/bin/env bash
# Cold start of one sandboxed /bin/true, Husk against its peers in the same run (hyperfine).
# Prints each command's mean and its ratio to Debian's bwrap (< 1.0: faster than bwrap).
# usage: bench/cold-start.sh [runs] [interleave]   (as root it measures as nobody, the usual case)
# With "interleave", bench/interleave.py runs the commands in turn, round after round (runs rounds),
# instead of hyperfine's one after the other: on a shared machine a change of load then falls on all.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-100}
mode=${2:-hyperfine}
husk="$root/artifacts/bin/husk"
bwrap_personality="$root/artifacts/bin/bwrap"
[ -x "$husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt install hyperfine)" >&2; exit 1; }

as_user=()
if [ "$(id -u)" = 0 ]; then
    # Measure the unprivileged case from a directory nobody can read.
    stage=$(mktemp -d /var/tmp/husk-bench.XXXXXX)
    trap 'rm -rf "$stage"' EXIT
    cp "$husk" "$stage/husk"
    ln "$stage/husk" "$stage/bwrap"
    chmod -R a+rX "$stage"
    husk="$stage/husk" bwrap_personality="$stage/bwrap"
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
cd /

iso="--unshare-all --ro-bind / / --dev /dev --proc /proc"
cmds=(
    "bwrap $iso /bin/true"
    "$bwrap_personality $iso /bin/true"
    "$husk run -- /bin/true"
    "unshare --user --map-current-user --mount --pid --fork --mount-proc --ipc --uts --net --cgroup /bin/true"
)
labels=("bwrap (Debian $(bwrap --version | awk '{print $2}'))" "husk as bwrap, same options" "husk run (default isolation: more than the others)" "unshare (util-linux)")
if command -v firejail >/dev/null; then
    cmds+=("firejail --quiet --noprofile --private-dev --net=none /bin/true")
    labels+=("firejail --noprofile --private-dev --net=none")
fi
full=() kept=()
for i in "${!cmds[@]}"; do
    c="${as_user[*]:+${as_user[*]} }${cmds[$i]}"
    # A command that fails here is reported, not timed.
    if err=$(eval "$c" 2>&1 >/dev/null); then
        full+=("$c") kept+=("${labels[$i]}")
    else
        echo "bench: skipped ${labels[$i]}: ${err%%$'\n'*}" >&2
    fi
done
labels=("${kept[@]}")
if [ "$mode" = interleave ]; then
    pairs=()
    for i in "${!full[@]}"; do pairs+=("${labels[$i]}=${full[$i]}"); done
    python3 "$root/bench/interleave.py" "$runs" "${pairs[@]}"
    exit 0
fi
json=$(mktemp)
hyperfine -N --warmup 10 --runs "$runs" --export-json "$json" "${full[@]}" >&2
python3 - "$json" "${labels[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
labels = sys.argv[2:]
base = results[0]["mean"]
print(f"{'command':58} {'mean':>9} {'ratio to bwrap':>15}")
for label, r in zip(labels, results):
    print(f"{label:58} {r['mean']*1000:7.2f}ms {r['mean']/base:14.2f}x")
PY
rm -f "$json"
