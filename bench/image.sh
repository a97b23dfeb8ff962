#!/usr/bin/env bash
# husk run --image: the first run of an image (unpacking its layers into the cache) against later
# runs (the cache's layers stacked as they are), with GNU tar unpacking the same layers and
# husk run --fs DIR on the same tree already unpacked, in the same run (hyperfine).
# The image is made here, offline: a busybox-static layer (Debian's busybox-static) and a gzip layer
# of Debian's Python standard library (/usr/lib/python3.11: about 1500 files, 54 MB), as an OCI image layout.
# usage: bench/image.sh [runs]   (as root it measures as nobody, the usual case)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-5}
husk="$root/artifacts/bin/husk"
[ -x "$husk" ] || "$root/build.sh"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt install hyperfine)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench: needs busybox-static (apt install busybox-static)" >&2; exit 1; }
python_lib=$(ls -d /usr/lib/python3.[0-9]* 2>/dev/null | head -1)
[ -d "$python_lib" ] || { echo "bench: needs Debian's python3 (/usr/lib/python3.N)" >&2; exit 1; }

stage=$(mktemp -d /var/tmp/husk-bench-image.XXXXXX)
trap 'rm -rf "$stage"' EXIT
as_user=()
if [ "$(id -u)" = 0 ]; then
    cp "$husk" "$stage/husk"
    husk="$stage/husk"
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi

python3 - "$stage/layout" "$python_lib" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, pylib = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d
def layer(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t)
    raw = buf.getvalue()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(gz), "size": len(gz)}, "sha256:" + hashlib.sha256(raw).hexdigest()
def base(t):
    for d in ["bin", "etc", "tmp", "usr", "usr/lib"]:
        i = tarfile.TarInfo(d); i.type = tarfile.DIRTYPE; i.mode = 0o1777 if d == "tmp" else 0o755; t.addfile(i)
    t.add("/bin/busybox", "bin/busybox")
    for a in ["sh", "true", "ls", "cat"]:
        i = tarfile.TarInfo("bin/" + a); i.type = tarfile.SYMTYPE; i.linkname = "busybox"; t.addfile(i)
    data = b"root:x:0:0:root:/root:/bin/sh\n"
    i = tarfile.TarInfo("etc/passwd"); i.size = len(data); t.addfile(i, io.BytesIO(data))
def python(t):
    t.add(pylib, "usr/lib/" + os.path.basename(pylib), filter=lambda i: None if "__pycache__" in i.name.split("/")[-1:] else i)
layers = [layer(base), layer(python)]
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                     "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config), "size": len(config)},
                       "layers": [l[0] for l in layers]}).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(manifest), "size": len(manifest),
           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
# The same tree unpacked once by GNU tar, for --fs DIR; the layers' blobs for tar's own timing.
mkdir -p "$stage/tree" "$stage/cache" "$stage/untar"
layers=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(" ".join(l["digest"][7:] for l in json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"]))' "$stage/layout")
for l in $layers; do tar -xzf "$stage/layout/blobs/sha256/$l" -C "$stage/tree"; done
chmod -R a+rX "$stage"
chown -R 65534:65534 "$stage/cache" "$stage/untar" 2>/dev/null || true
du -sh "$stage/layout" "$stage/tree" >&2
cd /

env_cache="env XDG_CACHE_HOME=$stage/cache"
run() { echo "${as_user[*]:+${as_user[*]} }$*"; }
untar="sh -c 'rm -rf $stage/untar/t && mkdir $stage/untar/t && for l in $layers; do tar -xzf $stage/layout/blobs/sha256/\$l -C $stage/untar/t; done'"
json=$(mktemp)
# One --prepare per command (a single one would apply to every command): only the first empties the cache.
hyperfine -N --warmup 1 --runs "$runs" --export-json "$json" \
    --prepare "rm -rf $stage/cache/husk" --prepare "true" --prepare "true" --prepare "true" \
    --command-name "first run (unpack into an empty cache)" "$(run $env_cache "$husk" run --image "oci:$stage/layout" -- /bin/true)" \
    --command-name "later runs (cached layers)" "$(run $env_cache "$husk" run --image "oci:$stage/layout" -- /bin/true)" \
    --command-name "husk run --fs DIR, the same tree unpacked" "$(run "$husk" run --fs "$stage/tree" -- /bin/true)" \
    --command-name "GNU tar -xzf of the same layers (no sandbox)" "$(run $untar)" >&2
python3 - "$json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[2]["mean"]
print(f"{'command':48} {'mean':>10} {'ratio to --fs DIR':>18}")
for r in results:
    print(f"{r['command']:48} {r['mean']*1000:8.1f}ms {r['mean']/base:17.2f}x")
PY
rm -f "$json"
