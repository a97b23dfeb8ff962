#!/usr/bin/env python3
"""Times commands in turn, round after round, and prints each one's wall time and CPU time.

usage: bench/interleave.py ROUNDS LABEL=COMMAND [LABEL=COMMAND ...]

hyperfine runs all of one command, then all of the next: on a machine other work shares, a change
of load between the two shows up as a difference between them. Here every round runs each command
once (the order rotates from round to round), so load changes fall on all of them alike. Prints the
mean, the median and the 10%-trimmed mean of the wall time, the ratio of medians to the first
command, and the mean CPU time (user + system of the command and the children it waited for:
a process that exits without reaping its child, as Debian's bwrap does with the sandbox's pid 1,
leaves that child's time out).
Five warm-up rounds are not counted. Commands are split like a shell would (no pipes, no
redirections); their output is discarded and a failing command stops the run.
"""
import os
import shlex
import statistics
import subprocess
import sys
import time


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or any("=" not in a for a in sys.argv[2:]):
        sys.exit("usage: bench/interleave.py ROUNDS LABEL=COMMAND [LABEL=COMMAND ...]")
    rounds = int(sys.argv[1])
    commands = [(label, shlex.split(command)) for label, command in (a.split("=", 1) for a in sys.argv[2:])]
    wall = {label: [] for label, _ in commands}
    cpu = {label: [] for label, _ in commands}
    with open(os.devnull, "w") as devnull:
        for r in range(rounds + 5):
            turn = r % len(commands)
            for label, argv in commands[turn:] + commands[:turn]:
                start = time.perf_counter()
                child = subprocess.Popen(argv, stdout=devnull, stderr=devnull, cwd="/")
                _, status, usage = os.wait4(child.pid, 0)
                elapsed = time.perf_counter() - start
                child.returncode = code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    sys.exit(f"interleave: {label} exited with {code}")
                if r >= 5:
                    wall[label].append(elapsed * 1000)
                    cpu[label].append((usage.ru_utime + usage.ru_stime) * 1000)

    def trimmed(values: list) -> float:
        values = sorted(values)
        k = len(values) // 10
        return statistics.mean(values[k:len(values) - k])

    base = statistics.median(wall[commands[0][0]])
    print(f"{'command':52} {'mean':>8} {'median':>8} {'trim10':>8} {'ratio':>7} {'cpu':>8}")
    for label, _ in commands:
        median = statistics.median(wall[label])
        print(f"{label:52} {statistics.mean(wall[label]):6.2f}ms {median:6.2f}ms {trimmed(wall[label]):6.2f}ms"
              f" {median / base:6.2f}x {statistics.mean(cpu[label]):6.2f}ms")


if __name__ == "__main__":
    main()
