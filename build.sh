#!/usr/bin/env bash
# Publishes the NativeAOT binary to artifacts/bin/husk with its personality links (hard links:
# bubblewrap's tests re-exec /proc/self/exe, which resolves symlinks), the C library
# artifacts/lib/libhusk.so with artifacts/include/husk.h, mini-sandbox's libmini-sandbox.so and
# libmini-tapbox.so with linux-sandbox-api.h, and the Python wheel in artifacts/python/.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
out="$root/artifacts/bin"
echo "husk: building $out/husk" >&2
rid=$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')
dotnet publish "$root/src/Husk.Cli/Husk.Cli.csproj" -c Release -r "${rid:-linux-x64}" -o "$root/artifacts/publish" -nologo -v quiet >&2
mkdir -p "$out"
install -m 0755 "$root/artifacts/publish/Husk.Cli" "$out/husk.new"
mv -f "$out/husk.new" "$out/husk"
for name in bwrap mkosi-sandbox mbox try microbox mini-sandbox mini-tapbox husk-runtime; do
    ln -f "$out/husk" "$out/$name"
done

lib="$root/artifacts/lib"
echo "husk: building $lib/libhusk.so" >&2
dotnet publish "$root/src/Husk.Native/Husk.Native.csproj" -c Release -r "${rid:-linux-x64}" -o "$root/artifacts/publish-lib" -nologo -v quiet >&2
mkdir -p "$lib" "$root/artifacts/include"
install -m 0755 "$root/artifacts/publish-lib/libhusk.so" "$lib/libhusk.so.new"
mv -f "$lib/libhusk.so.new" "$lib/libhusk.so"
install -m 0644 "$root/src/Husk.Native/husk.h" "$root/artifacts/include/husk.h"

# libmini-sandbox and libmini-tapbox (mini-sandbox's libraries, on libhusk): one C file built twice,
# found beside libhusk.so here and in the wheel's husk/ package (rpath).
ms="$root/src/Husk.Native/minisandbox"
echo "husk: building $lib/libmini-sandbox.so and libmini-tapbox.so" >&2
for variant in "mini-sandbox:" "mini-tapbox:-DMINITAP"; do
    name=${variant%%:*} define=${variant#*:}
    gcc -shared -fPIC -O2 -g -std=gnu11 -Wall -Wextra -Werror -fvisibility=hidden $define -I"$ms" \
        -o "$lib/lib$name.so.new" "$ms/mini_sandbox.c" -L"$lib" -lhusk -Wl,-z,now -Wl,-rpath,'$ORIGIN:$ORIGIN/../husk'
    mv -f "$lib/lib$name.so.new" "$lib/lib$name.so"
done
install -m 0644 "$ms/linux-sandbox-api.h" "$root/artifacts/include/linux-sandbox-api.h"

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props")
echo "husk: building the Python wheel in $root/artifacts/python" >&2
python3 "$root/bindings/python/make_wheel.py" --version "$version" --lib "$lib" --out "$root/artifacts/python" >&2
