#!/usr/bin/env bash
# husk-runtime against crun and runc in the same run (hyperfine), as root:
#   1. `podman run --rm` of a busybox-static image (imported from a rootfs tarball, vfs storage),
#      each runtime named in a containers.conf as docs/kubernetes.md names husk-runtime;
#   2. the runtime's own create + start + delete --force of a prepared bundle running `true`.
# Prints each mean and its ratio to crun and to runc (< 1.0: faster). A runtime that fails its
# trial run is reported and left out (crun 1.8.1 refuses hybrid cgroups while hugetlb is a v2
# controller: run this under a private mount namespace with hugetlb bound as v1, see
# docs/benchmarks.md). Scratch files go to /var/lib/husk-bench-oci, removed at the end.
# usage: bench/oci-runtime.sh [runs]
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-30}
husk_runtime="$root/artifacts/bin/husk-runtime"
[ -x "$husk_runtime" ] || "$root/build.sh"
[ "$(id -u)" = 0 ] || { echo "bench: run as root (podman's and the runtimes' cgroups)" >&2; exit 1; }
for tool in hyperfine podman conmon busybox; do
    command -v "$tool" >/dev/null || { echo "bench: needs $tool (apt install hyperfine podman busybox-static)" >&2; exit 1; }
done
busybox=$(command -v busybox)

work=/var/lib/husk-bench-oci
rm -rf "$work"
mkdir -p "$work"
trap 'podman_ rm --all --force >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# A busybox-static rootfs, as a tarball for podman and as a bundle for the runtimes.
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp "$busybox" "$rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
tar -C "$rootfs" -cf "$work/rootfs.tar" .

# The runtimes: a name for each in containers.conf, all listed in runtime_supports_json.
runtimes=(husk crun runc)
paths=("$husk_runtime" "$(command -v crun || true)" "$(command -v runc || true)")
{
    echo '[engine]'
    echo 'runtime_supports_json = ["crun", "runc", "husk"]'
    echo '[engine.runtimes]'
    for i in "${!runtimes[@]}"; do
        [ -n "${paths[$i]}" ] && echo "${runtimes[$i]} = [\"${paths[$i]}\"]"
    done
    echo '[containers]'
    echo 'log_driver = "k8s-file"'
} >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
# Short paths: podman's cleanup refuses a run root of more than 50 characters.
podman_() { podman --root "$work/s" --runroot "$work/r" --tmpdir "$work/t" --storage-driver vfs "$@"; }
podman_ import "$work/rootfs.tar" localhost/husk-bench:latest >/dev/null
# Within the hard limits: podman's default (1048576) needs CAP_SYS_RESOURCE, which some VMs' root lacks.
nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768

# The bundle: runc's template (husk-runtime spec), no terminal, running true; ociVersion 1.0.2,
# which crun 1.8.1 takes (it refuses the template's 1.2.0).
(cd "$work/bundle" && "$husk_runtime" spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["ociVersion"] = "1.0.2"
json.dump(c, open(sys.argv[1], "w"))
PY

podman_cmds=() podman_labels=() bundle_cmds=() bundle_labels=()
for i in "${!runtimes[@]}"; do
    name=${runtimes[$i]} path=${paths[$i]}
    [ -n "$path" ] || { echo "bench: skipped $name: not installed" >&2; continue; }
    version=$("$path" --version 2>/dev/null | head -1)
    run="podman --root $work/s --runroot $work/r --tmpdir $work/t --storage-driver vfs --runtime $name run --rm --network none --ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc localhost/husk-bench:latest true"
    if err=$($run 2>&1); then
        podman_cmds+=("$run") podman_labels+=("podman run --rm, $name ($version)")
    else
        echo "bench: skipped podman with $name: ${err%%$'\n'*}" >&2
    fi
    state="$work/state-$name"
    cycle="$path --root $state create --bundle $work/bundle bench && $path --root $state start bench && $path --root $state delete --force bench"
    if err=$(sh -c "$cycle" 2>&1); then
        bundle_cmds+=("$cycle") bundle_labels+=("create+start+delete, $name")
    else
        echo "bench: skipped the bundle with $name: ${err%%$'\n'*}" >&2
        "$path" --root "$state" delete --force bench >/dev/null 2>&1 || true
    fi
done

report() { # title, json, labels...
    local title=$1 json=$2
    shift 2
    python3 - "$title" "$json" "$@" <<'PY'
import json, sys
title, results, labels = sys.argv[1], json.load(open(sys.argv[2]))["results"], sys.argv[3:]
means = {l.split(", ")[1].split(" ")[0]: r["mean"] for l, r in zip(labels, results)}
print(f"\n{title}")
print(f"{'command':58} {'mean':>9} {'vs crun':>8} {'vs runc':>8}")
for label, r in zip(labels, results):
    m = r["mean"]
    vs = lambda k: f"{m / means[k]:7.2f}x" if k in means else "      -"
    print(f"{label:58} {m*1000:7.1f}ms {vs('crun'):>8} {vs('runc'):>8}")
PY
}
json=$(mktemp)
if [ ${#podman_cmds[@]} -gt 0 ]; then
    hyperfine -N --warmup 3 --runs "$runs" --export-json "$json" "${podman_cmds[@]}" >&2
    report "podman run --rm (busybox, true), $runs runs" "$json" "${podman_labels[@]}"
fi
if [ ${#bundle_cmds[@]} -gt 0 ]; then
    hyperfine --warmup 3 --runs "$runs" --export-json "$json" "${bundle_cmds[@]}" >&2
    report "create + start + delete --force of a prepared bundle (true), $runs runs" "$json" "${bundle_labels[@]}"
fi
rm -f "$json"
