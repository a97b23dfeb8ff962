#!/usr/bin/env bash
# Sandboxes per second of a trivial program from Python: husk.run (libhusk through ctypes, one warm
# process) against spawning `husk run` with subprocess, the same isolation, interleaved in rounds
# in the same run; and the cost of one call through the C ABI. Needs ./build.sh's wheel.
# usage: bench/python-binding.sh [seconds per mode] [rounds]   (as root: measured as nobody)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
wheel=$(ls "$root"/artifacts/python/husk-*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "bench: no wheel in artifacts/python: run ./build.sh" >&2; exit 1; }
# The wheel unpacked (a pure wheel needs no more), world-readable, outside /tmp (husk run's own).
stage=$(mktemp -d /var/tmp/husk-bench-py.XXXXXX)
trap 'rm -rf "$stage"' EXIT
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$stage/site"
cp -a "$root/artifacts/bin" "$root/bench/python/python_binding.py" "$stage/"
chmod -R a+rX "$stage"
run=(env PYTHONPATH="$stage/site" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$stage/python_binding.py" "$stage/bin/husk" "${1:-5}" "${2:-3}")
cd /
if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/var/tmp "${run[@]}"
fi
exec "${run[@]}"
