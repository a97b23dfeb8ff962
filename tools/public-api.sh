#!/usr/bin/env bash
# Brings src/Husk/PublicAPI.*.txt in line with the code: public symbols the build reports as
# undeclared (RS0016) are added to PublicAPI.Unshipped.txt, declared ones that are gone (RS0017)
# are removed from both files. Run after changing the public API on purpose; read the diff: it is
# the change to the library's surface.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
unshipped="$root/src/Husk/PublicAPI.Unshipped.txt"
for _ in 1 2 3; do
    out=$(dotnet build "$root/src/Husk/Husk.csproj" -c Release -nologo -v quiet --no-incremental 2>&1 || true)
    new=$(sed -nE "s/.*error RS0016: Symbol '(.*)' is not part of the declared public API.*/\1/p" <<<"$out" | sort -u)
    gone=$(sed -nE "s/.*error RS0017: Symbol '(.*)' is part of the declared API, but is either not public or could not be found.*/\1/p" <<<"$out" | sort -u)
    [ -n "$new$gone" ] || exit 0
    for file in "$root/src/Husk/PublicAPI.Shipped.txt" "$unshipped"; do
        if [ -n "$gone" ]; then
            grep -vxF -f <(printf '%s\n' "$gone") "$file" > "$file.new" || true
            mv "$file.new" "$file"
        fi
    done
    if [ -n "$new" ]; then
        { head -1 "$unshipped"; { tail -n +2 "$unshipped"; printf '%s\n' "$new"; } | sort -u; } > "$unshipped.new"
        mv "$unshipped.new" "$unshipped"
    fi
done
