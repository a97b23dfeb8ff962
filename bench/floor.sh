#!/usr/bin/env bash
# The floor under a sandbox's launch rate on this machine, against bwrap in the same run: how many
# times per second a C program can launch /bin/true (a) bare, (b) in fresh user, pid, mount, IPC
# and UTS namespaces (what a pool's run must have fresh, issue 15, with the user namespace it
# makes: it costs next to nothing), (c) in every namespace but time, the network namespace
# included (a cold sandbox's set, and a pool's run by default), and (d) through Debian's bwrap with
# the isolation bench/library.sh uses. Each is a clone with CLONE_VM | CLONE_VFORK and the
# namespaces, then exec and wait, nothing else (bench/floor/launch.c), so no sandbox that makes
# those namespaces per launch can be faster than (b) or (c).
# usage: bench/floor.sh [seconds] [workers] [rounds]   (as root it measures as nobody)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
seconds=${1:-3} workers=${2:-1} rounds=${3:-2}
command -v bwrap >/dev/null || { echo "bench/floor.sh: needs Debian's bwrap (apt install bubblewrap)" >&2; exit 1; }
stage=$(mktemp -d /var/tmp/husk-floor.XXXXXX)
trap 'rm -rf "$stage"' EXIT
gcc -O2 -Wall -Wextra -o "$stage/launch" "$root/bench/floor/launch.c"
chmod -R a+rX "$stage"
nobody=()
[ "$(id -u)" = 0 ] && nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
cd /
# CLONE_NEWNS 0x20000, CLONE_NEWUTS 0x4000000, CLONE_NEWIPC 0x8000000, CLONE_NEWUSER 0x10000000,
# CLONE_NEWPID 0x20000000, CLONE_NEWNET 0x40000000, CLONE_NEWCGROUP 0x2000000
echo "floor: $seconds s each, $workers worker(s), $rounds round(s) interleaved, $(nproc) cores"
for ((r = 1; r <= rounds; r++)); do
    "${nobody[@]}" "$stage/launch" "bare /bin/true" "$seconds" "$workers" 0 /bin/true
    "${nobody[@]}" "$stage/launch" "user+pid+mount+ipc+uts" "$seconds" "$workers" 0x3C020000 /bin/true
    "${nobody[@]}" "$stage/launch" "every namespace but time (network and cgroup too)" "$seconds" "$workers" 0x7E020000 /bin/true
    "${nobody[@]}" "$stage/launch" "bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc" "$seconds" "$workers" 0 \
        "$(command -v bwrap)" --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true
done | tee "$stage/out"
awk -F': ' '
    { sub(/ launches\/s/, "", $2); sum[$1] += $2; n[$1]++; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    END {
        b = sum[order[4]] / n[order[4]]
        for (i = 1; i <= k; i++) printf "ratio (%s / bwrap): %.2fx\n", order[i], (sum[order[i]] / n[order[i]]) / b
    }' "$stage/out"
