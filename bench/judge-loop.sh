#!/usr/bin/env bash
# A judge's loop: tests per second through the Husk library from one warm process (a trivial
# submission with limits, a cgroup where the caller may make one, usage and verdict collected),
# against spawning bwrap and `husk run` per test, measured in the same run. Goal: >= 3x bwrap.
# usage: bench/judge-loop.sh [seconds] [workers]   (as root: cgroup v1 here; as a user: rlimits)
# HUSK_PHASES=1 prints the mean latency of each part instead (plain, measured, limits, pipes);
# HUSK_POOL_ONLY=1 measures only the pool (for profiling).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ -x "$root/artifacts/bin/husk" ] || "$root/build.sh"
dotnet build "$root/bench/Husk.Bench/Husk.Bench.csproj" -c Release -nologo -v quiet >&2
exec "$root/bench/Husk.Bench/bin/Release/net10.0/Husk.Bench" judge "${1:-5}" "${2:-$(nproc)}" "$root/artifacts/bin/husk"
