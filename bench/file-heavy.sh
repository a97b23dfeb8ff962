#!/usr/bin/env bash
# A file-heavy job natively and inside Husk's overlay sandbox, in the same run: untar a
# generated C project (200 sources) and build it with make -j2, then delete it. Prints each mean
# and the overhead over native. usage: bench/file-heavy.sh [runs]   (as root it measures as nobody)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-10}
[ -x "$root/artifacts/bin/husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 1; }

# Not under /tmp or /var/tmp: sandboxes get fresh ones.
mkdir -p /var/lib/husk-bench
work=$(mktemp -d /var/lib/husk-bench/files.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
for i in $(seq 1 "${FILES:-200}"); do
    {
        echo "#include <stdio.h>"
        echo "#include <string.h>"
        echo "int f$i(const char *s) { int n = 0; for (size_t k = 0; k < strlen(s); k++) n += s[k] * $i; return n; }"
        echo "void g$i(void) { char b[64]; snprintf(b, sizeof b, \"%d\", f$i(\"husk\")); }"
    } >"$work/src/f$i.c"
done
echo 'int main(void) { return 0; }' >"$work/src/main.c"
cat >"$work/src/Makefile" <<'MK'
SRCS := $(wildcard *.c)
OBJS := $(SRCS:.c=.o)
app: $(OBJS)
	$(CC) -o $@ $(OBJS)
%.o: %.c
	$(CC) -O1 -c -o $@ $<
MK
tar -C "$work" -cf "$work/project.tar" src
rm -rf "$work/src"
cp "$root/artifacts/bin/husk" "$work/husk"
mkdir "$work/run"
chmod -R a+rwX "$work"

as_user=()
if [ "$(id -u)" = 0 ]; then
    # The measuring user owns its project, as a user's own files are.
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chown -R 65534:65534 "$work"
fi
job="cd $work/run && tar xf ../project.tar && cd src && make -s -j2 && cd .. && rm -rf src"
json=$(mktemp)
hyperfine --warmup 1 --runs "$runs" --export-json "$json" \
    -n native "${as_user[*]} sh -c '$job'" \
    -n "husk overlay (--discard)" "${as_user[*]} env HOME=$work $work/husk run --discard -- sh -c '$job'" \
    -n "husk overlay, layer kept then discarded" "${as_user[*]} env HOME=$work sh -c '$work/husk run --root $work/root --keep -- sh -c \"$job\"; $work/husk discard $work/root'" \
    -n "husk ro view + tmpfs workdir" "${as_user[*]} env HOME=$work $work/husk run --fs ro --tmpfs $work/run -- sh -c '$job'" >&2
python3 - "$json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
base = res[0]["mean"]
print(f"{'command':44} {'mean':>9} {'over native':>12}")
for r in res:
    print(f"{r['command']:44} {r['mean']*1000:7.0f}ms {100*(r['mean']/base-1):+11.1f}%")
PY
rm -f "$json"
