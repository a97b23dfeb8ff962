"""The measurements of bench/python-binding.sh: launches per second from Python, two ways, and
the cost of one call through libhusk's C ABI with ctypes.

    python_binding.py HUSK SECONDS ROUNDS
"""

import ctypes
import subprocess
import sys
import time
import timeit

import husk
from husk import _native

HUSK, SECONDS, ROUNDS = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
# The same sandbox both ways: husk run's defaults but a read-only view of the host (no layer to
# plan and review), the caller's streams; husk.run passes the environment, so the CLI gets it too.
COMMAND = ["/bin/true"]
OPTIONS = ["--fs", "ro"]


def through_library():
    r = husk.run(COMMAND, fs="ro")
    assert r.exit_code == 0, r.message


def through_subprocess():
    r = subprocess.run([HUSK, "run", *OPTIONS, "--", *COMMAND])
    assert r.returncode == 0


def rate(fn, seconds):
    """Launches per second of fn, run back to back for about `seconds`."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def per_call(stmt, number):
    """Nanoseconds per call, the best of 5 repetitions."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9


def main():
    through_library()  # the runtime's start and the first planning are not launches
    through_subprocess()
    lib_rates, cli_rates = [], []
    for _ in range(ROUNDS):
        lib_rates.append(rate(through_library, SECONDS / ROUNDS))
        cli_rates.append(rate(through_subprocess, SECONDS / ROUNDS))
    lib, cli = sum(lib_rates) / ROUNDS, sum(cli_rates) / ROUNDS
    print(f"launches of {' '.join(COMMAND)} (husk run {' '.join(OPTIONS)}), {ROUNDS} rounds of {SECONDS / ROUNDS:.1f} s each way")
    print(f"  husk.run (libhusk, ctypes)        {lib:8.1f} /s   {1000 / lib:6.2f} ms each")
    print(f"  subprocess.run([husk, run, ...])  {cli:8.1f} /s   {1000 / cli:6.2f} ms each")
    print(f"  ratio                             {lib / cli:8.2f}x")

    libc = ctypes.CDLL(None)
    libc.getpagesize.restype = ctypes.c_int
    libc.getpid.restype = ctypes.c_int
    lib_ = _native.lib
    spec = b'{"command": ["/bin/true"], "options": [["--fs", "ro"]]}'
    rows = [
        ("libc getpagesize() (ctypes' own cost: no argument, no system call)", lambda: libc.getpagesize(), 200000),
        ("libc getpid() (one system call)", lambda: libc.getpid(), 200000),
        ("husk_abi()", lambda: lib_.husk_abi(), 200000),
        ("husk_version()", lambda: lib_.husk_version(), 200000),
        ("husk_validate(spec): parse, options, checks", lambda: lib_.husk_validate(spec), 2000),
    ]
    print("one call through the C ABI (ctypes), best of 5")
    for name, fn, number in rows:
        print(f"  {name:68} {per_call(fn, number):10.0f} ns")


main()
