#!/usr/bin/env bash
# Adds the public symbols the build reports as undeclared (RS0016) to src/Husk/PublicAPI.Unshipped.txt.
# Run after adding public API on purpose; read the diff: it is the change to the library's surface.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
file="$root/src/Husk/PublicAPI.Unshipped.txt"
for _ in 1 2 3; do
    new=$(dotnet build "$root/src/Husk/Husk.csproj" -c Release -nologo -v quiet --no-incremental 2>&1 \
        | sed -nE "s/.*error RS0016: Symbol '(.*)' is not part of the declared public API.*/\1/p" | sort -u || true)
    [ -n "$new" ] || exit 0
    { head -1 "$file"; { tail -n +2 "$file"; printf '%s\n' "$new"; } | sort -u; } > "$file.new"
    mv "$file.new" "$file"
done
