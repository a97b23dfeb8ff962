#!/usr/bin/env python3
"""Regenerates docs/man/husk.1 from `husk run --help` (the option table) plus the prose below.
Run after changing an option: tools/husk-man.py (a test checks every option is in the page)."""
import re
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
help_text = subprocess.run([str(root / "artifacts/bin/husk"), "run", "--help"], capture_output=True, text=True, check=True).stdout
groups, cur = [], None
for line in help_text.split("\n"):
    if line.endswith(":") and not line.startswith(" ") and not line.startswith(("Usage", "Exit")):
        cur = (line[:-1], [])
        groups.append(cur)
    elif cur and line.startswith("  -"):
        m = re.match(r"  (\S.*?)\s{2,}(.*)$", line)
        cur[1].append([m.group(1).strip(), m.group(2).strip()] if m else [line.strip(), ""])
    elif cur and line.startswith(" " * 36) and cur[1]:
        cur[1][-1][1] = line.strip()


def esc(s):
    return s.replace("\\", "\\\\").replace("-", "\\-")


head = (root / "tools/husk-man.head").read_text()
tail = (root / "tools/husk-man.tail").read_text()
out = [head.rstrip("\n")]
for name, opts in groups:
    out.append('.SH "%s"' % name.upper().replace("(", "").replace(")", ""))
    for o, h in opts:
        names, _, args = o.partition(" ")
        out.append(".TP")
        out.append("\\fB%s\\fR" % esc(names.rstrip(",")) + (" \\fI%s\\fR" % esc(args) if args else ""))
        out.append(esc(h))
out.append(tail.rstrip("\n"))
(root / "docs/man/husk.1").write_text("\n".join(out) + "\n")
print("wrote docs/man/husk.1", file=sys.stderr)
