#!/usr/bin/env bash
# Sandboxes per second from one warm .NET process through the Husk library, against spawning
# Debian's bwrap per launch, measured in the same run. usage: bench/library.sh [seconds] [workers]
# (bench/library.sh pool|cold SECONDS WORKERS: only pooled or only cold launches, for profiling;
# HUSK_POOL_SHARED_NETWORK=1 with pool: the runs share the template's network namespace)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
dotnet build "$root/bench/Husk.Bench/Husk.Bench.csproj" -c Release -nologo -v quiet >&2
bin="$root/bench/Husk.Bench/bin/Release/net10.0"
if [ "$(id -u)" = 0 ]; then
    stage=$(mktemp -d /var/tmp/husk-bench.XXXXXX)
    trap 'rm -rf "$stage"' EXIT
    cp -a "$bin/." "$stage/"
    chmod -R a+rX "$stage"
    cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$stage/Husk.Bench" "$@"
fi
exec "$bin/Husk.Bench" "$@"
