#!/usr/bin/env python3
"""Builds Husk's Python wheel from bindings/python and the built native libraries.

    make_wheel.py --version 0.1.0 --lib artifacts/lib --out artifacts/python

The wheel holds the packages husk, sandbox (pysandbox's API) and pyminisandbox (mini-sandbox's),
with libhusk.so in husk/ and libmini-sandbox.so and libmini-tapbox.so (which find libhusk.so
through their rpath, $ORIGIN/../husk) in pyminisandbox/. Its tag is that of a platform
wheel: pure Python over native libraries that need glibc of the highest version their symbols
name (manylinux_2_34 when built on glibc 2.36), for the machine's architecture. Only the standard
library is used, so the build needs no setuptools, wheel or network.
"""

import argparse
import base64
import hashlib
import os
import platform
import re
import stat
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["husk", "sandbox", "pyminisandbox"]
# Native libraries and the package each goes into.
LIBRARIES = {"libhusk.so": "husk", "libmini-sandbox.so": "pyminisandbox", "libmini-tapbox.so": "pyminisandbox"}
# A fixed time for every entry, so the same inputs give the same wheel.
EPOCH = (2020, 1, 1, 0, 0, 0)

SUMMARY = "Run programs in unprivileged Linux sandboxes; pysandbox's and pyminisandbox's APIs"


def glibc_floor(paths):
    """The highest GLIBC_x.y symbol version the libraries need, as (x, y)."""
    best = (2, 17)
    for path in paths:
        try:
            out = subprocess.run(["objdump", "-T", path], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return (2, 34)  # what a build on this project's machines needs; said in the README
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", out):
            best = max(best, (int(major), int(minor)))
    return best


def machine():
    m = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m.lower(), m)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def add(zf, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--lib", required=True, help="directory holding libhusk.so (and libmini-sandbox.so, libmini-tapbox.so)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    libs = {name: os.path.join(args.lib, name) for name in LIBRARIES if os.path.exists(os.path.join(args.lib, name))}
    if "libhusk.so" not in libs:
        sys.exit(f"make_wheel: no libhusk.so in {args.lib}: build it first (./build.sh)")
    major, minor = glibc_floor(libs.values())
    tag = f"py3-none-manylinux_{major}_{minor}_{machine()}"
    dist = f"husk-{args.version}"
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.startswith("husk-") and old.endswith(".whl"):
            os.unlink(os.path.join(args.out, old))
    wheel_path = os.path.join(args.out, f"{dist}-{tag}.whl")

    entries = []
    for package in PACKAGES:
        root = os.path.join(HERE, package)
        if not os.path.isdir(root):
            continue
        for directory, dirs, files in sorted(os.walk(root)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for f in sorted(files):
                if f.endswith((".pyc", ".so")):
                    continue
                path = os.path.join(directory, f)
                with open(path, "rb") as fh:
                    entries.append((os.path.relpath(path, HERE).replace(os.sep, "/"), fh.read(), False))
    for name, path in sorted(libs.items()):
        with open(path, "rb") as fh:
            entries.append((f"{LIBRARIES[name]}/{name}", fh.read(), True))

    info = f"{dist}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1",
        "Name: husk",
        f"Version: {args.version}",
        f"Summary: {SUMMARY}",
        "License: MIT",
        "Requires-Python: >=3.8",
        "Classifier: Operating System :: POSIX :: Linux",
        "",
        "Husk runs programs in unprivileged Linux sandboxes. `husk.run([...], time_limit=..., memory=...)`",
        "returns a verdict and usage; `husk.Sandbox` starts one and gives its streams as files. The",
        "modules `sandbox` and `pyminisandbox` provide pysandbox's and mini-sandbox's APIs over it.",
        "",
    ]).encode()
    wheel = "\n".join([
        "Wheel-Version: 1.0",
        "Generator: husk make_wheel.py",
        "Root-Is-Purelib: false",
        f"Tag: {tag}",
        "",
    ]).encode()
    top_level = "".join(p + "\n" for p in PACKAGES if os.path.isdir(os.path.join(HERE, p))).encode()
    entries += [(f"{info}/METADATA", metadata, False), (f"{info}/WHEEL", wheel, False), (f"{info}/top_level.txt", top_level, False)]

    record = [record_line(name, data) for name, data, _ in entries] + [f"{info}/RECORD,,"]
    with zipfile.ZipFile(wheel_path, "w") as zf:
        for name, data, executable in entries:
            add(zf, name, data, executable)
        add(zf, f"{info}/RECORD", ("\n".join(record) + "\n").encode())
    print(wheel_path)


if __name__ == "__main__":
    main()
