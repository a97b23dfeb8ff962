#!/usr/bin/env bash
# Publishes the NativeAOT binary to artifacts/bin/husk with its personality links (hard links:
# bubblewrap's tests re-exec /proc/self/exe, which resolves symlinks).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
out="$root/artifacts/bin"
echo "husk: building $out/husk" >&2
rid=$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')
dotnet publish "$root/src/Husk.Cli/Husk.Cli.csproj" -c Release -r "${rid:-linux-x64}" -o "$root/artifacts/publish" -nologo -v quiet >&2
mkdir -p "$out"
install -m 0755 "$root/artifacts/publish/Husk.Cli" "$out/husk.new"
mv -f "$out/husk.new" "$out/husk"
for name in bwrap mkosi-sandbox mbox try microbox mini-sandbox husk-runtime; do
    ln -f "$out/husk" "$out/$name"
done
